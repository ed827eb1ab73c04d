"""The Telegram front end: questions in, answers with sources and buttons out.

The flow of one question:

1. python-telegram-bot receives an update (long polling by default, a webhook behind a
   reverse proxy) and, because updates are processed concurrently, runs its handler
   alongside the others.
2. The handler decides whether the message is a question for us: any text in a
   private chat; in groups only `/ask ...`, a mention of the bot, or a reply to one of
   its messages. Edited messages follow the same rules and are answered again, so a
   user who fixes a typo in a question gets the fixed answer.
3. A per-user sliding window (`BOT_RATE_LIMIT` questions a minute) turns away floods
   with one friendly line.
4. The engine answers in a worker thread (`asyncio.to_thread`), so one slow retrieval
   never stalls other users; if it takes longer than a moment, "typing…" is shown.
5. `format_answer` turns the `Answer` into HTML parts of at most 4096 characters, and
   `keyboard` adds the buttons: More, Source, 👍/👎. Callback data stays tiny
   ("more:7"): the 7 is the chat's 7th remembered answer, whose passage ids are kept
   in `chat_data`, so it never nears Telegram's 64-byte limit.
6. Sends go through `AIORateLimiter` (Telegram's own send limits, honouring
   `RetryAfter`), extended to retry a request the server failed (5xx), so a reply is
   not lost to one bad gateway, and then over aiohttp (`bot.telegram_http`: PTB's
   default httpx client cost the bot half its CPU under load).

Anything unexpected reaches `on_error`, which logs it with its traceback and tells the
user something went wrong; the bot keeps running. The token is validated before any
network call and never logged: every log record has the token replaced (PTB's own
InvalidToken message repeats it), and httpx, which logs request URLs at INFO, is kept
at WARNING.

Admins (`TELEGRAM_ADMIN_IDS`) have three more powers. /stats shows counts since start.
/reload rebuilds the index from the corpus folder (`bot.index.build`, in a worker
thread), swaps it into the engine and says what changed. And a .txt, .md, .html or .pdf
document they send in a private chat is downloaded through the Bot API (getFile, then
the file URL), checked by `bot.uploads` (size, content matching the name, a sanitised
file name), saved atomically into the corpus folder and indexed the same way. A
same-named file is replaced only after the admin presses Replace: until then the upload
waits in memory, one per admin, named in the button's data ("up:<n>:r").
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import re
import secrets
import signal
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot import analysis, uploads
from bot import index as index_mod
from bot.answer import Answer, source_line
from bot.config import ConfigError, Settings
from bot.engine import Engine, IndexInfo
from bot.passages import Passage
from bot.telegram_http import AiohttpRequest

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
MAX_MESSAGE = 4096  # Telegram's limit on a message's text after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
TELEGRAM_SEND_RATE = 30.0  # messages a second Telegram allows a bot across all chats
GROUP_SEND_RATE = 20  # messages a minute Telegram allows a bot in one group
SEND_RETRIES = 3  # retries after RetryAfter (429) or a server error (5xx)
TYPING_DELAY = 0.3  # seconds of work before "typing…" is worth a request
TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 s
DEPTH = 10  # results remembered per answer, for More
PAGE = 2  # results per press of More
REMEMBERED = 20  # answers remembered per chat for the buttons
# Connections to the Bot API for sends. Locally 4, 8, 16 and 64 all gave 340-420
# replies/s (bench/telegram_load.py, within the noise); 8 leaves room for the round
# trips of the real Bot API without holding many idle sockets.
CONNECTIONS = 8
POOL_WAIT = 30.0  # seconds a send may wait for a free connection before failing
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]

COMMANDS = (
    ("start", "What I know, with example questions"),
    ("ask", "Ask a question (in groups: /ask your question)"),
    ("sources", "The documents I answer from"),
    ("about", "Index version, size and build time"),
    ("help", "How to ask"),
)
HELP = (
    "Send me a question in plain words and I reply with the best-matching sentence from "
    "the documents and where it comes from. Buttons under an answer show more results "
    "(<b>More</b>), the whole passage (<b>Source</b>), and let you rate it (👍/👎).\n\n"
    "In a group, use <code>/ask your question</code>, mention me, or reply to one of my "
    "messages.\n\n"
    "/sources lists the documents, /about the index."
)
NOT_TEXT = "I can only read text questions. Please type your question."
SORRY = "Sorry, something went wrong while answering. Please try again."
NOT_ALLOWED = "Sorry, {command} is only for the bot's admins."
ASK_USAGE = "Usage: <code>/ask your question</code>, e.g. <code>/ask What is PESCO?</code>"
EXPIRED = "This answer is too old for its buttons; please ask again."
BUILD_BUSY = "Another build of the index is in progress; try /reload again when it has finished."
UPLOAD_GONE = "This upload is no longer waiting; send the file again."
MAX_LISTED = 10  # file names listed per kind of change after a rebuild

Run = tuple[str, str]
"""A piece of rich text: (plain text, tag), tag "" for none, else "b", "i" or "code"."""
T = TypeVar("T")


# --------------------------------------------------------------------------------------
# Formatting: pure functions from answers to HTML parts and buttons.
# --------------------------------------------------------------------------------------


def telegram_length(text: str) -> int:
    """Length as Telegram may count it (UTF-16 code units; never less than characters)."""
    return len(text.encode("utf-16-le")) // 2


def render(runs: Iterable[Run]) -> str:
    """HTML for rich text: every text escaped, each tag closed within its run."""
    out = []
    for text, tag in runs:
        if not text:
            continue
        escaped = html.escape(text, quote=False)
        out.append(f"<{tag}>{escaped}</{tag}>" if tag else escaped)
    return "".join(out)


def _fit(plain: str, start: int, limit: int) -> int:
    """The largest end such that plain[start:end] is at most `limit` long for Telegram."""
    used = 0
    for index in range(start, len(plain)):
        used += 2 if ord(plain[index]) > 0xFFFF else 1
        if used > limit:
            return index
    return len(plain)


_SENTENCE_BREAK = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def _cut(plain: str, start: int, end: int) -> int:
    """Where to end a part that must stop by `end`.

    A paragraph break, else a line break, else a sentence end, each in the part's
    second half (a tiny part would waste a message); else the last space; a hard cut
    only when one word fills the whole part.
    """
    half = start + (end - start) // 2
    window = plain[start:end]
    for separator in ("\n\n", "\n"):
        found = window.rfind(separator)
        if found >= 0 and start + found >= half:
            return start + found
    sentence_ends = [m.end() for m in _SENTENCE_BREAK.finditer(window)]
    if sentence_ends and start + sentence_ends[-1] >= half:
        return start + sentence_ends[-1]
    spaces = [m.start() for m in re.finditer(r"\s", window)]
    if spaces and spaces[-1] > 0:
        return start + spaces[-1]
    return end


def _slice(runs: Sequence[Run], start: int, end: int) -> list[Run]:
    """The runs covering plain[start:end], tags kept."""
    out: list[Run] = []
    offset = 0
    for text, tag in runs:
        lo, hi = max(start, offset), min(end, offset + len(text))
        if lo < hi:
            out.append((text[lo - offset : hi - offset], tag))
        offset += len(text)
    return out


def split_runs(runs: Sequence[Run], limit: int = MAX_MESSAGE) -> list[list[Run]]:
    """Splits rich text into parts of at most `limit` characters after entity parsing.

    Cuts fall at paragraph, line, sentence or word boundaries (see `_cut`); whitespace
    at a cut is dropped. Since tags belong to runs, a cut never falls inside a tag or
    an entity: a bold phrase cut in two is bold in both parts.
    """
    plain = "".join(text for text, _ in runs)
    parts: list[list[Run]] = []
    start = 0
    while True:
        while start < len(plain) and plain[start].isspace():
            start += 1
        if start >= len(plain):
            return parts
        end = _fit(plain, start, limit)
        cut = end if end == len(plain) else _cut(plain, start, end)
        stop = cut
        while stop > start and plain[stop - 1].isspace():
            stop -= 1
        parts.append(_slice(runs, start, stop))
        start = cut


def to_parts(runs: Sequence[Run], limit: int = MAX_MESSAGE) -> list[str]:
    """Rich text as HTML message parts, each within Telegram's limit."""
    return [render(part) for part in split_runs(runs, limit)]


