"""One corpus file's share of the index: read anew, or cut out of the previous index.

A build assembles the index from one `FilePart` per file. Reading and analysing the
files is most of a build's time, so an unchanged file's part is cut out of the
previous index instead, and files that must be read are read in worker processes
when there is enough text to pay for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import logging
import os
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot.documents import TEXT_SUFFIXES, CorpusFileError, Document, read_document
from bot.documents.files import read_jsonl_piece, warn_jsonl_problems
from bot.index.stale import FileInfo, file_info, unchanged
from bot.index.store import BIGRAM_MIN_DF, Index, file_words_to_line, passage_line, term_hashes
from bot.index.weighting import RawCounts, analyze_passages, count_terms, merge_counts
from bot.index.workers import Task, read_in_workers
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
# With workers to share it, a .jsonl file of at least this many bytes (a collection:
# one document a line) is read in byte ranges cut at line starts, one range a worker,
# when it is a large share of the text to read: a corpus of one big file (the 10k and
# 100k benchmark corpora) then uses every CPU, not one. Each range is no smaller than
# this; forking and the trip back cost ~0.1 s.
SPLIT_BYTES = 2 * 1024 * 1024
# And a range holds at most this many bytes, even with one worker: each range has the
# time budget of a file, so a large collection is not skipped as too slow to read on a
# loaded machine (a 60 MB file of 100,000 passages took over 60 s with 4 jobs on the 2
# CPUs; 32 MB take 6-8 s of CPU). Not smaller: each range stems and hashes its own
# vocabulary, so more ranges cost more CPU in all.
MAX_PIECE_BYTES = 32 * 1024 * 1024
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
        term_hashes: `term_hash` of each of `terms`, hashed where the part was read
            (in a worker, in parallel); None for a reused part, whose terms are the
            previous index's, hashed once for all of them.
    """

    info: FileInfo
    lines: list[bytes]
    counts: sp.csr_matrix
    terms: list[str]
    words: Mapping[str, int]
    id_hashes: np.ndarray
    words_line: bytes
    reused: bool = False
    term_hashes: np.ndarray | None = None


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
    # Other formats' parsers (lxml, pypdf) are not ours: the collector stays on for them.
    with paused_gc() if path.suffix.lower() == ".jsonl" else contextlib.nullcontext():
        documents = read_document(path, name)
    with paused_gc():
        passages = file_passages(documents, name, path)
        if not passages:
            log.warning("%s holds no text", name)
        part = _analysed(info, passages)
        return dataclasses.replace(part, words_line=file_words_to_line(part.words))


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pauses Python's cycle collector while reading, splitting and counting passages.

    They make millions of small objects (parsed lines, passages, token lists) and no
    reference cycles, so the collector's passes over them find nothing to free: with
    it paused, a read costs 7-12% less CPU. Plain reference counting frees them all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analysed(info: FileInfo, passages: list[Passage]) -> FilePart:
    """The part of some passages: their lines, term counts, words and hashes.

    Bigrams seen in fewer than `BIGRAM_MIN_DF` of the passages are dropped: the rule
    is per file (a piece of a file is counted apart and joined first, see `_join`).
    """
    counts, terms, words = analyze_passages(passages, BIGRAM_MIN_DF)
    ids = term_hashes([p.id for p in passages])
    lines = [passage_line(p) for p in passages]
    return FilePart(info, lines, counts, terms, words, ids, b"", term_hashes=term_hashes(terms))


