"""One corpus file's share of the index: read anew, or cut out of the previous index.

A build assembles the index from one `FilePart` per file. Reading and analysing the
files is most of a build's time, so an unchanged file's part is cut out of the
previous index instead, and files that must be read are read in worker processes
when there is enough text to pay for them.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot.documents import CorpusFileError, read_document
from bot.index.stale import FileInfo, file_info, unchanged
from bot.index.store import Index, file_words_to_line, passage_line, term_hash
from bot.index.weighting import analyze_passages
from bot.passages import Passage, split_documents

log = logging.getLogger(__name__)

# Reading files in worker processes pays once there is this much text to read: each
# part travels back pickled, and a small build is over before workers would start.
PARALLEL_BYTES = 16 * 1024 * 1024
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass(frozen=True)
class FilePart:
    """One corpus file's share of the index: its passages and their term counts.

    A part cut out of the previous index assembles exactly like one read anew, so an
    incremental build equals a full one.

    Attributes:
        info: The file as indexed.
        lines: Its passages as passages.jsonl lines (a reused file's lines are copied
            byte for byte: the same passage has the same line wherever it stands).
        counts: passage x term counts whose columns index `terms`.
        terms: A sorted vocabulary: the part's own, or the whole previous index's for a
            reused part (its rows keep their old column numbers until assembled).
        words: Surface word counts, for typo repair.
        id_hashes: `term_hash` of each passage's id, for the id -> position table.
        words_line: `words` as its filewords.jsonl line (copied as stored when reused;
            a reused part's `words` is then left empty: nothing needs it parsed).
        reused: True when the part was cut out of the previous index rather than read.
    """

    info: FileInfo
    lines: list[bytes]
    counts: sp.csr_matrix
    terms: list[str]
    words: Mapping[str, int]
    id_hashes: np.ndarray
    words_line: bytes
    reused: bool = False


# A file still changing after this many reads is indexed as last read and marked
# changed, so that the next build reads it again (a log being written, say).
MAX_READS = 3


def read_part(path: Path, name: str) -> FilePart:
    """Reads, splits and analyses one corpus file, stamped as it was when read.

    The file's stamp (size, mtime, sha256) is taken before it is read and its status
    compared after: a file saved while it was read is read again, so the stamp the
    index records always belongs to the text it holds. (Stamped after the read, an
    edit made during it was recorded as indexed, and no later build read it.)

    Raises:
        CorpusFileError: The file cannot be read; OSError likewise.
    """
    for _ in range(MAX_READS):
        before = os.stat(path)
        part = _read_stamped(path, name)
        if _same_file(before, os.stat(path)):
            return part
        log.info("%s changed while it was read; reading it again", name)
    log.warning(
        "%s kept changing while it was read; indexed as last read, the next build reads it again",
        name,
    )
    # No real file has mtime -1 and an empty hash: the next build sees it changed.
    return dataclasses.replace(part, info=FileInfo(name, part.info.size, -1, ""))


def _same_file(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file's status shows no write (nor a replacement) between two looks."""
    keys = ("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
    return all(getattr(before, key) == getattr(after, key) for key in keys)


def _read_stamped(path: Path, name: str) -> FilePart:
    """One read of a file: its stamp first, then its passages and their terms."""
    info = file_info(path, name)
    documents = read_document(path, name)
    passages = unique_ids(split_documents(documents), name, path)
    if not passages:
        log.warning("%s holds no text", name)
    counts, terms, words = analyze_passages(passages)
    ids = np.fromiter((term_hash(p.id) for p in passages), dtype=np.uint64, count=len(passages))
    lines = [passage_line(p) for p in passages]
    return FilePart(info, lines, counts, terms, words, ids, file_words_to_line(words))


def unique_ids(passages: list[Passage], name: str, path: Path) -> list[Passage]:
    """The passages, with ids that no other corpus file's passages can have.

    A passage id is `doc#n-hash`, and the doc of a .jsonl line is the line's own "id":
    a line with the id "a.txt" gave the passages of a.txt's own ids, and a lookup by
    id then found the other file's passage. A .jsonl file's passage ids are put under
    the file's name (`data.jsonl/a.txt#0-hash`): no other file can have that name as a
    prefix, as it names a file, not a folder. The doc users see stays the line's id.
    """
    if path.suffix.lower() != ".jsonl":
        return passages
    return [dataclasses.replace(p, id=f"{name}/{p.id}") for p in passages]


def read_parts(
    files: list[tuple[Path, str]], size: int, workers: int | None = None
) -> Iterator[FilePart | Exception]:
    """Reads, splits and analyses files, in corpus order; a file that fails yields its error.

    Reading and analysing is most of a build and each file is independent, so with
    several files and enough text it runs in `workers` processes (default: one per
    CPU), which brings a build of a million passages to about half the time on two
    cores. The workers are forked, so they start at once and need nothing re-imported;
    forking a process that runs other threads can deadlock the child (a lock held by
    another thread stays held), so a build started beside other threads, such as the
    Telegram bot's /reload, reads in its own process. `size` is the files' bytes in all.
    """
    count = min(workers or os.cpu_count() or 1, len(files))
    if count < 2 or size < PARALLEL_BYTES or threading.active_count() > 1:
        for path, name in files:
            yield _read_or_error(path, name)
        return
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(
        count, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
    ) as pool:
        futures = [pool.submit(_read_or_error, path, name) for path, name in files]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _worker_start(parent: int) -> None:
    """Ties a worker's life to the build's: it dies with the parent, however that dies.

    Without this, a parent killed mid-build (kill, kill -9, the out-of-memory killer)
    left its workers blocked on a pipe, adopted by init, for good. The kernel sends
    the worker SIGKILL when the parent dies (`PR_SET_PDEATHSIG`, Linux); if the parent
    died before this ran, the worker already has another parent and leaves at once.
    Ctrl-C reaches every process of the terminal's group: the parent handles it (and
    stops the build); a worker ignores it rather than print a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)


def _die_with_parent() -> None:
    """Asks the kernel to SIGKILL this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the parent's own cleanup must do
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable")


def _read_or_error(path: Path, name: str) -> FilePart | Exception:
    """`read_part`, with a failure to read the file returned instead of raised."""
    try:
        return read_part(path, name)
    except (CorpusFileError, OSError) as exc:
        return exc


def reuse_part(previous: Index, entry: dict[str, Any], number: int, path: Path) -> FilePart | None:
    """An unchanged file's part, cut out of the previous index; None if it changed.

    Args:
        previous: The index being rebuilt.
        entry: The file's entry in that index's manifest.
        number: The entry's position in the manifest's file list.
        path: The file in the corpus folder now.
    """
    try:
        info = unchanged(path, entry)
    except OSError:
        return None
    if info is None:
        return None
    start, end = entry["passages"]
    # Slice the arrays, not the matrix: scipy would copy a memory-mapped matrix whole.
    old = previous.counts
    low, high = int(old.indptr[start]), int(old.indptr[end])
    rows = sp.csr_matrix(
        (old.data[low:high], old.indices[low:high], old.indptr[start : end + 1] - low),
        shape=(end - start, old.shape[1]),
    )
    store = previous.passages
    blob = store.raw(start, end)
    cuts = (store.offsets[start : end + 1] - store.offsets[start]).tolist()
    lines = [blob[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    ids = previous.id_hashes[start:end]
    words_line = previous.file_words_line(number)
    return FilePart(info, lines, rows, previous.terms, {}, ids, words_line, reused=True)