def emphasise(text: str, words: Sequence[str]) -> list[Run]:
    """Runs of `text` with each of `words` (whole words, any case) in bold."""
    if not words:
        return [(text, "")]
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    runs: list[Run] = []
    position = 0
    for match in pattern.finditer(text):
        runs.append((text[position : match.start()], ""))
        runs.append((match.group(), "b"))
        position = match.end()
    runs.append((text[position:], ""))
    return [run for run in runs if run[0]]


def format_answer(answer: Answer, limit: int = MAX_MESSAGE, echo: bool = False) -> list[str]:
    """The reply to a question as HTML parts for parse_mode=HTML.

    An answer leads with the best sentence(s), the question's words in bold, then the
    source (document › section) in italics; a typo repair is said first. Abstentions,
    small talk and empty questions read exactly as in the console.

    Args:
        answer: The core's answer.
        limit: Longest part, in characters after entity parsing.
        echo: Repeat the question first (for questions asked by a button, which the
            chat does not show).
    """
    runs: list[Run] = [("❓ " + answer.question + "\n\n", "i")] if echo else []
    if answer.kind != "answer" or not answer.hits:
        return to_parts(runs + [(answer.text, "")], limit)
    if answer.corrections:
        fixed = ", ".join(f"“{corrected}”" for _, corrected in answer.corrections)
        runs += [(f"Did you mean {fixed}?", "i"), ("\n", "")]
    runs.extend(emphasise(" ".join(answer.sentences), answer.highlight))
    runs.append(("\n\n— ", ""))
    runs.append((source_line(answer.hits[0]), "i"))
    return to_parts(runs, limit)


def format_passage(passage: Passage, limit: int = MAX_MESSAGE) -> list[str]:
    """A whole passage under its source heading (the Source button)."""
    heading = f"{passage.doc} › {passage.section}" if passage.section else passage.doc
    return to_parts([(heading, "b"), ("\n\n", ""), (passage.text, "")], limit)


