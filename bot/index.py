"""The search index: building it, saving it atomically, loading and validating it.

Layout of the index folder (plain data only; loading an index never runs code)::

    index/
      CURRENT                 name of the live build folder, swapped with os.replace
      build-<time>-<id>/
        manifest.json         format version, library versions, analyzer parameters,
                              corpus files (size, mtime, sha256), counts, build time
        vocabulary.json       index terms; a term's position is its matrix column
        vocabulary.*.npy      sorted 64-bit term hashes and their columns: the lookup
                              table questions use, memory-mapped (see `StringTable`)
        words.txt             surface words, sorted, one a line, for typo repair;
                              words.counts.npy holds their corpus counts
        filewords.jsonl       the same per corpus file, a line each in manifest order, for
                              incremental rebuilds; filewords.offsets.npy locates each line
        idf.npy               idf of each term
        weights.*.npy         BM25-weighted passage x term matrix, CSC (data, indices, indptr);
                              each column lists its passages in order (scipy's tocsc does),
                              which `bot.scoring` relies on to split a question
        counts.*.npy          raw term counts, CSR, so a rebuild can reuse unchanged files
        passages.jsonl        one passage a line; passages.offsets.npy locates each line

The matrix is kept as separate .npy files rather than one .npz so that it can be
memory-mapped: loading a large index costs a few page-table entries, not a copy.

A build writes a fresh build folder, then replaces CURRENT in one os.replace call, so a
reader sees the old index or the new one, never half of one. The previous build is kept
(a reader may still be reading it) and older ones are removed.

Weighting is TF-IDF with BM25's choices for the two factors: the tf factor saturates
(tf * (k1 + 1) / (tf + k1 * length_norm)), a sublinear tf that also normalises for
passage length, and idf is smoothed, log(1 + (N - df + 0.5) / (df + 0.5)), which stays
positive for a word found in every passage: on a corpus of a few passages such a word
must still count (the zero-idf mistake drops it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import logging
import mmap
import multiprocessing
import os
import platform
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bot import analysis
from bot import passages as passages_mod
from bot.documents import CorpusFileError, corpus_files, read_document
from bot.passages import Passage, split_documents

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: words.txt + words.counts.npy replace words.json
CURRENT = "CURRENT"
LOCK = ".lock"
# Everything that shapes passages and terms; an index built with other values is stale.
ANALYZER = {
    "name": "nfkc-casefold-stop-snowball-en",
    "bigrams": True,
    "version": 2,
    "stop_words": len(analysis.STOP_WORDS),
    "max_words": passages_mod.MAX_WORDS,
    "max_bullet_words": passages_mod.MAX_BULLET_WORDS,
}


class IndexError_(Exception):
    """Base of index problems; the message says what to do next."""


class IndexNotFound(IndexError_):
    """There is no index yet."""


class IndexCorrupt(IndexError_):
    """An index file is missing, truncated or of another format version."""


class BuildInProgress(IndexError_):
    """Another process holds the build lock."""


class EmptyCorpus(IndexError_):
    """The corpus folder holds no readable text."""


@dataclass(frozen=True)
class FileInfo:
    """A corpus file as it was when indexed."""

    path: str
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the one-line summary."""

    files: int
    passages: int
    terms: int
    seconds: float
    skipped: tuple[str, ...]
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    previous_passages: int = 0
    reused: int = 0
    build: str = ""

    def summary(self) -> str:
        """One line for the terminal, e.g. "Indexed 23 passages from 1 file in 0.04 s".

        After a previous build it also says what changed: "(1 changed: a.txt, 0 added,
        0 removed; 23 -> 25 passages; 1 reused)", naming up to three files of each kind.
        """
        files = f"{self.files} file" + ("" if self.files == 1 else "s")
        line = f"Indexed {self.passages} passages from {files} in {self.seconds:.2f} s"
        notes = []
        if self.previous_passages:
            kinds = (("changed", self.changed), ("added", self.added), ("removed", self.removed))
            notes.append(
                ", ".join(f"{len(names)} {kind}{_names(names)}" for kind, names in kinds)
                + f"; {self.previous_passages} -> {self.passages} passages; {self.reused} reused"
            )
        if self.skipped:
            notes.append(f"skipped {len(self.skipped)} unreadable: {', '.join(self.skipped)}")
        return line + (f" ({'; '.join(notes)})" if notes else "")


def _names(names: tuple[str, ...], most: int = 3) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:most]) + (", ..." if len(names) > most else "")
    return f": {shown}"


