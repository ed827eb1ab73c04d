"""A build whose memory does not grow with the corpus: parts spilled to disk, then merged.

An in-memory build holds every passage, count and term of the corpus at once (6.5 GB
at a million passages), so ten million would not fit. `StreamWriter` takes one file's
part at a time, in corpus order, and writes what it can at once:

- passages.jsonl, filewords.jsonl and the raw counts (`counts.data.npy`, and the
  counts' columns, still numbered in the part's own vocabulary) are appended as the
  parts arrive;
- each part's vocabulary (sorted) and its counts by term (CSC: a term's passages in
  order) go to a "run" in a spill folder, as external sorting does.

`finish` then merges the runs' vocabularies with a k-way merge into vocabulary.json
(the sorted union, as in memory), renumbers each part's columns in place, and writes
the BM25 weights one block of terms at a time: each run gives the block its postings,
in passage order. Memory holds a block and a few numbers per term and passage, not
the postings. The files are byte for byte those of an in-memory build
(tests/test_stream.py).
"""

from __future__ import annotations

import heapq
import itertools
import json
import shutil
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.sparse as sp

from bot.index.parts import FilePart
from bot.index.stale import FileInfo
from bot.index.store import Index, StringTable, term_hashes
from bot.index.weighting import length_norm, smoothed_idf
from bot.index.writer import write_words

# Postings weighted at once: a block of terms holds about this many (a term with more
# is a block of its own). 32M postings take about 0.6 GB of working arrays.
BLOCK = 32 * 1024 * 1024
# New terms written to vocabulary.json at once.
_BATCH = 1 << 16


@dataclass(frozen=True)
class _Run:
    """One part's spilled counts: its vocabulary and its counts by term (CSC)."""

    prefix: Path
    terms: int