def format_results(
    passages: Sequence[Passage | None], first_rank: int, limit: int = MAX_MESSAGE
) -> list[str]:
    """Further results (the More button): rank, source, then the passage text."""
    runs: list[Run] = []
    for rank, passage in enumerate(passages, start=first_rank):
        if runs:
            runs.append(("\n\n", ""))
        if passage is None:
            runs.append((f"{rank}. (this passage changed since; ask again)", "i"))
            continue
        heading = f"{passage.doc} › {passage.section}" if passage.section else passage.doc
        runs += [(f"{rank}. ", "b"), (heading, "i"), ("\n", ""), (passage.text, "")]
    return to_parts(runs, limit)


def keyboard(key: int, *, more: bool, source: bool, feedback: bool) -> InlineKeyboardMarkup | None:
    """The buttons under an answer; `key` names the answer in the chat's memory.

    Callback data: "more:<key>", "src:<key>", "fb:<key>:1" (👍) or "fb:<key>:0" (👎),
    all far below Telegram's 64 bytes.
    """
    rows: list[list[InlineKeyboardButton]] = []
    first = []
    if more:
        first.append(InlineKeyboardButton("More", callback_data=f"more:{key}"))
    if source:
        first.append(InlineKeyboardButton("Source", callback_data=f"src:{key}"))
    if first:
        rows.append(first)
    if feedback:
        rows.append(
            [
                InlineKeyboardButton("👍", callback_data=f"fb:{key}:1"),
                InlineKeyboardButton("👎", callback_data=f"fb:{key}:0"),
            ]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def upload_keyboard(key: int) -> InlineKeyboardMarkup:
    """Replace / Cancel under the question about a same-named upload ("up:<key>:r|c")."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Replace", callback_data=f"up:{key}:r"),
                InlineKeyboardButton("Cancel", callback_data=f"up:{key}:c"),
            ]
        ]
    )


def describe_build(report: index_mod.BuildReport) -> list[Run]:
    """What a rebuild changed, for the admin: counts, passages before and after, names.

    Example: "Index rebuilt: 1 added, 0 changed, 0 removed; 23 → 25 passages." then the
    names per kind of change, then the build's summary line in italics.
    """
    changes = (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed))
    if any(names for _, names in changes):
        head = (
            f"Index rebuilt: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed; {report.previous_passages} → {report.passages} "
            "passages."
        )
    else:
        head = f"Index rebuilt: nothing changed ({report.passages} passages)."
    runs: list[Run] = [(head, "b")]
    for label, names in changes:
        if names:
            listed = ", ".join(names[:MAX_LISTED])
            more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            runs.append((f"\n{label}: {listed}{more}", ""))
    runs.append(("\n" + report.summary(), "i"))
    return runs


def topic(heading: str) -> str:
    """A section heading as a phrase: ALL-CAPS headings in sentence case, acronyms kept.

    Example: "EU CYBERSECURITY STRATEGY" -> "EU cybersecurity strategy".
    """
    if heading != heading.upper():
        return heading
    words = heading.split()
    out = []
    for i, word in enumerate(words):
        letters = re.sub(r"\W", "", word)
        # Guess acronyms: EU, UN, AI, GDP (but not OF, FAR, NEW).
        short = len(letters) == 2 and letters.casefold() not in analysis.STOP_WORDS
        if short or (len(letters) == 3 and not re.search(r"[AEIOUY]", letters)):
            out.append(word)
        else:
            lower = word.lower()
            out.append(lower[:1].upper() + lower[1:] if i == 0 else lower)
    return " ".join(out)


def _words_only(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text).casefold().split())


def topics(info: IndexInfo) -> list[str]:
    """Section topics worth naming: short headings first, a document's title last.

    A heading that is just a file name (the core's stand-in for a document without
    headings) names no topic and is left out.
    """
    titles = {_words_only(Path(doc).stem) for doc in info.documents}

    def file_name(heading: str) -> bool:
        return heading == heading.lower() and _words_only(heading) in titles

    headings = [h for h in dict.fromkeys(info.sections) if h.strip() and not file_name(h)]
    # Short headings make readable buttons; a stable sort keeps corpus order otherwise.
    headings.sort(key=lambda h: (_words_only(h) in titles, len(h.split()) > 6))
    return list(dict.fromkeys(topic(h) for h in headings))


def example_questions(info: IndexInfo) -> list[str]:
    """Up to three questions the corpus can answer, made from its section headings."""
    questions = []
    for subject in topics(info)[:3]:
        first = subject.split()[0]
        acronym = len(first.strip(",:;")) >= 2 and first.isupper()  # kept by topic()
        questions.append(
            f"Tell me about {subject if acronym else subject[0].lower() + subject[1:]}"
        )
    return questions


def start_text(info: IndexInfo) -> str:
    """The /start greeting: what the bot knows, in one line derived from the corpus."""
    docs = info.documents
    what = f"{len(docs)} document{'s' if len(docs) != 1 else ''}"
    names = ", ".join(docs[:3]) + (f" and {len(docs) - 3} more" if len(docs) > 3 else "")
    subjects = topics(info)[:4]
    about = f", on topics such as {'; '.join(subjects)}" if subjects else ""
    return (
        f"Hello! I answer questions from <b>{html.escape(what)}</b> "
        f"({html.escape(names)}){html.escape(about)}.\n\n"
        "Try one of these, or type your own question:"
    )


def example_keyboard(questions: Sequence[str]) -> InlineKeyboardMarkup | None:
    """One button per example question; data "ex:<n>" indexes `example_questions`."""
    if not questions:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(q, callback_data=f"ex:{i}")] for i, q in enumerate(questions)]
    )


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
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
        meant = True
    if not meant:
        return None
    return re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE).strip()


def command_argument(message: Message) -> str:
    """The text after a message's leading /command (newlines kept, unlike context.args)."""
    text = message.text or ""
    match = re.match(r"/\S+", text)
    return text[match.end() :].strip() if match else text.strip()


def validate_token(token: str | None) -> str:
    """Returns the token if it looks like one @BotFather issues, before any network call.

    Raises:
        ConfigError: The token is missing or malformed; the message says what to do and
            never repeats the token.
    """
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and run "
            "export TELEGRAM_BOT_TOKEN=<the token it gives you>"
        )
    if not TOKEN_PATTERN.fullmatch(token.strip()):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then 30 or "
            "more letters, digits, - or _): copy it again from @BotFather"
        )
    return token.strip()


