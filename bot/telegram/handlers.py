"""Handlers for everyone: an update in, a question to the engine, a formatted reply out.

A text is a question in a private chat; in a group only `/ask ...`, a mention of the
bot, or a reply to one of its messages. `answer_question` rate-limits, asks the engine
in a worker thread (showing "typing…" when that takes a moment), remembers the results
in the chat's memory for the buttons, and sends the reply. Button presses each have a
handler (see `bot.telegram.callbacks`) wrapped by `button`, which answers the query
exactly once, whatever happens.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from telegram import BotCommand, Chat, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application

from bot.answer import Answer
from bot.telegram import callbacks, texts
from bot.telegram.callbacks import example_keyboard, keyboard
from bot.telegram.delivery import current_delivery
from bot.telegram.render import format_answer, format_passage, format_results, to_parts
from bot.telegram.state import BotState, ChatData, Context, Remembered, append_feedback, state_of

__all__ = [
    "addressed_text",
    "answer_question",
    "button",
    "command_argument",
    "on_about",
    "on_ask",
    "on_error",
    "on_example",
    "on_feedback",
    "on_help",
    "on_more",
    "on_not_text",
    "on_source",
    "on_sources",
    "on_stale_button",
    "on_start",
    "on_text",
    "on_unknown_command",
    "on_whoami",
    "post_init",
    "replies_to_bot",
    "send_parts",
    "with_typing",
]

log = logging.getLogger(__name__)

TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 s
DEPTH = 10  # results remembered per answer, for More
PAGE = 2  # results per press of More
T = TypeVar("T")


async def send_parts(
    chat: Chat,
    parts: Sequence[str],
    markup: InlineKeyboardMarkup | None,
    reply_to: Message | None = None,
    quote: bool | None = None,
) -> None:
    """Sends HTML parts in order; the buttons go under the last one.

    Replies to `reply_to` quote it when `quote` is True, or by PTB's default (in
    groups, not in private chats) when None.
    """
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if reply_to is not None:
            await reply_to.reply_html(part, reply_markup=markup if last else None, do_quote=quote)
        else:
            await chat.send_message(
                part, parse_mode=ParseMode.HTML, reply_markup=markup if last else None
            )


async def send_text(chat: Chat, text: str, reply_to: Message | None = None) -> None:
    """Sends plain text (escaped, split if long)."""
    await send_parts(chat, to_parts([(text, "")]), None, reply_to)


async def with_typing(chat: Chat, work: Awaitable[T], delay: float) -> T:
    """Awaits `work`, showing "typing…" in the chat once it has taken `delay` seconds."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=delay)
        if done:
            return task.result()
        try:
            await chat.send_action(ChatAction.TYPING)
        except TelegramError as exc:  # cosmetic: never worth failing the answer
            log.debug("typing action failed: %s", exc)
        delay = TYPING_REFRESH


async def retrieve(state: BotState, chat: Chat, question: str) -> Answer:
    """Asks the engine in a worker thread, showing "typing…" if it takes a while."""
    work = asyncio.to_thread(state.engine.ask, question, DEPTH)
    return await with_typing(chat, work, state.typing_delay)


async def answer_question(
    update: Update, context: Context, question: str, echo: bool = False
) -> None:
    """Rate-limits, retrieves, remembers and sends the reply to one question."""
    state, chat, user = state_of(context), update.effective_chat, update.effective_user
    message = update.effective_message if not echo else None
    if chat is None or user is None:
        return
    verdict = state.limiter.check(user.id)
    if verdict != "ok":
        if verdict == "warn":
            wait = state.limiter.retry_in(user.id)
            text = texts.TOO_FAST.format(per_minute=state.limiter.per_minute, wait=wait)
            await send_parts(chat, [html.escape(text)], None, message)
        return
    memory = context.chat_data if context.chat_data is not None else ChatData()
    # Answers run concurrently, so two questions in one chat may be answered out of
    # order: then each reply quotes its question, even in a private chat.
    memory.asking += 1
    memory.started += 1
    number = memory.started
    overlapped = memory.asking > 1  # an earlier question is still in flight
    try:
        answer = await retrieve(state, chat, question)
        state.stats.record(answer)
        key = memory.remember(answer)
        markup = keyboard(
            key,
            more=len(answer.hits) > answer.shown,
            source=answer.kind == "answer",
            feedback=answer.kind in ("answer", "abstain"),
        )
        overtaken = memory.started != number  # a later one started meanwhile
        quote = True if overlapped or overtaken else None
        await send_parts(chat, format_answer(answer, echo=echo), markup, message, quote)
    finally:
        memory.asking -= 1


