"""The compiled scoring loops (numba), imported only when a question needs them.

Kept apart from `bot.scoring` because importing numba and loading the cached machine
code costs about a second: `bot.scoring` imports this module on the first question with
many postings (or in a front end's background warm-up), never at start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

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
def accumulate(starts, ends, indices, counts, norms, weights, scores, touched):
    """Adds the BM25 weight of postings `starts[j]:ends[j]` of each question term j.

    A posting's weight is weights[j] * tf / (tf + norms[passage]), where weights[j] is
    the question's weight for the term times its idf times (k1 + 1): the index stores
    counts, not weights (see `bot.index.weighting.Weights`). Returns how many passages
    it touched, listed in `touched`; or -1, with `scores` left clean, when a posting
    names a passage outside `scores`: a damaged postings file. `load` does not read
    the whole file to check that (at ten million passages it would read 3 GB), so
    each posting is checked where it is read, a comparison the branch predictor
    makes free; unchecked, it would read and write memory outside the arrays.

    Sums are float32, like the norms: half the memory traffic of float64 on arrays
    read at random. Every weight is positive (idf > 0 and tf > 0), so a zero score
    marks a passage not yet touched.
    """
    count = 0
    size = scores.size
    for j in range(starts.size):
        weight = weights[j]
        if count == 0:
            # Nothing touched yet: every passage of this column is new (a column lists
            # a passage once), so its score is written without reading the zero there
            # (0 + x is x to the bit): a tenth of the loop's time at the median question.
            for p in range(starts[j], ends[j]):
                passage = indices[p]
                if passage < 0 or passage >= size:
                    return _clear(scores, touched, count)
                tf = np.float32(counts[p])
                touched[count] = passage
                count += 1
                scores[passage] = weight * tf / (tf + norms[passage])
            continue
        for p in range(starts[j], ends[j]):
            passage = indices[p]
            if passage < 0 or passage >= size:
                return _clear(scores, touched, count)
            tf = np.float32(counts[p])
            value = scores[passage]
            touched[count] = passage
            count += value == 0.0
            scores[passage] = value + weight * tf / (tf + norms[passage])
    return count


@_compiled
def _clear(scores, touched, count):
    """Zeroes the touched scores (a damaged posting stopped the loop); returns -1."""
    for i in range(count):
        scores[touched[i]] = 0.0
    return -1


@_compiled
def listed(starts, ends, indices, passages):
    """Which of `passages` each column lists: found[j, i] for column j, passage i.

    A binary search of each column's postings (sorted by passage) per passage.
    """
    found = np.zeros((starts.size, passages.size), dtype=np.bool_)
    for j in range(starts.size):
        for i in range(passages.size):
            target = passages[i]
            low, high = starts[j], ends[j]
            while low < high:
                middle = (low + high) >> 1
                if indices[middle] < target:
                    low = middle + 1
                else:
                    high = middle
            found[j, i] = low < ends[j] and indices[low] == target
    return found


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
def collect(scores, touched, count, k):
    """The touched passages scoring at least the k-th best, with their scores.

    Sets every touched score back to zero, ready for the next call. The k-th best of
    every 8th touched score is at most the k-th best of all (any subset's is), so
    only scores at or above it are kept while the accumulator is read and cleared,
    about 8k of them; the k-th best is then found among those, and every tie with it
    is there. Cheaper than listing all the touched scores and selecting over them:
    0.37 against 0.44 ms for the loop at the median question of 1M passages.
    """
    low = -1.0  # k or fewer touched: every one is wanted
    if count > k:
        step = min(8, count // k)  # at least k in the sample
        sample = np.empty(count // step, dtype=scores.dtype)
        for i in range(sample.size):
            sample[i] = scores[touched[i * step]]
        low = _kth_largest(sample, k)
    kept_positions = np.empty(count, dtype=np.int64)  # only the kept part is written
    kept = np.empty(count, dtype=scores.dtype)
    size = 0
    for i in range(count):
        passage = touched[i]
        value = scores[passage]
        scores[passage] = 0.0
        if value >= low:
            kept_positions[size] = passage
            kept[size] = value
            size += 1
    kth = -1.0
    if size > k:
        kth = _kth_largest(kept[:size], k)
    chosen = 0
    for i in range(size):
        chosen += kept[i] >= kth
    positions = np.empty(chosen, dtype=np.int64)
    best = np.empty(chosen, dtype=scores.dtype)
    j = 0
    for i in range(size):
        if kept[i] >= kth:
            positions[j] = kept_positions[i]
            best[j] = kept[i]
            j += 1
    return positions, best
