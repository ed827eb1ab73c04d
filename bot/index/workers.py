"""Reading corpus files in worker processes that can be stopped: the time budget per file.

A reader that runs too long cannot be interrupted inside the process that runs it: a
thread cannot be stopped, and SIGALRM reaches only the main thread (a Telegram
/reload builds in a worker thread). A process can be killed. So `read_in_workers`
keeps a few long-lived worker processes and feeds them one file at a time over a
pipe; the parent notes when each file was handed out and kills the worker whose file
is still being read when the budget has run out. That file is skipped (`ReadTimedOut`)
and a fresh worker takes the next one; the build goes on. A `ProcessPoolExecutor`
cannot do this: it cannot stop one task, only shut the whole pool down.

Workers are forked when the process runs no other thread: they start at once and need
nothing re-imported. Forking a process that runs other threads (the Telegram bot) can
deadlock the child on a lock another thread held, so there they come from a
`forkserver` (a clean process, started once, that imports this module and forks
workers on request; `spawn` where there is no forkserver). Measured on 200 files of
2 KB (2 shared cores): 0.3-0.7 s read here, 0.5-0.9 s through forked workers, 0.8-1.2 s
through a forkserver started for the build (it then stays, ready for the next one).
As with any forkserver or spawn start, a worker first imports the program's main module
unless it is a package's `__main__` (`python -m bot`): a script that builds from beside
other threads must guard its entry point with `if __name__ == "__main__":`.

Workers die with the build: the parent kills them when it is done or interrupted, and
on Linux each asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`), so
a build killed with SIGKILL leaves no worker reading on (a forkserver's worker dies
with the server, which exits when the build's process is gone). A worker ignores SIGINT: Ctrl-C
interrupts the parent, which then stops the workers, instead of printing a traceback
from every worker.

Parts travel back pickled through the pipe: between two processes of the same build,
never stored, so nothing a user can replace is unpickled.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bot.documents import CorpusFileError

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_READY = "ready"  # a worker's first message: its budget clock starts then, not at start-up
# A worker's start-up (a forkserver's first start imports numpy and scipy: 1-2 s on a
# loaded machine) is not charged to its first file, but is bounded all the same.
_START_UP = 30.0

_Context = ForkContext | ForkServerContext | SpawnContext

Reader = Callable[..., Any]
"""Reads one task (path, name inside the corpus, then the task's own arguments, such as a
byte range of the file); returns its part or its error."""

Task = tuple[Any, ...]
"""(path, name inside the corpus, *arguments) of one read: what `Reader` is called with."""


class ReadTimedOut(CorpusFileError):
    """A file took longer to read, split and analyse than the time budget allows.

    A `CorpusFileError`, so anything that skips unreadable files skips it too; the
    build report lists it apart, since it is not broken, only too slow. `again` marks
    a file skipped unread because it overran the budget at the previous build and has
    not changed since.
    """

    def __init__(self, name: str, budget: float, again: bool = False) -> None:
        if again:
            why = (
                f"{name} took longer than the {budget:g} s time budget to read at the last "
                "build and has not changed since: skipped unread (a full build tries again)"
            )
        else:
            why = f"{name} took longer than the {budget:g} s time budget to read and was skipped"
        super().__init__(f"{why}; split it into smaller files, or raise BOT_FILE_TIMEOUT")
        self.name, self.budget, self.again = name, budget, again

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadTimedOut, (self.name, self.budget, self.again))


def worker_context() -> _Context:
    """How to start workers: fork when this process runs no other thread, else forkserver."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # The server imports the workers' code once; each worker is then a cheap fork.
        context.set_forkserver_preload([__name__, "bot.index.parts"])
        return context
    return multiprocessing.get_context("spawn")


def read_in_workers(
    files: Sequence[Task],
    away: Sequence[bool],
    read: Reader,
    budget: float | None,
    workers: int,
) -> Generator[Any, None, None]:
    """Reads every file, in order: those marked `away` in workers, the others here.

    Args:
        files: (path, name inside the corpus, *arguments) of each read, in corpus order;
            a file may be read in several tasks (byte ranges, see `bot.index.parts`).
        away: For each file, True to read it in a worker under the budget; False to
            read it in this process while the workers read the others (the caller
            keeps these to files that finish quickly: the budget is not enforced on
            them, and a deadline that falls meanwhile is noticed once they are read).
        read: Reads one file; must be importable by name (the forkserver imports it).
        budget: Seconds a worker may spend on one file; None for no limit.
        workers: Worker processes at most (no more than there are files to send).

    Yields:
        Whatever `read` returns for each file, in order; `ReadTimedOut` for a file that
        overran the budget; a `CorpusFileError` for one whose worker died.

    Raises:
        Exception: Whatever `read` raised for a file that is not a `CorpusFileError`
            or `OSError` (a bug), as reading in this process would.
    """
    pending = deque(i for i, flag in enumerate(away) if flag)
    pool = _Pool(worker_context(), read, budget, min(workers, len(pending)), files)
    try:
        for i, (path, name, *arguments) in enumerate(files):
            if away[i]:
                yield pool.result(i, pending)
            else:
                pool.pump(pending)
                yield read(path, name, *arguments)
    finally:
        pool.close()


