"""The on-disk format of an index: writing a build folder and loading it back.

Layout of the index folder (plain data only; loading an index never runs code)::

    index/
      CURRENT                 name of the live build folder, swapped with os.replace
      build-<time>-<id>/
        manifest.json         format version, library versions, analyzer parameters,
                              corpus files (size, mtime, sha256), counts, build time, and
                              every other file's size, SHA-256 and hash of its first and
                              last 64 KiB ("checksums"; see `check_files`)
        vocabulary.json.zst   index terms (a JSON list, zstd); a term's position is its
                              matrix column
        vocabulary.*.npy      sorted 64-bit term hashes and their columns: the lookup
                              table questions use, memory-mapped (see `StringTable`)
        words.txt             surface words, sorted, one a line, for typo repair;
                              words.counts.npy holds their corpus counts
        filewords.zst         the same per corpus file, a JSON line each in manifest order
                              and each its own zstd frame, for incremental rebuilds;
                              filewords.offsets.npy locates each frame
        idf.npy               idf of each term
        norms.npy             each passage's BM25 length norm, k1 * (1 - b + b * len / avg)
        norms.codes.npy       the same as codes (uint8 for up to 256 distinct norms, else
        norms.table.npy       uint16) into the table of distinct norms, padded with zeros
                              to every code's value: what the compiled scoring loop reads
                              (`bot.scoring.norm_codes`)
        postings.*.npy        raw term counts, passage x term, CSC (data: uint8 counts,
                              indices: int32 passages, indptr: int64): the inverted index.
                              Each column lists its passages in order (scipy's tocsc does),
                              which `bot.scoring` relies on to split a question. A
                              posting's BM25 weight is worked out from its count, its
                              term's idf and its passage's norm as a question is scored;
                              rebuilds take the counts of unchanged files from here
        passages.zst          the passages, each a JSON object in its own zstd frame,
                              compressed with the dictionary in passages.dict (empty for a
                              small corpus); passages.offsets.npy locates each frame

The matrix is kept as separate .npy files rather than one .npz so that it can be
memory-mapped: loading a large index costs a few page-table entries, not a copy.

A build writes a fresh build folder, fsyncs it, then replaces CURRENT in one os.replace
call, so a reader sees the old index or the new one, never half of one. The previous build is kept
(a reader may still be reading it) and older ones are removed.

The writer (`write`) and the reader (`load`) live in this one module, so that a change
to the format is made in one place; `StringTable` and `LineFile` carry their own save
and load side by side.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np
import zstandard

from bot import analysis
from bot import passages as passages_mod
from bot.index.errors import REBUILD, IndexCorrupt
from bot.passages import Passage

if TYPE_CHECKING:  # scipy only at build time: importing scipy.sparse costs 0.1-0.35 s
    pass

# 2: words.txt + words.counts.npy replace words.json. 3: postings (uint8 counts, CSC)
# and norms replace weights (float32, CSC) and counts (float32, CSR); bigrams seen in
# one passage of their file are left out; passages, per-file words and the term list
# are zstd-compressed (passages.zst with a trained dictionary, filewords.zst,
# vocabulary.json.zst). 4: norms.codes.npy and norms.table.npy, the norms as one- or
# two-byte codes for the scoring loop (bench/README.md: the tail at a million passages).
FORMAT_VERSION = 4
CURRENT = "CURRENT"
_ENDS = 64 * 1024  # bytes hashed at each end of a build file on every load
# A bigram is indexed where its file holds it in at least this many passages (see
# `bot.index.weighting.prune_bigrams`).
BIGRAM_MIN_DF = 2
# Everything that shapes passages and terms; an index built with other values is stale.
ANALYZER = {
    "name": "nfkc-casefold-stop-snowball-en",
    "bigrams": True,
    # 3: thousands separators dropped ("5,000" is "5000"), number words as digits.
    "version": 3,
    "stop_words": len(analysis.STOP_WORDS),
    "max_words": passages_mod.MAX_WORDS,
    "max_bullet_words": passages_mod.MAX_BULLET_WORDS,
    "max_chars": passages_mod.MAX_CHARS,
    "bigram_min_df": BIGRAM_MIN_DF,
    # The readers' version: 2 = HTML's main content through trafilatura, table cells
    # joined with " | "; 3 = a Markdown link whose text is bracketed ("[[SP 800-63C]](#x)")
    # reads "[SP 800-63C]". An index of older readers is rebuilt once, rather than keep an
    # unchanged page's navigation and footer passages for as long as the page is unchanged.
    "readers": 3,
    # How text is cut into passages: 2 = a lead-in keeps its list, initials ("Ben E.
    # King") and whole-word abbreviations do not end a sentence.
    "passages": 2,
}


def term_hash(term: str) -> int:
    """A stable 64-bit hash of a term (Python's own hash() changes between runs)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def term_hashes(terms: list[str]) -> np.ndarray:
    """`term_hash` of many terms at once, as uint64: the same values, in half the time.

    The digests are joined and read as one array, not turned into Python ints one by
    one and stored element by element (a build hashes millions of terms).
    """
    start = hashlib.blake2b(digest_size=8)  # copying a set-up state: a third cheaper
    digests = []
    for term in terms:
        h = start.copy()
        h.update(term.encode("utf-8"))
        digests.append(h.digest())
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


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

    def save(self, hashes_path: Path, numbers_path: Path) -> None:
        """Writes the sorted hashes and their numbers as two .npy files."""
        np.save(hashes_path, self._hashes)
        np.save(numbers_path, self._columns)

    @classmethod
    def load(cls, hashes_path: Path, numbers_path: Path, size: int) -> StringTable:
        """Memory-maps a table `save` wrote, checking it holds `size` strings.

        Raises:
            IndexCorrupt: A file is missing, damaged or of another size.
        """
        hashes = _load_array(hashes_path)
        numbers = _load_array(numbers_path)
        if hashes.shape != (size,) or numbers.shape != (size,) or hashes.dtype != np.uint64:
            raise IndexCorrupt(f"{hashes_path} does not match the manifest. {REBUILD}")
        return cls(hashes, numbers)

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


# The passages are most of an index's bytes (their text, with its id, document and
# section). Each is compressed alone (zstd), so a reply reads only the passages it
# shows, with a dictionary trained on a sample of the corpus: a passage of a few hundred
# bytes has too little text to compress well by itself (1.65x on the generated
# benchmark text, 2.72x with the dictionary; 2-3 us to decompress one, 5-10 us to
# compress one).
PASSAGES = "passages.zst"
PASSAGE_DICTIONARY = "passages.dict"
_DICTIONARY_SIZE = 112_640  # zstd's default
_DICTIONARY_SAMPLES = 5_000  # lines, evenly spaced: a deterministic sample
_DICTIONARY_MIN_BYTES = 1 << 20  # less text than this: no dictionary, and little to save
# zstd's fastCover trainer with its segment size (k) and d-mer size (d) given. Left to
# itself it tries many values of k and keeps the best, 5x the time (0.21-0.23 CPU-s
# instead of 0.045 for 5,000 passages, at any corpus size) for no better dictionary:
# with k=256, passages.zst came out 0.4-0.6% smaller than with the k it chose on the
# generated 10k and 100k text, npl and med, 0.1% smaller on cisi and 0.1% larger on
# cran (bench/README.md).
_DICTIONARY_K, _DICTIONARY_D = 256, 8
_LEVEL = 3


_DECODER = json.JSONDecoder()


class LineFile:
    """JSON lines, each compressed alone (a zstd frame), read on demand by number.

    Parsing a million JSON lines at start-up would take seconds; the file is
    memory-mapped instead, and the handful of lines a reply shows are found through
    the table of offsets and decompressed in microseconds.
    """

    def __init__(self, path: Path, offsets: np.ndarray, dictionary: bytes = b"") -> None:
        self._path = path
        self._offsets = offsets
        self._dictionary = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
        self._local = threading.local()  # a decompressor must not serve two threads at once
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._data: bytes | mmap.mmap = (
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )

    @classmethod
    def load(cls, path: Path, offsets_path: Path, lines: int) -> LineFile:
        """Opens a file `write_lines` wrote without a dictionary, holding `lines` lines.

        Raises:
            IndexCorrupt: Either file is missing, damaged or of another length.
        """
        offsets = _load_array(offsets_path)
        if offsets.shape != (lines + 1,) or (
            not path.exists() or path.stat().st_size != int(offsets[-1])
        ):
            raise IndexCorrupt(f"{path} does not match the manifest. {REBUILD}")
        return cls(path, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def line(self, number: int) -> bytes:
        """Line `number`, decompressed; IndexCorrupt naming the file if it is damaged."""
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = zstandard.ZstdDecompressor(dict_data=self._dictionary)
            self._local.decompressor = decompressor
        frame = self._data[int(self._offsets[number]) : int(self._offsets[number + 1])]
        try:
            return bytes(decompressor.decompress(frame))
        except zstandard.ZstdError as exc:
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {REBUILD}") from None

    def lines(self, start: int, end: int) -> list[bytes]:
        """Lines start..end-1, decompressed (a rebuild reusing them writes them again)."""
        return [self.line(number) for number in range(start, end)]

    def parse(self, number: int) -> Any:
        """Line `number`, parsed; IndexCorrupt naming the file if it is not JSON."""
        try:
            # The decoder on the decoded text: json.loads on bytes first guesses their
            # encoding (UTF-16, UTF-32), a third of its time on a passage's line; a line
            # is always UTF-8 (a reply reads 10 lines: 27 -> 18 us).
            return _DECODER.decode(self.line(number).decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError included
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {REBUILD}") from None


def write_lines(
    path: Path, offsets_path: Path, lines: list[bytes], dictionary: bytes = b""
) -> None:
    """Writes lines, each as its own zstd frame, and where each starts (and the file ends)."""
    compress = compressor(dictionary).compress
    frames = [compress(line) for line in lines]
    path.write_bytes(b"".join(frames))
    offsets = np.zeros(len(frames) + 1, dtype=np.int64)
    np.cumsum([len(frame) for frame in frames], out=offsets[1:])
    np.save(offsets_path, offsets)


def compressor(dictionary: bytes) -> zstandard.ZstdCompressor:
    """The compressor of every stored frame: level 3, with the passages' dictionary if any."""
    if not dictionary:
        return zstandard.ZstdCompressor(level=_LEVEL)
    return zstandard.ZstdCompressor(
        level=_LEVEL, dict_data=zstandard.ZstdCompressionDict(dictionary)
    )


def dictionary_sample(lines: int) -> range:
    """The positions of the passages a dictionary is trained on: every n-th of `lines`.

    Evenly spaced, so the same passages give the same dictionary (an incremental build
    writes the same bytes as a full one), and a streaming build, which knows the count
    only at the end, picks the same ones.
    """
    return range(0, lines, max(1, lines // _DICTIONARY_SAMPLES))


def train_on(sample: list[bytes]) -> bytes:
    """A zstd dictionary trained on the `dictionary_sample` lines; b"" if too little text."""
    if sum(map(len, sample)) < _DICTIONARY_MIN_BYTES:
        return b""
    try:
        samples: list[bytes | bytearray | memoryview] = list(sample)
        trained = zstandard.train_dictionary(
            _DICTIONARY_SIZE, samples, k=_DICTIONARY_K, d=_DICTIONARY_D
        )
        return bytes(trained.as_bytes())
    except zstandard.ZstdError:  # text too uniform or too short to train on
        return b""


def dump_json(path: Path, value: Any) -> None:
    """Writes a JSON value as one zstd frame (`load_json` reads it back)."""
    # json.dumps, not json.dump: only the one-shot call uses the C encoder (10x faster).
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.write_bytes(compressor(b"").compress(text))


class PassageStore(LineFile):
    """The passages of passages.zst, indexed by position, decompressed on demand."""

    def __getitem__(self, position: int) -> Passage:
        try:
            row = self.parse(position)
            return Passage(row["id"], row["doc"], row["section"], row["text"], position)
        except (KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {REBUILD}") from None

    def __iter__(self) -> Iterator[Passage]:
        for position in range(len(self)):
            yield self[position]


# json.dumps(value, ensure_ascii=False) makes a new encoder on every call; a build
# writes a line per passage (a tenth of reading a .jsonl file). Same bytes.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False)
# The string encoder that one uses (C): a passage's four strings put into the line's
# fixed frame directly cost 40% less than encoding a dict of them. The same bytes.
_quoted = json.encoder.encode_basestring


def passage_line(passage: Passage) -> bytes:
    """A passage as one JSON line; its position in the index is the line's number.

    The line `json.dumps` gives (ensure_ascii=False) of {"id", "doc", "section",
    "text"}, in that order (tests/test_index_store.py).
    """
    line = (
        f'{{"id": {_quoted(passage.id)}, "doc": {_quoted(passage.doc)}, '
        f'"section": {_quoted(passage.section)}, "text": {_quoted(passage.text)}}}\n'
    )
    return line.encode("utf-8")


def file_words_to_line(words: Mapping[str, int]) -> bytes:
    """One corpus file's surface word counts as its line of filewords.zst."""
    return _LINE_ENCODER.encode(words).encode("utf-8") + b"\n"


@dataclass(frozen=True, eq=False)
class SparseArrays:
    """A loaded compressed sparse matrix: its three memory-mapped arrays and its shape.

    Questions only slice these arrays (a term's postings, a passage's row), so the
    answer path has no use for a scipy matrix, and importing scipy.sparse cost 0.1-0.35 s
    of a one-shot `python -m bot ask` (its array-API layer imports numpy.f2py).
    `to_scipy` gives the matrix to code that wants scipy's operations.

    Attributes:
        layout: "csc" (a term's passages are contiguous: the inverted index) or "csr"
            (a passage's terms are contiguous).
        data: The stored values.
        indices: Row (csc) or column (csr) of each value, int32.
        indptr: Where each column (csc) or row (csr) starts in `data`, and its end; int64.
        shape: (passages, terms).
    """

    layout: Literal["csc", "csr"]
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        """How many values are stored (postings, for the weights)."""
        return int(self.data.shape[0])

    def to_scipy(self) -> Any:
        """The same matrix as scipy's csc_matrix or csr_matrix, sharing the arrays."""
        import scipy.sparse as sp

        kind = sp.csc_matrix if self.layout == "csc" else sp.csr_matrix
        # The (data, indices, indptr) constructor would re-check the contents and copy
        # indptr to the smallest index type, reading every page of a memory-mapped file.
        # An empty matrix of the right shape costs one zeroed indptr; its three arrays
        # (public attributes) are then replaced by the mapped ones, checked at load.
        matrix = kind(self.shape, dtype=self.data.dtype)
        matrix.data, matrix.indices, matrix.indptr = self.data, self.indices, self.indptr
        return matrix


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per load
class Index:
    """A loaded index: everything retrieval needs, read-only.

    Attributes:
        path: The build folder it was loaded from.
        manifest: The parsed manifest.json.
        vocabulary: Term -> column (a `StringTable`, or a dict for an index whose hash
            table could not be written).
        idf: idf per column.
        postings: Raw term counts, passage x term, CSC so a question's columns are cheap.
        norms: Each passage's BM25 length norm (see `bot.index.weighting.length_norm`).
        coded_norms: The norms as (codes, table), table[codes] == norms
            (`bot.scoring.norm_codes`), for the compiled scoring loop.
        passages: Passage store indexed by position.
        k1: The k1 the weights were built with.
        passage_ids: Passage id -> position, or None for an index written without one.
        checked: False for a build written before manifests held checksums: its files
            could not be checked, so a build reuses nothing from it.
    """

    path: Path
    manifest: dict[str, Any]
    vocabulary: StringTable | dict[str, int]
    idf: np.ndarray
    postings: SparseArrays
    norms: np.ndarray
    coded_norms: tuple[np.ndarray, np.ndarray]
    passages: PassageStore
    k1: float
    passage_ids: StringTable | None = None
    checked: bool = True

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
    def words(self) -> dict[str, int]:
        """Surface word -> corpus count, for typo repair; read on first use.

        Only a question with a word the index lacks needs it, and making the dict of
        737,215 words took a third of loading a million-passage index. `load` has
        checked that the two files agree.
        """
        from bot.index.reader import _load_words  # the reader imports this module

        return _load_words(self.path)

    @cached_property
    def counts(self) -> SparseArrays:
        """The postings turned passage-major (CSR), for rebuilds that reuse rows.

        Made on first use (a second or two at a million passages, and a copy in
        memory): only a build reusing this index's unchanged files needs it.
        """
        matrix = self.postings.to_scipy().tocsr()
        indices = matrix.indices.astype(np.int32, copy=False)
        indptr = matrix.indptr.astype(np.int64, copy=False)
        return SparseArrays("csr", matrix.data, indices, indptr, self.postings.shape)

    @cached_property
    def terms(self) -> list[str]:
        """Column -> term, read from vocabulary.json.zst on first use (rebuilds, tests)."""
        from bot.index.reader import _load_terms  # the reader imports this module

        return _load_terms(self.path, int(self.manifest["terms"]))

    @property
    def build_id(self) -> str:
        """The build folder's name, which changes with every build."""
        return self.path.name

    @cached_property
    def _file_words(self) -> LineFile:
        return LineFile.load(
            self.path / "filewords.zst",
            self.path / "filewords.offsets.npy",
            len(self.manifest["files"]),
        )

    def check_rebuild_data(self) -> None:
        """Checks every byte of every file, and reads what only rebuilds use, now.

        A build reuses passages and counts of this index: damage anywhere in it must
        mean a full build, never damage copied forward. Questions never touch the
        term list and per-file words, so damage to them shows only here.

        Raises:
            IndexCorrupt: One of them is missing or damaged.
        """
        from bot.index.reader import check_files  # the reader imports this module

        check_files(self.path, self.manifest, full=True)
        # Load leaves passage numbers to the questions that read them; a rebuild reads
        # them all, so it checks them all (after the full hash, they are in memory).
        indices = self.postings.indices
        if indices.size and not 0 <= int(indices.min()) <= int(indices.max()) < self.norms.size:
            raise IndexCorrupt(f"{self.path / 'postings.indices.npy'} is damaged. {REBUILD}")
        self.terms  # noqa: B018
        self._file_words  # noqa: B018

    def file_words_line(self, number: int) -> bytes:
        """The filewords line of the number-th corpus file (`file_words_to_line`)."""
        return self._file_words.line(number)

    def file_words_of(self, number: int) -> dict[str, int]:
        """Surface word counts of the number-th corpus file of the manifest."""
        value = self._file_words.parse(number)
        if not isinstance(value, dict):
            raise IndexCorrupt(f"{self.path / 'filewords.zst'} is damaged. {REBUILD}")
        return value

    @cached_property
    def max_idf(self) -> float:
        """The idf an unseen word would get: the most informative value there is.

        Worked out once (an import and a call: 1 us, asked by every answer and for
        each unknown word).
        """
        from bot.index.weighting import smoothed_idf

        return float(smoothed_idf(self.manifest["passages"], 0.0))


# ---------------------------------------------------------------------------- low-level reads


def _load_text(path: Path) -> str:
    """An index text file, or IndexCorrupt naming it and the fix."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {REBUILD}") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {REBUILD}") from None


def _load_json(path: Path, kind: type) -> Any:
    try:
        value = json.loads(_load_text(path))
    except ValueError as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {REBUILD}") from None
    if not isinstance(value, kind):
        raise IndexCorrupt(f"{path} holds the wrong kind of data. {REBUILD}")
    return value


def _load_array(path: Path) -> np.ndarray:
    try:
        # A plain ndarray view of the mapping: slicing an np.memmap builds a new memmap
        # object each time, which made scoring a few columns cost more than summing them.
        return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {REBUILD}") from None
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty .npy
        raise IndexCorrupt(f"{path} is damaged ({exc or 'empty'}). {REBUILD}") from None


def _ends_hash(handle: BinaryIO, size: int) -> str:
    """SHA-256 of a file's first and last `_ENDS` bytes: where damage usually shows."""
    handle.seek(0)
    head = handle.read(_ENDS)
    handle.seek(max(0, size - _ENDS))
    return hashlib.sha256(head + handle.read(_ENDS)).hexdigest()
