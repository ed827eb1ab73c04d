"""The on-disk format of an index: writing a build folder and loading it back.

Layout of the index folder (plain data only; loading an index never runs code)::

    index/
      CURRENT                 name of the live build folder, swapped with os.replace
      build-<time>-<id>/
        manifest.json         format version, library versions, analyzer parameters,
                              corpus files (size, mtime, sha256), counts, build time, and
                              every other file's size, SHA-256 and hash of its first and
                              last 64 KiB ("checksums"; see `check_files`)
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

A build writes a fresh build folder, fsyncs it, then replaces CURRENT in one os.replace
call, so a reader sees the old index or the new one, never half of one. The previous build is kept
(a reader may still be reading it) and older ones are removed.

The writer (`write`) and the reader (`load`) live in this one module, so that a change
to the format is made in one place; `StringTable` and `LineFile` carry their own save
and load side by side.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np

from bot import analysis
from bot import passages as passages_mod
from bot.index.errors import REBUILD, IndexCorrupt, IndexNotFound, IndexProblem
from bot.passages import Passage

if TYPE_CHECKING:  # scipy only at build time: importing scipy.sparse costs 0.1-0.35 s
    import scipy.sparse as sp

    from bot.index.weighting import Weights

FORMAT_VERSION = 2  # 2: words.txt + words.counts.npy replace words.json
CURRENT = "CURRENT"
_ENDS = 64 * 1024  # bytes hashed at each end of a build file on every load
# Everything that shapes passages and terms; an index built with other values is stale.
ANALYZER = {
    "name": "nfkc-casefold-stop-snowball-en",
    "bigrams": True,
    "version": 2,
    "stop_words": len(analysis.STOP_WORDS),
    "max_words": passages_mod.MAX_WORDS,
    "max_bullet_words": passages_mod.MAX_BULLET_WORDS,
    "max_chars": passages_mod.MAX_CHARS,
}


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


class LineFile:
    """A JSON Lines file read on demand through its table of line offsets.

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

    @classmethod
    def load(cls, path: Path, offsets_path: Path, lines: int) -> LineFile:
        """Opens a file `write_lines` wrote, checking it holds `lines` lines.

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

    @property
    def offsets(self) -> np.ndarray:
        """Byte offset of each line, and the file's length last."""
        return self._offsets

    def raw(self, start: int, end: int) -> bytes:
        """The bytes of lines start..end-1, as stored."""
        return bytes(self._data[int(self._offsets[start]) : int(self._offsets[end])])

    def parse(self, number: int) -> Any:
        """Line `number`, parsed; IndexCorrupt naming the file if it is not JSON."""
        try:
            return json.loads(self.raw(number, number + 1))
        except ValueError as exc:
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {REBUILD}") from None


def write_lines(path: Path, offsets_path: Path, lines: list[bytes]) -> None:
    """Writes JSON Lines and the table of where each line starts (and the file ends)."""
    path.write_bytes(b"".join(lines))
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum([len(line) for line in lines], out=offsets[1:])
    np.save(offsets_path, offsets)


