"""Counting terms and weighting them: TF-IDF with BM25's choices for the two factors.

The tf factor saturates (tf * (k1 + 1) / (tf + k1 * length_norm)), a sublinear tf that
also normalises for passage length, and idf is smoothed, log(1 + (N - df + 0.5) /
(df + 0.5)), which stays positive for a word found in every passage: on a corpus of a
few passages such a word must still count (the zero-idf mistake drops it).

Each choice is one small named function (as bm25s's `scoring.py` does), and
`bm25_weights` puts them together in one place.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bot import analysis
from bot.passages import Passage

if TYPE_CHECKING:  # imported where matrices are made: loading an index needs no scipy
    import scipy.sparse as sp


class PassageCounts(NamedTuple):
    """Term counts of some passages, as `analyze_passages` makes them.

    Attributes:
        counts: passage x term raw counts, CSR; a row's columns are in no set order
            (see `merge_counts`).
        terms: The term of each column, in sorted order; bigrams hold a space.
        words: Surface word -> count, for typo repair.
    """

    counts: sp.csr_matrix
    terms: list[str]
    words: Counter[str]


class Weights(NamedTuple):
    """What `bm25_weights` makes of the counts: everything a question's scores need.

    A posting's weight is not stored: it is idf * tf * (k1 + 1) / (tf + norm of its
    passage), worked out by `bot.scoring` as it sums a question's postings. Storing it
    beside the count took 8 of the 16 bytes of each posting (a float32 weight and its
    int32 passage), and the count must stay anyway for incremental rebuilds; a division
    per posting costs less than reading those bytes.

    Attributes:
        postings: passage x term raw counts, CSC (each column lists its passages in
            order, which `bot.scoring` relies on), counts in the smallest unsigned
            integer type that holds them (`count_dtype`).
        idf: idf per term, float32.
        norms: k1 * (1 - b + b * length / average length) per passage, float32.
    """

    postings: sp.csc_matrix
    idf: np.ndarray
    norms: np.ndarray


class RawCounts(NamedTuple):
    """Term counts of some passages with bigrams still as numbers (see `count_terms`).

    What a worker sends back for a piece of a file: the bigrams' text, their hashes
    and the sorted vocabulary are made once, after the pieces are joined and the
    bigrams seen in too few passages dropped (`merge_counts`), not for every bigram
    of every piece (most are seen once and dropped).

    Attributes:
        counts: passage x column raw counts, CSR; columns are `stems`, then `pairs`.
        stems: The distinct stems, in order of first appearance.
        pairs: The distinct bigrams, (first stem, second stem) rows of int32 numbers
            into `stems`.
        words: Surface word -> count, for typo repair.
    """

    counts: sp.csr_matrix
    stems: list[str]
    pairs: np.ndarray
    words: Counter[str]


def analyze_passages(passages: list[Passage], min_df: int = 1) -> PassageCounts:
    """Counts each passage's terms; also counts surface words for typo repair.

    The terms are exactly `analysis.analyze` of each passage's indexed text (less the
    bigrams found in fewer than `min_df` passages, as `prune_bigrams` drops them),
    but the work is done once per distinct word instead of once per token (see
    `count_terms`).
    """
    return merge_counts([count_terms(passages)], min_df)


# ASCII letters and digits and every byte of a non-ASCII character stay, any other
# byte becomes a space: the runs left are `analysis.tokens`'s tokens (r"\w+" once "_"
# is a space) wherever they are ASCII, and splitting bytes is 2.5x faster than the
# regular expression. A run with non-ASCII bytes is tokenised by the expression.
_WORD_BYTES = bytes(c if c >= 128 or chr(c).isalnum() else 32 for c in range(256))


def _numbered_tokens(passages: list[Passage]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every token of the passages' indexed texts, as numbers, and the passage of each.

    Exactly `analysis.tokens` of each text, in one pass over all of them: the
    normalised texts are joined by a line holding "Z", which no normalised text
    contains (it is lowercased), so each "Z" token is a passage break. If a text does
    hold a "Z" after all, each text is tokenised on its own.

    Returns:
        The distinct tokens in order of first appearance, each token's number in
        that list, and each token's passage.
    """
    texts = [analysis.normalize(p.indexed_text) for p in passages]
    joined = "\nZ\n".join(texts)
    if joined.count("Z") != len(texts) - 1:
        token_lists = [analysis.tokens(p.indexed_text) for p in passages]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        distinct, ids = _numbered(list(itertools.chain.from_iterable(token_lists)))
        return distinct, ids, np.repeat(np.arange(len(passages)), lengths)
    runs, ids = _numbered(joined.encode("utf-8").translate(_WORD_BYTES).split())
    if joined.isascii():  # the usual case: each run is a token, each a different one
        distinct = [run.decode("ascii") for run in runs]
    else:
        distinct, ids = _tokens_of_runs(runs, ids, joined)
    breaks = distinct.index("Z") if "Z" in distinct else -1
    return distinct, ids, np.cumsum(ids == breaks)


