"""One corpus file's share of the index: read anew, or cut out of the previous index.

A build assembles the index from one `FilePart` per file. Reading and analysing the
files is most of a build's time, so an unchanged file's part is cut out of the
previous index instead, and files that must be read are read in worker processes
when there is enough text to pay for them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot.documents import TEXT_SUFFIXES, CorpusFileError, read_document
from bot.index.stale import FileInfo, file_info, unchanged
from bot.index.store import BIGRAM_MIN_DF, Index, file_words_to_line, passage_line, term_hash
from bot.index.weighting import analyze_passages, prune_bigrams
from bot.index.workers import read_in_workers
from bot.passages import Passage, split_documents

log = logging.getLogger(__name__)

# Reading files in worker processes pays once there is this much text to read: each
# part travels back pickled, and a small build is over before workers would start.
PARALLEL_BYTES = 16 * 1024 * 1024
# A text file read in the build's own process, where no time budget can stop it, is at
# most this large, and small enough for its slowest reading to take a tenth (SAFETY) of
# the budget. The slowest text measured (every `make bench-robustness` case at 1.25 MB,
# read, split and analysed, CPU time on a loaded machine): markdown `*` runs and HTML
# nested 20,000 deep, 0.72 s/MB; plain prose 0.50 s/MB; 1.0 leaves room for a slower CPU.
# HTML goes through trafilatura first (its main content): `make bench-robustness`'s
# blocks nested 250 deep (as far as lxml nests) take 3.9 s/MB, a saved page 1.3 s/MB;
# a paragraph of 24,000 links took 0.9 s at 1 MB but grows faster than its size (4.4 s
# at 2.8 MB, inside lxml and trafilatura). So HTML has its own rate, with room for a
# slower CPU, and a page over 1 MB is read in a worker, where the budget stops it.
# .pdf, .docx and .odt files always are: their parsers are not ours.
IN_PROCESS_BYTES = 1024 * 1024
WORST_SECONDS_PER_MB = 1.0
HTML_WORST_SECONDS_PER_MB = 5.0
SAFETY = 10


@dataclass(frozen=True)
class FilePart:
    """One corpus file's share of the index: its passages and their term counts.

    A part cut out of the previous index assembles exactly like one read anew, so an
    incremental build equals a full one.

    Attributes:
        info: The file as indexed.
        lines: Its passages as JSON lines (`store.passage_line`; a reused file's lines
            are the stored ones: the same passage has the same line wherever it stands).
        counts: passage x term counts whose columns index `terms`.
        terms: A sorted vocabulary: the part's own, or the whole previous index's for a
            reused part (its rows keep their old column numbers until assembled).
        words: Surface word counts, for typo repair.
        id_hashes: `term_hash` of each passage's id, for the id -> position table.
        words_line: `words` as its line of filewords.zst (as stored when reused;
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
    counts = prune_bigrams(counts, terms, BIGRAM_MIN_DF)
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
    files: list[tuple[Path, str]],
    size: int,
    workers: int | None = None,
    budget: float | None = None,
) -> Generator[FilePart | Exception, None, None]:
    """Reads, splits and analyses files, in corpus order; a file that fails yields its error.

    Files that could overrun the time budget (`budget` seconds a file, None for no
    limit) are read in worker processes that are killed when a file overruns it; the
    file then yields `ReadTimedOut` (see `bot.index.workers`). Those are PDFs and text
    files too large to be sure of: a small text file is read here, where the budget
    is not enforced, because it cannot overrun it (see `_sure_to_finish`), and a
    worker would only add its start-up and the part's trip back through a pipe.

    Reading and analysing is most of a build and each file is independent, so with
    several files and enough text every file is read in workers, `workers` of them
    (default: one per CPU), which brings a build of a million passages to about half
    the time on two cores. `size` is the files' bytes in all.
    """
    count = min(workers or os.cpu_count() or 1, len(files))
    if count >= 2 and size >= PARALLEL_BYTES:
        away = [True] * len(files)
    else:
        away = [not _sure_to_finish(path, budget) for path, _ in files]
    if not any(away):
        for path, name in files:
            yield _read_or_error(path, name)
        return
    yield from read_in_workers(files, away, _read_or_error, budget, count)


def _sure_to_finish(path: Path, budget: float | None) -> bool:
    """Whether reading the file here is sure to take a small part of the budget.

    True for a text file (not a .pdf, .docx or .odt, whose parsers are not ours) of at
    most `budget / SAFETY / WORST_SECONDS_PER_MB` megabytes (`HTML_WORST_SECONDS_PER_MB`
    for HTML), and at most `IN_PROCESS_BYTES`; always True without a budget. Every text
    reader is linear in its input up to that size (tests/test_readers_fuzz.py, `make
    bench-robustness`), so the size bounds the time.
    """
    if budget is None:
        return True
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        return False
    try:
        size = path.stat().st_size
    except OSError:
        return True  # reading it fails at once: nothing to wait for
    rate = HTML_WORST_SECONDS_PER_MB if suffix in (".html", ".htm") else WORST_SECONDS_PER_MB
    limit = min(IN_PROCESS_BYTES, budget / SAFETY / rate * 1024 * 1024)
    return size <= limit


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
    lines = previous.passages.lines(start, end)
    ids = previous.id_hashes[start:end]
    words_line = previous.file_words_line(number)
    return FilePart(info, lines, rows, previous.terms, {}, ids, words_line, reused=True)