def file_passages(documents: list[Document], name: str, path: Path) -> list[Passage]:
    """The documents' passages, with ids that no other corpus file's passages can have.

    A passage id is `doc#n-hash`, and the doc of a .jsonl line is the line's own "id":
    a line with the id "a.txt" gave the passages of a.txt's own ids, and a lookup by
    id then found the other file's passage. A .jsonl file's passage ids are put under
    the file's name (`data.jsonl/a.txt#0-hash`): no other file can have that name as a
    prefix, as it names a file, not a folder. The doc users see stays the line's id.
    """
    prefix = f"{name}/" if path.suffix.lower() == ".jsonl" else ""
    return split_documents(documents, id_prefix=prefix)


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
    the time on two cores. A .jsonl file that is a large share of the text, or large,
    is read in byte ranges in the workers (`_ranges`), and its pieces joined (`_join`):
    the part is the one a single read gives. `size` is the files' bytes in all.
    """
    cpus = workers or os.cpu_count() or 1
    tasks: list[Task] = []
    owners: list[int] = []
    stamps: dict[int, os.stat_result] = {}
    for i, (path, name) in enumerate(files):
        ranges = _ranges(path, size, cpus)
        if len(ranges) >= 2:
            stamps[i] = os.stat(path)  # before any piece is read: see `_join`
            # The stamp (the file's sha256) is taken here while the workers read.
            tasks.append((path, name, "stamp"))
            tasks.extend((path, name, "piece", a, b) for a, b in ranges)
            owners.extend([i] * (len(ranges) + 1))
        else:
            tasks.append((path, name))
            owners.append(i)
    count = min(cpus, len(tasks))
    if stamps or (count >= 2 and size >= PARALLEL_BYTES):
        away = [task[2:3] != ("stamp",) for task in tasks]
    else:
        away = [not _sure_to_finish(path, budget) for path, _ in files]
    if not any(away):
        for path, name in files:
            yield _read_or_error(path, name)
        return
    outcomes = read_in_workers(tasks, away, _read_task, budget, count)
    for i, group in itertools.groupby(zip(owners, outcomes, strict=True), lambda x: x[0]):
        results = [outcome for _, outcome in group]
        if i not in stamps:
            yield results[0]
            continue
        path, name = files[i]
        joined = _join(path, name, stamps[i], results)
        if joined is None:  # the pieces do not read as the whole file: read it whole
            whole = read_in_workers([(path, name)], [budget is not None], _read_task, budget, 1)
            joined = next(whole)
            whole.close()
        yield joined


def _ranges(path: Path, size: int, cpus: int) -> list[tuple[int, int]]:
    """Byte ranges to read a large .jsonl file in, cut at line starts; [] to read it whole.

    A file is cut when it holds more than a CPU's share of the text to read (so a
    corpus of many similar files is read a file a worker, as before) and each range
    would hold at least `SPLIT_BYTES`, and whenever it is larger than `MAX_PIECE_BYTES`.
    """
    if path.suffix.lower() != ".jsonl":
        return []
    try:
        length = path.stat().st_size
        share = max(SPLIT_BYTES, size // cpus)
        pieces = max(min(cpus, length // share), -(-length // MAX_PIECE_BYTES))
        if pieces < 2:
            return []
        cuts = [0]
        with open(path, "rb") as handle:
            for k in range(1, pieces):
                handle.seek(max(cuts[-1], length * k // pieces))
                handle.readline()  # to the next line start
                cuts.append(handle.tell())
    except OSError:
        return []  # reading it whole fails with its own message
    cuts.append(length)
    ranges = [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    return ranges if len(ranges) >= 2 else []


def _read_task(path: Path, name: str, kind: str = "file", *span: int) -> Any:
    """One task of `read_parts`: a whole file, a byte range of one, or a file's stamp."""
    try:
        if kind == "stamp":
            return file_info(path, name)
        if kind == "piece":
            return _read_piece(path, name, span[0], span[1])
    except (CorpusFileError, OSError) as exc:
        return exc
    return _read_or_error(path, name)


@dataclass(frozen=True)
class _Piece:
    """A byte range of a .jsonl file, read and counted on its own (see `_join`).

    Its bigrams are still numbers (`RawCounts`): their text and hashes are made once
    the pieces are joined and the bigrams seen in too few passages of the file dropped.
    """

    counts: RawCounts | None  # None: the range does not read as the whole file would
    lines: list[bytes]
    id_hashes: np.ndarray
    problems: list[tuple[int, str]]
    line_count: int
    newlines: int
    ids: list[str]


def _read_piece(path: Path, name: str, start: int, end: int) -> _Piece:
    """Reads, splits and counts bytes start..end-1 of a .jsonl file."""
    with paused_gc():
        return _read_range(path, name, start, end)


def _read_range(path: Path, name: str, start: int, end: int) -> _Piece:
    piece = read_jsonl_piece(path, name, start, end)
    parsed = piece.parsed
    if not piece.plain:
        return _Piece(None, [], np.zeros(0, np.uint64), [], 0, 0, [])
    passages = file_passages(parsed.documents, name, path)
    return _Piece(
        count_terms(passages),
        [passage_line(p) for p in passages],
        term_hashes([p.id for p in passages]),
        parsed.problems,
        parsed.lines,
        piece.newlines,
        parsed.ids,
    )