def _tokens_of_runs(
    runs: list[bytes], ids: np.ndarray, joined: str
) -> tuple[list[str], np.ndarray]:
    """`_numbered_tokens`'s tokens where the runs of word bytes hold non-ASCII ones."""
    tokens = [
        [run.decode("ascii")] if run.isascii() else analysis.TOKEN_PATTERN.findall(run.decode())
        for run in runs
    ]
    if all(len(found) <= 1 for found in tokens):
        # A run is one token, or none (a symbol such as a bullet's "•"): "" stands
        # for none, and is no word. Runs of the same token ("•word", "word") merge.
        firsts = [found[0] if found else "" for found in tokens]
        distinct = list(dict.fromkeys(firsts))
        number = dict(zip(distinct, range(len(distinct)), strict=True))
        return distinct, np.fromiter(map(number.__getitem__, firsts), np.int64, len(firsts))[ids]
    # A run holds several tokens ("10×20"): the expression over all the text.
    return _numbered(analysis.TOKEN_PATTERN.findall(joined.replace("_", " ")))


def _numbered(tokens: list[Any]) -> tuple[list[Any], np.ndarray]:
    """The distinct tokens in order of first appearance, and each token's number."""
    # One pass, all in C: a token not seen yet gets the next number as it is looked up
    # (40% less than listing the distinct tokens first, then numbering them).
    number: defaultdict[Any, int] = defaultdict(itertools.count().__next__)
    ids = np.fromiter(map(number.__getitem__, tokens), np.int64, len(tokens))
    return list(number), ids


def count_terms(passages: list[Passage]) -> RawCounts:
    """Counts each passage's stems and bigrams, bigrams as numbers; also surface words.

    The tokens become numbers through one dict, the filters and the stemmer run over
    the distinct words, and stems, bigrams and counts are numpy operations on the
    numbers. (scikit-learn's CountVectorizer did this per token in Python: 60% of a
    build.)
    """
    import scipy.sparse as sp

    words: Counter[str] = Counter()
    distinct, token_ids, rows = _numbered_tokens(passages)
    content = [i for i, w in enumerate(distinct) if analysis.is_content_word(w)]
    if not content:
        empty = sp.csr_matrix((len(passages), 0), dtype=np.float32)
        return RawCounts(empty, [], np.zeros((0, 2), np.int32), words)
    # Surface words and their corpus counts, for typo repair.
    frequency = np.bincount(token_ids, minlength=len(distinct))
    words.update({distinct[i]: int(frequency[i]) for i in content})
    # Stems of the distinct content words; -1 marks a token that is not a content word.
    stemmed = analysis.stems_of_distinct([distinct[i] for i in content])
    stems = list(dict.fromkeys(stemmed))
    stem_number = dict(zip(stems, range(len(stems)), strict=True))
    stem_of = np.full(len(distinct), -1, dtype=np.int64)
    stem_of[content] = [stem_number[s] for s in stemmed]
    unigrams = stem_of[token_ids]
    kept = unigrams >= 0
    unigrams, rows = unigrams[kept], rows[kept]
    # Bigrams: neighbouring content words of one passage (stop words in between
    # vanished above, as in `analysis.analyze`), one number per distinct stem pair.
    same = rows[1:] == rows[:-1]
    pairs = unigrams[:-1][same] * len(stems) + unigrams[1:][same]
    distinct_pairs, pair_ids = np.unique(pairs, return_inverse=True)
    firsts, seconds = np.divmod(distinct_pairs, len(stems))
    counts = sp.csr_matrix(
        (
            np.ones(len(unigrams) + len(pair_ids), dtype=np.float32),
            (
                np.concatenate([rows, rows[1:][same]]),
                np.concatenate([unigrams, len(stems) + pair_ids.ravel()]),
            ),
        ),
        shape=(len(passages), len(stems) + len(distinct_pairs)),
    )
    counts.sum_duplicates()
    pair_array = np.stack([firsts, seconds], axis=1).astype(np.int32)
    return RawCounts(counts, stems, pair_array, words)


