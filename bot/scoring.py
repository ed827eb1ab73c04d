"""Summing a question's matrix columns: one compiled pass over their postings.

A question's common words have postings in a large share of a big corpus (a tenth of a
million passages each is usual), so scoring is a loop over up to a million postings.
numpy can only do that in several whole-array passes (a scatter-add per term, then a
scan of every passage for the nonzero ones, then a partition): about 20 ms a question
at 1,000,000 passages. The loop below, compiled by numba, touches each posting once and
remembers which passages it touched, so picking the best ones costs nothing per
untouched passage: the cost grows with the postings, not the corpus.

numba compiles the functions on first use and caches the machine code beside this file
(`__pycache__`), so only the first question after installation waits for the compiler.
Importing numba and loading that cached code still cost about a second in a fresh
process (0.4 s import, 0.55 s loading), which a one-shot `python -m bot ask` would pay
for a question with a handful of postings. So until the compiled loop is loaded, a
question with fewer than `COLD_POSTINGS` postings is summed with numpy, column by
column, in the same float32 order as the loop (the same scores to the bit): numpy's
sort-based sum costs tens of milliseconds at a million postings, far less than loading
numba. The console and the Telegram bot call `warm_up` in the background at start, and
from then on every question takes the compiled loop; any other process loads it at the
first question after numpy has spent a tenth of a second summing (`NUMPY_SECONDS`).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from typing import Any, Protocol

import numpy as np


class Columns(Protocol):
    """A passage x term matrix in CSC form: `bot.index.SparseArrays`, or scipy's csc_matrix."""

    @property
    def data(self) -> np.ndarray:
        """The term counts, column after column."""
        ...

    @property
    def indices(self) -> np.ndarray:
        """The passage of each weight; a column's passages in increasing order."""
        ...

    @property
    def indptr(self) -> np.ndarray:
        """Where each column starts in `data`, and the end."""
        ...

    @property
    def shape(self) -> tuple[int, int]:
        """(passages, terms)."""
        ...


class DamagedPostings(ValueError):
    """The postings point outside their own arrays: a damaged index file.

    Attributes:
        array: Which of the matrix's arrays is wrong: "indices" (a passage number out
            of range) or "indptr" (a column's start or end).
    """

    def __init__(self, array: str, problem: str) -> None:
        super().__init__(problem)
        self.array = array


_local = threading.local()  # each thread's accumulator: questions run in worker threads

# Until the compiled loop is loaded, questions with fewer postings than this are summed
# with numpy: below it numpy costs less than loading numba (about a second).
COLD_POSTINGS = 1_000_000
# Indexes with this many postings in all are worth warming up for: their common words'
# questions reach tens of thousands of postings, where the loop is 10x numpy.
WARM_POSTINGS = 1_000_000

_kernels_lock = threading.Lock()
_kernels: Any = None  # the compiled functions (bot._kernels), loaded on first need


def compiled() -> Any:
    """The compiled kernels module, imported (and its machine code loaded) once."""
    global _kernels
    if _kernels is None:
        with _kernels_lock:
            if _kernels is None:
                from bot import _kernels as kernels

                _kernels = kernels
    return _kernels


def warm_up() -> None:
    """Loads the compiled loop and runs it once, so no question waits for it.

    For long-running front ends, in a background thread: a one-shot command never
    needs it for a small corpus.
    """
    _helper.submit(int).result()  # its thread, started now, inherits this one's signal mask
    kernels = compiled()
    _score_compiled(  # one column holding both of two passages
        kernels,
        np.array([0, 1], dtype=np.int32),
        np.ones(2, dtype=np.uint8),
        np.ones(2, dtype=np.float32),
        norm_codes(np.ones(2, dtype=np.float32)),
        np.array([0]),
        np.array([2]),
        np.ones(1, np.float32),
        2,
        1,
    )