# --------------------------------------------------------------------------------------
# State shared by the handlers.
# --------------------------------------------------------------------------------------


class UserRateLimit:
    """A sliding one-minute window of questions per user.

    `check` answers "ok", "warn" (the first refusal: say why once) or "drop" (further
    refusals in the same flood: stay quiet rather than flood the chat back).
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._asked: dict[int, deque[float]] = {}
        self._warned: set[int] = set()
        self._checks = 0

    def check(self, user_id: int) -> str:
        """Records a question by `user_id` if the window allows it."""
        now = self.clock()
        self._sweep(now)
        times = self._asked.setdefault(user_id, deque())
        while times and now - times[0] >= 60.0:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.discard(user_id)
            return "ok"
        if user_id in self._warned:
            return "drop"
        self._warned.add(user_id)
        return "warn"

    def retry_in(self, user_id: int) -> int:
        """Seconds until `user_id` may ask again."""
        times = self._asked.get(user_id)
        if not times:
            return 0
        return max(1, int(60.0 - (self.clock() - times[0]) + 0.999))

    def _sweep(self, now: float) -> None:
        # Forget users idle for a minute now and then, so memory follows active users.
        self._checks += 1
        if self._checks % 1000:
            return
        for user_id in [u for u, t in self._asked.items() if not t or now - t[-1] >= 60.0]:
            del self._asked[user_id]
            self._warned.discard(user_id)


@dataclass
class Stats:
    """Counts since start, for /stats."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    kinds: Counter[str] = field(default_factory=Counter)
    feedback: Counter[str] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)

    def record(self, answer: Answer) -> None:
        """Counts one reply; abstentions are remembered by their normalised question."""
        self.kinds[answer.kind] += 1
        if answer.kind == "abstain":
            self.unanswered[" ".join(answer.question.casefold().split())[:100]] += 1
            if len(self.unanswered) > 5000:  # bounded memory: keep the frequent ones
                self.unanswered = Counter(dict(self.unanswered.most_common(1000)))

    def report(self, top: int = 5) -> str:
        """The /stats message (HTML)."""
        questions = sum(self.kinds.values())
        searched = self.kinds["answer"] + self.kinds["abstain"]
        rate = f"{100 * self.kinds['abstain'] / searched:.0f}%" if searched else "n/a"
        lines = [
            f"<b>Since {self.started:%Y-%m-%d %H:%M} UTC</b>",
            f"Questions: {questions} (answered {self.kinds['answer']}, abstained "
            f"{self.kinds['abstain']}, small talk {self.kinds['smalltalk'] + self.kinds['empty']})",
            f"Abstention rate: {rate}",
            f"Feedback: 👍 {self.feedback['up']} · 👎 {self.feedback['down']}",
        ]
        if self.unanswered:
            lines.append("Top unanswered:")
            lines += [
                f"{n}. {html.escape(q)} ({c})"
                for n, (q, c) in enumerate(self.unanswered.most_common(top), 1)
            ]
        return "\n".join(lines)


@dataclass
class Remembered:
    """What the buttons under one answer need: the question and its results' ids."""

    question: str
    kind: str
    passage_ids: tuple[str, ...]
    shown: int
    votes: set[int] = field(default_factory=set)


@dataclass
class PendingUpload:
    """An admin's upload waiting for Replace or Cancel (a file of its name exists)."""

    key: int
    name: str
    data: bytes = field(repr=False)


@dataclass
class BotState:
    """Everything the handlers share, kept in `application.bot_data["state"]`."""

    engine: Engine
    settings: Settings
    limiter: UserRateLimit
    stats: Stats = field(default_factory=Stats)
    typing_delay: float = TYPING_DELAY
    feedback_lock: threading.Lock = field(default_factory=threading.Lock)
    # One rebuild at a time from this bot (other processes: the index's lock file).
    build_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: dict[int, PendingUpload] = field(default_factory=dict)  # by admin's user id
    upload_keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def is_admin(self, user_id: int | None) -> bool:
        """Whether a user (None: unknown) may use the admin commands."""
        return user_id is not None and user_id in self.settings.admin_ids


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data["state"]