def _join(
    path: Path, name: str, before: os.stat_result, results: list[Any]
) -> FilePart | Exception | None:
    """The part of a file read in pieces, as one read of the whole file gives it.

    `results` are the file's stamp and then its pieces, in file order. None when the
    whole file must be read instead: a piece reads otherwise than the whole file would
    (see `read_jsonl_piece`), a document id repeats across pieces, the file holds no
    valid line, or it changed while it was read (`before` is its status before any
    piece was read; the stamp is then not sure to describe the text read).
    """
    stamp, pieces = results[0], results[1:]
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        return failed[0]
    if not all(piece.counts is not None for piece in pieces):
        return None
    ids = [doc for piece in pieces for doc in piece.ids]
    if len(set(ids)) != len(ids) or not ids:
        return None
    try:
        if not _same_file(before, os.stat(path)):
            return None
    except OSError as exc:
        return exc
    problems: list[tuple[int, str]] = []
    first = 0  # line breaks before the piece
    for piece in pieces:
        problems.extend((first + number, why) for number, why in piece.problems)
        first += piece.newlines
    warn_jsonl_problems(name, problems)
    lines = [line for piece in pieces for line in piece.lines]
    if not lines:
        log.warning("%s holds no text", name)
    # Bigrams pruned per file, as one read prunes them. The collector is paused as
    # while reading: it spent 0.035 s at 10k passages, 0.07 s at 100k, finding nothing.
    raw = [piece.counts for piece in pieces if piece.counts is not None]
    with paused_gc():
        counts, terms, words = merge_counts(raw, BIGRAM_MIN_DF)
        return FilePart(
            stamp,
            lines,
            counts,
            terms,
            words,
            np.concatenate([piece.id_hashes for piece in pieces]),
            file_words_to_line(words),
            term_hashes=term_hashes(terms),
        )


def merge_vocabularies(
    vocabularies: list[tuple[list[str], np.ndarray, list[np.ndarray]]],
) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """The sorted union of the terms some count matrices use, and each one's old -> new column.

    Args:
        vocabularies: Each sorted vocabulary, its terms' `term_hash`es, and the column
            arrays (`indices`) of the matrices that use it.

    Returns:
        The terms, their hashes, and for each vocabulary its old -> new column (-1 for
        a column no matrix uses). Each old vocabulary is sorted, so the mapping keeps a
        row's order.
    """
    used_columns = [_used_columns(len(vocab), used) for vocab, _, used in vocabularies]
    if len(vocabularies) == 1 and len(used_columns[0]) == len(vocabularies[0][0]):
        vocab, hashes, _ = vocabularies[0]  # one vocabulary, all of it used: nothing to do
        return vocab, hashes, [np.arange(len(vocab), dtype=np.int32)]
    names: list[str] = []
    for (vocab, _, _), used in zip(vocabularies, used_columns, strict=True):
        names.extend(vocab if len(used) == len(vocab) else [vocab[c] for c in used.tolist()])
    keys = np.concatenate(
        [np.zeros(0, np.uint64)]
        + [hashes[used] for (_, hashes, _), used in zip(vocabularies, used_columns, strict=True)]
    )
    # The lists are each sorted: timsort merges them as runs. Equal terms then stand
    # together; their hashes find them (a dict of millions of strings cost 5x more).
    order = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
    keys = keys[order]
    first = np.ones(len(order), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    repeats = np.flatnonzero(~first)
    if _differ(names, order[repeats], order[repeats - 1]):
        # Two terms share a hash (about 1 in 10^13; the term table then falls back to a
        # dict, see `StringTable`): tell neighbours apart by their text instead.
        texts = [names[i] for i in order.tolist()]
        first[1:] = np.fromiter(map(str.__ne__, texts[1:], texts[:-1]), bool, len(texts) - 1)
    column = np.cumsum(first, dtype=np.int64) - 1
    new = np.empty(len(order), dtype=np.int32)
    new[order] = column
    terms = [names[i] for i in order[first].tolist()]
    mappings: list[np.ndarray] = []
    start = 0
    for (vocab, _, _), used in zip(vocabularies, used_columns, strict=True):
        mapping = np.full(len(vocab), -1, dtype=np.int32)
        mapping[used] = new[start : start + len(used)]
        start += len(used)
        mappings.append(mapping)
    return terms, keys[first], mappings


def _differ(names: list[str], left: np.ndarray, right: np.ndarray) -> bool:
    """Whether any name at a position in `left` differs from the one at `right`'s."""
    pick = names.__getitem__
    return any(map(str.__ne__, map(pick, left.tolist()), map(pick, right.tolist())))


def _used_columns(size: int, indices: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct columns in some index arrays (a mask: no sort, no hashing)."""
    mask = np.zeros(size, dtype=bool)
    for array in indices:
        mask[array] = True
    return np.flatnonzero(mask)


def stack_counts(
    parts: list[FilePart], mappings: list[np.ndarray], passages: int, terms: int
) -> sp.csr_matrix:
    """The parts' count rows one under the other, columns remapped to the new vocabulary."""
    data, indices, lengths = [], [], []
    for part, mapping in zip(parts, mappings, strict=True):
        data.append(np.asarray(part.counts.data, dtype=np.float32))
        indices.append(mapping[part.counts.indices])
        lengths.append(np.diff(part.counts.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]) if lengths else [0]
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(passages, terms),
    )


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