class PassageStore:
    """Passages read on demand from passages.jsonl through an offset table.

    Parsing a million JSON lines at start-up would take seconds; the file is
    memory-mapped instead, and looking up the handful a reply shows takes microseconds.
    """

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self._path = path
        self._offsets = offsets
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._data: bytes | mmap.mmap = (
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def offsets(self) -> np.ndarray:
        """Byte offset of each passage's line, and the file's length last."""
        return self._offsets

    def raw(self, start: int, end: int) -> bytes:
        """The passages.jsonl bytes of passages start..end-1, as stored."""
        return bytes(self._data[int(self._offsets[start]) : int(self._offsets[end])])

    def __getitem__(self, position: int) -> Passage:
        try:
            row = json.loads(self.raw(position, position + 1))
            return Passage(row["id"], row["doc"], row["section"], row["text"], position)
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {_REBUILD}") from None

    def __iter__(self) -> Iterator[Passage]:
        for position in range(len(self)):
            yield self[position]


def term_hash(term: str) -> int:
    """A stable 64-bit hash of a term (Python's own hash() changes between runs)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


class StringTable:
    """String -> number (term -> column, passage id -> position), memory-mapped.

    Turning a vocabulary of millions of terms (most of them bigrams) into a dict took
    seconds at every start and every index swap. Instead the index stores each string's
    64-bit hash, sorted, beside its number: a lookup is one hash and a binary search,
    and loading costs nothing. A hash collision between two index terms is detected at
    build time (the builder then refuses to write the table and `load` falls back to a
    dict); between a question word and an index term it has odds of about 1 in 10^12.
    """

    def __init__(self, hashes: np.ndarray, columns: np.ndarray) -> None:
        # Plain ndarray views of the memory maps: np.memmap's Python-level wrapping
        # of every scalar result costs more than the binary search itself.
        self._hashes = np.asarray(hashes)
        self._columns = np.asarray(columns)

    @classmethod
    def of_hashes(cls, hashes: np.ndarray) -> StringTable | None:
        """The table for strings given by their hashes, in position order."""
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        if hashes.size > 1 and bool((hashes[1:] == hashes[:-1]).any()):
            return None
        return cls(hashes, order.astype(np.int32))

    def __len__(self) -> int:
        return len(self._hashes)

    def hashes_by_number(self) -> np.ndarray:
        """The hashes back in number order (what `of_hashes` was given)."""
        out = np.empty_like(self._hashes)
        out[self._columns] = self._hashes
        return out

    def get(self, term: str, default: int | None = None) -> int | None:
        """The column of a term, or `default`."""
        key = np.uint64(term_hash(term))
        hashes = self._hashes
        i = int(hashes.searchsorted(key))
        if i < len(hashes) and hashes[i] == key:
            return int(self._columns[i])
        return default

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) is not None

    def __getitem__(self, term: str) -> int:
        column = self.get(term)
        if column is None:
            raise KeyError(term)
        return column


_REBUILD = "Run: python -m bot build --full"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per load
class Index:
    """A loaded index: everything retrieval needs, read-only.

    Attributes:
        path: The build folder it was loaded from.
        manifest: The parsed manifest.json.
        vocabulary: Term -> column (a `StringTable`, or a dict for an index whose hash
            table could not be written).
        idf: idf per column.
        weights: BM25-weighted passage x term matrix, CSC so a question's columns are cheap.
        counts: Raw term counts (passage x term, CSR); used by incremental rebuilds.
        words: Surface word -> corpus count, for typo repair.
        passages: Passage store indexed by position.
        k1: The k1 the weights were built with.
    """

    path: Path
    manifest: dict[str, Any]
    vocabulary: StringTable | dict[str, int]
    idf: np.ndarray
    weights: sp.csc_matrix
    counts: sp.csr_matrix
    words: dict[str, int]
    passages: PassageStore
    k1: float
    passage_ids: StringTable | None = None

    @cached_property
    def id_hashes(self) -> np.ndarray:
        """`term_hash` of every passage id in position order (for rebuilds)."""
        if self.passage_ids is not None:
            return self.passage_ids.hashes_by_number()
        return np.fromiter((term_hash(p.id) for p in self.passages), dtype=np.uint64)

    def position_of(self, passage_id: str) -> int | None:
        """Where the passage with this id stands, or None if this index lacks it."""
        if self.passage_ids is None:
            return next((p.position for p in self.passages if p.id == passage_id), None)
        position = self.passage_ids.get(passage_id)
        if position is None or self.passages[position].id != passage_id:
            return None
        return position

    @cached_property
    def terms(self) -> list[str]:
        """Column -> term, read from vocabulary.json on first use (rebuilds, tests)."""
        terms = _load_json(self.path / "vocabulary.json", list)
        if len(terms) != int(self.manifest["terms"]):
            raise IndexCorrupt(
                f"{self.path / 'vocabulary.json'} does not match the manifest. {_REBUILD}"
            )
        return terms

    @property
    def build_id(self) -> str:
        """The build folder's name, which changes with every build."""
        return self.path.name

    @cached_property
    def _file_words(self) -> PassageStore:
        path = self.path / "filewords.jsonl"
        offsets = _load_array(self.path / "filewords.offsets.npy")
        if offsets.shape != (len(self.manifest["files"]) + 1,) or (
            not path.exists() or path.stat().st_size != int(offsets[-1])
        ):
            raise IndexCorrupt(f"{path} does not match the manifest. {_REBUILD}")
        return PassageStore(path, offsets)

    def file_words_line(self, number: int) -> bytes:
        """The filewords.jsonl line of the number-th corpus file, as stored."""
        return self._file_words.raw(number, number + 1)

    def file_words_of(self, number: int) -> dict[str, int]:
        """Surface word counts of the number-th corpus file of the manifest."""
        try:
            value = json.loads(self.file_words_line(number))
        except ValueError as exc:
            raise IndexCorrupt(
                f"{self.path / 'filewords.jsonl'} is damaged ({exc}). {_REBUILD}"
            ) from None
        if not isinstance(value, dict):
            raise IndexCorrupt(f"{self.path / 'filewords.jsonl'} is damaged. {_REBUILD}")
        return value

    @property
    def max_idf(self) -> float:
        """The idf an unseen word would get: the most informative value there is."""
        n = self.manifest["passages"]
        return float(np.log1p((n + 0.5) / 0.5))


# ---------------------------------------------------------------------------- reading


def scan_corpus(corpus_dir: Path) -> list[tuple[Path, str]]:
    """Lists corpus files as (path, name relative to the corpus folder)."""
    try:
        paths = corpus_files(corpus_dir)
    except CorpusFileError as exc:
        raise EmptyCorpus(str(exc)) from None
    return [(p, p.relative_to(corpus_dir).as_posix()) for p in paths]


def file_info(path: Path, name: str) -> FileInfo:
    """Size, mtime and sha256 of one corpus file."""
    st = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return FileInfo(name, st.st_size, st.st_mtime_ns, digest)


@dataclass(frozen=True)
class FilePart:
    """One corpus file's share of the index: its passages and their term counts.

    A build assembles the index from one part per file. An unchanged file's part is
    cut out of the previous index instead of being read and analysed again, and the
    assembly is the same either way, so an incremental build equals a full one.

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
    """

    info: FileInfo
    lines: list[bytes]
    counts: sp.csr_matrix
    terms: list[str]
    words: Mapping[str, int]
    id_hashes: np.ndarray
    words_line: bytes


def passage_line(passage: Passage) -> bytes:
    """A passage as one passages.jsonl line; its position is the line's number."""
    row = {"id": passage.id, "doc": passage.doc, "section": passage.section, "text": passage.text}
    return json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"


def read_part(path: Path, name: str) -> FilePart:
    """Reads, splits and analyses one corpus file.

    Raises:
        CorpusFileError: The file cannot be read; OSError likewise.
    """
    documents = read_document(path, name)
    passages = split_documents(documents)
    if not passages:
        log.warning("%s holds no text", name)
    counts, terms, words = analyze_passages(passages)
    ids = np.fromiter((term_hash(p.id) for p in passages), dtype=np.uint64, count=len(passages))
    lines = [passage_line(p) for p in passages]
    words_line = json.dumps(words, ensure_ascii=False).encode("utf-8") + b"\n"
    return FilePart(file_info(path, name), lines, counts, terms, words, ids, words_line)


# ---------------------------------------------------------------------------- building


def analyze_passages(passages: list[Passage]) -> tuple[sp.csr_matrix, list[str], Counter[str]]:
    """Counts each passage's terms; also counts surface words for typo repair.

    The terms are exactly `analysis.analyze` of each passage's indexed text, but the
    work is done once per distinct word instead of once per token: the tokens become
    numbers through one dict, the filters and the stemmer run over the distinct words,
    and stems, bigrams and counts are numpy operations on the numbers. A bigram's text
    is made once per distinct pair. (scikit-learn's CountVectorizer did this per token
    in Python: 60% of a build.)

    Returns:
        (counts matrix passage x term with sorted columns, terms by column in sorted
        order, surface word counts)
    """
    words: Counter[str] = Counter()
    token_lists = [analysis.tokens(p.indexed_text) for p in passages]
    flat = list(itertools.chain.from_iterable(token_lists))
    distinct = list(dict.fromkeys(flat))
    number = dict(zip(distinct, range(len(distinct)), strict=True))
    token_ids = np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat))
    content = [i for i, w in enumerate(distinct) if analysis.is_content_word(w)]
    if not content:
        return sp.csr_matrix((len(passages), 0), dtype=np.float32), [], words
    # Surface words and their corpus counts, for typo repair.
    frequency = np.bincount(token_ids, minlength=len(distinct))
    words.update({distinct[i]: int(frequency[i]) for i in content})
    # Stems of the distinct content words; -1 marks a token that is not a content word.
    stemmed = analysis.stems([distinct[i] for i in content])
    stems = list(dict.fromkeys(stemmed))
    stem_number = dict(zip(stems, range(len(stems)), strict=True))
    stem_of = np.full(len(distinct), -1, dtype=np.int64)
    stem_of[content] = [stem_number[s] for s in stemmed]
    rows = np.repeat(
        np.arange(len(passages)),
        np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists)),
    )
    unigrams = stem_of[token_ids]
    kept = unigrams >= 0
    unigrams, rows = unigrams[kept], rows[kept]
    # Bigrams: neighbouring content words of one passage (stop words in between
    # vanished above, as in `analysis.analyze`), one number per distinct stem pair.
    same = rows[1:] == rows[:-1]
    pairs = unigrams[:-1][same] * len(stems) + unigrams[1:][same]
    distinct_pairs, pair_ids = np.unique(pairs, return_inverse=True)
    firsts, seconds = np.divmod(distinct_pairs, len(stems))
    terms = stems + [
        f"{stems[a]} {stems[b]}" for a, b in zip(firsts.tolist(), seconds.tolist(), strict=True)
    ]
    # Columns in sorted term order, as `assemble` expects of every part.
    order = sorted(range(len(terms)), key=terms.__getitem__)
    column = np.empty(len(terms), dtype=np.int32)
    column[order] = np.arange(len(terms), dtype=np.int32)
    counts = sp.csr_matrix(
        (
            np.ones(len(unigrams) + len(pair_ids), dtype=np.float32),
            (
                np.concatenate([rows, rows[1:][same]]),
                column[np.concatenate([unigrams, len(stems) + pair_ids.ravel()])],
            ),
        ),
        shape=(len(passages), len(terms)),
    )
    counts.sum_duplicates()  # also sorts each row's columns
    return counts, [terms[i] for i in order], words