def merge_counts(pieces: list[RawCounts], min_df: int = 1) -> PassageCounts:
    """The counts of consecutive pieces of passages as one, with their terms' text.

    Stems are matched by text and bigrams by their stems; a bigram found in fewer
    than `min_df` passages of all the pieces is dropped (see `prune_bigrams`); then
    each bigram left gets its text, and the columns follow the sorted terms.
    """
    import scipy.sparse as sp

    stems = list(dict.fromkeys(itertools.chain.from_iterable(p.stems for p in pieces)))
    stem_number = dict(zip(stems, range(len(stems)), strict=True))
    to_global = [
        np.fromiter(map(stem_number.__getitem__, p.stems), np.int64, len(p.stems)) for p in pieces
    ]
    # Each piece's bigrams as one number over the joined stems, and in how many passages.
    keys = [
        glob[p.pairs[:, 0]] * len(stems) + glob[p.pairs[:, 1]]
        for p, glob in zip(pieces, to_global, strict=True)
    ]
    dfs = [
        np.bincount(p.counts.indices, minlength=p.counts.shape[1])[len(p.stems) :] for p in pieces
    ]
    all_keys = np.concatenate([np.zeros(0, np.int64), *keys])
    distinct, inverse = np.unique(all_keys, return_inverse=True)
    inverse = inverse.ravel()
    df = np.bincount(inverse, np.concatenate([np.zeros(0), *dfs]), minlength=len(distinct))
    keep = df >= max(min_df, 1)
    # Sorted terms, without sorting every string: the stems are sorted, then the
    # bigrams by their two stems' ranks, which is their text's order (a stem's
    # characters all sort after the space, so "a b" < "a' b'" exactly when (a, b) <
    # (a', b')). For the same reason a bigram "a b" sorts after the stem a (a prefix
    # of it) and before any stem after a: the terms are each stem followed by its
    # bigrams, and where each goes is counted, not found by comparing strings.
    stem_order = sorted(range(len(stems)), key=stems.__getitem__)
    rank = np.empty(len(stems), dtype=np.int64)
    rank[stem_order] = np.arange(len(stems))
    firsts, seconds = np.divmod(distinct[keep], max(len(stems), 1))
    pair_order = np.lexsort((rank[seconds], rank[firsts]))
    first_rank = rank[firsts[pair_order]]  # in order
    # Where each sorted stem and each sorted bigram goes among the terms.
    stem_position = np.arange(len(stems)) + np.searchsorted(first_rank, np.arange(len(stems)))
    pair_position = np.arange(len(pair_order)) + first_rank + 1
    firsts, seconds = firsts[pair_order].tolist(), seconds[pair_order].tolist()
    runs = [stems[i] for i in stem_order]
    runs += [f"{stems[a]} {stems[b]}" for a, b in zip(firsts, seconds, strict=True)]
    order = np.empty(len(runs), dtype=np.int64)
    order[np.concatenate([stem_position, pair_position])] = np.arange(len(runs))
    terms = [runs[i] for i in order.tolist()]
    column = stem_position[rank]  # of each stem
    kept_column = np.empty(len(pair_order), dtype=np.int64)
    kept_column[pair_order] = pair_position
    pair_column = np.full(len(distinct), -1, dtype=np.int64)
    pair_column[keep] = kept_column
    data, indices, lengths = [], [], []
    start = 0
    for p, glob in zip(pieces, to_global, strict=True):
        own = pair_column[inverse[start : start + len(p.pairs)]]
        start += len(p.pairs)
        mapping = np.concatenate([column[glob], own])
        mapped = mapping[p.counts.indices]
        stay = mapped >= 0
        row_of = np.repeat(np.arange(p.counts.shape[0]), np.diff(p.counts.indptr))
        data.append(p.counts.data[stay])
        indices.append(mapped[stay].astype(np.int32))
        lengths.append(np.bincount(row_of[stay], minlength=p.counts.shape[0]))
    passages = sum(p.counts.shape[0] for p in pieces)
    indptr = np.zeros(passages + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.zeros(0, np.int64), *lengths]), out=indptr[1:])
    counts = sp.csr_matrix(
        (
            np.concatenate([np.zeros(0, np.float32), *data]),
            np.concatenate([np.zeros(0, np.int32), *indices]),
            indptr,
        ),
        shape=(passages, len(terms)),
    )
    # A row's columns are left as they come: everything made of the counts (the
    # postings by term, df, lengths) comes out the same whatever their order.
    counts.has_sorted_indices = False
    words: Counter[str] = Counter()
    for p in pieces:
        words.update(p.words)  # in order: a word's place is its first appearance
    return PassageCounts(counts, terms, words)


