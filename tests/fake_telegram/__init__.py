"""A fake Telegram Bot API server for tests and benchmarks (standard library only).

The bot under test talks to it over real HTTP exactly as it would talk to
api.telegram.org: `POST /bot<token>/<method>` with form-encoded, JSON or multipart
bodies. It is strict where Telegram is strict, so that a formatting mistake fails
here rather than in production:

* HTTP status = `error_code`, body `{"ok": false, "error_code": ..., "description": ...}`;
* 401 for a wrong token, 404 for an unknown method;
* text over 4096 characters after entity parsing, text that is empty, and HTML that
  Telegram cannot parse (unknown or misnested tags, a bare `<` or `&`) are rejected;
* inline buttons with callback data over 64 bytes: `BUTTON_DATA_INVALID`;
* messages to unknown chats, edits of unknown messages, answering an unknown or
  already answered callback query, edits that change nothing;
* files: `getFile` knows only the file ids of documents pushed here, refuses files
  over 20 MB ("file is too big") as the cloud Bot API does, and
  `GET /file/bot<token>/<file_path>` serves only paths `getFile` handed out.

Tests push updates (text, commands, mentions, replies, callback queries, stickers,
photos, documents with their bytes) and read back every call the bot made (`calls`,
`wait_for`). Long-polling `getUpdates` honours `offset` and `timeout` and is woken by
a condition variable, so nothing here sleeps in a loop. `fail_next` makes the next N
calls of a method answer 429 (with `retry_after`) or 500, to test that the bot retries
and loses nothing; `delay_next` makes them answer late but succeed (a send slower than
the bot's timeout that still arrives); `download_fault` makes file downloads fail as a
misbehaving proxy would (a redirect loop, an error page echoing the path and its
token); `repeat_update` sends an update again (a webhook retry); `handed_out` says
which updates the bot has been given. Like Telegram's, `getUpdates` drops only the
updates below the offset it is called with; others are given out again.

When the bot sets a webhook, pushed updates are POSTed to it instead (with the
secret token header), as Telegram does.

The package: `server` (the server, its state and test controls), `methods` (the Bot
API methods), `entities` (Telegram HTML and typed-text entities), `updates` (builders
of users, chats and update contents), `errors` (the error answer, built in one place).
"""

from tests.fake_telegram.entities import parse_html, typed_entities, utf16_len
from tests.fake_telegram.errors import ApiError, bad_request
from tests.fake_telegram.methods import (
    MAX_CALLBACK_ANSWER,
    MAX_CALLBACK_DATA,
    MAX_DOWNLOAD,
    MAX_TEXT,
)
from tests.fake_telegram.server import DEFAULT_TOKEN, Call, FakeTelegram, decode_body
from tests.fake_telegram.updates import iter_buttons

__all__ = [
    "DEFAULT_TOKEN",
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_DOWNLOAD",
    "MAX_TEXT",
    "ApiError",
    "Call",
    "FakeTelegram",
    "bad_request",
    "decode_body",
    "iter_buttons",
    "parse_html",
    "typed_entities",
    "utf16_len",
]
