"""What admins (`TELEGRAM_ADMIN_IDS`) can do: /stats, /reload, and add documents.

/stats shows counts since start. /reload rebuilds the index from the corpus folder
(`Engine.rebuild`, in a worker thread) and says what changed. A document of a type
the corpus reads (.txt, .md, .html, .pdf, .docx, .odt; `bot.uploads.ALLOWED_SUFFIXES`)
that an admin sends in a private chat is downloaded through the Bot API
(getFile, then the file URL), checked by `bot.uploads` (size, content matching the
name, a sanitised file name), saved atomically into the corpus folder and indexed the
same way. A same-named file is replaced only after the admin presses Replace: until
then the upload waits in memory, one per admin, named in the button's data.

`rebuild` is the one place the bot turns index errors into a reply.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Chat, Document, Message, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot import index as index_mod
from bot import uploads
from bot.telegram import callbacks, texts
from bot.telegram.handlers import send_parts, send_text, with_typing
from bot.telegram.redaction import redact
from bot.telegram.render import Span, to_parts
from bot.telegram.state import BotState, Context, PendingUpload, state_of

__all__ = ["download", "on_document", "on_reload", "on_stats", "on_upload_button", "rebuild"]

log = logging.getLogger(__name__)

# A rebuild still running after this many seconds is announced, so the admin is not
# left waiting in silence (a rebuild of the shipped corpus takes a twentieth of it).
SLOW_BUILD = 5.0
REBUILDING = "Rebuilding the index; this is taking a while. I will reply when it is done."
BUDGET_NOTE = " A file that takes longer than {budget:g} s to read is skipped."
TIMED_OUT = "\nSkipped, as reading took longer than {budget:g} s: {names}"


def _admin(state: BotState, user: User | None) -> bool:
    return state.is_admin(user.id if user is not None else None)


async def on_stats(update: Update, context: Context) -> None:
    """/stats for admins: questions, abstention rate, feedback, top unanswered."""
    state, message = state_of(context), update.effective_message
    if message is None:
        return
    if not _admin(state, update.effective_user):
        await message.reply_html(texts.NOT_ALLOWED.format(command="/stats"))
        return
    await message.reply_html(texts.stats_report(state.stats))


async def on_reload(update: Update, context: Context) -> None:
    """/reload for admins: rebuild the index from the corpus folder now and swap it in."""
    state, message = state_of(context), update.effective_message
    if message is None:
        return
    if not _admin(state, update.effective_user):
        await message.reply_html(texts.NOT_ALLOWED.format(command="/reload"))
        return
    work = rebuild(state, notify=lambda text: send_text(message.chat, text, message))
    spans = await with_typing(message.chat, work, state.typing_delay)
    await send_parts(message.chat, to_parts(spans), None, message)


async def rebuild(
    state: BotState,
    after_running: bool = False,
    describe: Callable[[index_mod.BuildReport], list[Span]] = texts.describe_build,
    notify: Callable[[str], Awaitable[None]] | None = None,
) -> list[Span]:
    """Rebuilds the index in a worker thread (`Engine.rebuild`, which swaps it in); the reply.

    Args:
        state: The bot's state (engine, build lock).
        after_running: Wait for a rebuild this bot is already running, then build
            again (uploads, whose file must be indexed), instead of saying another
            build is in progress (/reload).
        describe: Turns the build report into the reply (an upload's is one line).
        notify: Sends the admin a message: called with `REBUILDING` if the build is
            still running after `SLOW_BUILD` seconds.

    The reply names any file skipped for taking longer than BOT_FILE_TIMEOUT to read.

    A build another process holds the lock for, and any index error, become a reply;
    so does any other failure (logged with its traceback): the previous index stays.
    """
    if state.build_lock.locked() and not after_running:
        return [(texts.BUILD_BUSY, "")]
    async with state.build_lock:
        work = asyncio.ensure_future(asyncio.to_thread(state.engine.rebuild, wait=False))
        try:
            await _tell_if_slow(work, notify, state.settings.file_timeout)
            report = await work
        except index_mod.BuildInProgress:
            return [(texts.BUILD_BUSY, "")]
        except index_mod.IndexProblem as exc:
            return [(texts.NOT_REBUILT.format(problem=exc), "")]
        except Exception as exc:
            log.exception("rebuild failed")
            failed = texts.REBUILD_FAILED.format(kind=type(exc).__name__, problem=exc)
            return [(failed + _still_serving(state), "")]
    spans = describe(report)
    if report.timed_out:
        names = ", ".join(report.timed_out)
        spans.insert(1, (TIMED_OUT.format(budget=report.budget or 0, names=names), "b"))
    if report.build and state.engine.info.build_id != report.build:
        spans.append((texts.NOT_LOADED + _still_serving(state), "b"))
    return spans


def _still_serving(state: BotState) -> str:
    """What the bot answers from after a failed rebuild: true only if that index is whole."""
    damage = state.engine.damage()
    if damage is None:
        return texts.STILL_SERVING
    return texts.SERVED_DAMAGED.format(problem=damage)


async def _tell_if_slow(
    work: asyncio.Future[Any], notify: Callable[[str], Awaitable[None]] | None, budget: float
) -> None:
    """Waits up to `SLOW_BUILD` seconds for `work`; then, if it still runs, says so."""
    if notify is None:
        return
    done, _ = await asyncio.wait({work}, timeout=SLOW_BUILD)
    if done:
        return
    try:
        await notify(REBUILDING + (BUDGET_NOTE.format(budget=budget) if budget else ""))
    except TelegramError as exc:  # the reply after the build matters more
        log.warning("could not say the rebuild is slow: %s", exc)


async def on_document(update: Update, context: Context) -> None:
    """A document in a private chat: an admin's addition to the corpus; others NOT_TEXT."""
    state, user, message = state_of(context), update.effective_user, update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    if user is None or not _admin(state, user) or message.document is None:
        await message.reply_html(texts.NOT_TEXT)
        return
    state.pending.pop(user.id, None)  # a new upload supersedes one left waiting
    try:
        name, data = await download(message.document, state.settings.max_upload_bytes)
    except uploads.UploadRefused as exc:
        await send_text(message.chat, str(exc), message)
        return
    await _save(state, user, message.chat, name, data, replace=False, reply_to=message)


async def download(document: Document, limit: int) -> tuple[str, bytes]:
    """Downloads an uploaded document after checking its name and announced size.

    Returns:
        The sanitised file name and the bytes, which have passed the size and content
        checks of `bot.uploads`.

    Raises:
        bot.uploads.UploadRefused: A check failed or the download did; nothing saved.
    """
    name = uploads.safe_name(document.file_name)
    uploads.check_size(name, document.file_size, limit)
    try:
        file = await document.get_file()
        uploads.check_size(name, file.file_size, limit)
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        # The error may quote the file URL, which holds the token (a redirect loop, an
        # error page echoing the path): the reply gets the same redaction as the logs.
        reason = redact(exc.message, document.get_bot().token)
        raise uploads.UploadRefused(texts.NOT_DOWNLOADED.format(name=name, reason=reason)) from None
    uploads.check_size(name, len(data), limit)
    uploads.check_content(name, data)
    return name, data


async def on_upload_button(update: Update, context: Context) -> None:
    """Replace or Cancel for a same-named upload.

    The query is answered at once (a rebuild may take longer than Telegram waits for
    the answer), the buttons are removed, then the work is done.
    """
    query = update.callback_query
    if query is None:
        return
    state, user, chat = state_of(context), update.effective_user, update.effective_chat
    choice = callbacks.parse_upload(query.data or "")
    if user is None or not _admin(state, user):
        await query.answer(texts.NOT_ALLOWED.format(command="Replacing files"))
        return
    pending = state.pending.get(user.id)
    if pending is None or choice is None or pending.key != choice[0] or chat is None:
        await query.answer(texts.UPLOAD_GONE)
        return
    replace = choice[1]
    del state.pending[user.id]
    await query.answer(texts.REPLACING if replace else texts.CANCELLED)
    try:
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:  # cosmetic: the pending upload is gone either way
        log.debug("could not remove the upload buttons: %s", exc)
    if not replace:
        await send_text(chat, texts.KEPT.format(name=pending.name))
        return
    await _save(state, user, chat, pending.name, pending.data, replace=True)


async def _save(
    state: BotState,
    user: User,
    chat: Chat,
    name: str,
    data: bytes,
    *,
    replace: bool,
    reply_to: Message | None = None,
) -> None:
    """Saves an upload into the corpus and tells the admin what happened.

    A same-named different file (only when not `replace`) waits for Replace or Cancel;
    a refusal or a failed write becomes a reply; a change of the corpus is rebuilt.
    """
    try:
        outcome = await asyncio.to_thread(
            uploads.save, state.settings.corpus_dir, name, data, replace
        )
    except uploads.UploadRefused as exc:
        await send_text(chat, str(exc), reply_to)
        return
    except OSError as exc:
        log.error("could not save an upload: %s", exc)
        await send_text(chat, texts.NOT_SAVED.format(reason=exc.strerror or exc), reply_to)
        return
    if outcome == "exists":
        key = next(state.upload_keys)
        state.pending[user.id] = PendingUpload(key, name, data)
        text = texts.REPLACE_QUESTION.format(name=html.escape(name))
        await send_parts(chat, [text], callbacks.upload_keyboard(key), reply_to)
        return
    if outcome == "unchanged":
        await send_text(chat, texts.ALREADY_THERE.format(name=name), reply_to)
        return
    verb = "Replaced" if outcome == "replaced" else "Added"
    size = uploads.human_size(len(data))

    def describe(report: index_mod.BuildReport) -> list[Span]:
        return [(texts.describe_upload(verb, name, size, report), "")]

    work = rebuild(state, True, describe, notify=lambda text: send_text(chat, text, reply_to))
    spans = await with_typing(chat, work, state.typing_delay)
    await send_parts(chat, to_parts(spans), None, reply_to)