def document_frequency(counts: sp.csr_matrix) -> np.ndarray:
    """In how many passages each term occurs (float64, for the idf formula)."""
    return np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)


def smoothed_idf(passages: int, df: np.ndarray | float) -> np.ndarray:
    """BM25's smoothed idf, log(1 + (N - df + 0.5) / (df + 0.5)): positive for every df.

    With df 0 it gives the idf an unseen word would get, the largest there is.
    """
    return np.log1p((passages - df + 0.5) / (df + 0.5))


def passage_lengths(counts: sp.csr_matrix, terms: list[str]) -> np.ndarray:
    """Words per passage (float64), for length normalisation.

    Words only: bigrams would count each word twice more and skew the normalisation
    (measured: it cost up to 8% nDCG@10 on the public test collections).
    """
    n = counts.shape[0]
    spaced = map(str.__contains__, terms, itertools.repeat(" "))  # no Python call per term
    is_word = ~np.fromiter(spaced, dtype=bool, count=len(terms))
    return np.bincount(
        np.repeat(np.arange(n), np.diff(counts.indptr)),
        weights=counts.data * is_word[counts.indices],
        minlength=n,
    )


def length_norm(lengths: np.ndarray, k1: float, b: float) -> np.ndarray:
    """k1 * (1 - b + b * length / average length), per passage."""
    avg = float(lengths.mean()) if len(lengths) else 1.0
    return k1 * (1.0 - b + b * lengths / max(avg, 1e-9))


def saturated_tf_idf(
    counts: sp.csr_matrix, idf: np.ndarray, norm: np.ndarray, k1: float
) -> np.ndarray:
    """The weight of every stored count: idf * tf * (k1 + 1) / (tf + norm), in `counts` order."""
    tf = counts.data.astype(np.float64)
    # In place: the same operations in the same order as the plain expression (the
    # same bits), without its four temporaries of one float64 per stored count.
    denominator = np.repeat(norm, np.diff(counts.indptr))
    denominator += tf
    data = idf[counts.indices]
    data *= tf
    data *= k1 + 1.0
    data /= denominator
    return data


def count_dtype(largest: float) -> np.dtype:
    """The smallest unsigned integer type that holds every count (uint8 almost always).

    A passage holds at most `passages.MAX_CHARS` characters, so no count reaches
    uint16's limit; uint32 is there for safety, not use.
    """
    for kind in (np.uint8, np.uint16):
        if largest <= np.iinfo(kind).max:
            return np.dtype(kind)
    return np.dtype(np.uint32)


def prune_bigrams(counts: sp.csr_matrix, terms: list[str], min_df: int) -> sp.csr_matrix:
    """The counts without the bigrams found in fewer than `min_df` passages.

    A bigram seen once (df = 1) names one passage's chance pair of words: at a million
    passages such bigrams were most of the vocabulary (terms, their hashes, columns and
    idf) and a sixth of the postings, and keeping only bigrams seen twice or more costs
    nothing measurable in nDCG@10 on the four test collections (bench/README.md). The
    columns stay (with no postings); the build's assembly drops unused columns.

    Applied to one corpus file's counts, so that an unchanged file's share of the index
    does not depend on the other files: an incremental build still equals a full one.
    """
    if min_df <= 1 or counts.nnz == 0:
        return counts
    is_bigram = np.fromiter((" " in t for t in terms), dtype=bool, count=len(terms))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    keep = (~is_bigram | (df >= min_df))[counts.indices]
    if keep.all():
        return counts
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))[keep]
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=counts.shape[0]), out=indptr[1:])
    return type(counts)((counts.data[keep], counts.indices[keep], indptr), shape=counts.shape)


def bm25_weights(counts: sp.csr_matrix, terms: list[str], k1: float, b: float) -> Weights:
    """What TF-IDF with BM25's tf saturation and smoothed idf needs of raw counts.

    Args:
        counts: passage x term raw counts.
        terms: The terms of the columns; bigrams hold a space.
        k1: tf saturation; 0 makes tf binary, large values make it linear.
        b: length normalisation; 0 ignores passage length, 1 normalises fully.
    """
    import scipy.sparse as sp

    idf = smoothed_idf(counts.shape[0], document_frequency(counts))
    norms = length_norm(passage_lengths(counts, terms), k1, b)
    dtype = count_dtype(float(counts.data.max()) if counts.nnz else 0.0)
    tf = sp.csr_matrix((counts.data.astype(dtype), counts.indices, counts.indptr), counts.shape)
    return Weights(tf.tocsc(), idf.astype(np.float32), norms.astype(np.float32))
