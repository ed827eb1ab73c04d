"""The Telegram front end: questions in, answers with sources and buttons out.

The flow of one question:

1. python-telegram-bot receives an update (long polling by default, a webhook behind a
   reverse proxy) and, because updates are processed concurrently, runs its handler
   alongside the others.
2. The handler (`handlers`) decides whether the message is a question for us: any text
   in a private chat; in groups only `/ask ...`, a mention of the bot, or a reply to one
   of its messages. Edited messages follow the same rules and are answered again, so a
   user who fixes a typo in a question gets the fixed answer.
3. A per-user sliding window (`BOT_RATE_LIMIT` questions a minute, `state`) turns away
   floods with one friendly line.
4. The engine answers in a worker thread (`asyncio.to_thread`), so one slow retrieval
   never stalls other users; if it takes longer than a moment, "typing…" is shown.
5. `render.format_answer` turns the `Answer` into HTML parts of at most 4096
   characters, and `callbacks.keyboard` adds the buttons: More, Source, 👍/👎. Callback
   data stays tiny ("more:7"): the 7 is the chat's 7th remembered answer, whose passage
   ids are kept in the chat's typed memory (`state.ChatData`), so it never nears
   Telegram's 64-byte limit.
6. Sends go through the rate limiter and the aiohttp client wired in `app`.

Anything unexpected reaches `handlers.on_error`, which logs it with its traceback and,
unless a reply already went out, tells the user something went wrong; the bot keeps
running. Updates are journaled next to the index until handled and replayed after a
restart, and one seen before is dropped (`delivery`); the token is redacted from logs
and replies alike (`redaction`). Admins have /stats, /reload and document uploads
(`admin`). Every sentence users read is in `texts`.

Where to change what: wording in `texts`; message layout and splitting in `render`;
buttons in `callbacks`; per-chat memory and limits in `state`; answering in
`handlers`; admin powers in `admin`; start-up, limits and logging in `app`; what
survives a restart in `delivery`.
"""

from bot.telegram.app import (
    ALLOWED_UPDATES,
    RetryingRateLimiter,
    build_application,
    quiet_http_logs,
    run,
    validate_token,
)
from bot.telegram.callbacks import MAX_CALLBACK_DATA, example_keyboard, keyboard, upload_keyboard
from bot.telegram.render import (
    MAX_MESSAGE,
    Span,
    format_answer,
    format_passage,
    format_results,
    render,
    split_spans,
    telegram_length,
    to_parts,
)
from bot.telegram.state import BotState, ChatData, Stats, UserRateLimit
from bot.telegram.texts import (
    BUILD_BUSY,
    NOT_TEXT,
    SORRY,
    UPLOAD_GONE,
    example_questions,
    start_text,
    topic,
    topics,
)

__all__ = [
    "ALLOWED_UPDATES",
    "BUILD_BUSY",
    "MAX_CALLBACK_DATA",
    "MAX_MESSAGE",
    "NOT_TEXT",
    "SORRY",
    "UPLOAD_GONE",
    "BotState",
    "ChatData",
    "RetryingRateLimiter",
    "Span",
    "Stats",
    "UserRateLimit",
    "build_application",
    "example_keyboard",
    "example_questions",
    "format_answer",
    "format_passage",
    "format_results",
    "keyboard",
    "quiet_http_logs",
    "render",
    "run",
    "split_spans",
    "start_text",
    "telegram_length",
    "to_parts",
    "topic",
    "topics",
    "upload_keyboard",
    "validate_token",
]