def replies_to_bot(message: Message, bot_id: int) -> bool:
    """Whether a message answers one of the bot's own messages."""
    reply = message.reply_to_message
    return reply is not None and reply.from_user is not None and reply.from_user.id == bot_id


def addressed_text(message: Message, bot_username: str, bot_id: int) -> str | None:
    """The question in a message, or None when a group message is not meant for the bot.

    In a private chat every text is a question. In a group it must mention the bot
    (the mention is removed from the question) or reply to one of the bot's messages.
    """
    text = message.text or ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    meant = False
    for entity, value in message.parse_entities(
        [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    ).items():
        if entity.type == MessageEntity.MENTION:
            meant |= value.removeprefix("@").casefold() == bot_username.casefold()
        elif entity.user is not None:
            meant |= entity.user.id == bot_id
    if replies_to_bot(message, bot_id):
        meant = True
    if not meant:
        return None
    return re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE).strip()


def command_argument(message: Message) -> str:
    """The text after a message's leading /command (newlines kept, unlike context.args)."""
    text = message.text or ""
    match = re.match(r"/\S+", text)
    return text[match.end() :].strip() if match else text.strip()


async def on_text(update: Update, context: Context) -> None:
    """Any text is a question in private; in groups only when meant for the bot."""
    message = update.effective_message
    if message is None:
        return
    question = addressed_text(message, context.bot.username, context.bot.id)
    if question is not None:
        await answer_question(update, context, question)


async def on_ask(update: Update, context: Context) -> None:
    """/ask QUESTION: the way to ask in a group."""
    message = update.effective_message
    if message is None:
        return
    question = command_argument(message)
    if not question:
        await message.reply_html(texts.ask_usage(state_of(context).engine.info))
        return
    await answer_question(update, context, question)


async def on_start(update: Update, context: Context) -> None:
    """/start: a greeting, what the bot knows, and example questions as buttons."""
    info = state_of(context).engine.info
    if update.effective_message:
        await update.effective_message.reply_html(
            texts.start_text(info), reply_markup=example_keyboard(texts.example_questions(info))
        )


async def on_help(update: Update, context: Context) -> None:
    """/help: how to ask, with a question from the corpus."""
    if update.effective_message:
        await update.effective_message.reply_html(texts.help_text(state_of(context).engine.info))


async def on_whoami(update: Update, context: Context) -> None:
    """/whoami: the sender's user id, for TELEGRAM_ADMIN_IDS."""
    message, user = update.effective_message, update.effective_user
    if message and user:
        admin = user.id in state_of(context).settings.admin_ids
        await message.reply_html(texts.whoami(user.id, admin))


async def on_sources(update: Update, context: Context) -> None:
    """/sources: the documents of the index."""
    info = state_of(context).engine.info
    message = update.effective_message
    if message:
        await send_text(message.chat, texts.sources(info), message)


async def on_about(update: Update, context: Context) -> None:
    """/about: how many passages and documents, and when the index was built."""
    info = state_of(context).engine.info
    if update.effective_message:
        await update.effective_message.reply_html(html.escape(texts.about(info)))


async def on_unknown_command(update: Update, context: Context) -> None:
    """An unknown /command: say which ones exist (in groups only when addressed to us)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    addressed = f"@{context.bot.username}".casefold() in message.text.split()[0].casefold()
    if message.chat.type == ChatType.PRIVATE or addressed:
        known = " ".join(f"/{name}" for name, _ in texts.COMMANDS)
        await message.reply_html(texts.UNKNOWN_COMMAND.format(known=known))


async def on_not_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice...: one polite line (in groups only when replying to us)."""
    message = update.effective_message
    if message is None:
        return
    if message.chat.type == ChatType.PRIVATE or replies_to_bot(message, context.bot.id):
        await message.reply_html(texts.NOT_TEXT)


# --------------------------------------------------------------------------------------
# Buttons under answers and /start: each returns the short notice Telegram shows.
# --------------------------------------------------------------------------------------

ButtonAction = Callable[[Update, Context, str, Chat], Awaitable[str | None]]