def bm25_weights(
    counts: sp.csr_matrix, terms: list[str], k1: float, b: float
) -> tuple[sp.csc_matrix, np.ndarray]:
    """Turns raw counts into TF-IDF weights with BM25's tf saturation and smoothed idf.

    A passage's length counts its words only: bigrams would count each word twice
    more and skew the length normalisation (measured: it cost up to 8% nDCG@10 on the
    public test collections).

    Args:
        counts: passage x term raw counts.
        terms: The terms of the columns; bigrams hold a space.
        k1: tf saturation; 0 makes tf binary, large values make it linear.
        b: length normalisation; 0 ignores passage length, 1 normalises fully.

    Returns:
        (weights as CSC, idf per term)
    """
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    is_word = np.fromiter((" " not in t for t in terms), dtype=bool, count=len(terms))
    lengths = np.bincount(
        np.repeat(np.arange(n), np.diff(counts.indptr)),
        weights=counts.data * is_word[counts.indices],
        minlength=n,
    )
    avg = float(lengths.mean()) if n else 1.0
    norm = k1 * (1.0 - b + b * lengths / max(avg, 1e-9))
    tf = counts.data.astype(np.float64)
    # idf * tf * (k1 + 1) / (tf + norm), in place: the same operations in the same
    # order as the plain expression (the same bits), without its four temporaries of
    # one float64 per stored count.
    denominator = np.repeat(norm, np.diff(counts.indptr))
    denominator += tf
    data = idf[counts.indices]
    data *= tf
    data *= k1 + 1.0
    data /= denominator
    weights = sp.csr_matrix((data.astype(np.float32), counts.indices, counts.indptr), counts.shape)
    return weights.tocsc(), idf.astype(np.float32)


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


