"""The Bot API methods the fake answers, strict where Telegram is strict.

`BotApiMethods` is the part of `FakeTelegram` that implements methods: each takes the
decoded parameters and returns the result, or raises `ApiError` with the description
Telegram gives. `METHODS` maps a method name (lower case, as Telegram matches it) to
its implementation.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fake_telegram.entities import parse_html
from tests.fake_telegram.errors import ApiError, bad_request, required

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_DOWNLOAD = 20 * 1024 * 1024  # the cloud Bot API's getFile limit

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


class BotApiMethods:
    """Method implementations over the server state `FakeTelegram` sets up."""

    # The server state, made by FakeTelegram.__init__.
    bot_id: int
    bot_username: str
    max_messages_per_second: float | None
    webhook: dict[str, Any] | None
    commands: list[dict[str, str]]
    get_file_reports_size: bool
    waiting_polls: int
    _cond: threading.Condition
    _updates: deque[dict[str, Any]]
    _poll_generation: int
    _closing: bool
    _messages: dict[tuple[int, int], dict[str, Any]]
    _chats: dict[int, dict[str, Any]]
    _callbacks: dict[str, bool]
    _sent_times: deque[float]
    _webhook_thread: threading.Thread | None
    _files: dict[str, dict[str, Any]]
    _served_paths: dict[str, str]
    _handed_out: set[int]

    def _next_message_id(self, chat_id: int) -> int:
        raise NotImplementedError

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
        url = required(params, "url")
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
            with self._cond:
                self._handed_out.add(update["update_id"])
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
            self._handed_out.update(u["update_id"] for u in found)
            return found

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = required(params, "chat_id")
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
        key = (chat["id"], int(required(params, "message_id")))
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
        file_id = str(required(params, "file_id"))
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
        query_id = str(required(params, "callback_query_id"))
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
        commands = required(params, "commands")
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


METHODS: dict[str, Callable[[BotApiMethods, dict[str, Any]], Any]] = {
    "getme": BotApiMethods._get_me,
    "deletewebhook": BotApiMethods._delete_webhook,
    "setwebhook": BotApiMethods._set_webhook,
    "getwebhookinfo": BotApiMethods._get_webhook_info,
    "getupdates": BotApiMethods._get_updates,
    "sendmessage": BotApiMethods._send_message,
    "editmessagetext": BotApiMethods._edit_message_text,
    "editmessagereplymarkup": BotApiMethods._edit_message_reply_markup,
    "getfile": BotApiMethods._get_file,
    "answercallbackquery": BotApiMethods._answer_callback_query,
    "sendchataction": BotApiMethods._send_chat_action,
    "setmycommands": BotApiMethods._set_my_commands,
    "getmycommands": BotApiMethods._get_my_commands,
}
