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
and loses nothing.

When the bot sets a webhook, pushed updates are POSTed to it instead (with the
secret token header), as Telegram does.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_DOWNLOAD = 20 * 1024 * 1024  # the cloud Bot API's getFile limit
DEFAULT_TOKEN = "123456789:AAEfakeTokenForTestsOnly-abcdefghijk"

# Form values are strings; Telegram decodes these fields as numbers, booleans or JSON.
_INT_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "reply_to_message_id",
    "message_thread_id",
    "cache_time",
    "from_chat_id",
    "user_id",
    "max_connections",
}
_BOOL_FIELDS = {
    "disable_notification",
    "protect_content",
    "show_alert",
    "drop_pending_updates",
    "disable_web_page_preview",
    "allow_sending_without_reply",
}
_JSON_FIELDS = {
    "reply_markup",
    "commands",
    "allowed_updates",
    "entities",
    "reply_parameters",
    "link_preview_options",
    "scope",
}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_UPDATE_TYPES = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
}


class ApiError(Exception):
    """An error answer: raised inside a method, turned into Telegram's error JSON."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ---------------------------------------------------------------------------------------
# Telegram HTML: the subset Telegram accepts, parsed to plain text + entities.
# ---------------------------------------------------------------------------------------

_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entities(raw: str, base_offset: int) -> str:
    """Decodes &...; entities in a run of text, rejecting a bare '&' as Telegram does."""
    out: list[str] = []
    pos = 0
    while True:
        amp = raw.find("&", pos)
        if amp < 0:
            out.append(raw[pos:])
            return "".join(out)
        out.append(raw[pos:amp])
        match = _ENTITY_RE.match(raw, amp)
        if match is None:
            raise bad_request(
                f"can't parse entities: Character '&' at byte offset {base_offset + amp} "
                "does not start an entity; escape it as &amp;"
            )
        dec, hexa, name = match.groups()
        if name is not None:
            if name not in _NAMED_ENTITIES:
                raise bad_request(
                    f'can\'t parse entities: Unsupported HTML entity "&{name};" at byte offset '
                    f"{base_offset + amp}"
                )
            out.append(_NAMED_ENTITIES[name])
        else:
            codepoint = int(dec) if dec is not None else int(hexa, 16)
            if codepoint > 0x10FFFF or 0xD800 <= codepoint <= 0xDFFF:
                raise bad_request(f"can't parse entities: Bad character code at {amp}")
            out.append(chr(codepoint))
        pos = match.end()


def parse_html(html: str) -> tuple[str, list[dict[str, Any]]]:
    """Parses Telegram-flavoured HTML into (plain text, entities), or raises ApiError.

    Follows https://core.telegram.org/bots/api#html-style: only the supported tags,
    properly nested, every '<' and '&' in text escaped.
    """
    plain: list[str] = []
    length16 = 0
    stack: list[tuple[str, int, dict[str, str]]] = []  # (tag, utf16 start, attributes)
    entities: list[dict[str, Any]] = []
    pos = 0
    while pos < len(html):
        lt = html.find("<", pos)
        chunk = html[pos : lt if lt >= 0 else len(html)]
        if chunk:
            text = _decode_entities(chunk, pos)
            plain.append(text)
            length16 += utf16_len(text)
        if lt < 0:
            break
        gt = html.find(">", lt)
        if gt < 0:
            raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {lt}")
        inside = html[lt + 1 : gt]
        if inside.startswith("/"):
            name = inside[1:].strip().lower()
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {lt}")
            open_name, start, attrs = stack.pop()
            if name != open_name:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {lt}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            entity: dict[str, Any] = {
                "type": _TAG_ENTITY[open_name],
                "offset": start,
                "length": length16 - start,
            }
            if open_name == "a":
                entity["url"] = attrs.get("href", "")
            if open_name == "pre" and "language" in attrs:
                entity["language"] = attrs["language"]
            if entity["length"] > 0:
                entities.append(entity)
        else:
            match = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)", inside)
            name = match.group(1).lower() if match else ""
            if name not in _TAG_ENTITY:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {lt}'
                )
            attrs = {
                m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
                for m in _ATTR_RE.finditer(inside[len(name) :])
                if m.group(1)
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise bad_request(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
                    f"offset {lt}"
                )
            if name == "tg-emoji" and "emoji-id" not in attrs:
                raise bad_request(f'can\'t parse entities: Tag "tg-emoji" needs emoji-id at {lt}')
            if (
                stack
                and stack[-1][0] in ("code", "pre")
                and not (stack[-1][0] == "pre" and name == "code")
            ):
                raise bad_request(
                    f'can\'t parse entities: Can\'t nest "{name}" inside "{stack[-1][0]}" at '
                    f"byte offset {lt}"
                )
            if name == "code" and stack and stack[-1][0] == "pre":
                language = attrs.get("class", "").removeprefix("language-")
                if language:
                    stack[-1][2]["language"] = language
            stack.append((name, length16, attrs))
        pos = gt + 1
    if stack:
        name = stack[-1][0]
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{name}\""
        )
    return "".join(plain), entities


# ---------------------------------------------------------------------------------------
# Recorded calls and the server state.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the bot made: the decoded parameters and what it got back."""

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int