# Below this many postings a question is scored in one thread. Handing half of it to
# another thread costs tens of microseconds when a CPU is idle, and far more when other
# processes hold the CPUs (waking the helper, then waiting for it): at a million
# passages with the 2-CPU machine's load average near 3, splitting questions of 100,000
# postings and up made the median question 0.2 ms slower (1.05 against 0.84 ms), 400,000
# and up 0.05 ms; none, the fastest. So only the largest questions are split, and only
# while the load average leaves a CPU free (`_cpu_free`). From a million postings: at
# 1M passages, in the benchmark's own stream of questions, splitting those of 400,000+
# never paid: they score in 0.7-0.9 ms, and even repeated alone (caches warm, the
# helper just woken) two halves at once took 0.59 ms against 0.71 for the whole, not
# half. One process per setting, taking turns (whole answer path, bench/README.md),
# their mean: other CPU idle (load 1.0), 1.21-1.23 ms split against 1.20-1.23 not;
# partly busy (load 1.4-1.8), 1.39-1.88 against 1.19-1.27, and the p99 of all
# questions 0.2-0.5 ms higher in three rounds of four. At ten million passages the common
# questions have millions of postings, and splitting them pays (p50 8.5 against 12.9 ms).
SPLIT_POSTINGS = 1_000_000
_CPUS = os.cpu_count() or 1  # asked once: it reads /sys, 20 us a call


def _cpu_free() -> bool:
    """Whether the machine seems to have a CPU to spare: load average below CPUs - 0.5.

    This process, answering, counts about 1 of it. Asked only for questions large
    enough to split (a few us).
    """
    return os.getloadavg()[0] < _CPUS - 0.5


# The compiled loop tries to skip the commonest columns' postings (`_kernels.accumulate`)
# only while this many remain (for fewer, the check costs more than it can save), and
# skips them only when the passages that could still reach the k best, times the
# columns left, are fewer than 1 in PRUNE_RATIO of those postings (see the kernel).
PRUNE_POSTINGS = 50_000
PRUNE_RATIO = 12

_helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scoring")
_helper_free = threading.Semaphore(1)


