"""A build whose memory does not grow with the corpus: parts spilled to disk, then merged.

An in-memory build holds every passage, count and term of the corpus at once (6.5 GB
at a million passages), so ten million would not fit. `StreamWriter` takes one file's
part at a time, in corpus order, and writes what it can at once:

- filewords.zst (a zstd frame per file) is written as the parts arrive, and the
  passages' JSON lines are appended to a spill file: their dictionary is trained on
  every n-th passage (`store.dictionary_sample`), and n is known only at the end;
- each part's vocabulary (sorted, the terms it uses: pruned bigrams left out) and its
  counts by term (CSC: a term's passages in order) go to a "run" in the spill folder,
  as external sorting does.

`finish` then trains the dictionary on the spilled passages' sample and compresses
them one frame each into passages.zst, merges the runs' vocabularies with a k-way merge
(the sorted union, as in memory) into vocabulary.json.zst, and writes the postings
(raw counts, CSC) one block of terms at a time: each run gives the block its postings,
in passage order. Memory holds a block and a few numbers per term and passage, not the
postings. The files are byte for byte those of an in-memory build (tests/test_stream.py).
"""

from __future__ import annotations

import heapq
import itertools
import json
import mmap
import shutil
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from bot.index.parts import FilePart
from bot.index.stale import FileInfo
from bot.index.store import (
    PASSAGE_DICTIONARY,
    PASSAGES,
    Index,
    StringTable,
    compressor,
    dictionary_sample,
    term_hashes,
    train_on,
)
from bot.index.weighting import count_dtype, length_norm, smoothed_idf
from bot.index.writer import write_norms, write_words