def build(
    corpus_dir: Path,
    index_dir: Path,
    k1: float = 1.2,
    b: float = 0.75,
    wait: bool = False,
    full: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    workers: int | None = None,
) -> BuildReport:
    """Builds the index of `corpus_dir` into `index_dir` and makes it current.

    Files whose size and mtime (or, failing that, sha256) match the previous index are
    not read again: their passages and term counts are taken from it. idf and weights
    are always recomputed over the whole collection, so the result is identical to a
    full build.

    Args:
        corpus_dir: The corpus folder.
        index_dir: The index folder.
        k1: BM25 tf saturation.
        b: BM25 length normalisation.
        wait: Wait for another build's lock instead of failing.
        full: Ignore the previous index and read every file.
        progress: Called after each file with (files done, files in all, percent of the
            corpus's bytes done), for a progress display.
        workers: Processes that read files (default: one per CPU; see `_read_parts`).

    Raises:
        EmptyCorpus: No file in the corpus folder has any text.
        BuildInProgress: Another build holds the lock.
    """
    started = time.perf_counter()
    with build_lock(index_dir, wait=wait):
        before = _previous_files(index_dir)
        previous = None if full else _previous_index(index_dir)
        old_files = (
            {f["path"]: (i, f) for i, f in enumerate(previous.manifest["files"])}
            if previous
            else {}
        )
        listing = scan_corpus(corpus_dir)
        sizes = [_size(path) for path, _ in listing]
        total, done = sum(sizes) or 1, 0
        found: list[FilePart | None] = []
        skipped: list[FileInfo] = []
        for path, name in listing:
            number, entry = old_files.get(name, (-1, None))
            found.append(_reuse(previous, entry, number, path) if previous else None)
        reused = sum(part is not None for part in found)
        unread = [i for i, part in enumerate(found) if part is None]
        # Progress counts files: the reused ones at once, then each as it is read.
        for n, i in enumerate([i for i, part in enumerate(found) if part is not None], 1):
            done += sizes[i]
            if progress is not None:
                progress(n, len(listing), 100 * done // total)
        reads = _read_parts([listing[i] for i in unread], sum(sizes[i] for i in unread), workers)
        for n, (i, outcome) in enumerate(zip(unread, reads, strict=True), reused + 1):
            if isinstance(outcome, FilePart):
                found[i] = outcome
            else:
                path, name = listing[i]
                log.warning("skipped %s: %s", name, outcome)
                skipped.append(_info_or_placeholder(path, name))
            done += sizes[i]
            if progress is not None:
                progress(n, len(listing), 100 * done // total)
        parts = [part for part in found if part is not None]
        lines, counts, terms, words, id_hashes, term_hashes = assemble(parts, previous)
        if not lines:
            names = ", ".join(f.path for f in skipped)
            raise EmptyCorpus(
                f"No text to index in {corpus_dir}: add .txt, .md, .html, .pdf or .jsonl files "
                "there" + (f" (skipped as unreadable: {names})" if skipped else "")
            )
        if not terms:
            raise EmptyCorpus(
                f"No words to index in {corpus_dir}: its text holds only stop words, numbers "
                "or symbols"
            )
        weights, idf = bm25_weights(counts, terms, k1, b)
        files = []
        position = 0
        for part in parts:
            files.append({**vars(part.info), "passages": [position, position + len(part.lines)]})
            position += len(part.lines)
        manifest = {
            "format_version": FORMAT_VERSION,
            "analyzer": ANALYZER,
            "scoring": {"k1": k1, "b": b},
            "libraries": _library_versions(),
            "files": files,
            "skipped": [vars(info) for info in skipped],
            "passages": len(lines),
            "terms": len(terms),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        build_dir = _write(
            index_dir,
            manifest,
            lines,
            terms,
            idf,
            weights,
            counts,
            words,
            [part.words_line for part in parts],
            id_hashes,
            term_hashes,
        )
    hashes = {part.info.path: part.info.sha256 for part in parts}
    old = {f["path"]: f["sha256"] for f in before.get("files", [])}
    return BuildReport(
        files=len(parts),
        passages=len(lines),
        terms=len(terms),
        seconds=time.perf_counter() - started,
        skipped=tuple(f.path for f in skipped),
        added=tuple(sorted(set(hashes) - set(old))),
        changed=tuple(sorted(n for n in hashes if n in old and old[n] != hashes[n])),
        removed=tuple(sorted(set(old) - set(hashes))),
        previous_passages=int(before.get("passages", 0)),
        reused=reused,
        build=build_dir.name,
    )


# Reading files in worker processes pays once there is this much text to read: each
# part travels back pickled, and a small build is over before workers would start.
PARALLEL_BYTES = 16 * 1024 * 1024


def _read_parts(
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
    with concurrent.futures.ProcessPoolExecutor(count, mp_context=context) as pool:
        futures = [pool.submit(_read_or_error, path, name) for path, name in files]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _read_or_error(path: Path, name: str) -> FilePart | Exception:
    """`read_part`, with a failure to read the file returned instead of raised."""
    try:
        return read_part(path, name)
    except (CorpusFileError, OSError) as exc:
        return exc


def _previous_index(index_dir: Path) -> Index | None:
    """The current index if it can be reused (same analyzer), else None."""
    try:
        index = load(index_dir)
        if index.manifest.get("analyzer") != ANALYZER:
            return None
        # Read now: a damaged file means a full build, not a crash half-way.
        index.terms  # noqa: B018
        index._file_words  # noqa: B018
    except IndexError_:
        return None
    return index


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _info_or_placeholder(path: Path, name: str) -> FileInfo:
    """A skipped file's identity, so it does not make the index look stale."""
    try:
        return file_info(path, name)
    except OSError:
        return FileInfo(name, -1, -1, "")


def unchanged(path: Path, entry: Mapping[str, Any]) -> FileInfo | None:
    """The file as it is now, if its content is what a manifest entry recorded; else None.

    Size and mtime as recorded: trusted without reading. Same size, other mtime: the
    file is hashed, so touching a file does not count as a change (the returned info
    then carries the new mtime). Raises OSError when the file cannot be read.
    """
    st = path.stat()
    if st.st_size != entry["size"]:
        return None
    if st.st_mtime_ns == entry["mtime_ns"]:
        return FileInfo(entry["path"], entry["size"], entry["mtime_ns"], entry["sha256"])
    fresh = file_info(path, entry["path"])
    return fresh if fresh.sha256 == entry["sha256"] else None


def _reuse(
    previous: Index, entry: dict[str, Any] | None, number: int, path: Path
) -> FilePart | None:
    """An unchanged file's part, cut out of the previous index; None if it changed."""
    if entry is None:
        return None
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
    return FilePart(info, lines, rows, previous.terms, {}, ids, words_line)


def assemble(
    parts: list[FilePart],
    previous: Index | None = None,
) -> tuple[list[bytes], sp.csr_matrix, list[str], Counter[str], np.ndarray, np.ndarray]:
    """Joins file parts into one collection: passages in corpus order, one vocabulary.

    The vocabulary is the sorted union of the terms the parts use. Every part's
    vocabulary is sorted too, so remapping its columns keeps each row's order. Parts
    reused from the previous index share its vocabulary and are remapped with one
    array lookup, not term by term; the word counts start from the previous index's
    and only the files that changed are taken out and put in.
    """
    columns_used: dict[int, tuple[list[str], list[np.ndarray]]] = {}
    for part in parts:
        columns_used.setdefault(id(part.terms), (part.terms, []))[1].append(part.counts.indices)
    vocabularies = {
        key: (vocab, _used_columns(len(vocab), used)) for key, (vocab, used) in columns_used.items()
    }
    used_terms = {
        key: [vocab[c] for c in used.tolist()] for key, (vocab, used) in vocabularies.items()
    }
    # Each list is sorted already: sorting their concatenation merges runs (timsort),
    # far cheaper than sorting a set's arbitrary order.
    merged = sorted(itertools.chain.from_iterable(used_terms.values()))
    terms = list(dict.fromkeys(merged))
    column = dict(zip(terms, range(len(terms)), strict=True))
    mappings: dict[int, np.ndarray] = {}
    for key, (vocab, used) in vocabularies.items():
        mapping = np.full(len(vocab), -1, dtype=np.int32)
        names = used_terms[key]
        mapping[used] = np.fromiter(map(column.__getitem__, names), np.int32, len(names))
        mappings[key] = mapping
    lines: list[bytes] = []
    data, indices, lengths = [], [], []
    for part in parts:
        lines.extend(part.lines)
        data.append(np.asarray(part.counts.data, dtype=np.float32))
        indices.append(mappings[id(part.terms)][part.counts.indices])
        lengths.append(np.diff(part.counts.indptr))
    words = _words(parts, previous)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]) if lengths else [0]
    counts = sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(lines), len(terms)),
    )
    ids = np.concatenate([p.id_hashes for p in parts]) if parts else np.zeros(0, np.uint64)
    return (
        lines,
        counts,
        terms,
        words,
        ids.astype(np.uint64),
        _term_hashes(terms, previous, mappings),
    )


