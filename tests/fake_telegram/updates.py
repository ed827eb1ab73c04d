"""Builders of the objects updates carry: users, chats, message contents, button presses.

Pure functions from a few arguments to the JSON dicts Telegram sends; the server
(`FakeTelegram.push_*`) adds message ids and queues the update.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.fake_telegram.entities import typed_entities

STICKER: dict[str, Any] = {
    "file_id": "CAACAgIAAxkBAAEStickerFileId",
    "file_unique_id": "AgADsticker",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "emoji": "👍",
}
PHOTO: list[dict[str, Any]] = [
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
]


def user(user_id: int, first_name: str = "Ann", username: str | None = None) -> dict[str, Any]:
    """A User object for a human."""
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        found["username"] = username
    return found


def private_chat(user_id: int) -> dict[str, Any]:
    """The private chat of a user with the bot."""
    return {"id": user_id, "type": "private", "first_name": f"User{user_id}"}


def group_chat(chat_id: int, title: str = "Policy team") -> dict[str, Any]:
    """A group chat (Telegram's group ids are negative)."""
    if chat_id >= 0:
        raise ValueError("group chat ids are negative")
    return {"id": chat_id, "type": "group", "title": title}


def text_content(text: str, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
    """A text message's fields as a Telegram client sends them (command and mention
    entities), optionally replying to a message."""
    content: dict[str, Any] = {"text": text}
    entities = typed_entities(text)
    if entities:
        content["entities"] = entities
    if reply_to is not None:
        content["reply_to_message"] = reply_to
    return content


def callback_query(
    query_id: str, user_id: int, message: dict[str, Any], data: str
) -> dict[str, Any]:
    """A press of an inline button under `message`."""
    return {
        "id": query_id,
        "from": user(user_id, username=f"user{user_id}"),
        "message": message,
        "chat_instance": str(message["chat"]["id"]),
        "data": data,
    }


def iter_buttons(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every inline button of a message."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        yield from row
