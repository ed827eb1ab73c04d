"""The fake Bot API server: state, test controls, pushing updates, and HTTP.

`FakeTelegram` serves `POST /bot<token>/<method>` and `GET /file/bot<token>/<path>` on
127.0.0.1 from a daemon thread, records every call, and lets tests push updates and
wait on conditions. The method implementations are in `methods.py`.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_telegram import updates
from tests.fake_telegram.errors import ApiError, bad_request
from tests.fake_telegram.methods import METHODS, BotApiMethods

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


@dataclass
class _Delay:
    seconds: float
    remaining: int


class FakeTelegram(BotApiMethods):
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
        self._delays: dict[str, _Delay] = {}
        self._pushed: dict[int, dict[str, Any]] = {}  # update_id -> update, as pushed
        self._handed_out: set[int] = set()  # update_ids getUpdates or the webhook gave out
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
        # How file downloads fail, as a misbehaving proxy in front of the Bot API might:
        # None (they do not), "redirect-loop" (302 to the same URL, for ever) or
        # "echo-path" (a 502 HTML page quoting the request path, token and all).
        self.download_fault: str | None = None

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

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Makes the next `times` calls of `method` answer only after `seconds` (and then
        succeed): a Bot API slower than the bot's read timeout, that still delivers."""
        with self._cond:
            self._delays[method.lower()] = _Delay(seconds, times)

    def repeat_update(self, update_id: int | None = None) -> None:
        """Queues an update pushed before once more (the last one when None), as Telegram
        re-sends a webhook update whose 200 it did not get. A polling bot that confirmed
        it never sees it again: the next getUpdates offset drops it, as Telegram's does."""
        with self._cond:
            key = max(self._pushed) if update_id is None else update_id
            self._updates.append(dict(self._pushed[key]))
            self._cond.notify_all()

    def handed_out(self) -> set[tuple[int, int]]:
        """(chat id, message id) of every message update the bot has been given so far
        (by getUpdates, confirmed or not, or by a webhook call)."""
        with self._cond:
            messages = [self._pushed[i].get("message") for i in self._handed_out]
        return {(m["chat"]["id"], m["message_id"]) for m in messages if m is not None}

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

    # The builders, where tests have always found them.
    user = staticmethod(updates.user)
    private_chat = staticmethod(updates.private_chat)
    group_chat = staticmethod(updates.group_chat)

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
        content = updates.text_content(text, reply_to)
        return self.push_message(user_id, chat, edited_of=edited_of, **content)

    def push_sticker(self, user_id: int, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.push_message(user_id, chat, sticker=dict(updates.STICKER))

    def push_photo(
        self, user_id: int, chat: dict[str, Any] | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        extra = {"caption": caption} if caption else {}
        return self.push_message(
            user_id, chat, photo=[dict(size) for size in updates.PHOTO], **extra
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
        self._push({"callback_query": updates.callback_query(query_id, user_id, message, data)})
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
            self._pushed[update["update_id"]] = update
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
            impl = METHODS.get(method.lower())
            if impl is None:
                raise ApiError(404, "Not Found")
            self._inject_fault(method)
            self._delay(method)
            result = impl(self, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status, body = exc.code, exc.body()
        self._record(Call(method, params, status, body))
        return status, body

    def serve_file(self, path: str) -> tuple[int, str, bytes, dict[str, str]]:
        """Answers `GET /file/bot<token>/<file_path>`: (status, type, body, headers)."""
        raw_path = path
        if self.download_fault == "redirect-loop":
            self._record(Call("downloadFile", {"file_path": raw_path}, 302, {"ok": False}))
            return 302, "text/plain", b"Found", {"Location": raw_path}
        if self.download_fault == "echo-path":
            self._record(Call("downloadFile", {"file_path": raw_path}, 502, {"ok": False}))
            page = f"<html><body><h1>502 Bad Gateway</h1><p>GET {raw_path}</p></body></html>"
            return 502, "text/html", page.encode(), {}
        path = urllib.parse.unquote(path)  # clients percent-encode the token's ':'
        match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        file_path = match.group(2) if match else path
        try:
            if match is None:
                raise ApiError(404, "Not Found")
            if match.group(1) != self.token:
                raise ApiError(401, "Unauthorized")
            with self._cond:
                file_id = self._served_paths.get(file_path)
                stored = self._files.get(file_id or "")
            if stored is None:
                raise ApiError(404, "Not Found")
        except ApiError as exc:
            self._record(Call("downloadFile", {"file_path": file_path}, exc.code, exc.body()))
            return exc.code, "application/json", json.dumps(exc.body()).encode(), {}
        data: bytes = stored["data"]
        body = {"ok": True, "result": {"size": len(data)}}
        self._record(Call("downloadFile", {"file_path": file_path}, 200, body))
        return 200, "application/octet-stream", data, {}

    def _record(self, call: Call) -> None:
        """Keeps a call for `calls` and wakes waiters and listeners."""
        with self._cond:
            self._calls.append(call)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(call)

    def _delay(self, method: str) -> None:
        with self._cond:
            delay = self._delays.get(method.lower())
            if delay is None or delay.remaining <= 0:
                return
            delay.remaining -= 1
        # Only this request's server thread waits; woken early when the fake stops.
        with self._cond:
            self._cond.wait_for(lambda: self._closing, timeout=delay.seconds)

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

    def handle(self) -> None:
        # The client may give up (a send it stopped waiting for, a killed bot).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

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
                error = ApiError(405, "Method Not Allowed")
                self._reply(405, "application/json", json.dumps(error.body()).encode())
                return
            self._reply(*self.server_fake.serve_file(url.path))
            return
        try:
            params = decode_body(self.headers.get("Content-Type", ""), body, url.query)
        except ApiError as exc:
            status, payload = exc.code, exc.body()
        else:
            status, payload = self.server_fake.handle(url.path, params)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._reply(status, "application/json", data)

    def _reply(
        self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a cancelled long poll at shutdown)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: tests read calls(), not logs