def remember(chat_data: dict[Any, Any], answer: Answer) -> int:
    """Stores an answer's result ids in the chat's memory; returns its key."""
    answers: OrderedDict[int, Remembered] = chat_data.setdefault("answers", OrderedDict())
    key = chat_data.get("next_key", 1)
    chat_data["next_key"] = key + 1
    shown = 1 if answer.kind == "answer" else 0
    answers[key] = Remembered(
        answer.question, answer.kind, tuple(h.passage.id for h in answer.hits), shown
    )
    while len(answers) > REMEMBERED:
        answers.popitem(last=False)
    return key


def append_feedback(path: Path, entry: dict[str, Any], lock: threading.Lock) -> None:
    """Appends one feedback line (JSON) for curators; one writer at a time."""
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line)


# --------------------------------------------------------------------------------------
# Handlers: an update in, a question to the core, a formatted reply out.
# --------------------------------------------------------------------------------------


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
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, echo: bool = False
) -> None:
    """Rate-limits, retrieves, remembers and sends the reply to one question."""
    state, chat, user = _state(context), update.effective_chat, update.effective_user
    message = update.effective_message if not echo else None
    if chat is None or user is None:
        return
    verdict = state.limiter.check(user.id)
    if verdict != "ok":
        if verdict == "warn":
            wait = state.limiter.retry_in(user.id)
            text = (
                f"You are asking faster than I can keep up with ({state.limiter.per_minute} "
                f"questions a minute). Please try again in {wait} s."
            )
            await send_parts(chat, [html.escape(text)], None, message)
        return
    chat_data = context.chat_data if context.chat_data is not None else {}
    # Answers run concurrently, so two questions in one chat may be answered out of
    # order: then each reply quotes its question, even in a private chat.
    chat_data["asking"] = chat_data.get("asking", 0) + 1
    number = chat_data["started"] = chat_data.get("started", 0) + 1
    overlapped = chat_data["asking"] > 1  # an earlier question is still in flight
    try:
        answer = await retrieve(state, chat, question)
        state.stats.record(answer)
        key = remember(chat_data, answer)
        markup = keyboard(
            key,
            more=len(answer.hits) > (1 if answer.kind == "answer" else 0),
            source=answer.kind == "answer",
            feedback=answer.kind in ("answer", "abstain"),
        )
        overtaken = chat_data["started"] != number  # a later one started meanwhile
        quote = True if overlapped or overtaken else None
        await send_parts(chat, format_answer(answer, echo=echo), markup, message, quote)
    finally:
        chat_data["asking"] -= 1


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any text is a question in private; in groups only when meant for the bot."""
    message = update.effective_message
    if message is None:
        return
    question = addressed_text(message, context.bot.username, context.bot.id)
    if question is not None:
        await answer_question(update, context, question)


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask QUESTION: the way to ask in a group."""
    message = update.effective_message
    if message is None:
        return
    question = command_argument(message)
    if not question:
        await message.reply_html(ASK_USAGE)
        return
    await answer_question(update, context, question)


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: a greeting, what the bot knows, and example questions as buttons."""
    info = _state(context).engine.info
    if update.effective_message:
        await update.effective_message.reply_html(
            start_text(info), reply_markup=example_keyboard(example_questions(info))
        )


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask."""
    if update.effective_message:
        await update.effective_message.reply_html(HELP)


async def on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the documents of the index."""
    docs = _state(context).engine.info.documents
    lines = [f"I answer from {len(docs)} document{'s' if len(docs) != 1 else ''}:"]
    lines += [f"• {doc}" for doc in docs]
    if update.effective_message:
        await send_parts(
            update.effective_message.chat,
            to_parts([("\n".join(lines), "")]),
            None,
            update.effective_message,
        )


async def on_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/about: index format version, passage count and build time."""
    info = _state(context).engine.info
    text = (
        f"Index format {info.format_version}, {info.passage_count} passages from "
        f"{len(info.documents)} document(s), built {info.build_time} ({info.build_id})."
    )
    if update.effective_message:
        await update.effective_message.reply_html(html.escape(text))


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats for admins: questions, abstention rate, feedback, top unanswered."""
    state, user, message = _state(context), update.effective_user, update.effective_message
    if message is None:
        return
    if user is None or user.id not in state.settings.admin_ids:
        await message.reply_html(NOT_ALLOWED.format(command="/stats"))
        return
    await message.reply_html(state.stats.report())


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An unknown /command: say which ones exist (in groups only when addressed to us)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    addressed = f"@{context.bot.username}".casefold() in message.text.split()[0].casefold()
    if message.chat.type == ChatType.PRIVATE or addressed:
        known = " ".join(f"/{name}" for name, _ in COMMANDS)
        await message.reply_html(f"I don't know that command. Try {known}.")


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice...: one polite line (in groups only when replying to us)."""
    message = update.effective_message
    if message is None:
        return
    reply = message.reply_to_message
    to_us = (
        reply is not None and reply.from_user is not None and reply.from_user.id == context.bot.id
    )
    if message.chat.type == ChatType.PRIVATE or to_us:
        await message.reply_html(NOT_TEXT)


