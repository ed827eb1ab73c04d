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


# Bounds are compared with this margin: a float32 sum of a few dozen terms rounds up by
# a few parts in ten million at most, so a passage's sum can exceed its bound by that.
MARGIN = 1e-4
# The pruning's bound is sampled from the first this many touched passages and every 64th
# after them (`_sampled_bound`).
LEADS = 8192


@_compiled
def accumulate(
    starts, ends, indices, counts, codes, table, weights, scores, touched, k, least, ratio
):
    """Adds the BM25 weight of postings `starts[j]:ends[j]` of each question term j.

    A posting's weight is weights[j] * tf / (tf + norm), where weights[j] is the
    question's weight for the term times its idf times (k1 + 1): the index stores
    counts, not weights (see `bot.index.weighting.Weights`). The passage's norm is
    table[codes[passage]] (`bot.scoring.norm_codes`): a passage's norm depends only on
    its length in words, so there are a few hundred distinct norms at most, and their
    one- or two-byte codes take a quarter or half of the float32 norms' bytes, read at
    random once per posting. At a million passages the codes (1 MB) stay in the CPU's
    caches where the norms (4 MB) were pushed out by the scores, the postings and
    other processes: the whole answer path's median and 99th percentile are up to a
    fifth lower on a busy machine, a few percent on a quiet one (bench/README.md). The
    table holds every value a code's type can hold, so no code, even in a damaged
    file, reads outside it. Sums are float32, like the norms: half the memory traffic
    of float64 on arrays read at random. Every weight is positive (idf > 0 and tf >
    0), so a zero score marks a passage not yet touched.

    Returns how many passages are listed in `touched`: every passage that can be
    among the k best (the passages touched, or fewer, see below). Or -1, with `scores`
    left clean, when a posting names a passage outside `scores`: a damaged postings
    file. `load` does not read the whole file to check that (at ten million passages
    it would read 3 GB), so each posting is checked where it is read, a comparison
    the branch predictor makes free; unchecked, it would read and write memory
    outside the arrays.

    Exact dynamic pruning (MaxScore, term at a time): the columns come in decreasing
    weight (`bot.scoring` sorts them for every path, so a passage's sum is made in
    one order whichever path makes it). A posting adds less than its column's weight
    (tf / (tf + norm) < 1), so once the k-th best score of the passages touched so far
    exceeds the sum of the remaining columns' weights, no untouched passage can reach
    the k best: the remaining columns, the question's commonest words with most of its
    postings, are then added only to the touched passages that can still reach the
    k-th best, found by a galloping search of each column; the others' scores are
    cleared. Any passage that reaches the k-th best score gets every posting added,
    in the same order, so the k best and their scores are the same to the bit as
    without pruning. At a million passages, the questions of 300,000+ postings take
    0.74 ms on average instead of 1.09 (the loop and `collect`; bench/README.md).

    The switch is tried before a column while `least` or more postings remain, on a
    sample of the touched scores (`_sampled_bound`), and made only when the passages
    that could still reach the k-th best, times `ratio`, times the columns left (each
    is searched in each of them), are fewer than the postings left: otherwise adding
    whole columns is cheaper. (`least` 0 and `ratio` 0, for tests: before every
    column, and made whenever the bounds allow.)
    """
    n = starts.size
    rest = np.zeros(n + 1)  # the weights of columns j.. summed, float64
    left = np.zeros(n + 1, dtype=np.int64)  # their postings
    for j in range(n - 1, -1, -1):
        rest[j] = rest[j + 1] + weights[j]
        left[j] = left[j + 1] + ends[j] - starts[j]
    runs = np.zeros(n + 1, dtype=np.int64)  # where each column's new passages start in `touched`
    count = 0
    kth = 0.0
    j = 0
    while j < n:
        # Worth a check (it reads up to LEADS + count / 64 touched scores): enough
        # postings left, and this column is longer than an eighth of the touched.
        worth = left[j] >= least and left[j] >= count // 2 and (ends[j] - starts[j]) * 8 >= count
        if count >= k and (worth or least == 0) and rest[j] < rest[0] - rest[j]:
            kth, survivors = _sampled_bound(scores, touched, count, k, rest[j])
            if kth > rest[j] * (1.0 + MARGIN) and survivors * ratio * (n - j) < left[j]:
                break
        runs[j] = count
        count = _scatter(
            indices, counts, codes, table, weights[j], starts[j], ends[j], scores, touched, count
        )
        if count < 0:
            return count
        j += 1
    if j == n:
        return count
    runs[j] = count
    used = j  # runs 0..used-1 hold the touched passages, each sorted by passage
    for j in range(used, n):
        start, end = starts[j], ends[j]
        if j == used or count <= end - start:
            # A pass over the passages left, cheaper than the column: drop those that
            # cannot reach the k-th best any more.
            count = _prune(scores, touched, runs, used, kth / (1.0 + MARGIN) - rest[j])
            kth = max(kth, _kth_touched(scores, touched, count, k))
        weight = weights[j]
        for run in range(used):
            at = start
            for i in range(runs[run], runs[run + 1]):
                passage = touched[i]
                at = _gallop(indices, at, end, passage)
                if at == end:
                    break
                found = indices[at]
                if found < 0 or found >= scores.size:
                    return _clear(scores, touched, count)
                if found == passage:
                    tf = np.float32(counts[at])
                    scores[passage] += weight * tf / (tf + table[codes[passage]])
    return count