# Postings written at once: a block of terms holds about this many (a term with more
# is a block of its own).
BLOCK = 32 * 1024 * 1024
# New terms written to the vocabulary at once.
_BATCH = 1 << 16
# Spilled passages read at once while compressing them.
_READ_BYTES = 1 << 22


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
        self._passages = open(self.spill / "passages.jsonl", "wb")  # noqa: SIM115 - closed in finish
        self._filewords = open(folder / "filewords.zst", "wb")  # noqa: SIM115
        self._compress = compressor(b"").compress
        self._line_lengths: list[np.ndarray] = []
        self._fileword_lengths: list[int] = []
        self._lengths: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._runs: list[_Run] = []
        self._previous_hashes: np.ndarray | None = None
        self._largest = 0.0
        self.passages = 0

    def add(self, part: FilePart) -> None:
        """Writes one file's passages and counts out; keeps a few numbers per passage."""
        counts, terms, hashes = self._used(part)
        words = json.loads(part.words_line) if part.reused else part.words
        lines = part.lines
        self._passages.write(b"".join(lines))
        self._line_lengths.append(np.fromiter(map(len, lines), np.int64, len(lines)))
        frame = self._compress(part.words_line)
        self._filewords.write(frame)
        self._fileword_lengths.append(len(frame))
        self.words.update(words)
        self._ids.append(np.asarray(part.id_hashes, dtype=np.uint64))
        rows = np.diff(counts.indptr)
        # Words per passage, as `weighting.passage_lengths` counts them (bigrams left out).
        is_word = np.fromiter((" " not in t for t in terms), bool, len(terms))
        self._lengths.append(
            np.bincount(
                np.repeat(np.arange(len(lines)), rows),
                weights=counts.data * is_word[counts.indices],
                minlength=len(lines),
            )
        )
        if terms:
            self._largest = max(self._largest, float(counts.data.max()))
            prefix = self.spill / f"run-{len(self._runs):06d}"
            with open(f"{prefix}.terms", "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(f"{term}\n" for term in terms)
            np.save(f"{prefix}.hashes.npy", hashes)
            by_term = counts.tocsc()  # each term's passages in order
            np.save(f"{prefix}.indptr.npy", by_term.indptr.astype(np.int64))
            (by_term.indices.astype(np.int32) + np.int32(self.passages)).tofile(f"{prefix}.rows")
            by_term.data.astype(np.float32).tofile(f"{prefix}.tf")
            self._runs.append(_Run(prefix, len(terms)))
        self.files.append((part.info, len(lines)))
        self.passages += len(lines)

    def _used(self, part: FilePart) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
        """A part's counts over the terms it uses, those terms (sorted) and their hashes.

        A read part's columns still include the bigrams `prune_bigrams` emptied; a
        reused part's are the previous index's whole vocabulary. The in-memory
        assembly drops unused columns (`parts.merge_vocabularies`); so does this, and
        keeps the columns' order, so a row's order is kept.
        """
        counts = part.counts
        if part.reused:
            terms, hashes = self.previous_terms()
        else:
            terms = part.terms
            hashes = term_hashes(terms) if part.term_hashes is None else part.term_hashes
        mask = np.zeros(len(terms), dtype=bool)
        mask[counts.indices] = True
        if mask.all():
            return counts, terms, hashes
        used = np.flatnonzero(mask)
        column = np.cumsum(mask, dtype=np.int64) - 1
        own = sp.csr_matrix(
            (counts.data, column[counts.indices].astype(np.int32), counts.indptr),
            shape=(counts.shape[0], len(used)),
        )
        return own, [terms[c] for c in used.tolist()], hashes[used]

    def previous_terms(self) -> tuple[list[str], np.ndarray]:
        """The previous index's terms and their hashes (hashed once, if not stored)."""
        assert self.previous is not None
        if self._previous_hashes is None:
            vocabulary = self.previous.vocabulary
            self._previous_hashes = (
                vocabulary.hashes_by_number()
                if isinstance(vocabulary, StringTable)
                else term_hashes(self.previous.terms)
            )
        return self.previous.terms, self._previous_hashes

    def finish(self, k1: float, b: float) -> int:
        """Writes every remaining file but the manifest; returns the number of terms.

        Nothing is written past the vocabulary when it is empty (the build then stops).
        """
        self.close()
        _save_offsets(self.folder / "filewords.offsets.npy", [np.array(self._fileword_lengths)])
        self._write_passages()
        ids = StringTable.of_hashes(_concat(self._ids, np.uint64))
        if ids is not None:
            ids.save(
                self.folder / "passages.ids.hashes.npy", self.folder / "passages.ids.positions.npy"
            )
        write_words(self.folder, {w: n for w, n in sorted(self.words.items()) if n > 0})
        self.words.clear()
        mappings, hashes = _merge_vocabularies(self._runs, self.spill / "vocabulary.json")
        _compress_file(self.spill / "vocabulary.json", self.folder / "vocabulary.json.zst")
        if len(hashes) == 0:
            return 0
        table = StringTable.of_hashes(hashes)
        if table is not None:
            table.save(
                self.folder / "vocabulary.hashes.npy", self.folder / "vocabulary.columns.npy"
            )
        df = np.zeros(len(hashes), dtype=np.int64)
        for run, mapping in zip(self._runs, mappings, strict=True):
            df[mapping] += np.diff(np.load(f"{run.prefix}.indptr.npy"))
        lengths = _concat(self._lengths, np.float64)
        idf = smoothed_idf(self.passages, df.astype(np.float64))
        np.save(self.folder / "idf.npy", idf.astype(np.float32))
        write_norms(self.folder, length_norm(lengths, k1, b).astype(np.float32))
        _write_postings(self.folder, self._runs, mappings, df, count_dtype(self._largest))
        shutil.rmtree(self.spill)
        return len(hashes)

    def _write_passages(self) -> None:
        """passages.zst, its dictionary and offsets, from the spilled lines: two passes.

        The first reads the dictionary's sample (the same lines an in-memory build
        picks, `writer._write_files`), the second compresses every line with it, as
        `store.write_lines` does.
        """
        lengths = _concat(self._line_lengths, np.int64)
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        spilled = self.spill / "passages.jsonl"
        with open(spilled, "rb") as handle:
            sample = []
            for i in dictionary_sample(len(lengths)):
                handle.seek(int(starts[i]))
                sample.append(handle.read(int(lengths[i])))
        dictionary = train_on(sample)
        del sample
        (self.folder / PASSAGE_DICTIONARY).write_bytes(dictionary)
        compress = compressor(dictionary).compress
        frames = np.zeros(len(lengths), dtype=np.int64)
        with open(spilled, "rb") as source, open(self.folder / PASSAGES, "wb") as out:
            i = 0
            while i < len(lengths):
                # A batch of whole lines of about _READ_BYTES (at least one line).
                j = max(i + 1, int(np.searchsorted(starts, starts[i] + _READ_BYTES, "right")) - 1)
                j = min(j, len(lengths))
                chunk = source.read(int(starts[j] - starts[i]))
                base = int(starts[i])
                for k in range(i, j):
                    frame = compress(chunk[int(starts[k]) - base : int(starts[k + 1]) - base])
                    out.write(frame)
                    frames[k] = len(frame)
                i = j
        spilled.unlink()
        _save_offsets(self.folder / "passages.offsets.npy", [frames])

    def close(self) -> None:
        """Closes the files still being written (`finish` does; a failed build must)."""
        for handle in (self._passages, self._filewords):
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


def _write_postings(
    folder: Path, runs: list[_Run], mappings: list[np.ndarray], df: np.ndarray, dtype: np.dtype
) -> None:
    """postings.*.npy (CSC raw counts), a block of terms at a time, from the runs.

    As `weighting.bm25_weights` stores them: counts in `dtype` (`count_dtype` of the
    largest), each term's passages in order.
    """
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    np.save(folder / "postings.indptr.npy", indptr)
    data = _NpyAppender(folder / "postings.data.npy", dtype)
    rows_out = _NpyAppender(folder / "postings.indices.npy", np.int32)
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
        data.append(tf.astype(dtype))
        rows_out.append(rows)
    data.close()
    rows_out.close()


def _compress_file(source: Path, target: Path) -> None:
    """`target` is `source` as one zstd frame, the bytes `store.dump_json` writes.

    zstd's streaming API cuts other blocks than one call does (measured: other bytes),
    so the text is compressed in one call, from a memory-mapped file: its pages are
    the page cache's, which the kernel can take back, not the build's own memory.
    """
    with (
        open(source, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as text,
    ):
        target.write_bytes(compressor(b"").compress(memoryview(text)))
    source.unlink()


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

    def __init__(self, path: Path, dtype: npt.DTypeLike) -> None:
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