async def on_reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload for admins: rebuild the index from the corpus folder now and swap it in."""
    state, user, message = _state(context), update.effective_user, update.effective_message
    if message is None:
        return
    if not state.is_admin(user.id if user else None):
        await message.reply_html(NOT_ALLOWED.format(command="/reload"))
        return
    runs = await with_typing(message.chat, rebuild(state), state.typing_delay)
    await send_parts(message.chat, to_parts(runs), None, message)


async def rebuild(state: BotState, queue: bool = False) -> list[Run]:
    """Rebuilds the index in a worker thread, swaps it into the engine; the reply.

    Args:
        state: The bot's state (settings, engine, build lock).
        queue: Wait for a rebuild this bot is already running (uploads, whose file
            must be indexed) instead of saying another build is in progress (/reload).

    A build another process holds the lock for, and any index error, become a reply;
    so does any other failure (logged with its traceback): the previous index stays.
    """
    if state.build_lock.locked() and not queue:
        return [(BUILD_BUSY, "")]
    settings = state.settings
    async with state.build_lock:
        try:
            report = await asyncio.to_thread(
                index_mod.build,
                settings.corpus_dir,
                settings.index_dir,
                settings.k1,
                settings.b,
                wait=False,
            )
        except index_mod.BuildInProgress:
            return [(BUILD_BUSY, "")]
        except index_mod.IndexError_ as exc:
            return [(f"The index was not rebuilt: {exc}", "")]
        except Exception as exc:
            log.exception("rebuild failed")
            return [
                (
                    f"The rebuild failed ({type(exc).__name__}: {exc}); the previous index "
                    "is still serving.",
                    "",
                )
            ]
        await asyncio.to_thread(state.engine.refresh)
    runs = describe_build(report)
    if report.build and state.engine.info.build_id != report.build:
        runs.append(("\nThe new index could not be loaded; still serving the old one.", "b"))
    return runs


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A document in a private chat: an admin's addition to the corpus; others NOT_TEXT."""
    state, user, message = _state(context), update.effective_user, update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    if user is None or not state.is_admin(user.id) or message.document is None:
        await message.reply_html(NOT_TEXT)
        return
    state.pending.pop(user.id, None)  # a new upload supersedes one left waiting
    try:
        name, data = await download(message.document, state.settings.max_upload_bytes)
        outcome = await asyncio.to_thread(
            uploads.save, state.settings.corpus_dir, name, data, False
        )
    except uploads.UploadRefused as exc:
        await message.reply_html(html.escape(str(exc)))
        return
    except OSError as exc:
        log.error("could not save an upload: %s", exc)
        await message.reply_html(html.escape(f"I could not save the file: {exc.strerror or exc}"))
        return
    if outcome == "exists":
        key = next(state.upload_keys)
        state.pending[user.id] = PendingUpload(key, name, data)
        text = (
            f"A different file named <b>{html.escape(name)}</b> is already in the corpus. "
            "Replace it with this one?"
        )
        await message.reply_html(text, reply_markup=upload_keyboard(key))
        return
    await _report_saved(state, message.chat, name, data, outcome, message)


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
        raise uploads.UploadRefused(f"I could not download {name}: {exc.message}") from None
    uploads.check_size(name, len(data), limit)
    uploads.check_content(name, data)
    return name, data


async def _report_saved(
    state: BotState,
    chat: Chat,
    name: str,
    data: bytes,
    outcome: str,
    reply_to: Message | None = None,
) -> None:
    """Tells the admin what happened to an upload; rebuilds when the corpus changed."""
    size = uploads.human_size(len(data))
    if outcome == "unchanged":
        text = f"{name} is already in the corpus with exactly this content; nothing changed."
        await send_parts(chat, to_parts([(text, "")]), None, reply_to)
        return
    verb = "Replaced" if outcome == "replaced" else "Added"
    runs = await with_typing(chat, rebuild(state, queue=True), state.typing_delay)
    saved: list[Run] = [(f"{verb} {name} ({size}).\n", "")]
    await send_parts(chat, to_parts(saved + runs), None, reply_to)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every button press: do what it says, and always answer the query exactly once."""
    query = update.callback_query
    if query is None:
        return
    if (query.data or "").startswith("up:"):
        await _upload_button(update, context, query)
        return
    notice: str | None = None
    try:
        notice = await _press(update, context, query.data or "")
    except Exception:
        notice = "Sorry, something went wrong."
        raise
    finally:
        await query.answer(notice)


async def _press(update: Update, context: ContextTypes.DEFAULT_TYPE, data: str) -> str | None:
    """Runs one button's action; returns the short notice Telegram shows, if any."""
    state, chat = _state(context), update.effective_chat
    action, _, rest = data.partition(":")
    if chat is None:
        return None
    if action == "ex":
        questions = example_questions(state.engine.info)
        index = int(rest) if rest.isdigit() else -1
        if not 0 <= index < len(questions):
            return EXPIRED
        await answer_question(update, context, questions[index], echo=True)
        return None
    key_text, _, arg = rest.partition(":")
    key = int(key_text) if key_text.isdigit() else -1
    remembered: Remembered | None = (context.chat_data or {}).get("answers", {}).get(key)
    if remembered is None:
        return EXPIRED
    if action == "more":
        return await _more(state, chat, key, remembered)
    if action == "src":
        passage = await asyncio.to_thread(state.engine.passage, remembered.passage_ids[0])
        if passage is None:
            return "That passage changed since this answer; please ask again."
        await send_parts(chat, format_passage(passage), None)
        return None
    if action == "fb" and arg in ("0", "1"):
        return await _feedback(state, update, remembered, up=arg == "1")
    return EXPIRED