def _used_columns(size: int, indices: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct columns in some index arrays (a mask: no sort, no hashing)."""
    mask = np.zeros(size, dtype=bool)
    for array in indices:
        mask[array] = True
    return np.flatnonzero(mask)


def _words(parts: list[FilePart], previous: Index | None) -> Counter[str]:
    """Surface word counts of the whole corpus, sorted by word.

    After a previous build: its counts, less the files not reused, plus the files read
    anew. Sorted, so that a full and an incremental build write the same file.
    """
    words: Counter[str] = Counter()
    if previous is None:
        for part in parts:
            words.update(part.words)
    else:
        words.update(previous.words)
        reused = {part.info.path for part in parts if part.terms is previous.terms}
        for number, entry in enumerate(previous.manifest["files"]):
            if entry["path"] not in reused:
                words.subtract(previous.file_words_of(number))
        for part in parts:
            if part.terms is not previous.terms:
                words.update(part.words)
    return Counter({word: n for word, n in sorted(words.items()) if n > 0})


def _term_hashes(
    terms: list[str], previous: Index | None, mappings: dict[int, np.ndarray]
) -> np.ndarray:
    """`term_hash` of every term, reusing the previous index's hashes for its terms.

    Hashing is a Python call per term; on a rebuild most terms were hashed last time,
    so only the new ones are.
    """
    hashes = np.zeros(len(terms), dtype=np.uint64)
    known = np.zeros(len(terms), dtype=bool)
    mapping = mappings.get(id(previous.terms)) if previous is not None else None
    if (
        previous is not None
        and mapping is not None
        and isinstance(previous.vocabulary, StringTable)
    ):
        old = previous.vocabulary.hashes_by_number()
        kept = mapping >= 0
        hashes[mapping[kept]] = old[kept]
        known[mapping[kept]] = True
    for i in np.flatnonzero(~known).tolist():
        hashes[i] = term_hash(terms[i])
    return hashes


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "PyStemmer", "rapidfuzz"):
        versions[package] = metadata.version(package)
    return versions


def _write(
    index_dir: Path,
    manifest: dict[str, Any],
    lines: list[bytes],
    terms: list[str],
    idf: np.ndarray,
    weights: sp.csc_matrix,
    counts: sp.csr_matrix,
    words: Counter[str],
    words_lines: list[bytes],
    id_hashes: np.ndarray,
    term_hashes: np.ndarray,
) -> Path:
    """Writes a build folder beside the live one, then points CURRENT at it atomically."""
    name = f"build-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        _write_lines(tmp / "passages.jsonl", tmp / "passages.offsets.npy", lines)
        _dump_json(tmp / "vocabulary.json", terms)
        table = StringTable.of_hashes(term_hashes)
        if table is not None:
            np.save(tmp / "vocabulary.hashes.npy", table._hashes)
            np.save(tmp / "vocabulary.columns.npy", table._columns)
        ids = StringTable.of_hashes(id_hashes)
        if ids is not None:
            np.save(tmp / "passages.ids.hashes.npy", ids._hashes)
            np.save(tmp / "passages.ids.positions.npy", ids._columns)
        # Split and zipped at load: a tenth of the time of parsing a JSON object of the
        # same words (0.8 s for the 737,215 words of a million passages).
        (tmp / "words.txt").write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
        np.save(tmp / "words.counts.npy", np.fromiter(words.values(), np.int64, len(words)))
        _write_lines(tmp / "filewords.jsonl", tmp / "filewords.offsets.npy", words_lines)
        np.save(tmp / "idf.npy", idf)
        for prefix, matrix in (("weights", weights), ("counts", counts)):
            np.save(tmp / f"{prefix}.data.npy", matrix.data)
            np.save(tmp / f"{prefix}.indices.npy", matrix.indices.astype(np.int32))
            np.save(tmp / f"{prefix}.indptr.npy", matrix.indptr.astype(np.int64))
        # The manifest goes last: a folder without one is never taken for an index.
        _dump_json(tmp / "manifest.json", manifest)
        final = index_dir / name
        os.replace(tmp, final)
        try:
            previous = current_build(index_dir).name
        except IndexError_:
            previous = ""
        pointer = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        pointer.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The previous build stays: a reader may have read CURRENT just before the swap.
    _remove_old_builds(index_dir, keep={name, previous})
    return final


def _write_lines(path: Path, offsets_path: Path, lines: list[bytes]) -> None:
    """Writes JSON Lines and the table of where each line starts (and the file ends)."""
    path.write_bytes(b"".join(lines))
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum([len(line) for line in lines], out=offsets[1:])
    np.save(offsets_path, offsets)


def _dump_json(path: Path, value: Any) -> None:
    # json.dumps, not json.dump: only the one-shot call uses the C encoder (10x faster).
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    for path in index_dir.iterdir():
        if path.name.startswith(("build-", ".tmp-build-")) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _previous_files(index_dir: Path) -> dict[str, Any]:
    try:
        return read_manifest(current_build(index_dir))
    except IndexError_:
        return {}


# ---------------------------------------------------------------------------- loading


def current_build(index_dir: Path) -> Path:
    """The live build folder named by CURRENT.

    Raises:
        IndexNotFound: No index has been built in `index_dir`.
    """
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFound(f"No index in {index_dir}/. Run: python -m bot build") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{index_dir / CURRENT} is unreadable ({exc}). {_REBUILD}") from None
    if not name or "/" in name or not name.startswith("build-"):
        raise IndexCorrupt(f"{index_dir / CURRENT} does not name a build. {_REBUILD}")
    return index_dir / name


def read_manifest(build_dir: Path) -> dict[str, Any]:
    """Reads and checks a build's manifest.

    Raises:
        IndexCorrupt: Missing, unparsable, or of another format version.
    """
    path = build_dir / "manifest.json"
    manifest: dict[str, Any] = _load_json(path, dict)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{path} has index format {version!r}, this program reads format {FORMAT_VERSION}. "
            f"{_REBUILD}"
        )
    return manifest


def load(index_dir: Path) -> Index:
    """Loads the current index, memory-mapping its arrays and checking every file.

    Raises:
        IndexNotFound: Nothing built yet.
        IndexCorrupt: A file is missing, truncated or inconsistent; names the file.
    """
    build_dir = current_build(index_dir)
    manifest = read_manifest(build_dir)
    n, v = int(manifest["passages"]), int(manifest["terms"])
    words = _load_words(build_dir)
    idf = _load_array(build_dir / "idf.npy")
    offsets = _load_array(build_dir / "passages.offsets.npy")
    weights = _load_matrix(build_dir, "weights", sp.csc_matrix, (n, v))
    counts = _load_matrix(build_dir, "counts", sp.csr_matrix, (n, v))
    passages_path = build_dir / "passages.jsonl"
    checks = [
        (idf.shape == (v,), "idf.npy"),
        (offsets.shape == (n + 1,), "passages.offsets.npy"),
        (
            passages_path.exists() and passages_path.stat().st_size == int(offsets[-1]),
            "passages.jsonl",
        ),
    ]
    for ok, name in checks:
        if not ok:
            raise IndexCorrupt(f"{build_dir / name} does not match the manifest. {_REBUILD}")
    vocabulary = _load_vocabulary(build_dir, v)
    return Index(
        build_dir,
        manifest,
        vocabulary,
        idf,
        weights,
        counts,
        words,
        PassageStore(passages_path, offsets),
        float(manifest["scoring"]["k1"]),
        _load_table(build_dir / "passages.ids", n),
    )


def _load_words(build_dir: Path) -> dict[str, int]:
    """Surface word -> corpus count, from words.txt and words.counts.npy."""
    path = build_dir / "words.txt"
    names = _load_text(path).split("\n")
    counts = _load_array(build_dir / "words.counts.npy")
    if names.pop() != "" or counts.shape != (len(names),):
        raise IndexCorrupt(f"{path} does not match words.counts.npy. {_REBUILD}")
    return dict(zip(names, counts.tolist(), strict=True))


def _load_vocabulary(build_dir: Path, size: int) -> StringTable | dict[str, int]:
    """The memory-mapped term table, or a dict from vocabulary.json if there is none."""
    if not (build_dir / "vocabulary.hashes.npy").exists():
        terms = _load_json(build_dir / "vocabulary.json", list)
        if len(terms) != size:
            raise IndexCorrupt(
                f"{build_dir / 'vocabulary.json'} does not match the manifest. {_REBUILD}"
            )
        return {term: column for column, term in enumerate(terms)}
    hashes = _load_array(build_dir / "vocabulary.hashes.npy")
    columns = _load_array(build_dir / "vocabulary.columns.npy")
    if hashes.shape != (size,) or columns.shape != (size,) or hashes.dtype != np.uint64:
        raise IndexCorrupt(
            f"{build_dir / 'vocabulary.hashes.npy'} does not match the manifest. {_REBUILD}"
        )
    return StringTable(hashes, columns)


def _load_table(prefix: Path, size: int) -> StringTable | None:
    """The passage-id table, or None for an index written without one (a collision)."""
    hashes_path = prefix.with_name(prefix.name + ".hashes.npy")
    if not hashes_path.exists():
        return None
    hashes = _load_array(hashes_path)
    positions = _load_array(prefix.with_name(prefix.name + ".positions.npy"))
    if hashes.shape != (size,) or positions.shape != (size,):
        raise IndexCorrupt(f"{hashes_path} does not match the manifest. {_REBUILD}")
    return StringTable(hashes, positions)


def _load_text(path: Path) -> str:
    """An index text file, or IndexCorrupt naming it and the fix."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {_REBUILD}") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {_REBUILD}") from None