@dataclass
class _Worker:
    """One worker process, its end of the pipe, and the file it is reading."""

    process: BaseProcess
    conn: Connection
    task: int | None = None
    deadline: float = float("inf")
    ready: bool = False


@dataclass
class _Pool:
    """Worker processes fed one file at a time; see the module docstring."""

    context: _Context
    read: Reader
    budget: float | None
    size: int
    files: Sequence[Task]
    workers: list[_Worker] = field(default_factory=list)
    done: dict[int, Any] = field(default_factory=dict)

    def result(self, number: int, pending: deque[int]) -> Any:
        """Waits for file `number`'s outcome, keeping every worker busy meanwhile."""
        while number not in self.done:
            self._feed(pending)
            self._collect(block=True)
        outcome = self.done.pop(number)
        if isinstance(outcome, _Raised):
            raise outcome.error
        return outcome

    def pump(self, pending: deque[int]) -> None:
        """Collects finished files, enforces deadlines, hands out work; never waits."""
        self._collect(block=False)
        self._feed(pending)

    def _feed(self, pending: deque[int]) -> None:
        while pending and len(self.workers) < self.size:
            self.workers.append(self._start())
        for worker in self.workers:
            if worker.task is None and pending:
                number = pending.popleft()
                path, name, *arguments = self.files[number]
                worker.conn.send((str(path), name, *arguments))
                worker.task = number
                if self.budget is not None:
                    allowance = 0.0 if worker.ready else _START_UP
                    worker.deadline = time.monotonic() + self.budget + allowance

    def _start(self) -> _Worker:
        ours, theirs = self.context.Pipe()
        watch = os.getpid() if self.context.get_start_method() == "fork" else 0
        process = self.context.Process(
            target=_serve, args=(theirs, self.read, watch), name="bot-reader", daemon=True
        )
        process.start()
        theirs.close()  # so that the worker's death reads as EOF here
        return _Worker(process, ours)

    def _collect(self, block: bool) -> None:
        """Takes in finished files; kills workers past their deadline or dead."""
        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            return
        timeout = 0.0
        if block:
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        ready = wait([w.conn for w in busy], None if timeout == float("inf") else timeout)
        for worker in busy:
            if worker.conn in ready:
                self._receive(worker)
        now = time.monotonic()
        for worker in busy:
            if worker.task is not None and worker.deadline <= now:
                name = self.files[worker.task][1]
                self._retire(worker, ReadTimedOut(name, self.budget or 0.0))

    def _receive(self, worker: _Worker) -> None:
        assert worker.task is not None
        try:
            outcome = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(1)
            name = self.files[worker.task][1]
            self._retire(worker, CorpusFileError(_died(name, worker.process.exitcode)))
            return
        if isinstance(outcome, str):  # _READY: the file handed out is being read now
            worker.ready = True
            if self.budget is not None:
                worker.deadline = time.monotonic() + self.budget
            return
        self.done[worker.task] = outcome
        worker.task, worker.deadline = None, float("inf")

    def _retire(self, worker: _Worker, outcome: Exception) -> None:
        """Records the worker's file as failed, and kills the worker (a new one replaces it)."""
        assert worker.task is not None
        self.done[worker.task] = outcome
        self.workers.remove(worker)
        _stop(worker)

    def close(self) -> None:
        """Stops every worker and waits for it to be gone: no process outlives the build."""
        for worker in self.workers:
            _stop(worker)
        self.workers.clear()


def _died(name: str, code: int | None) -> str:
    """Why a worker stopped in the middle of a file, for the warning that skips it."""
    if code == -signal.SIGKILL:
        return f"{name}: the process reading it was killed; it may need more memory than there is"
    return f"{name}: the process reading it stopped (exit code {code})"


def _stop(worker: _Worker) -> None:
    with contextlib.suppress(OSError):
        worker.process.kill()
    worker.process.join()
    worker.conn.close()
    worker.process.close()


@dataclass(frozen=True)
class _Raised:
    """An exception `read` raised in a worker that a build does not expect: re-raised here."""

    error: BaseException


def _serve(conn: Connection, read: Reader, watch: int) -> None:
    """A worker's life: read the files the parent sends until it closes the pipe.

    Args:
        conn: The worker's end of the pipe.
        read: Reads one file.
        watch: The parent's pid when forked from it (else 0): if the parent is
            already gone, exit instead of reading for nobody.
    """
    _die_with_parent()
    if watch and os.getppid() != watch:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(_READY)
    except OSError:
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        path, name, *arguments = task
        try:
            outcome = read(Path(path), name, *arguments)
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
            outcome = _Raised(exc)
        try:
            conn.send(outcome)
        except (EOFError, OSError):
            return
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled
            conn.send(_Raised(RuntimeError(f"reading {name} failed: {outcome!r}")))


def _die_with_parent() -> None:
    """Asks Linux to kill this process when its parent dies (elsewhere: nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
