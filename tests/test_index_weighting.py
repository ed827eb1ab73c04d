"""Counting terms and BM25 weights (`bot.index.weighting`)."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import analysis
from bot import index as index_mod
from bot.index import weighting
from bot.passages import Passage


def build(corpus, **kwargs):
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def test_a_word_in_every_passage_still_counts(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("EU one\n\nEU apples.\n\nTWO\n\nEU pears.", encoding="utf-8")
    build(corpus)
    loaded = index_mod.load(tmp_path / "index")
    assert loaded.idf[loaded.vocabulary["eu"]] > 0


_WORDS = st.sampled_from(
    ["cyber", "Cyber", "defence", "defences", "the", "of", "a", "5", "x", "EU's", "é", "naïve", "б"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_WORDS, max_size=12).map(" ".join), min_size=1, max_size=6))
def test_passage_counts_are_exactly_what_the_analyzer_makes(texts):
    """The vectorised counting (per distinct word, bigrams as numbers) against
    `analysis.analyze` passage by passage: the same terms, each counted as often."""
    passages = [Passage(f"d#{i}", "d", "", text, i) for i, text in enumerate(texts)]
    counts, terms, words = index_mod.analyze_passages(passages)
    assert terms == sorted(terms)
    expected_words: Counter[str] = Counter()
    for row, text in enumerate(texts):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        row_terms = counts.indices[start:end].tolist()
        row_counts = counts.data[start:end].tolist()
        got = {terms[c]: int(n) for c, n in zip(row_terms, row_counts, strict=True)}
        assert got == dict(Counter(analysis.analyze(text)))
        expected_words.update(analysis.content_words(text))
    assert dict(words) == dict(expected_words)


# Text that stresses the bulk tokenising: a capital Z (the passage break it uses),
# underscores, hyphens, apostrophes (straight and curly), digits, ligatures, accents
# (composed and combining), case folding beyond ASCII, scripts without case, symbols
# that end a word (a bullet) or sit inside one ("10×20").
_HARD_WORDS = st.sampled_from(
    ["Z", "z", "ZZ", "jazz", "Zürich", "snake_case", "_", "well-known", "-", "EU's", "don\u2019t",
     "'quoted'", "5", "2024", "3.14", "1,000", "ﬁle", "Straße", "İstanbul", "café", "cafe\u0301",
     "ΣΊΣΥΦΟΣ", "москва", "東京", "x", "of", "the", "cyber", "defences", "\u00a0", "\n", "Ｚ",
     "•", "• cyber", "cyber•", "10×20", "a\u2028b", "—", "naïve"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(_HARD_WORDS, max_size=10).map(" ".join), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=8),
    st.sampled_from([1, 2, 3]),
)
def test_counts_in_pieces_equal_the_analyzer_text_by_text(texts, cut, min_df):
    """Tokenising all passages in one pass, and counting a file in pieces joined
    afterwards, give exactly `analysis.analyze` of each passage (bigrams in fewer than
    `min_df` passages dropped), whatever the text holds."""
    passages = [Passage(f"d#{i}", "d", "", text, i) for i, text in enumerate(texts)]
    cut = min(cut, len(passages))
    pieces = [weighting.count_terms(passages[:cut]), weighting.count_terms(passages[cut:])]
    joined = weighting.merge_counts(pieces, min_df)
    whole = index_mod.analyze_passages(passages, min_df)
    analyzed = [Counter(analysis.analyze(text)) for text in texts]
    df = Counter(term for terms in analyzed for term in terms)
    expected = [{t: n for t, n in terms.items() if " " not in t or df[t] >= min_df}
                for terms in analyzed]  # fmt: skip
    for counts, terms, words in (joined, whole):
        assert terms == sorted(set(terms))
        got = []
        for row in range(len(texts)):
            start, end = counts.indptr[row], counts.indptr[row + 1]
            columns, numbers = counts.indices[start:end], counts.data[start:end]
            assert len(set(columns.tolist())) == len(columns)  # each term once, any order
            got.append({terms[c]: int(n) for c, n in zip(columns, numbers, strict=True)})
        assert got == expected
        assert set(terms) == {t for row in expected for t in row}
        expected_words = Counter(w for text in texts for w in analysis.content_words(text))
        assert list(words.items()) == list(expected_words.items())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=[chr(c) for c in range(128)], max_size=60), min_size=1))
def test_ascii_text_is_counted_as_the_analyzer_counts_it(texts):
    """Every ASCII character (punctuation, controls, "_", digits, capitals) splits
    tokens as `analysis.tokens` does on the fast path for ASCII text."""
    passages = [Passage(f"d#{i}", "d", "", text, i) for i, text in enumerate(texts)]
    counts, terms, _ = index_mod.analyze_passages(passages)
    for row, text in enumerate(texts):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        columns, numbers = counts.indices[start:end], counts.data[start:end]
        got = {terms[c]: int(n) for c, n in zip(columns, numbers, strict=True)}
        assert got == dict(Counter(analysis.analyze(text)))
