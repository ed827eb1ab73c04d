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
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import scipy.sparse as sp

_local = threading.local()  # each thread's accumulator: questions run in worker threads
F = TypeVar("F", bound=Callable[..., Any])


def _compiled(function: F) -> F:
    """Compiles a function with numba, caching the machine code where it can be written.

    nogil: the Telegram bot answers in several threads, and the loops need no Python
    objects, so they run truly in parallel. numba refuses to cache when neither the
    package folder nor the user's cache folder is writable; the functions are then
    compiled afresh in each process (a second or two on the first question).
    """
    try:
        return cast(F, numba.njit(cache=True, nogil=True)(function))
    except RuntimeError:
        return cast(F, numba.njit(nogil=True)(function))


@_compiled
def _accumulate(starts, ends, indices, data, weights, scores, touched):
    """Adds weight x value of postings `starts[j]:ends[j]` of each question term j.

    Returns how many passages it touched, listed in `touched`.

    Sums are float32, like the stored weights: half the memory traffic of float64 on
    an accumulator that is read at random. Every stored value is positive (idf > 0 and
    tf > 0), so a zero score marks a passage not yet touched.
    """
    count = 0
    for j in range(starts.size):
        weight = weights[j]
        for p in range(starts[j], ends[j]):
            passage = indices[p]
            value = scores[passage]
            touched[count] = passage
            count += value == 0.0
            scores[passage] = value + data[p] * weight
    return count


@_compiled
def _kth_largest(values, k):
    """The k-th largest of `values` (k <= size): one pass with a min-heap of k values."""
    heap = values[:k].copy()
    # Heapify: sift every parent down, the last first.
    for start in range(k // 2 - 1, -1, -1):
        _sift_down(heap, start, k)
    for i in range(k, values.size):
        if values[i] > heap[0]:
            heap[0] = values[i]
            _sift_down(heap, 0, k)
    return heap[0]


@_compiled
def _sift_down(heap, i, size):
    while True:
        smallest = i
        left, right = 2 * i + 1, 2 * i + 2
        if left < size and heap[left] < heap[smallest]:
            smallest = left
        if right < size and heap[right] < heap[smallest]:
            smallest = right
        if smallest == i:
            return
        heap[i], heap[smallest] = heap[smallest], heap[i]
        i = smallest


@_compiled
def _collect(scores, touched, count, k):
    """The touched passages scoring at least the k-th best, with their scores.

    Leaves every score at zero again, ready for the next call. When a large share of
    the passages was touched, one sequential pass over the whole accumulator is
    cheaper than visiting the touched ones at random.
    """
    dense = 4 * count > scores.size
    kth = -1.0  # k or fewer touched: every one is wanted
    if count > k:
        if dense:
            # The k best of all passages are touched ones: more than k scores are > 0.
            kth = _kth_largest(scores, k)
        else:
            values = np.empty(count, dtype=scores.dtype)
            for i in range(count):
                values[i] = scores[touched[i]]
            kth = _kth_largest(values, k)
    chosen = 0
    for i in range(count):
        if scores[touched[i]] >= kth:
            chosen += 1
    positions = np.empty(chosen, dtype=np.int64)
    best = np.empty(chosen, dtype=scores.dtype)
    j = 0
    for i in range(count):
        passage = touched[i]
        if scores[passage] >= kth:
            positions[j] = passage
            best[j] = scores[passage]
            j += 1
        if not dense:
            scores[passage] = 0.0
    if dense:
        scores[:] = 0.0
    return positions, best


# Below this many postings a question is scored in one thread: handing half of it to
# another thread costs some tens of microseconds, more than it saves.
SPLIT_POSTINGS = 100_000
_helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scoring")
_helper_free = threading.Semaphore(1)


def top_candidates(
    matrix: sp.csc_matrix, columns: np.ndarray, weights: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every passage scoring at least the k-th best score for these weighted columns.

    A question with many postings is split in two by passage range, each half scored
    in its own thread (the loops release the GIL), when the helper thread is free and
    the machine has a second CPU: the slowest questions at a million passages take
    about half the time. Each half returns its own best; the k best overall, and all
    ties with the k-th, are among them, and the rest are dropped.

    Args:
        matrix: The passage x term weights in CSC form (a column lists a term's
            passages in order).
        columns: The question's term columns.
        weights: The question's weight for each column.
        k: How many best passages are wanted; ties with the k-th are all returned.

    Returns:
        (passage positions, their scores), in no particular order; empty when no
        passage holds any of the terms.
    """
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    columns = np.asarray(columns, dtype=np.int64)
    starts = np.asarray(indptr[columns], dtype=np.int64)
    ends = np.asarray(indptr[columns + 1], dtype=np.int64)
    weights = weights.astype(np.float32)
    k = max(k, 1)
    sizes = ends - starts
    total = int(sizes.sum())
    if (
        total == 0
        or total < SPLIT_POSTINGS
        or (os.cpu_count() or 1) < 2
        or not _helper_free.acquire(blocking=False)
    ):
        return _score(indices, data, starts, ends, weights, matrix.shape[0], total, k)
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
        first = _helper.submit(
            _score, indices, data, starts, cuts, weights, matrix.shape[0], low, k
        )
        positions, best = _score(
            indices, data, cuts, ends, weights, matrix.shape[0], total - low, k
        )
        other_positions, other_best = first.result()
    finally:
        _helper_free.release()
    positions = np.concatenate([other_positions, positions])
    best = np.concatenate([other_best, best])
    if best.size > k:  # each half kept its own k best: keep those of both together
        keep = best >= np.partition(best, best.size - k)[best.size - k]
        positions, best = positions[keep], best[keep]
    return positions, best


def _score(
    indices: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    weights: np.ndarray,
    n_passages: int,
    total: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Accumulates the given postings in this thread's buffers and collects the best."""
    scores = getattr(_local, "scores", None)
    if scores is None or scores.size != n_passages:
        scores = _local.scores = np.zeros(n_passages, dtype=np.float32)
    # Reused, like the accumulator: a fresh array of a million entries costs a page
    # fault per 4 KB on first write, a tenth of a millisecond per question.
    touched = getattr(_local, "touched", None)
    if touched is None or touched.size < total:
        touched = _local.touched = np.empty(max(total, 1024), dtype=np.int32)
    count = _accumulate(starts, ends, indices, data, weights, scores, touched)
    return _collect(scores, touched, count, k)
