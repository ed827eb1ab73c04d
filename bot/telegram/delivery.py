"""Every update handled once: a journal of fetched updates, de-duplication, and replies.

Telegram counts an update as confirmed as soon as the bot asks for the next ones
(`getUpdates` with a higher offset), and python-telegram-bot's `Updater` asks again the
moment it has queued a batch: a question in the queue, or being answered, when the
process stops, is gone. Telegram's offset is one number, so it cannot confirm update 7
while keeping update 5 (a slow one) for later. Instead:

* `JournaledQueue` is the Application's update queue. Before an update enters it (and
  so before the Updater's next `getUpdates` confirms it to Telegram, and before the
  webhook answers 200) it is appended to a journal next to the index. Only
  `MAX_PENDING` updates may wait or be in hand at once: the Updater then waits before
  fetching more, so a stop finishes what was fetched in seconds, not minutes.
* `TrackingProcessor` runs each update (concurrently, as PTB's own processor does)
  and marks it done in the journal when its handlers and error handler have finished.
* On start, updates in the journal but not done are replayed, in order; updates
  already done or already queued (a webhook retry, Telegram re-delivering what a
  killed bot fetched but never confirmed) are dropped by `update_id`. The ids of the
  last `REMEMBERED` handled updates are kept, in memory and in the journal.

So SIGTERM loses nothing (what is not answered by the time the process ends is replayed
by the next start) and SIGKILL loses nothing either; a question being answered at the
moment of a kill may be answered again by the next start, nothing else is. The
journal's appends are not fsynced (a sync an update would cost more than the answer):
they survive the process, not a power cut; its rewrites are synced before they replace it.

`Delivery` tells the error handler whether a reply went out for the update it is
handling (a send that timed out may have been delivered: it counts), so a user never
reads "Sorry, something went wrong" under an answer they got.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor

__all__ = [
    "JOURNAL_NAME",
    "MAX_PENDING",
    "REMEMBERED",
    "Delivery",
    "JournaledQueue",
    "TrackingProcessor",
    "UpdateJournal",
    "current_delivery",
]

log = logging.getLogger(__name__)

JOURNAL_NAME = "telegram-updates.jsonl"
# Updates fetched but not finished at once. One getUpdates batch is at most 100; the
# load benchmark keeps 100 users' questions in hand and answers them at 300-400/s, so
# 100 costs no throughput there and drains in well under a second on a stop (about 3 s
# at Telegram's 30 messages a second). The journal costs about 0.2 ms of CPU an update
# (PTB's Update.to_dict alone 0.12 ms): 388-444 replies/s against 457-495 without it in
# one session of bench/telegram_load.py, well above the 300/s bar.
MAX_PENDING = 100
REMEMBERED = 10_000  # handled update ids remembered for de-duplication
COMPACT_EVERY = 4 * REMEMBERED  # journal lines between rewrites


class UpdateJournal:
    """Fetched and handled updates, appended to a JSON Lines file as they happen.

    Lines are `{"update": {...}}` (fetched: the update as Telegram sent it) and
    `{"done": id}`. Appends are single `write` calls on an O_APPEND descriptor, so a
    killed process leaves whole lines (a torn last line is skipped on load). Every
    `COMPACT_EVERY` lines the file is rewritten (atomically) with only the pending
    updates and the remembered ids.

    Args:
        path: The journal file; None keeps everything in memory (no restarts to survive).
        remembered: How many handled ids to remember for de-duplication.
    """

    def __init__(self, path: Path | None, remembered: int = REMEMBERED) -> None:
        self.path = path
        self.remembered = remembered
        self.pending: dict[int, dict[str, Any]] = {}  # update_id -> update, fetch order
        self._done: deque[int] = deque()
        self._done_set: set[int] = set()
        self._fd: int | None = None
        self._lines = 0

    def load(self) -> list[dict[str, Any]]:
        """Reads the journal; returns the updates fetched but never handled, in order."""
        if self.path is None or not self.path.exists():
            return []
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            self._give_up(exc)
            return []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("update"), dict):
                update = entry["update"]
                if isinstance(update.get("update_id"), int):
                    self.pending[update["update_id"]] = update
            elif isinstance(entry.get("done"), int):
                self._remember(entry["done"])
                self.pending.pop(entry["done"], None)
        for update_id in self._done_set:
            self.pending.pop(update_id, None)
        self._rewrite()
        return list(self.pending.values())

    def seen(self, update_id: int) -> bool:
        """Whether an update is already in hand or was handled recently."""
        return update_id in self.pending or update_id in self._done_set

    def fetched(self, update: dict[str, Any]) -> None:
        """Records an update before it is queued (and so before Telegram forgets it)."""
        self.pending[update["update_id"]] = update
        self._append({"update": update})

    def done(self, update_id: int) -> None:
        """Records that an update's handling finished."""
        self.pending.pop(update_id, None)
        self._remember(update_id)
        self._append({"done": update_id})

    def close(self) -> None:
        """Closes the file (appends reopen it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _remember(self, update_id: int) -> None:
        if update_id in self._done_set:
            return
        self._done.append(update_id)
        self._done_set.add(update_id)
        while len(self._done) > self.remembered:
            self._done_set.discard(self._done.popleft())

    def _append(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._lines >= COMPACT_EVERY:
            self._rewrite()
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, _line(entry))
        except OSError as exc:
            self._give_up(exc)
        self._lines += 1

    def _rewrite(self) -> None:
        """Replaces the file with the pending updates and the remembered ids."""
        if self.path is None:
            return
        self.close()
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        entries: Iterable[dict[str, Any]] = [
            *({"done": i} for i in self._done),
            *({"update": u} for u in self.pending.values()),
        ]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as out:
                out.writelines(_line(e) for e in entries)
                # A rewrite replaces the only copy: its bytes reach the disk before the
                # rename, so a power cut leaves the old journal or the new one, never an
                # empty file. (Appends are not synced, see the module docstring.)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            self._give_up(exc)
        self._lines = len(self._done) + len(self.pending)

    def _give_up(self, exc: OSError) -> None:
        """Goes on in memory when the journal cannot be read or written.

        A full or read-only disk must not stop the bot answering; only restarts are
        then as they were before the journal existed.
        """
        log.warning(
            "cannot write %s (%s): a restart may lose the questions in hand",
            self.path,
            exc.strerror or exc,
        )
        self.close()
        self.path = None


def _line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class JournaledQueue(asyncio.Queue[object]):
    """The Application's update queue, journaled, de-duplicated and bounded.

    Each update is journaled before it is queued; one seen before is dropped; the
    Updater waits while `max_pending` updates are in hand. Anything that is not an
    `Update` (PTB's stop signal) passes straight through.
    """

    def __init__(self, journal: UpdateJournal, max_pending: int = MAX_PENDING) -> None:
        super().__init__()
        self.journal = journal
        self.max_pending = max_pending
        self._room: asyncio.Condition | None = None

    def replay(self, bot: Bot) -> int:
        """Queues the updates a previous run fetched but did not finish; returns how many."""
        updates = self.journal.load()
        for data in updates:
            update = Update.de_json(data, bot)
            if update is not None:
                super().put_nowait(update)
        if updates:
            log.info("replaying %d update(s) the last run did not finish", len(updates))
        return len(updates)

    async def put(self, item: object) -> None:
        """Journals and queues an update once room is free; drops an update seen before."""
        if not isinstance(item, Update):
            await super().put(item)
            return
        if self.journal.seen(item.update_id):
            log.info("update %d was already received; dropped", item.update_id)
            return
        room = self._condition()
        async with room:
            await room.wait_for(lambda: len(self.journal.pending) < self.max_pending)
            if self.journal.seen(item.update_id):  # queued meanwhile (a webhook retry)
                return
            self.journal.fetched(item.to_dict())
        await super().put(item)

    async def finished(self, update: Update) -> None:
        """Marks an update done in the journal and lets the Updater fetch more."""
        self.journal.done(update.update_id)
        room = self._condition()
        async with room:
            room.notify_all()

    def _condition(self) -> asyncio.Condition:
        # Made on first use, inside the running loop.
        if self._room is None:
            self._room = asyncio.Condition()
        return self._room


@dataclass
class Delivery:
    """Whether a reply went out for the update being handled.

    A send that timed out counts: it may well have been delivered.
    """

    update_id: int
    sent: bool = False


_DELIVERY: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "delivery", default=None
)


def current_delivery() -> Delivery | None:
    """The `Delivery` of the update this task is handling, if any."""
    return _DELIVERY.get()


class TrackingProcessor(BaseUpdateProcessor):
    """Runs updates concurrently, tells the queue when each is done, gives each a `Delivery`.

    At most `max_concurrent_updates` run at once, as in PTB's `SimpleUpdateProcessor`.
    """

    def __init__(self, queue: JournaledQueue, max_concurrent_updates: int = MAX_PENDING) -> None:
        super().__init__(max_concurrent_updates)
        self.queue = queue

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handles one update; journals it done unless handling was cancelled."""
        if not isinstance(update, Update):
            await coroutine
            return
        _DELIVERY.set(Delivery(update.update_id))
        try:
            await coroutine  # PTB runs the error handler inside: done means done
        except asyncio.CancelledError:
            raise  # not finished: the journal keeps it for the next start
        except Exception:
            await self.queue.finished(update)  # never replay a failing update for ever
            raise
        await self.queue.finished(update)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Closes the journal."""
        self.queue.journal.close()