@_compiled
def _scatter(indices, counts, codes, table, weight, start, end, scores, touched, count):
    """Adds postings start:end to `scores`, listing new passages in `touched`.

    Returns the new count of touched passages, or -1 (see `accumulate`).
    """
    size = scores.size
    if count == 0:
        # Nothing touched yet: every passage of this column is new (a column lists
        # a passage once), so its score is written without reading the zero there
        # (0 + x is x to the bit): a tenth of the loop's time at the median question.
        for p in range(start, end):
            passage = indices[p]
            if passage < 0 or passage >= size:
                return _clear(scores, touched, count)
            tf = np.float32(counts[p])
            touched[count] = passage
            count += 1
            scores[passage] = weight * tf / (tf + table[codes[passage]])
        return count
    for p in range(start, end):
        passage = indices[p]
        if passage < 0 or passage >= size:
            return _clear(scores, touched, count)
        tf = np.float32(counts[p])
        value = scores[passage]
        touched[count] = passage
        count += value == 0.0
        scores[passage] = value + weight * tf / (tf + table[codes[passage]])
    return count


@_compiled
def _prune(scores, touched, runs, used, reach):
    """Keeps the touched passages scoring `reach` or more, in order; clears the others.

    Moves the runs' bounds with them; returns how many are kept.
    """
    kept = 0
    for run in range(used):
        first, last = runs[run], runs[run + 1]
        runs[run] = kept
        for i in range(first, last):
            passage = touched[i]
            if scores[passage] >= reach:
                touched[kept] = passage
                kept += 1
            else:
                scores[passage] = 0.0
    runs[used] = kept
    return kept


@_compiled
def _kth_touched(scores, touched, count, k):
    """The k-th best score among the first `count` touched passages (count >= k)."""
    heap = np.empty(k, dtype=scores.dtype)
    for i in range(k):
        heap[i] = scores[touched[i]]
    for start in range(k // 2 - 1, -1, -1):
        _sift_down(heap, start, k)
    for i in range(k, count):
        value = scores[touched[i]]
        if value > heap[0]:
            heap[0] = value
            _sift_down(heap, 0, k)
    return heap[0]


@_compiled
def _sampled_bound(scores, touched, count, k, rest):
    """A lower bound of the k-th best touched score; about how many could still reach it.

    The k-th best of a sample of the touched scores (count >= k) is at most the k-th
    best of all (any subset's is); how many passages could still reach it with `rest`
    more is estimated from the same sample. The sample is the first `LEADS` passages
    touched, then every 64th: the first are those of the question's weightiest words,
    where the best passages usually are, so the bound is close to the real k-th best
    and the switch comes a column or two sooner; the others only tell how many would
    survive, which every 64th tells well enough at a fraction of the reads. At a
    million passages (997 questions, the loop alone) every 8th touched score alone
    gave a bound near the 80th best, not the 10th: p99 1.18-1.21 ms, mean 0.35; the
    first 8,192 and every 8th, 1.13-1.14 and 0.33; and every 64th, 1.05-1.07 and 0.32.
    """
    step = min(64, count // k)
    lead = min(count, LEADS) if k <= LEADS else 0  # all of them, counted one for one
    sample = np.empty(lead + (count - lead) // step, dtype=scores.dtype)
    for i in range(lead):
        sample[i] = scores[touched[i]]
    for i in range(lead, sample.size):
        sample[i] = scores[touched[lead + (i - lead) * step]]
    kth = _kth_largest(sample, k)
    reach = kth / (1.0 + MARGIN) - rest
    survivors = 0
    for i in range(lead):
        survivors += sample[i] >= reach
    others = 0
    for i in range(lead, sample.size):
        others += sample[i] >= reach
    return kth, survivors + others * step


@_compiled
def _gallop(indices, at, end, passage):
    """The first place in indices[at:end] (sorted) holding `passage` or more; `end` if none."""
    if at >= end or indices[at] >= passage:
        return at
    step = 1
    low = at  # indices[low] < passage
    high = at + 1
    while high < end and indices[high] < passage:
        low = high
        step *= 2
        high = at + step
    if high > end:
        high = end
    low += 1
    while low < high:
        middle = (low + high) >> 1
        if indices[middle] < passage:
            low = middle + 1
        else:
            high = middle
    return low


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
