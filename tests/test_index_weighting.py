"""Counting terms and BM25 weights (`bot.index.weighting`)."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import analysis
from bot import index as index_mod
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
