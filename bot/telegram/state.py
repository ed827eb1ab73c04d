"""What the handlers share: per-user rate limit, counts, and each chat's memory.

`BotState` lives in `application.bot_data["state"]`. Each chat's memory is a typed
`ChatData`, made by python-telegram-bot for every chat through
`ContextTypes(chat_data=ChatData)` (see its examples/contexttypesbot.py), so handlers
read `context.chat_data.answers` instead of string keys.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.answer import Answer
from bot.config import Settings
from bot.engine import Engine

__all__ = [
    "CONTEXT_TYPES",
    "BotState",
    "ChatData",
    "Context",
    "PendingUpload",
    "Remembered",
    "Stats",
    "UserRateLimit",
    "append_feedback",
    "state_of",
]

TYPING_DELAY = 0.3  # seconds of work before "typing…" is worth a request
REMEMBERED = 20  # answers remembered per chat for the buttons


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


@dataclass
class ChatData:
    """One chat's memory, kept by python-telegram-bot in `context.chat_data`.

    Attributes:
        answers: The last `REMEMBERED` answers' results, by key, for their buttons.
        next_key: The key the next remembered answer gets.
        asking: Questions of this chat being answered now.
        started: Questions of this chat started so far (tells an overtaken reply).
    """

    answers: OrderedDict[int, Remembered] = field(default_factory=OrderedDict)
    next_key: int = 1
    asking: int = 0
    started: int = 0

    def remember(self, answer: Answer) -> int:
        """Stores an answer's result ids for its buttons; returns its key."""
        key = self.next_key
        self.next_key += 1
        self.answers[key] = Remembered(
            answer.question, answer.kind, tuple(h.passage.id for h in answer.hits), answer.shown
        )
        while len(self.answers) > REMEMBERED:
            self.answers.popitem(last=False)
        return key


Context = CallbackContext[ExtBot[None], dict[Any, Any], ChatData, dict[Any, Any]]
"""The context every handler gets: `chat_data` is a `ChatData`."""
CONTEXT_TYPES = ContextTypes(context=CallbackContext, chat_data=ChatData)


def state_of(context: Context) -> BotState:
    """The bot's shared state."""
    return context.bot_data["state"]


def append_feedback(path: Path, entry: dict[str, Any], lock: threading.Lock) -> None:
    """Appends one feedback line (JSON) for curators; one writer at a time."""
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line)