def _entities_for(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach to typed text: commands and @mentions."""
    entities = []
    for match in re.finditer(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?", text):
        entities.append(("bot_command", match))
    for match in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{5,32}", text):
        if text[: match.start()].rstrip().endswith("/"):
            continue
        entities.append(("mention", match))
    out = []
    for kind, match in sorted(entities, key=lambda e: e[1].start()):
        if kind == "mention" and any(
            o["type"] == "bot_command"
            and o["_start"] <= match.start() < o["_start"] + len(o["_text"])
            for o in out
        ):
            continue
        out.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
                "_start": match.start(),
                "_text": match.group(),
            }
        )
    for entity in out:
        del entity["_start"], entity["_text"]
    return out


class FakeTelegram:
    """The fake Bot API: start it, point the bot's base URL at `api_url`, push updates.

    Args:
        token: The only token accepted; others get 401.
        bot_username: The bot's @username (without @), as getMe reports it.
        max_messages_per_second: If set, sendMessage calls beyond this many in one
            second get 429 with retry_after, like Telegram's flood control. Off by
            default (and off for benchmarks).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "policy_qa_bot",
        max_messages_per_second: float | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.max_messages_per_second = max_messages_per_second
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = 1
        self._poll_generation = 0
        self.waiting_polls = 0  # getUpdates calls in progress (tests wait on it)
        self._closing = False
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._callbacks: dict[str, bool] = {}  # id -> answered
        self._callback_ids = itertools.count(1000)
        self._faults: dict[str, _Fault] = {}
        self._sent_times: deque[float] = deque()
        self._listeners: list[Callable[[Call], None]] = []
        self.webhook: dict[str, Any] | None = None
        self._webhook_thread: threading.Thread | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.commands: list[dict[str, str]] = []
        self._files: dict[str, dict[str, Any]] = {}  # file_id -> {"data", "path", ...}
        self._file_ids = itertools.count(1)
        self._served_paths: dict[str, str] = {}  # file_path handed out -> file_id
        # getFile's file_size is optional in the Bot API: False leaves it out.
        self.get_file_reports_size = True

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Starts serving on 127.0.0.1 with an OS-assigned port, in a daemon thread."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(
            target=lambda: httpd.serve_forever(poll_interval=0.05),
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and wakes every waiting long poll."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._webhook_thread is not None:
            self._webhook_thread.join(timeout=5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the fake first"
        return int(self._httpd.server_address[1])

    @property
    def api_url(self) -> str:
        """The value for TELEGRAM_API_URL / base_url (the token is appended to it)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # -- test controls ------------------------------------------------------------------

    def fail_next(
        self, method: str, times: int = 1, status: int = 429, retry_after: int = 1
    ) -> None:
        """Makes the next `times` calls of `method` fail with 429 (retry_after) or 500."""
        with self._cond:
            self._faults[method.lower()] = _Fault(status, times, retry_after)

    def add_listener(self, listener: Callable[[Call], None]) -> None:
        """Calls `listener(call)` after each recorded call (from the server thread)."""
        with self._cond:
            self._listeners.append(listener)

    def calls(self, method: str | None = None, *, ok: bool | None = True) -> list[Call]:
        """Recorded calls, oldest first, of one method (any when None); only successful
        ones by default (ok=None for all)."""
        with self._cond:
            return [
                c
                for c in self._calls
                if (method is None or c.method.lower() == method.lower())
                and (ok is None or c.ok == ok)
            ]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent successfully (result objects), optionally to one chat."""
        return [
            c.result
            for c in self.calls("sendMessage")
            if chat_id is None or c.result["chat"]["id"] == chat_id
        ]

    def wait_for(self, predicate: Callable[[FakeTelegram], Any], timeout: float = 10.0) -> Any:
        """Waits until predicate(fake) is truthy (re-checked on every call) and returns it.

        Raises:
            TimeoutError: With the last calls listed, so a failure says what happened.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = "\n".join(
                        f"  {c.method} {c.status} {json.dumps(c.params, ensure_ascii=False)[:200]}"
                        for c in self._calls[-15:]
                    )
                    raise TimeoutError(f"condition not met in {timeout} s; last calls:\n{recent}")
                self._cond.wait(remaining)

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Waits until the bot has sent at least `count` messages to a chat; returns them."""

        def enough(fake: FakeTelegram) -> list[dict[str, Any]] | None:
            messages = fake.sent(chat_id)
            return messages if len(messages) >= count else None

        return self.wait_for(enough, timeout)  # type: ignore[no-any-return]

    # -- pushing updates ----------------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str = "Ann", username: str | None = None) -> dict[str, Any]:
        """A User object for a human."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        return user

    def private_chat(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": "private", "first_name": f"User{user_id}"}

    @staticmethod
    def group_chat(chat_id: int, title: str = "Policy team") -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        return {"id": chat_id, "type": "group", "title": title}

    def push_message(
        self,
        user_id: int,
        chat: dict[str, Any] | None = None,
        edited_of: dict[str, Any] | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """Pushes a message update with arbitrary content (text, sticker, photo...).

        Args:
            user_id: The sender.
            chat: The chat (a private chat with the sender when None).
            edited_of: A message previously pushed: sends an edited_message for it.
            **content: Message fields, e.g. text=..., sticker={...}, reply_to_message=...
        """
        chat = chat or self.private_chat(user_id)
        with self._cond:
            self._chats[chat["id"]] = chat
            if edited_of is None:
                message_id = self._next_message_id(chat["id"])
            else:
                message_id = edited_of["message_id"]
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self.user(user_id, username=f"user{user_id}"),
            "chat": chat,
            "date": int(time.time()),
        }
        if edited_of is not None:
            message["edit_date"] = int(time.time())
        message.update(content)
        with self._cond:
            self._messages[(chat["id"], message_id)] = message
        self._push({"edited_message" if edited_of else "message": message})
        return message

    def push_text(
        self,
        user_id: int,
        text: str,
        chat: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
        edited_of: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Pushes a text message as a Telegram client would send it (with command and
        mention entities), optionally as a reply to a message (e.g. one the bot sent)."""
        content: dict[str, Any] = {"text": text}
        entities = _entities_for(text)
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        return self.push_message(user_id, chat, edited_of=edited_of, **content)

    def push_sticker(self, user_id: int, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.push_message(
            user_id,
            chat,
            sticker={
                "file_id": "CAACAgIAAxkBAAEStickerFileId",
                "file_unique_id": "AgADsticker",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            },
        )

    def push_photo(
        self, user_id: int, chat: dict[str, Any] | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        extra = {"caption": caption} if caption else {}
        return self.push_message(
            user_id,
            chat,
            photo=[
                {
                    "file_id": "AgACAgIAAxkBAAEPhotoSmall",
                    "file_unique_id": "AQADsmall",
                    "width": 90,
                    "height": 60,
                    "file_size": 1200,
                },
                {
                    "file_id": "AgACAgIAAxkBAAEPhotoLarge",
                    "file_unique_id": "AQADlarge",
                    "width": 900,
                    "height": 600,
                    "file_size": 48000,
                },
            ],
            **extra,
        )

    def add_file(self, data: bytes) -> dict[str, Any]:
        """Stores bytes as a file the bot may fetch; returns its file_id/unique id/size."""
        number = next(self._file_ids)
        file_id = f"BQACAgIAAxkBAAEDocument{number:04d}"
        entry = {"file_id": file_id, "file_unique_id": f"AgADdoc{number:04d}"}
        with self._cond:
            self._files[file_id] = {**entry, "data": bytes(data), "number": number}
        return {**entry, "file_size": len(data)}

    def push_document(
        self,
        user_id: int,
        file_name: str | None = "notes.txt",
        chat: dict[str, Any] | None = None,
        content: bytes = b"Some notes.\n",
        mime_type: str = "text/plain",
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """Pushes a document message; the bot can download `content` with getFile.

        Args:
            file_name: The sender's file name; None leaves it out, as Telegram does
                for a document sent without one.
            file_size: A size for the message to announce instead of the content's
                length (a client may be wrong; the bot must check the bytes too).
        """
        document: dict[str, Any] = {**self.add_file(content), "mime_type": mime_type}
        if file_name is not None:
            document["file_name"] = file_name
        if file_size is not None:
            document["file_size"] = file_size
        return self.push_message(user_id, chat, document=document)

    def press(self, user_id: int, message: dict[str, Any], button_text: str) -> str:
        """Presses an inline button of a message the bot sent; returns the query id.

        Raises:
            LookupError: The message has no button with that text (a test mistake).
        """
        markup = message.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if button["text"] == button_text and "callback_data" in button:
                    return self.push_callback(user_id, message, button["callback_data"])
        texts = [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
        raise LookupError(f"no button {button_text!r} in message; buttons: {texts}")

    def push_callback(self, user_id: int, message: dict[str, Any], data: str) -> str:
        """Pushes a callback_query update for a message the bot sent; returns its id."""
        query_id = str(next(self._callback_ids))
        with self._cond:
            self._callbacks[query_id] = False
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id, username=f"user{user_id}"),
                    "message": message,
                    "chat_instance": str(message["chat"]["id"]),
                    "data": data,
                }
            }
        )
        return query_id

    def downloads(self) -> list[str]:
        """The file paths the bot downloaded successfully, in order."""
        return [c.params["file_path"] for c in self.calls("downloadFile")]

    def unanswered_callbacks(self) -> list[str]:
        with self._cond:
            return [q for q, answered in self._callbacks.items() if not answered]

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            update = {"update_id": self._next_update_id, **body}
            self._next_update_id += 1
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    # -- the HTTP side ------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answers one request path with its decoded parameters: (status, body)."""
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", path)
        method = match.group(2) if match else path
        try:
            if match is None:
                raise ApiError(404, "Not Found")
            if match.group(1) != self.token:
                raise ApiError(401, "Unauthorized")
            impl = _METHODS.get(method.lower())
            if impl is None:
                raise ApiError(404, "Not Found")
            self._inject_fault(method)
            result = impl(self, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status = exc.code
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
        call = Call(method, params, status, body)
        with self._cond:
            self._calls.append(call)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(call)
        return status, body

    def serve_file(self, path: str) -> tuple[int, str, bytes]:
        """Answers `GET /file/bot<token>/<file_path>`: (status, content type, body)."""
        path = urllib.parse.unquote(path)  # clients percent-encode the token's ':'
        match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        file_path = match.group(2) if match else path
        data: bytes | None = None
        if match is None:
            status, description = 404, "Not Found"
        elif match.group(1) != self.token:
            status, description = 401, "Unauthorized"
        else:
            with self._cond:
                file_id = self._served_paths.get(file_path)
                stored = self._files.get(file_id or "")
            if stored is None:
                status, description = 404, "Not Found"
            else:
                status, data = 200, stored["data"]
        if data is not None:
            body: dict[str, Any] = {"ok": True, "result": {"size": len(data)}}
        else:
            body = {"ok": False, "error_code": status, "description": description}
        call = Call("downloadFile", {"file_path": file_path}, status, body)
        with self._cond:
            self._calls.append(call)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(call)
        if data is not None:
            return status, "application/octet-stream", data
        return status, "application/json", json.dumps(body).encode()

    def _inject_fault(self, method: str) -> None:
        with self._cond:
            fault = self._faults.get(method.lower())
            if fault is None or fault.remaining <= 0:
                return
            fault.remaining -= 1
        if fault.status == 429:
            raise ApiError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        raise ApiError(fault.status, HTTPStatus(fault.status).phrase)

    # -- methods ------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Policy QA",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self.webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = _required(params, "url")
        with self._cond:
            self.webhook = {"url": url, "secret_token": params.get("secret_token")}
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if self._webhook_thread is None:
                self._webhook_thread = threading.Thread(
                    target=self._deliver_webhooks, name="fake-webhook", daemon=True
                )
                self._webhook_thread.start()
            self._cond.notify_all()
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {
                "url": (self.webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _deliver_webhooks(self) -> None:
        """POSTs queued updates to the webhook one at a time, as Telegram does."""
        while True:
            with self._cond:
                while not self._closing and (self.webhook is None or not self._updates):
                    self._cond.wait()
                if self._closing:
                    return
                assert self.webhook is not None
                update, hook = self._updates[0], dict(self.webhook)
            request = urllib.request.Request(
                hook["url"],
                data=json.dumps(update).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            if hook["secret_token"]:
                request.add_header("X-Telegram-Bot-Api-Secret-Token", hook["secret_token"])
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    delivered = 200 <= response.status < 300
            except (urllib.error.URLError, OSError):
                delivered = False
            with self._cond:
                if delivered and self._updates and self._updates[0] is update:
                    self._updates.popleft()
                elif not delivered:
                    self._cond.wait(0.1)  # Telegram backs off too; woken early on stop

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates") or None
        with self._cond:
            if self.webhook is not None:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is "
                    "active; use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()  # an older long poll still waiting ends with 409
            if offset is not None:
                offset = int(offset)
                if offset < 0:
                    keep = list(self._updates)[offset:]
                    self._updates = deque(keep)
                else:
                    while self._updates and self._updates[0]["update_id"] < offset:
                        self._updates.popleft()
            deadline = time.monotonic() + timeout

            def ready() -> list[dict[str, Any]]:
                return [
                    u for u in self._updates if allowed is None or any(k in u for k in allowed)
                ][:limit]

            self.waiting_polls += 1
            self._cond.notify_all()
            try:
                while not (found := ready()) and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    if self._poll_generation != generation:
                        raise ApiError(
                            409,
                            "Conflict: terminated by other getUpdates request; "
                            "make sure that only one bot instance is running",
                        )
            finally:
                self.waiting_polls -= 1
            return found

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _required(params, "chat_id")
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _text(
        self, params: dict[str, Any], field_name: str = "text"
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get(field_name)
        if not isinstance(raw, str):
            raise bad_request("message text is empty")
        mode = params.get("parse_mode")
        if mode in (None, ""):
            plain, entities = raw, []
        elif str(mode).lower() == "html":
            plain, entities = parse_html(raw)
        else:
            raise bad_request(f"unsupported parse_mode {mode!r} (this fake knows HTML only)")
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        return plain, entities

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("BUTTON_TEXT_INVALID")
                kinds = [k for k in button if k != "text"]
                if len(kinds) != 1:
                    raise bad_request("BUTTON_TYPE_INVALID")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA
                    ):
                        raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _check_reply(self, chat: dict[str, Any], params: dict[str, Any]) -> None:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply", allow))
        if (
            message_id is not None
            and (chat["id"], int(message_id)) not in self._messages
            and not allow
        ):
            raise bad_request("message to be replied not found")

    def _flood_control(self) -> None:
        if self.max_messages_per_second is None:
            return
        now = time.monotonic()
        while self._sent_times and now - self._sent_times[0] > 1.0:
            self._sent_times.popleft()
        if len(self._sent_times) >= self.max_messages_per_second:
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._sent_times.append(now)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            chat = self._chat(params)
            plain, entities = self._text(params)
            markup = self._check_markup(params)
            self._check_reply(chat, params)
            self._flood_control()
            message: dict[str, Any] = {
                "message_id": self._next_message_id(chat["id"]),
                "from": self._get_me({}),
                "chat": chat,
                "date": int(time.time()),
                "text": plain,
            }
            if entities:
                message["entities"] = entities
            if markup:
                message["reply_markup"] = markup
            reply = params.get("reply_parameters")
            reply_id = (
                reply.get("message_id")
                if isinstance(reply, dict)
                else params.get("reply_to_message_id")
            )
            if reply_id is not None and (chat["id"], int(reply_id)) in self._messages:
                message["reply_to_message"] = self._messages[(chat["id"], int(reply_id))]
            self._messages[(chat["id"], message["message_id"])] = message
            return message

    def _editable(self, params: dict[str, Any]) -> tuple[tuple[int, int], dict[str, Any]]:
        """The bot's own message that an edit names, refused as Telegram refuses it."""
        if "inline_message_id" in params:
            raise bad_request("this fake does not do inline messages")
        chat = self._chat(params)
        key = (chat["id"], int(_required(params, "message_id")))
        old = self._messages.get(key)
        if old is None:
            raise bad_request("message to edit not found")
        if old["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        return key, old

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            key, old = self._editable(params)
            plain, entities = self._text(params)
            markup = self._check_markup(params)
            if (
                plain == old.get("text")
                and entities == old.get("entities", [])
                and markup == old.get("reply_markup")
            ):
                raise bad_request(
                    "message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and "
                    "reply markup of the message"
                )
            new = {**old, "text": plain, "edit_date": int(time.time())}
            new.pop("entities", None)
            new.pop("reply_markup", None)
            if entities:
                new["entities"] = entities
            if markup:
                new["reply_markup"] = markup
            self._messages[key] = new
            return new

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            key, old = self._editable(params)
            markup = self._check_markup(params)
            if markup == old.get("reply_markup") or (not markup and not old.get("reply_markup")):
                raise bad_request(
                    "message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and "
                    "reply markup of the message"
                )
            new = {**old, "edit_date": int(time.time())}
            new.pop("reply_markup", None)
            if markup:
                new["reply_markup"] = markup
            self._messages[key] = new
            return new

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(_required(params, "file_id"))
        with self._cond:
            stored = self._files.get(file_id)
            if stored is None:
                raise bad_request("invalid file_id")
            if len(stored["data"]) > MAX_DOWNLOAD:
                raise bad_request("file is too big")
            path = f"documents/file_{stored['number']}"
            self._served_paths[path] = file_id
            result = {
                "file_id": file_id,
                "file_unique_id": stored["file_unique_id"],
                "file_size": len(stored["data"]),
                "file_path": path,
            }
            if not self.get_file_reports_size:
                del result["file_size"]
            return result

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(_required(params, "callback_query_id"))
        text = params.get("text") or ""
        with self._cond:
            if self._callbacks.get(query_id, True):
                raise bad_request(
                    "query is too old and response timeout expired or query ID is invalid"
                )
            if len(text) > MAX_CALLBACK_ANSWER:
                raise bad_request("MESSAGE_TOO_LONG")
            self._callbacks[query_id] = True
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _required(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self.commands = commands
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        with self._cond:
            return list(self.commands)


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise bad_request(f"{name} is empty")
    return params[name]


_METHODS: dict[str, Callable[[FakeTelegram, dict[str, Any]], Any]] = {
    "getme": FakeTelegram._get_me,
    "deletewebhook": FakeTelegram._delete_webhook,
    "setwebhook": FakeTelegram._set_webhook,
    "getwebhookinfo": FakeTelegram._get_webhook_info,
    "getupdates": FakeTelegram._get_updates,
    "sendmessage": FakeTelegram._send_message,
    "editmessagetext": FakeTelegram._edit_message_text,
    "editmessagereplymarkup": FakeTelegram._edit_message_reply_markup,
    "getfile": FakeTelegram._get_file,
    "answercallbackquery": FakeTelegram._answer_callback_query,
    "sendchataction": FakeTelegram._send_chat_action,
    "setmycommands": FakeTelegram._set_my_commands,
    "getmycommands": FakeTelegram._get_my_commands,
}


# ---------------------------------------------------------------------------------------
# Request decoding.
# ---------------------------------------------------------------------------------------


def _decode_value(name: str, value: Any) -> Any:
    """Turns a form string into the type Telegram reads for that field."""
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value  # e.g. chat_id="@channel"; the method decides
    if name in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


def decode_body(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Decodes a request's parameters from its query string and body, as Telegram does."""
    raw: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";", 1)[0].strip().lower()
    if body and kind == "application/json":
        try:
            loaded = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(loaded, dict):
            raise bad_request("can't parse JSON object")
        raw.update(loaded)
    elif body and kind == "application/x-www-form-urlencoded":
        raw.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif body and kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is None:
                raw[str(name)] = payload.decode("utf-8")
            else:
                raw[str(name)] = {"filename": part.get_filename(), "size": len(payload)}
    return {name: _decode_value(name, value) for name, value in raw.items()}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeTelegram
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of Telegram
    # Headers and body go out in two writes; with Nagle's algorithm on, the second
    # waits for the client's delayed ACK (40 ms on Linux) and caps a connection at
    # about 25 requests a second.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/file/"):
            if self.command != "GET":
                self._reply(405, "application/json", b'{"ok":false,"error_code":405}')
                return
            self._reply(*self.server_fake.serve_file(url.path))
            return
        try:
            params = decode_body(self.headers.get("Content-Type", ""), body, url.query)
        except ApiError as exc:
            status, payload = (
                exc.code,
                {"ok": False, "error_code": exc.code, "description": exc.description},
            )
        else:
            status, payload = self.server_fake.handle(url.path, params)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._reply(status, "application/json", data)

    def _reply(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a cancelled long poll at shutdown)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: tests read calls(), not logs


def iter_buttons(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every inline button of a message."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        yield from row