async def _upload_button(
    update: Update, context: ContextTypes.DEFAULT_TYPE, query: CallbackQuery
) -> None:
    """Replace or Cancel for a same-named upload ("up:<key>:r" or "up:<key>:c").

    The query is answered at once (a rebuild may take longer than Telegram waits for
    the answer), the buttons are removed, then the work is done.
    """
    state, user, chat = _state(context), update.effective_user, update.effective_chat
    key, _, choice = (query.data or "").removeprefix("up:").partition(":")
    pending = state.pending.get(user.id) if user is not None else None
    if user is None or not state.is_admin(user.id):
        await query.answer(NOT_ALLOWED.format(command="Replacing files"))
        return
    if pending is None or str(pending.key) != key or choice not in ("r", "c") or chat is None:
        await query.answer(UPLOAD_GONE)
        return
    del state.pending[user.id]
    await query.answer("Replacing…" if choice == "r" else "Cancelled.")
    try:
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:  # cosmetic: the pending upload is gone either way
        log.debug("could not remove the upload buttons: %s", exc)
    if choice == "c":
        text = f"Kept the existing {pending.name}; your upload was dropped."
        await send_parts(chat, to_parts([(text, "")]), None)
        return
    try:
        outcome = await asyncio.to_thread(
            uploads.save, state.settings.corpus_dir, pending.name, pending.data, True
        )
    except uploads.UploadRefused as exc:
        await send_parts(chat, to_parts([(str(exc), "")]), None)
        return
    except OSError as exc:
        log.error("could not save an upload: %s", exc)
        text = f"I could not save the file: {exc.strerror or exc}"
        await send_parts(chat, to_parts([(text, "")]), None)
        return
    await _report_saved(state, chat, pending.name, pending.data, outcome)


async def _more(state: BotState, chat: Chat, key: int, remembered: Remembered) -> str | None:
    page = remembered.passage_ids[remembered.shown : remembered.shown + PAGE]
    if not page:
        return "No more results."
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