def _load_json(path: Path, kind: type) -> Any:
    try:
        value = json.loads(_load_text(path))
    except ValueError as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {_REBUILD}") from None
    if not isinstance(value, kind):
        raise IndexCorrupt(f"{path} holds the wrong kind of data. {_REBUILD}")
    return value


def _load_array(path: Path) -> np.ndarray:
    try:
        # A plain ndarray view of the mapping: slicing an np.memmap builds a new memmap
        # object each time, which made scoring a few columns cost more than summing them.
        return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {_REBUILD}") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {_REBUILD}") from None


def _load_matrix(build_dir: Path, prefix: str, kind: Any, shape: tuple[int, int]) -> Any:
    data = _load_array(build_dir / f"{prefix}.data.npy")
    indices = _load_array(build_dir / f"{prefix}.indices.npy")
    indptr = _load_array(build_dir / f"{prefix}.indptr.npy")
    major = shape[1] if kind is sp.csc_matrix else shape[0]
    minor = shape[0] if kind is sp.csc_matrix else shape[1]
    valid = (
        indptr.shape == (major + 1,)
        and data.shape == indices.shape
        and int(indptr[-1]) == data.shape[0]
        and (indices.size == 0 or int(indices.max()) < minor)
    )
    if not valid:
        raise IndexCorrupt(f"{build_dir / prefix}.*.npy do not match the manifest. {_REBUILD}")
    # The constructor would copy and re-check; building the object from its parts keeps
    # the arrays memory-mapped.
    matrix = kind.__new__(kind)
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    matrix._shape = shape
    return matrix


# ---------------------------------------------------------------------------- staleness


def stale_reason(corpus_dir: Path, index_dir: Path) -> str | None:
    """Why the index needs a (re)build, or None when it matches the corpus.

    Cheap on the common path: files whose size and mtime match the manifest are
    trusted; only the others are hashed, so touching a file does not force a rebuild.
    """
    try:
        manifest = read_manifest(current_build(index_dir))
    except IndexNotFound:
        return "no index yet"
    except IndexCorrupt as exc:
        return f"the index is unusable ({exc})"
    if manifest.get("analyzer") != ANALYZER:
        return "the analyzer changed"
    indexed = {f["path"]: f for f in manifest.get("files", []) + manifest.get("skipped", [])}
    try:
        current = scan_corpus(corpus_dir)
    except EmptyCorpus:
        return None  # the build itself will report the missing folder
    names = {name for _, name in current}
    for path, name in current:
        old = indexed.get(name)
        if old is None:
            return f"{name} is new"
        try:
            if unchanged(path, old) is None:
                return f"{name} changed"
        except OSError:
            continue  # unreadable now: the build will skip it with a warning
    gone = set(indexed) - names
    if gone:
        return f"{sorted(gone)[0]} was removed"
    return None
