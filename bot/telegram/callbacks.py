"""Button data: one way to write and one way to read each kind of button.

Telegram gives a button at most 64 bytes of callback data and hands them back when the
button is pressed. Ours stay tiny, a kind and numbers, and name something the bot
remembers (an answer in the chat's memory, an example question, an admin's waiting
upload):

=========  ===================  ==================================================
kind       data                 pressed means
=========  ===================  ==================================================
More       ``more:<key>``       the next results of remembered answer <key>
Source     ``src:<key>``        the whole passage of answer <key>
Feedback   ``fb:<key>:1|0``     👍 or 👎 for answer <key>
Example    ``ex:<n>``           ask example question <n> of /start
Upload     ``up:<key>:r|c``     Replace or Cancel the waiting upload <key>
=========  ===================  ==================================================

Each kind has a pattern that `build_application` gives its `CallbackQueryHandler`
(as python-telegram-bot's examples/inlinekeyboard2.py does), and a `parse_*` that reads
the numbers back. Data no pattern matches (a button from an older version) goes to a
last handler that says the answer is too old.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

__all__ = [
    "EXAMPLE",
    "FEEDBACK",
    "MAX_CALLBACK_DATA",
    "MORE",
    "SOURCE",
    "UPLOAD",
    "example_keyboard",
    "keyboard",
    "parse_example",
    "parse_feedback",
    "parse_key",
    "parse_upload",
    "upload_keyboard",
]

MAX_CALLBACK_DATA = 64  # bytes

# Keys are ASCII digits, at most nine of them: data is the client's to forge, and
# int() of a 5,000-digit string raises ValueError, while `\d` would also match "²".
# Forged data then matches no pattern and gets the "too old" notice.
_KEY = r"([0-9]{1,9})"
MORE = re.compile(rf"more:{_KEY}\Z")
SOURCE = re.compile(rf"src:{_KEY}\Z")
FEEDBACK = re.compile(rf"fb:{_KEY}:([01])\Z")
EXAMPLE = re.compile(rf"ex:{_KEY}\Z")
# Every "up:" press reaches the upload handler, which tells an admin that a malformed
# or outdated one is no longer waiting (and anyone else that uploads are for admins).
UPLOAD = re.compile(r"up:")
_UPLOAD_CHOICE = re.compile(rf"up:{_KEY}:([rc])\Z")


def parse_key(pattern: re.Pattern[str], data: str) -> int | None:
    """The answer key in More or Source data (`pattern` is `MORE` or `SOURCE`)."""
    match = pattern.match(data)
    return int(match[1]) if match else None


def parse_feedback(data: str) -> tuple[int, bool] | None:
    """(answer key, True for 👍) from feedback data."""
    match = FEEDBACK.match(data)
    return (int(match[1]), match[2] == "1") if match else None


def parse_example(data: str) -> int | None:
    """The example question's number from example data."""
    match = EXAMPLE.match(data)
    return int(match[1]) if match else None


def parse_upload(data: str) -> tuple[int, bool] | None:
    """(upload key, True for Replace) from upload data; None when malformed."""
    match = _UPLOAD_CHOICE.match(data)
    return (int(match[1]), match[2] == "r") if match else None


def keyboard(key: int, *, more: bool, source: bool, feedback: bool) -> InlineKeyboardMarkup | None:
    """The buttons under an answer; `key` names the answer in the chat's memory."""
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
    """Replace / Cancel under the question about a same-named upload."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Replace", callback_data=f"up:{key}:r"),
                InlineKeyboardButton("Cancel", callback_data=f"up:{key}:c"),
            ]
        ]
    )


def example_keyboard(questions: Sequence[str]) -> InlineKeyboardMarkup | None:
    """One button per example question, in order."""
    if not questions:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(q, callback_data=f"ex:{i}")] for i, q in enumerate(questions)]
    )
