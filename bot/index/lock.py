"""The build lock: one build of an index folder at a time, across processes.

An flock on `index/.lock`: the kernel drops it when the holder exits, however it
exits, so a crashed build never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
from collections.abc import Iterator
from pathlib import Path

from bot.index.errors import BuildInProgress

LOCK = ".lock"


@contextlib.contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Holds the index folder's build lock; a second builder fails (or waits) cleanly.

    Raises:
        BuildInProgress: Another process is building and `wait` is False.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BuildInProgress(
                    f"another build of {index_dir} is running; this one stopped. "
                    "Try again when it has finished."
                ) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