def button(action: ButtonAction) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """A handler running `action` for a press and answering its query exactly once.

    The notice `action` returns is shown to the user; a failure shows a short apology
    and goes on to the error handler.
    """

    async def handler(update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        notice: str | None = None
        try:
            chat = update.effective_chat
            if chat is not None:
                notice = await action(update, context, query.data or "", chat)
        except Exception:
            notice = texts.BUTTON_FAILED
            raise
        finally:
            await query.answer(notice)

    handler.__doc__ = action.__doc__
    return handler


def _remembered(context: Context, key: int | None) -> Remembered | None:
    if key is None or context.chat_data is None:
        return None
    return context.chat_data.answers.get(key)


async def _example(update: Update, context: Context, data: str, chat: Chat) -> str | None:
    """An example question of /start, asked and answered with the question shown."""
    questions = texts.example_questions(state_of(context).engine.info)
    number = callbacks.parse_example(data)
    if number is None or not 0 <= number < len(questions):
        return texts.EXPIRED
    await answer_question(update, context, questions[number], echo=True)
    return None


async def _more(update: Update, context: Context, data: str, chat: Chat) -> str | None:
    """More: the next page of an answer's results."""
    key = callbacks.parse_key(callbacks.MORE, data)
    remembered = _remembered(context, key)
    if key is None or remembered is None:
        return texts.EXPIRED
    state = state_of(context)
    page = remembered.passage_ids[remembered.shown : remembered.shown + PAGE]
    if not page:
        return texts.NO_MORE
    first_rank = remembered.shown + 1
    remembered.shown += len(page)
    passages = await asyncio.to_thread(lambda: [state.engine.passage(p) for p in page])
    more = remembered.shown < len(remembered.passage_ids)
    await send_parts(
        chat,
        format_results(passages, first_rank),
        keyboard(key, more=more, source=False, feedback=False),
    )
    return None


async def _source(update: Update, context: Context, data: str, chat: Chat) -> str | None:
    """Source: the whole passage of an answer's best result."""
    remembered = _remembered(context, callbacks.parse_key(callbacks.SOURCE, data))
    if remembered is None:
        return texts.EXPIRED
    passage = await asyncio.to_thread(state_of(context).engine.passage, remembered.passage_ids[0])
    if passage is None:
        return texts.PASSAGE_CHANGED
    await send_parts(chat, format_passage(passage), None)
    return None


async def _feedback(update: Update, context: Context, data: str, chat: Chat) -> str | None:
    """👍/👎: one vote per user and answer, appended to the feedback file for curators."""
    parsed = callbacks.parse_feedback(data)
    remembered = _remembered(context, parsed[0] if parsed else None)
    user = update.effective_user
    if parsed is None or remembered is None or user is None:
        return texts.EXPIRED
    if user.id in remembered.votes:
        return texts.ALREADY_RATED
    remembered.votes.add(user.id)
    state = state_of(context)
    vote = "up" if parsed[1] else "down"
    state.stats.feedback[vote] += 1
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "vote": vote,
        "question": remembered.question,
        "kind": remembered.kind,
        "passage_ids": list(remembered.passage_ids[:3]),
        "index": state.engine.info.build_id,
    }
    await asyncio.to_thread(
        append_feedback, state.settings.feedback_path, entry, state.feedback_lock
    )
    return texts.THANKS


async def _stale(update: Update, context: Context, data: str, chat: Chat) -> str | None:
    """Any other data (a button of an older version): the answer is too old."""
    return texts.EXPIRED


on_example = button(_example)
on_more = button(_more)
on_source = button(_source)
on_feedback = button(_feedback)
on_stale_button = button(_stale)


async def on_error(update: object, context: Context) -> None:
    """Logs any unexpected error with its traceback; apologises if no reply went out.

    A send that took longer than the read timeout raises TimedOut although Telegram
    may have delivered it: after a reply (or a part of one) went out, the user is not
    also told "Sorry". The apology quotes the question it is about.
    """
    where = f"update {update.update_id}" if isinstance(update, Update) else "the bot"
    delivery = current_delivery()
    if delivery is not None and delivery.sent:
        log.warning("Error after replying to %s: %r", where, context.error)
        return
    log.error("Error while handling %s", where, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        question = update.message or update.edited_message
        try:
            if question is not None:
                await question.reply_text(texts.SORRY, do_quote=True)
            else:
                await update.effective_chat.send_message(texts.SORRY)
        except TelegramError as exc:
            log.warning("could not tell the user about the error: %s", exc)


async def post_init(application: Application) -> None:
    """Registers the command menu with Telegram (setMyCommands)."""
    try:
        await application.bot.set_my_commands([BotCommand(n, d) for n, d in texts.COMMANDS])
    except TelegramError as exc:  # the menu is a convenience; answering matters more
        log.warning("could not register the command menu: %s", exc)