async def _feedback(state: BotState, update: Update, remembered: Remembered, up: bool) -> str:
    user = update.effective_user
    if user is None:
        return EXPIRED
    if user.id in remembered.votes:
        return "You already rated this answer. Thanks!"
    remembered.votes.add(user.id)
    vote = "up" if up else "down"
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
    return "Thanks for the feedback!"


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs any unexpected error with its traceback and tells the user; the bot goes on."""
    where = f"update {update.update_id}" if isinstance(update, Update) else "the bot"
    log.error("Error while handling %s", where, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await update.effective_chat.send_message(SORRY)
        except TelegramError as exc:
            log.warning("could not tell the user about the error: %s", exc)


async def post_init(application: Application) -> None:
    """Registers the command menu with Telegram (setMyCommands)."""
    try:
        await application.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])
    except TelegramError as exc:  # the menu is a convenience; answering matters more
        log.warning("could not register the command menu: %s", exc)


# --------------------------------------------------------------------------------------
# Wiring.
# --------------------------------------------------------------------------------------


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (Telegram's send limits, RetryAfter) that also retries server errors.

    A 5xx answer or a refused connection means the request was not carried out, so
    sending it again loses nothing and duplicates nothing. Timeouts are not retried:
    the message may have gone out. Bad requests are our mistake and are not retried.

    It also lets at most `in_flight` requests reach the HTTP client at once: a burst of
    replies then queues here, with no deadline, instead of in the client's connection
    pool, where a long wait would count against the pool timeout and fail the send.
    """

    def __init__(self, *args: Any, in_flight: int = CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(in_flight)

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Runs the request through the limiter, retrying after a server error."""
        for attempt in range(SEND_RETRIES + 1):
            try:
                async with self._slots:
                    return await super().process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
            except (BadRequest, TimedOut):
                raise
            except NetworkError as exc:
                if attempt == SEND_RETRIES:
                    raise
                log.warning("%s failed (%s); retrying", endpoint, exc)
                await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")


def quiet_http_logs(token: str | None = None) -> None:
    """Keeps the token out of logs.

    httpx (PTB's default client) logs every request URL, which holds the token, at
    INFO: its loggers are set to WARNING should anything use it; aiohttp logs no URLs.
    Given the token (by `run`, which owns the process), every log record made from then
    on also has it replaced, in its message and its traceback (PTB's InvalidToken
    repeats it), whichever handler ends up printing it.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    factory = logging.getLogRecordFactory()
    if token and not (isinstance(factory, _RedactingFactory) and factory.token == token):
        logging.setLogRecordFactory(_RedactingFactory(factory, token))


class _RedactingFactory:
    """A log record factory that replaces the token in messages and tracebacks."""

    def __init__(self, inner: Callable[..., logging.LogRecord], token: str) -> None:
        self.inner = inner
        self.token = token

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: let logging report it
            return record
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = text.replace(self.token, "<token>")
        return record


def _file_url(api_url: str) -> str:
    """The file download base for an API base: ".../bot" -> ".../file/bot"."""
    head, sep, tail = api_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else api_url


def build_application(
    settings: Settings,
    engine: Engine,
    *,
    send_rate: float = TELEGRAM_SEND_RATE,
    typing_delay: float = TYPING_DELAY,
) -> Application:
    """Builds the bot: handlers, the shared state, limits. Makes no network call.

    Args:
        settings: Token, API URL, admins, rate limit, feedback path.
        engine: The answering core, shared by all handlers.
        send_rate: Messages a second across all chats (Telegram allows about 30);
            0 turns the limit off (for load tests against a local server).
        typing_delay: Seconds of retrieval before "typing…" is shown.

    Raises:
        ConfigError: The token is missing or malformed.
    """
    token = validate_token(settings.telegram_token)
    quiet_http_logs()
    application = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(_file_url(settings.telegram_api_url))
        .rate_limiter(
            RetryingRateLimiter(
                overall_max_rate=send_rate,
                group_max_rate=GROUP_SEND_RATE if send_rate else 0,
                max_retries=SEND_RETRIES,
            )
        )
        .concurrent_updates(True)
        .request(AiohttpRequest(CONNECTIONS, pool_timeout=POOL_WAIT))
        .get_updates_request(AiohttpRequest(1))
        .defaults(
            Defaults(
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,
            )
        )
        .post_init(post_init)
        .build()
    )
    application.bot_data["state"] = BotState(
        engine,
        settings,
        UserRateLimit(settings.rate_limit_per_minute),
        typing_delay=typing_delay,
    )
    not_text = (
        filters.Sticker.ALL
        | filters.PHOTO
        | filters.VOICE
        | filters.AUDIO
        | filters.VIDEO
        | filters.VIDEO_NOTE
        | filters.ANIMATION
        | filters.LOCATION
        | filters.CONTACT
    )
    application.add_handlers(
        [
            CommandHandler("start", on_start),
            CommandHandler("help", on_help),
            CommandHandler("ask", on_ask),
            CommandHandler("sources", on_sources),
            CommandHandler("about", on_about),
            CommandHandler("stats", on_stats),
            CommandHandler("reload", on_reload),
            MessageHandler(filters.COMMAND, on_unknown_command),
            MessageHandler(filters.TEXT, on_text),
            MessageHandler(filters.Document.ALL & filters.UpdateType.MESSAGE, on_document),
            MessageHandler(not_text & filters.UpdateType.MESSAGE, on_not_text),
            CallbackQueryHandler(on_button),
        ]
    )
    application.add_error_handler(on_error)
    return application


def run(
    settings: Settings,
    *,
    webhook_url: str | None = None,
    listen: str = "127.0.0.1",
    port: int = 8443,
    secret_token: str | None = None,
    send_rate: float | None = None,
) -> int:
    """Runs the bot until SIGINT or SIGTERM; returns the exit status (0 on a clean stop).

    Args:
        settings: The configuration (token, API URL, admins, corpus and index).
        webhook_url: Public HTTPS URL Telegram should post updates to; polling when None.
        listen: Address the webhook server binds (behind a reverse proxy: 127.0.0.1).
        port: Port of the webhook server.
        secret_token: Webhook secret Telegram sends back in a header; a random one is
            made when None, so the webhook only accepts Telegram's requests.
        send_rate: Messages a second across chats; None for the setting
            `telegram_send_rate` if there is one, else Telegram's 30.

    Raises:
        ConfigError: The token is missing, malformed, or refused by the Bot API.
    """
    token = validate_token(settings.telegram_token)
    quiet_http_logs(token)
    library_log = logging.getLogger("telegram")
    if not logging.getLogger().handlers and not library_log.handlers:
        # The library's warnings (e.g. network trouble while polling) get a level prefix
        # like ours instead of logging's bare last-resort output.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
        library_log.addHandler(handler)
    if threading.current_thread() is threading.main_thread():
        # Until the Application installs its own handlers, SIGTERM (e.g. during an index
        # build) must still end the process cleanly.
        signal.signal(signal.SIGTERM, _exit_cleanly)
    engine = Engine.open(settings, say=lambda line: print(line, file=sys.stderr))
    if send_rate is None:
        send_rate = settings.telegram_send_rate
    application = build_application(settings, engine, send_rate=send_rate)
    try:
        if webhook_url:
            application.run_webhook(
                listen=listen,
                port=port,
                url_path=urlsplit(webhook_url).path.lstrip("/"),
                webhook_url=webhook_url,
                secret_token=secret_token or secrets.token_urlsafe(32),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        # PTB's message repeats the token: say what happened in our own words.
        raise ConfigError(
            "the Bot API refused the token (401 Unauthorized, or 404 when "
            "TELEGRAM_API_URL is not a Bot API): check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL"
        ) from None
    except NetworkError as exc:
        where = urlsplit(settings.telegram_api_url).netloc
        reason = exc.message.replace(token, "<token>")
        print(f"Error: cannot reach the Bot API at {where}: {reason}", file=sys.stderr)
        return 1
    return 0


def _exit_cleanly(signum: int, frame: object) -> NoReturn:
    raise SystemExit(0)