class PassageStore(LineFile):
    """The passages of passages.jsonl, indexed by position, read on demand."""

    def __getitem__(self, position: int) -> Passage:
        try:
            row = self.parse(position)
            return Passage(row["id"], row["doc"], row["section"], row["text"], position)
        except (KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{self._path} is damaged ({exc}). {REBUILD}") from None

    def __iter__(self) -> Iterator[Passage]:
        for position in range(len(self)):
            yield self[position]


def passage_line(passage: Passage) -> bytes:
    """A passage as one passages.jsonl line; its position is the line's number."""
    row = {"id": passage.id, "doc": passage.doc, "section": passage.section, "text": passage.text}
    return json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"


def file_words_to_line(words: Mapping[str, int]) -> bytes:
    """One corpus file's surface word counts as its filewords.jsonl line."""
    return json.dumps(words, ensure_ascii=False).encode("utf-8") + b"\n"


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
        weights: BM25-weighted passage x term matrix, CSC so a question's columns are cheap.
        counts: Raw term counts (passage x term, CSR); a hit's terms, incremental rebuilds.
        words: Surface word -> corpus count, for typo repair.
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
    weights: SparseArrays
    counts: SparseArrays
    words: dict[str, int]
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
    def terms(self) -> list[str]:
        """Column -> term, read from vocabulary.json on first use (rebuilds, tests)."""
        return _load_terms(self.path, int(self.manifest["terms"]))

    @property
    def build_id(self) -> str:
        """The build folder's name, which changes with every build."""
        return self.path.name

    @cached_property
    def _file_words(self) -> LineFile:
        return LineFile.load(
            self.path / "filewords.jsonl",
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
        check_files(self.path, self.manifest, full=True)
        self.terms  # noqa: B018
        self._file_words  # noqa: B018

    def file_words_line(self, number: int) -> bytes:
        """The filewords.jsonl line of the number-th corpus file, as stored."""
        return self._file_words.raw(number, number + 1)

    def file_words_of(self, number: int) -> dict[str, int]:
        """Surface word counts of the number-th corpus file of the manifest."""
        value = self._file_words.parse(number)
        if not isinstance(value, dict):
            raise IndexCorrupt(f"{self.path / 'filewords.jsonl'} is damaged. {REBUILD}")
        return value

    @property
    def max_idf(self) -> float:
        """The idf an unseen word would get: the most informative value there is."""
        from bot.index.weighting import smoothed_idf

        return float(smoothed_idf(self.manifest["passages"], 0.0))


# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Collection:
    """The whole corpus as one collection, ready to weight and write.

    Attributes:
        lines: passages.jsonl lines, in corpus order; a passage's position is its line.
        counts: passage x term raw counts, CSR.
        terms: The term of each column, sorted.
        term_hashes: `term_hash` of each term.
        id_hashes: `term_hash` of each passage's id.
        words: Surface word counts of the whole corpus, sorted by word.
        file_words_lines: Each corpus file's filewords.jsonl line, in manifest order.
    """

    lines: list[bytes]
    counts: sp.csr_matrix
    terms: list[str]
    term_hashes: np.ndarray
    id_hashes: np.ndarray
    words: Mapping[str, int]
    file_words_lines: list[bytes]


def write(
    index_dir: Path, manifest: dict[str, Any], collection: Collection, weighted: Weights
) -> Path:
    """Writes a build folder beside the live one, then points CURRENT at it atomically.

    Every file is fsynced before CURRENT names the build, and the folders after each
    rename: after a power cut CURRENT names a complete build (the new one or the old),
    never one whose files the disk had not yet written.
    """
    name = f"build-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        _write_files(tmp, manifest, collection, weighted)
        final = index_dir / name
        os.replace(tmp, final)
        _fsync_folder(index_dir)
        try:
            previous = current_build(index_dir).name
        except IndexProblem:
            previous = ""
        pointer = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_folder(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The previous build stays: a reader may have read CURRENT just before the swap.
    _remove_old_builds(index_dir, keep={name, previous})
    return final


def _write_files(
    folder: Path, manifest: dict[str, Any], collection: Collection, weighted: Weights
) -> None:
    """Writes every file of a build folder, the manifest last."""
    write_lines(folder / "passages.jsonl", folder / "passages.offsets.npy", collection.lines)
    _dump_json(folder / "vocabulary.json", collection.terms)
    table = StringTable.of_hashes(collection.term_hashes)
    if table is not None:
        table.save(folder / "vocabulary.hashes.npy", folder / "vocabulary.columns.npy")
    ids = StringTable.of_hashes(collection.id_hashes)
    if ids is not None:
        ids.save(folder / "passages.ids.hashes.npy", folder / "passages.ids.positions.npy")
    # Split and zipped at load: a tenth of the time of parsing a JSON object of the
    # same words (0.8 s for the 737,215 words of a million passages).
    words = collection.words
    (folder / "words.txt").write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    np.save(folder / "words.counts.npy", np.fromiter(words.values(), np.int64, len(words)))
    write_lines(
        folder / "filewords.jsonl", folder / "filewords.offsets.npy", collection.file_words_lines
    )
    np.save(folder / "idf.npy", weighted.idf)
    for prefix, matrix in (("weights", weighted.weights), ("counts", collection.counts)):
        np.save(folder / f"{prefix}.data.npy", matrix.data)
        np.save(folder / f"{prefix}.indices.npy", matrix.indices.astype(np.int32))
        np.save(folder / f"{prefix}.indptr.npy", matrix.indptr.astype(np.int64))
    # The manifest goes last: a folder without one is never taken for an index. It
    # holds every other file's checksums, taken as the files are fsynced.
    checksums = {path.name: _checksum(path) for path in sorted(folder.iterdir())}
    _dump_json(folder / "manifest.json", {**manifest, "checksums": checksums})
    _fsync(folder / "manifest.json")
    _fsync_folder(folder)


def _dump_json(path: Path, value: Any) -> None:
    # json.dumps, not json.dump: only the one-shot call uses the C encoder (10x faster).
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _checksum(path: Path) -> dict[str, Any]:
    """A build file's size, hash of its ends and hash of all of it; fsyncs it on the way.

    The file was just written, so reading it back comes from the page cache (about
    1 GB/s of SHA-256 here: a second for the files of a million-passage index).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
        os.fsync(handle.fileno())
        size = handle.tell()
        ends = _ends_hash(handle, size)
    return {"size": size, "ends": ends, "sha256": digest.hexdigest()}


def _ends_hash(handle: BinaryIO, size: int) -> str:
    """SHA-256 of a file's first and last `_ENDS` bytes: where damage usually shows."""
    handle.seek(0)
    head = handle.read(_ENDS)
    handle.seek(max(0, size - _ENDS))
    return hashlib.sha256(head + handle.read(_ENDS)).hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Makes a folder's entries (a rename into it, a new file) durable."""
    _fsync(folder)


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    for path in index_dir.iterdir():
        if path.name.startswith(("build-", ".tmp-build-")) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


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
        raise IndexCorrupt(f"{index_dir / CURRENT} is unreadable ({exc}). {REBUILD}") from None
    if not name or "/" in name or not name.startswith("build-"):
        raise IndexCorrupt(f"{index_dir / CURRENT} does not name a build. {REBUILD}")
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
            f"{REBUILD}"
        )
    return manifest


def check_files(build_dir: Path, manifest: Mapping[str, Any], full: bool = False) -> bool:
    """Checks a build's files against the checksums its manifest records.

    Each file's size and the hash of its first and last 64 KiB are checked: that
    finds an emptied, truncated or extended file and a damaged .npy header (dtype,
    shape), reading 128 KiB a file. `full` also hashes every byte (a flipped byte
    anywhere): a build does that before it reuses anything from the previous index.

    Returns:
        False for a build written before checksums existed (format 2 all the same: it
        loads unchecked rather than demanding a rebuild); True once checked.

    Raises:
        IndexCorrupt: A file is missing or differs from what the build wrote; names it.
    """
    checksums = manifest.get("checksums")
    if checksums is None:
        return False
    if not isinstance(checksums, dict):
        raise IndexCorrupt(f"{build_dir / 'manifest.json'} is damaged. {REBUILD}")
    for name, expected in checksums.items():
        _check_file(build_dir, name, expected, full)
    return True


def _check_file(build_dir: Path, name: str, expected: Any, full: bool) -> None:
    path = build_dir / name
    if "/" in name or name.startswith(".") or not isinstance(expected, dict):
        raise IndexCorrupt(f"{build_dir / 'manifest.json'} is damaged. {REBUILD}")
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != expected.get("size"):
                raise IndexCorrupt(
                    f"{path} is damaged: {size} bytes, the build wrote {expected.get('size')}. "
                    f"{REBUILD}"
                )
            same = _ends_hash(handle, size) == expected.get("ends")
            if same and full:
                handle.seek(0)
                same = hashlib.file_digest(handle, "sha256").hexdigest() == expected.get("sha256")
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {REBUILD}") from None
    except OSError as exc:
        raise IndexCorrupt(f"{path} is unreadable ({exc.strerror or exc}). {REBUILD}") from None
    if not same:
        raise IndexCorrupt(f"{path} is damaged: its bytes changed after the build. {REBUILD}")


def load(index_dir: Path, full_check: bool = False) -> Index:
    """Loads the current index, memory-mapping its arrays and checking every file.

    Args:
        index_dir: The index folder.
        full_check: Hash every byte of every file, not only sizes and ends (see
            `check_files`).

    Raises:
        IndexNotFound: Nothing built yet.
        IndexCorrupt: A file is missing, truncated or inconsistent; names the file.
    """
    build_dir = current_build(index_dir)
    manifest = read_manifest(build_dir)
    checked = check_files(build_dir, manifest, full_check)
    try:
        index = _load_checked(build_dir, manifest)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # Files that match their checksums but not each other: a damaged manifest.
        raise IndexCorrupt(f"{build_dir} is inconsistent ({exc!r}). {REBUILD}") from None
    return dataclasses.replace(index, checked=checked)


def _load_checked(build_dir: Path, manifest: dict[str, Any]) -> Index:
    n, v = int(manifest["passages"]), int(manifest["terms"])
    words = _load_words(build_dir)
    idf = _load_array(build_dir / "idf.npy")
    offsets = _load_array(build_dir / "passages.offsets.npy")
    weights = _load_matrix(build_dir, "weights", "csc", (n, v))
    counts = _load_matrix(build_dir, "counts", "csr", (n, v))
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
            raise IndexCorrupt(f"{build_dir / name} does not match the manifest. {REBUILD}")
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
        _load_passage_ids(build_dir, n),
    )


def _load_words(build_dir: Path) -> dict[str, int]:
    """Surface word -> corpus count, from words.txt and words.counts.npy."""
    path = build_dir / "words.txt"
    names = _load_text(path).split("\n")
    counts = _load_array(build_dir / "words.counts.npy")
    if names.pop() != "" or counts.shape != (len(names),):
        raise IndexCorrupt(f"{path} does not match words.counts.npy. {REBUILD}")
    return dict(zip(names, counts.tolist(), strict=True))


def _load_terms(build_dir: Path, size: int) -> list[str]:
    """Column -> term, from vocabulary.json."""
    path = build_dir / "vocabulary.json"
    terms: list[str] = _load_json(path, list)
    if len(terms) != size:
        raise IndexCorrupt(f"{path} does not match the manifest. {REBUILD}")
    return terms


def _load_vocabulary(build_dir: Path, size: int) -> StringTable | dict[str, int]:
    """The memory-mapped term table, or a dict from vocabulary.json if there is none."""
    if not (build_dir / "vocabulary.hashes.npy").exists():
        return {term: column for column, term in enumerate(_load_terms(build_dir, size))}
    return StringTable.load(
        build_dir / "vocabulary.hashes.npy", build_dir / "vocabulary.columns.npy", size
    )


def _load_passage_ids(build_dir: Path, size: int) -> StringTable | None:
    """The passage-id table, or None for an index written without one (a collision)."""
    hashes_path = build_dir / "passages.ids.hashes.npy"
    if not hashes_path.exists():
        return None
    return StringTable.load(hashes_path, build_dir / "passages.ids.positions.npy", size)


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


def _load_matrix(
    build_dir: Path, prefix: str, layout: Literal["csc", "csr"], shape: tuple[int, int]
) -> SparseArrays:
    """A CSC or CSR matrix (`layout`) from its three .npy files, left memory-mapped."""
    data = _load_array(build_dir / f"{prefix}.data.npy")
    indices = _load_array(build_dir / f"{prefix}.indices.npy")
    indptr = _load_array(build_dir / f"{prefix}.indptr.npy")
    major = shape[1] if layout == "csc" else shape[0]
    minor = shape[0] if layout == "csc" else shape[1]
    valid = (
        indptr.shape == (major + 1,)
        and data.shape == indices.shape
        and int(indptr[-1]) == data.shape[0]
        and (indices.size == 0 or int(indices.max()) < minor)
    )
    if not valid:
        raise IndexCorrupt(f"{build_dir / prefix}.*.npy do not match the manifest. {REBUILD}")
    return SparseArrays(layout, data, indices, indptr, shape)
