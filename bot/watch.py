"""`build --watch`: rebuild the index whenever the corpus folder changes.

It polls the folder's listing (names, sizes, mtimes) rather than using inotify: that
works the same on every platform and network drive, and a listing of a few thousand
files costs milliseconds. A burst of saves is one rebuild: after a change it waits
until the listing has been still for `debounce` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from bot import index as index_mod

log = logging.getLogger(__name__)

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(corpus_dir: Path) -> Snapshot:
    """The corpus folder's listing: (name, size, mtime) of every corpus file."""
    try:
        files = index_mod.scan_corpus(corpus_dir)
    except index_mod.EmptyCorpus:
        return ()
    out = []
    for path, name in files:
        try:
            st = path.stat()
        except OSError:
            continue  # deleted while we looked: the next snapshot will say so
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def watch(
    build: Callable[[], index_mod.BuildReport],
    corpus_dir: Path,
    report: Callable[[str], None],
    stop: threading.Event,
    interval: float = 1.0,
    debounce: float = 1.0,
    since: Snapshot | None = None,
) -> None:
    """Calls `build` after every settled change of the corpus folder until `stop` is set.

    A failed build is reported and watching goes on: the previous index keeps serving.

    Args:
        build: Builds and returns the report.
        corpus_dir: The folder to watch.
        report: Receives one line per build.
        stop: Set it to end watching.
        interval: Seconds between looks at the folder.
        debounce: Seconds the folder must stay still before a build starts.
        since: The listing the index was built from (default: the folder as it is now).
    """
    last = snapshot(corpus_dir) if since is None else since
    while not stop.wait(interval):
        current = snapshot(corpus_dir)
        if current == last:
            continue
        while not stop.wait(debounce):  # let a burst of saves settle
            settled = snapshot(corpus_dir)
            if settled == current:
                break
            current = settled
        if stop.is_set():
            return
        last = current
        try:
            report(build().summary())
        except index_mod.IndexProblem as exc:
            report(f"Error: {exc}")
        except OSError as exc:
            report(f"Error: build failed ({exc}); the previous index is still in use")
