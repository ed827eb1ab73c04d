"""The build lock: one build of an index folder at a time, across processes.

An flock on `index/.lock`: the kernel drops it when the holder exits, however it
exits, so a crashed build never leaves a stale lock behind. An flock belongs to the
open file, and a forked child shares its parent's open files: a worker process
forked during a build would hold the lock too, and outlive a killed parent holding
it (every later build then said "another build is running"). So a forked child lets
go of its copy at once (`_drop_in_child`): the lock is the parent's alone.

The holder writes its PID into the file, so that a builder that finds the lock taken
can say by whom, and tell a live build from a lock held by processes a dead build
left behind (only possible with a program that predates the above).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bot.index.errors import BuildInProgress

LOCK = ".lock"

# File descriptors of the locks this process holds, dropped in every forked child.
_held: set[int] = set()
_fork_hook = False


def _drop_in_child() -> None:
    """In a forked child: point every held lock's descriptor at /dev/null.

    Not `close`: the child's copy of the file object still owns the number and would
    close whatever file reused it. Replacing the descriptor drops the child's share
    of the lock without touching the parent's (an flock is released only when the
    last descriptor of the open file goes, or by LOCK_UN, which would free it for all).
    """
    if not _held:
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in _held:
        os.dup2(devnull, fd)
    os.close(devnull)
    _held.clear()


@contextlib.contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Holds the index folder's build lock; a second builder fails (or waits) cleanly.

    Raises:
        BuildInProgress: Another process is building and `wait` is False, or the lock
            is held by processes whose build has died (the message names them).
    """
    global _fork_hook
    if not _fork_hook:
        os.register_at_fork(after_in_child=_drop_in_child)
        _fork_hook = True
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK
    with open(path, "a+") as handle:
        if not _try_lock(handle.fileno()):
            _refuse_or_wait(handle.fileno(), path, wait)
        _held.add(handle.fileno())
        try:
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            _held.discard(handle.fileno())
            fcntl.flock(handle, fcntl.LOCK_UN)


def _refuse_or_wait(fd: int, path: Path, wait: bool) -> None:
    """The lock is taken: wait for it, or raise saying who holds it.

    Raises:
        BuildInProgress: `wait` is False, or the holder's PID names a dead process.
    """
    holder = _holder(path)
    if holder is not None and not _alive(holder):
        # A new holder may not have written its PID yet: look once more.
        if _try_lock(fd):
            return
        holder = _holder(path)
        if holder is not None and not _alive(holder):
            raise BuildInProgress(
                f"{path} is held, but the build that took it (process {holder}) has "
                "ended: processes it started still hold it. Stop them (`fuser -k "
                f"{path}` ends them) and try again."
            )
    if not wait:
        who = f" (process {holder})" if holder is not None else ""
        raise BuildInProgress(
            f"another build of {path.parent}{who} is running; this one stopped. "
            "Try again when it has finished."
        )
    fcntl.flock(fd, fcntl.LOCK_EX)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(path: Path) -> int | None:
    """The PID the lock's holder wrote, or None (an older program wrote none)."""
    try:
        text = path.read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether a process with this PID exists (a zombie counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