class StreamWriter:
    """Writes a build folder from file parts given one at a time, in corpus order."""

    def __init__(self, folder: Path, previous: Index | None = None) -> None:
        self.folder = folder
        self.previous = previous
        self.spill = folder / "spill"
        self.spill.mkdir()
        self.files: list[tuple[FileInfo, int]] = []
        self.words: Counter[str] = Counter()
        self._passages = open(folder / "passages.jsonl", "wb")  # noqa: SIM115 - closed in finish
        self._filewords = open(folder / "filewords.jsonl", "wb")  # noqa: SIM115
        self._data = _NpyAppender(folder / "counts.data.npy", np.float32)
        self._indices = _NpyAppender(folder / "counts.indices.npy", np.int32)
        self._line_lengths: list[np.ndarray] = []
        self._fileword_lengths: list[int] = []
        self._row_lengths: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._runs: list[_Run] = []
        self._previous_hashes: np.ndarray | None = None
        self.passages = 0

    def add(self, part: FilePart) -> None:
        """Writes one file's passages and counts out; keeps a few numbers per passage."""
        if part.reused:
            part = self._own(part)
        assert part.term_hashes is not None
        lines = part.lines
        self._passages.write(b"".join(lines))
        self._line_lengths.append(np.fromiter(map(len, lines), np.int64, len(lines)))
        self._filewords.write(part.words_line)
        self._fileword_lengths.append(len(part.words_line))
        self.words.update(part.words)
        self._ids.append(np.asarray(part.id_hashes, dtype=np.uint64))
        counts = part.counts
        rows = np.diff(counts.indptr)
        self._row_lengths.append(rows)
        # Words per passage, as `weighting.passage_lengths` counts them (bigrams left out).
        is_word = np.fromiter((" " not in t for t in part.terms), bool, len(part.terms))
        self._lengths.append(
            np.bincount(
                np.repeat(np.arange(len(lines)), rows),
                weights=counts.data * is_word[counts.indices],
                minlength=len(lines),
            )
        )
        self._data.append(np.asarray(counts.data, dtype=np.float32))
        self._indices.append(np.asarray(counts.indices, dtype=np.int32))
        if part.terms:
            prefix = self.spill / f"run-{len(self._runs):06d}"
            with open(f"{prefix}.terms", "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(f"{term}\n" for term in part.terms)
            np.save(f"{prefix}.hashes.npy", part.term_hashes)
            by_term = counts.tocsc()  # each term's passages in order
            np.save(f"{prefix}.indptr.npy", by_term.indptr.astype(np.int64))
            (by_term.indices.astype(np.int32) + np.int32(self.passages)).tofile(f"{prefix}.rows")
            by_term.data.astype(np.float32).tofile(f"{prefix}.tf")
            self._runs.append(_Run(prefix, len(part.terms)))
        self.files.append((part.info, len(lines)))
        self.passages += len(lines)

    def _own(self, part: FilePart) -> FilePart:
        """A part cut out of the previous index, with a vocabulary of its own terms only.

        Its rows use the previous index's columns; a run holds the part's own sorted
        terms, so they are renumbered (in the same order: a row's order is kept).
        """
        assert self.previous is not None
        if self._previous_hashes is None:
            vocabulary = self.previous.vocabulary
            self._previous_hashes = (
                vocabulary.hashes_by_number()
                if isinstance(vocabulary, StringTable)
                else term_hashes(self.previous.terms)
            )
        counts = part.counts
        used = np.unique(counts.indices)
        terms = self.previous.terms
        own = sp.csr_matrix(
            (counts.data, np.searchsorted(used, counts.indices).astype(np.int32), counts.indptr),
            shape=(counts.shape[0], len(used)),
        )
        words = json.loads(part.words_line)
        return FilePart(
            part.info,
            part.lines,
            own,
            [terms[c] for c in used.tolist()],
            words,
            part.id_hashes,
            part.words_line,
            term_hashes=self._previous_hashes[used],
        )

    def finish(self, k1: float, b: float) -> int:
        """Writes every remaining file but the manifest; returns the number of terms.

        Nothing is written past the vocabulary when it is empty (the build then stops).
        """
        self._passages.close()
        self._filewords.close()
        _save_offsets(self.folder / "passages.offsets.npy", self._line_lengths)
        _save_offsets(self.folder / "filewords.offsets.npy", [np.array(self._fileword_lengths)])
        ids = StringTable.of_hashes(_concat(self._ids, np.uint64))
        if ids is not None:
            ids.save(
                self.folder / "passages.ids.hashes.npy", self.folder / "passages.ids.positions.npy"
            )
        write_words(self.folder, {w: n for w, n in sorted(self.words.items()) if n > 0})
        self.words.clear()
        mappings, hashes = _merge_vocabularies(self._runs, self.folder / "vocabulary.json")
        if len(hashes) == 0:
            self.close()
            return 0
        table = StringTable.of_hashes(hashes)
        if table is not None:
            table.save(
                self.folder / "vocabulary.hashes.npy", self.folder / "vocabulary.columns.npy"
            )
        df = self._renumber_counts(mappings, len(hashes))
        self.close()
        lengths = _concat(self._lengths, np.float64)
        idf = smoothed_idf(self.passages, df)
        np.save(self.folder / "idf.npy", idf.astype(np.float32))
        _write_weights(self.folder, self._runs, mappings, df, idf, length_norm(lengths, k1, b), k1)
        shutil.rmtree(self.spill)
        return len(hashes)

    def _renumber_counts(self, mappings: list[np.ndarray], terms: int) -> np.ndarray:
        """Puts the counts' columns in the merged vocabulary; returns each term's df."""
        row_lengths = _concat(self._row_lengths, np.int64)
        indptr = np.zeros(len(row_lengths) + 1, dtype=np.int64)
        np.cumsum(row_lengths, out=indptr[1:])
        np.save(self.folder / "counts.indptr.npy", indptr)
        df = np.zeros(terms, dtype=np.int64)
        start = 0
        runs = iter(mappings)
        for rows in self._row_lengths:
            size = int(rows.sum())
            if size == 0:
                continue
            mapping = next(runs)
            local = self._indices.read(start, size)
            df[mapping] += np.bincount(local, minlength=len(mapping))
            self._indices.write(start, mapping[local])
            start += size
        return df.astype(np.float64)

    def close(self) -> None:
        """Closes the files still being written (`finish` does; a failed build must)."""
        for handle in (self._passages, self._filewords, self._data, self._indices):
            handle.close()


def _merge_vocabularies(runs: list[_Run], path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Merges the runs' sorted vocabularies into vocabulary.json (k-way, streamed).

    Returns:
        Each run's local -> merged column, and the merged terms' hashes.
    """
    columns = [array("i") for _ in runs]
    appenders = [c.append for c in columns]
    sources = [zip(_terms(run), itertools.repeat(n)) for n, run in enumerate(runs)]
    batch: list[str] = []
    column = -1
    last = None
    with open(path, "wb") as out:
        out.write(b"[")
        for term, n in heapq.merge(*sources):
            if term != last:
                if len(batch) == _BATCH:
                    _write_terms(out, batch, first=column < _BATCH)
                    batch = []
                column += 1
                last = term
                batch.append(term)
            appenders[n](column)
        if batch:
            _write_terms(out, batch, first=column < len(batch))
        out.write(b"]")
    mappings = [np.frombuffer(c, dtype=np.intc).astype(np.int32) for c in columns]
    hashes = np.zeros(column + 1, dtype=np.uint64)
    for run, mapping in zip(runs, mappings, strict=True):
        hashes[mapping] = np.load(f"{run.prefix}.hashes.npy")
    return mappings, hashes


def _terms(run: _Run) -> Iterator[str]:
    with open(f"{run.prefix}.terms", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line[:-1]


def _write_terms(out: IO[bytes], terms: list[str], first: bool) -> None:
    """Appends terms to a JSON list being written, as one json.dumps of the list writes them."""
    text = json.dumps(terms, ensure_ascii=False, separators=(",", ":"))[1:-1]
    out.write((b"" if first else b",") + text.encode("utf-8"))


def _write_weights(
    folder: Path,
    runs: list[_Run],
    mappings: list[np.ndarray],
    df: np.ndarray,
    idf: np.ndarray,
    norm: np.ndarray,
    k1: float,
) -> None:
    """weights.*.npy (CSC), a block of terms at a time, from the runs' counts by term.

    The weights are computed as `weighting.saturated_tf_idf` computes them, in the same
    order of operations, so they are the same bits.
    """
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df.astype(np.int64), out=indptr[1:])
    np.save(folder / "weights.indptr.npy", indptr)
    data = _NpyAppender(folder / "weights.data.npy", np.float32)
    rows_out = _NpyAppender(folder / "weights.indices.npy", np.int32)
    for c0, c1 in _blocks(indptr):
        base = int(indptr[c0])
        size = int(indptr[c1]) - base
        rows = np.empty(size, dtype=np.int32)
        tf = np.empty(size, dtype=np.float32)
        cursor = indptr[c0:c1] - base
        for run, mapping in zip(runs, mappings, strict=True):
            l0, l1 = np.searchsorted(mapping, [c0, c1])
            if l1 == l0:
                continue
            ptr = _read(f"{run.prefix}.indptr.npy", np.int64, int(l0), int(l1 - l0 + 1), npy=True)
            e0, e1 = int(ptr[0]), int(ptr[-1])
            sizes = np.diff(ptr)
            g = mapping[l0:l1] - c0
            starts = cursor[g]
            cursor[g] += sizes
            at = np.repeat(starts - (ptr[:-1] - e0), sizes) + np.arange(e1 - e0)
            rows[at] = _read(f"{run.prefix}.rows", np.int32, e0, e1 - e0)
            tf[at] = _read(f"{run.prefix}.tf", np.float32, e0, e1 - e0)
        tf64 = tf.astype(np.float64)
        denominator = norm[rows]
        denominator += tf64
        weights = np.repeat(idf[c0:c1], np.diff(indptr[c0 : c1 + 1]))
        weights *= tf64
        weights *= k1 + 1.0
        weights /= denominator
        data.append(weights.astype(np.float32))
        rows_out.append(rows)
    data.close()
    rows_out.close()


def _blocks(indptr: np.ndarray) -> Iterator[tuple[int, int]]:
    """Ranges of columns holding about `BLOCK` postings each (at least one column)."""
    terms = len(indptr) - 1
    c0 = 0
    while c0 < terms:
        c1 = int(np.searchsorted(indptr, indptr[c0] + BLOCK, side="right")) - 1
        c1 = min(max(c1, c0 + 1), terms)
        yield c0, c1
        c0 = c1


def _read(path: str, dtype: type, start: int, count: int, npy: bool = False) -> np.ndarray:
    """`count` values from value `start` of a raw file (or an .npy file's data), read, not mapped.

    Memory-mapped pages would count toward the build's resident memory until unmapped.
    """
    with open(path, "rb") as handle:
        offset = 0
        if npy:
            np.lib.format.read_magic(handle)
            np.lib.format.read_array_header_1_0(handle)
            offset = handle.tell()
        handle.seek(offset + start * np.dtype(dtype).itemsize)
        return np.fromfile(handle, dtype=dtype, count=count)


class _NpyAppender:
    """A 1-D .npy file written as values come: np.save's exact bytes, without the array.

    The header is written for length 0 and rewritten at the end (numpy pads headers so
    that the length can grow in place).
    """

    def __init__(self, path: Path, dtype: type) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.size = 0
        self._file = open(path, "w+b")  # noqa: SIM115 - closed in close
        self._header()
        self._start = self._file.tell()

    def _header(self) -> None:
        self._file.seek(0)
        np.lib.format.write_array_header_1_0(
            self._file,
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (self.size,),
            },
        )

    def append(self, values: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.size += len(values)

    def read(self, start: int, count: int) -> np.ndarray:
        self._file.seek(self._start + start * self.dtype.itemsize)
        return np.fromfile(self._file, dtype=self.dtype, count=count)

    def write(self, start: int, values: np.ndarray) -> None:
        self._file.seek(self._start + start * self.dtype.itemsize)
        self._file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())

    def close(self) -> None:
        if self._file.closed:
            return
        self._header()
        if self._file.tell() != self._start:
            raise RuntimeError(f"{self.path}: the .npy header changed size")
        self._file.close()


def _save_offsets(path: Path, lengths: list[np.ndarray]) -> None:
    """Where each line starts, and the file's length last (as `store.write_lines` saves)."""
    sizes = _concat(lengths, np.int64)
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    np.save(path, offsets)


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype), *arrays]).astype(dtype)