def norm_codes(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The norms as small codes into a table of their distinct values: (codes, table).

    table[codes] equals `norms` to the bit, and the compiled loop reads a passage's
    norm that way (see `_kernels.accumulate` for why). A norm depends only on its
    passage's length in words, and a passage holds at most `passages.MAX_CHARS`
    characters, so a built index has a few hundred distinct norms at most: the codes
    are uint8 for up to 256 of them, else uint16. The table is padded with zeros to
    every value of the codes' type, so that any code, even from a damaged file, reads
    inside it; more than 65,536 distinct norms (never from a build) get uint32 codes
    and a table of just that size.
    """
    values = np.asarray(norms, dtype=np.float32).ravel()
    # np.unique, by hand: np.unique imports numpy.ma (15 ms of a one-shot ask). A sort,
    # then a binary search of the few distinct values: twice as fast as an argsort.
    ordered = np.sort(values)
    first = np.ones(values.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    distinct = ordered[first]
    dtype: type[np.unsignedinteger[Any]] = np.uint32
    size = distinct.size
    for small in (np.uint8, np.uint16):
        if distinct.size <= np.iinfo(small).max + 1:
            dtype, size = small, np.iinfo(small).max + 1
            break
    table = np.zeros(size, dtype=np.float32)
    table[: distinct.size] = distinct
    return np.searchsorted(distinct, values).astype(dtype), table


def top_candidates(
    matrix: Columns,
    norms: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    k: int,
    coded: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every passage scoring at least the k-th best score for these weighted columns.

    A question with many postings is split in two by passage range, each half scored
    in its own thread (the loops release the GIL), when the helper thread is free and
    the machine has a CPU to spare: the slowest questions at a million passages take
    about half the time. Each half returns its own best; the k best overall, and all
    ties with the k-th, are among them, and the rest are dropped. If the helper has not
    started its half by the time this thread has done its own (the other CPU was busy
    after all), this thread does that half too: waiting for the helper made the split
    questions slower than not splitting (at 1M, in one process, split or not for each
    question, best of 3: p99 of the answer path 2.02 against 1.76 ms; now 1.68-1.78
    against 1.71-1.77).

    A posting with count tf in passage p scores weights[j] * tf / (tf + norms[p]):
    BM25's saturated tf when weights[j] is idf * (k1 + 1) times the question's weight.

    Args:
        matrix: The passage x term counts in CSC form (a column lists a term's
            passages in order); any integer or float type.
        norms: Each passage's length norm, float32 (`weighting.length_norm`).
        columns: The question's term columns.
        weights: The question's weight for each column, idf and (k1 + 1) included.
        k: How many best passages are wanted; ties with the k-th are all returned.
        coded: `norm_codes(norms)`, as the index stores them; made here if not given
            (a sort of all the norms: an index's caller passes its own).

    Returns:
        (passage positions, their scores), in no particular order; empty when no
        passage holds any of the terms.

    Raises:
        DamagedPostings: A column pointer or a posting's passage is out of range.
    """
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    weights = np.asarray(weights, dtype=np.float32)
    columns = np.asarray(columns, dtype=np.int64)
    # Summed in decreasing weight (ties by column), whatever the question's order: the
    # order the pruning loop needs (`_kernels.accumulate`), kept by every path, so a
    # passage's float32 sum is the same to the bit whichever path makes it.
    order = np.lexsort((columns, -weights))
    columns, weights = columns[order], weights[order]
    starts = np.asarray(indptr[columns], dtype=np.int64)
    ends = np.asarray(indptr[columns + 1], dtype=np.int64)
    k = max(k, 1)
    # The column pointers are read from the mapped file unchecked (`load` checks only
    # the last); a damaged one must not send the loop outside the postings.
    nnz = indices.shape[0]
    if not all(0 <= s <= e <= nnz for s, e in zip(starts.tolist(), ends.tolist(), strict=True)):
        raise DamagedPostings("indptr", f"a column's postings lie outside the {nnz} stored")
    sizes = ends - starts
    total = int(sizes.sum())
    if coded is None and total and not _numpy_for(total):
        coded = norm_codes(norms)
    if (
        total == 0
        or total < SPLIT_POSTINGS
        or _numpy_for(total)  # numpy's path has no halves to split
        or _CPUS < 2
        or not _cpu_free()
        or not _helper_free.acquire(blocking=False)
    ):
        return _score(indices, data, norms, coded, starts, ends, weights, total, k)
    try:
        # Cut at the passage where the longest term's postings are half done: postings
        # of all terms then split about evenly.
        longest = int(np.argmax(sizes))
        middle = indices[starts[longest] + sizes[longest] // 2]
        cuts = np.array(
            [
                start + int(np.searchsorted(indices[start:end], middle))
                for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
            ],
            dtype=np.int64,
        )
        low = int((cuts - starts).sum())
        # Both halves add into this thread's scores: they touch disjoint passages, and
        # the helper's own accumulator, used only by the few split questions, was cold
        # by the next one, and 4 MB more per million passages. In place at 1M with the
        # other CPU idle, the 400,000+ postings questions' mean: split with their own
        # 1.57-1.83 ms, not split 1.28-1.36; split sharing 1.21-1.23, not 1.20-1.23
        # (bench/README.md).
        shared = _accumulator(norms.size)
        lower = (indices, data, norms, coded, starts, cuts, weights, low, k, shared)
        first = _helper.submit(_score, *lower)
        positions, best = _score(
            indices, data, norms, coded, cuts, ends, weights, total - low, k, shared
        )
        if first.cancel():  # the helper has not started (no CPU for it): do its half here
            other_positions, other_best = _score(*lower)
        else:
            other_positions, other_best = first.result()
    finally:
        _helper_free.release()
    positions = np.concatenate([other_positions, positions])
    best = np.concatenate([other_best, best])
    return _at_least_kth(positions, best, k)  # each half kept its own k best


def listed(matrix: Columns, columns: np.ndarray, passages: np.ndarray) -> np.ndarray:
    """Which of the passages each column lists: found[j, i] for columns[j], passages[i].

    For the few hits of a question (which of its terms each holds): a binary search
    of each column's postings, in the compiled loop's module once it is loaded.
    Columns must be in range (`top_candidates` has checked the question's).
    """
    indptr, indices = matrix.indptr, matrix.indices
    columns = np.asarray(columns, dtype=np.int64)
    starts = np.asarray(indptr[columns], dtype=np.int64)
    ends = np.asarray(indptr[columns + 1], dtype=np.int64)
    # In the postings' own type: int64 numbers made numpy copy each column to compare.
    wanted = np.asarray(passages).astype(indices.dtype)
    if _kernels is not None:
        found: np.ndarray = _kernels.listed(starts, ends, indices, wanted)
        return found
    found = np.zeros((columns.size, wanted.size), dtype=bool)
    for j, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        column = indices[start:end]
        if column.size:
            at = np.minimum(np.searchsorted(column, wanted), column.size - 1)
            found[j] = column[at] == wanted
    return found


def _score(
    indices: np.ndarray,
    data: np.ndarray,
    norms: np.ndarray,
    coded: tuple[np.ndarray, np.ndarray] | None,
    starts: np.ndarray,
    ends: np.ndarray,
    weights: np.ndarray,
    total: int,
    k: int,
    scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores the given postings with the compiled loop, or numpy until it is loaded."""
    if _numpy_for(total) or coded is None:  # None: the loop was loaded since the check
        started = time.perf_counter()
        result = _score_numpy(indices, data, norms, starts, ends, weights, k)
        _count_numpy(time.perf_counter() - started)
        return result
    return _score_compiled(
        compiled(), indices, data, norms, coded, starts, ends, weights, total, k, scores
    )


# Seconds of numpy summing after which the compiled loop is loaded, by the question
# that crosses the line (it waits about a second, once). A one-shot question never
# spends that much; a long session (`ask -`, a library caller, a front end that skipped
# `warm_up`) would otherwise pay numpy's price, ten times the loop's, on every question
# with many postings: at a million passages every question stays under COLD_POSTINGS.
# Small, so that few questions pay it (at 1M, five or so of 15-30 ms each); loading in
# a background thread instead let numpy answer another second's worth meanwhile.
NUMPY_SECONDS = 0.1
_numpy_spent = 0.0


def _count_numpy(seconds: float) -> None:
    """Adds numpy summing time; past NUMPY_SECONDS, loads the compiled loop."""
    global _numpy_spent
    _numpy_spent += seconds  # racing threads may lose an addition: harmless
    if _numpy_spent >= NUMPY_SECONDS:
        compiled()


def _numpy_for(total: int) -> bool:
    """Whether `total` postings are summed with numpy rather than the compiled loop.

    True while the loop is not loaded and loading it would cost more than numpy does
    (`COLD_POSTINGS`).
    """
    return _kernels is None and total < COLD_POSTINGS


def _score_numpy(
    indices: np.ndarray,
    data: np.ndarray,
    norms: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    weights: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The compiled loop's result, in numpy: the touched passages, summed term by term.

    Each column lists a passage at most once, so one fancy-index add per term sums it
    in float32 with the loop's operations in the loop's order, and the scores equal
    the loop's to the bit.
    """
    parts = [indices[start:end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]
    if not parts or sum(part.size for part in parts) == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    # np.unique, sorted by hand: np.unique imports numpy.ma (15 ms of a one-shot ask).
    positions = np.sort(np.concatenate(parts)).astype(np.int64)
    if positions[0] < 0 or positions[-1] >= norms.size:
        raise DamagedPostings("indices", _OUT_OF_RANGE.format(norms.size))
    first = np.ones(positions.size, dtype=bool)
    np.not_equal(positions[1:], positions[:-1], out=first[1:])
    positions = positions[first]
    best = np.zeros(positions.size, dtype=np.float32)
    for part, start, end, weight in zip(
        parts, starts.tolist(), ends.tolist(), weights, strict=True
    ):
        tf = data[start:end].astype(np.float32)
        best[np.searchsorted(positions, part)] += weight * tf / (tf + norms[part])
    return _at_least_kth(positions, best, k)


def _score_compiled(
    kernels: Any,
    indices: np.ndarray,
    data: np.ndarray,
    norms: np.ndarray,
    coded: tuple[np.ndarray, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    weights: np.ndarray,
    total: int,
    k: int,
    scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Accumulates the given postings in this thread's buffers and collects the best."""
    n_passages = norms.size
    if scores is None:
        scores = _accumulator(n_passages)
    # Reused, like the accumulator: a fresh array of a million entries costs a page
    # fault per 4 KB on first write, a tenth of a millisecond per question.
    touched = getattr(_local, "touched", None)
    if touched is None or touched.size < total:
        touched = _local.touched = np.empty(max(total, 1024), dtype=np.int32)
    codes, table = coded
    count = kernels.accumulate(
        starts,
        ends,
        indices,
        data,
        codes,
        table,
        weights,
        scores,
        touched,
        k,
        PRUNE_POSTINGS,
        PRUNE_RATIO,
    )
    if count < 0:
        raise DamagedPostings("indices", _OUT_OF_RANGE.format(n_passages))
    return kernels.collect(scores, touched, count, k)


def _accumulator(size: int) -> np.ndarray:
    """This thread's scores, all zero between questions."""
    scores = getattr(_local, "scores", None)
    if scores is None or scores.size != size:
        scores = _local.scores = np.zeros(size, dtype=np.float32)
    return scores


_OUT_OF_RANGE = "a posting names a passage beyond the {} there are"


def _at_least_kth(positions: np.ndarray, best: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The candidates scoring at least the k-th best score (ties with it all kept)."""
    if best.size > k:
        keep = best >= np.partition(best, best.size - k)[best.size - k]
        positions, best = positions[keep], best[keep]
    return positions, best
