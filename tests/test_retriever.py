import pytest

from bot import analysis
from bot import index as index_mod
from bot import retriever as retriever_mod
from bot.retriever import Retriever


@pytest.fixture
def retriever(shipped_engine):
    return shipped_engine.retriever


def top_text(retriever, question):
    hits = retriever.search(question, k=1).hits
    return hits[0].passage.text if hits else ""


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ukriane", "ukraine"),
        ("defense", "defence"),
        ("compas", "compass"),
        ("atacks", "attacks"),
        ("kuraine", "ukraine"),  # the first two letters swapped: found through the ending
        ("ukrainw", "ukraine"),  # the last letter wrong: found through the beginning
    ],
)
def test_typos_are_repaired_against_the_corpus_words(retriever, typed, meant):
    assert retriever.repair(typed) == meant


@pytest.mark.parametrize("word", ["supermarket", "iphone", "paris", "eu", "cat", "2022x"])
def test_words_too_far_from_any_corpus_word_are_left_alone(retriever, word):
    assert retriever.repair(word) is None


def test_search_reports_corrections_and_still_finds_the_passage(retriever):
    result = retriever.search("support for Ukriane", k=3)
    assert result.corrections == (("ukriane", "ukraine"),)
    assert "Ukraine" in result.hits[0].passage.text


def test_word_forms_match(retriever):
    assert "Ukraine" in top_text(retriever, "was ukraine attacked")


def test_closed_and_open_compounds_match_each_other(retriever):
    result = retriever.search("cyber attacks", k=5)
    assert any("cyberattacks" in h.passage.text for h in result.hits)


def test_a_compound_the_stemmer_cuts_differently_still_matches(retriever):
    # "cyber" + "crime" stem to "cybercrime", but "cybercrimes" is stemmed "cybercrim".
    result = retriever.search("cyber crime", k=1)
    assert "cybercrimes" in result.hits[0].passage.text


def test_american_spelling_finds_the_british_word_as_itself(retriever):
    result = retriever.search("cyber defense policy", k=3)
    assert result.corrections == () and result.unknown == ()
    assert analysis.stem("defence") in result.stems
    assert any("Cyber Defence Policy" in h.passage.text for h in result.hits)


def test_a_common_british_word_is_not_repaired_into_another_word(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "office.txt").write_text("Office humour is welcome at the Friday drinks.")
    index_mod.build(corpus, tmp_path / "index")
    result = Retriever(index_mod.load(tmp_path / "index")).search("any rumour about the drinks")
    assert result.corrections == ()  # no "Did you mean humour?"
    assert result.unknown == ("rumour",)


def test_a_spelling_wordnet_lacks_is_matched_without_a_did_you_mean(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "plan.txt").write_text("Rules incentivise patching.", encoding="utf-8")
    index_mod.build(corpus, tmp_path / "index")
    result = Retriever(index_mod.load(tmp_path / "index")).search("what does it incentivize")
    assert result.corrections == ()
    assert result.hits and "incentivise" in result.hits[0].passage.text


@pytest.mark.parametrize(
    ("stem", "other", "same"),
    [
        ("organiz", "organis", True),
        ("behavior", "behaviour", True),
        ("center", "centr", True),
        ("defens", "defenc", True),
        ("defens", "defend", False),  # a derived word, not a spelling
        ("form", "format", False),
    ],
)
def test_only_spelling_changes_count_as_the_same_word(stem, other, same):
    assert retriever_mod._respelt(stem, other) is same


def test_section_headings_count_toward_a_match(small_engine):
    hits = small_engine.retriever.search("storage", k=1).hits
    assert hits[0].passage.section == "STORAGE"


def test_scores_are_normalised_and_ordered(retriever):
    hits = retriever.search("PESCO rapid response team ukraine", k=5).hits
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    assert all(0 <= h.coverage <= 1 for h in hits)


def test_equal_scores_are_ordered_by_corpus_position(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = "\n\n".join(f"TOPIC {name}\n\nThe same sentence about budgets." for name in "ABCD")
    (corpus / "same.txt").write_text(body, encoding="utf-8")
    index_mod.build(corpus, tmp_path / "index")
    retriever = Retriever(index_mod.load(tmp_path / "index"))
    hits = retriever.search("budgets", k=3).hits
    positions = [h.passage.position for h in hits]
    assert positions == sorted(positions)
    assert len({h.score for h in hits}) == 1


@pytest.mark.parametrize("question", ["", "   ", "what is the", "🙂", "?!?", "\x00\xff"])
def test_questions_without_content_give_no_hits(retriever, question):
    assert retriever.search(question).hits == ()


def test_k_is_capped_at_the_matching_passages(retriever):
    hits = retriever.search("ukraine", k=1000).hits
    assert 0 < len(hits) < 1000
    assert len({h.passage.id for h in hits}) == len(hits)


def test_a_common_english_word_is_not_repaired_into_a_corpus_word(tmp_path):
    from bot.engine import Engine
    from tests.conftest import settings_for

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "psy.txt").write_text(
        "Latent variables are modelled. The defence budget grew.", encoding="utf-8"
    )
    retriever = Engine.open(settings_for(corpus)).retriever
    assert retriever.repair("latest") is None  # a common word, not a typo of "latent"
    assert retriever.repair("latnet") == "latent"  # a typo is still repaired
    assert retriever.repair("defense") == "defence"  # the other spelling of the same word
    search = retriever.search("what is the latest season of psych")
    assert search.corrections == ()


def test_a_word_the_stemmer_keeps_apart_is_matched_by_the_corpus_stem_it_begins_with(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "law.txt").write_text(
        "Partners prosecute cybercrimes.\n\nThe director reports every year.", encoding="utf-8"
    )
    index_mod.build(corpus, tmp_path / "index")
    retriever = Retriever(index_mod.load(tmp_path / "index"))
    derived = retriever.search("who goes after cybercriminals")  # no common English word
    assert derived.corrections == (("cybercriminals", "cybercrimes"),)
    assert "cybercrimes" in derived.hits[0].passage.text
    common = retriever.search("who is the directory for")  # a common word: no repair
    assert common.corrections == () and common.unknown == ("directory",)
    assert not any("director" in h.passage.text for h in common.hits)


def test_a_common_derived_word_gets_no_did_you_mean_and_matches_through_related_words(retriever):
    search = retriever.search("Does the EU support Ukrainian cyber defence?", k=3)
    assert search.corrections == ()  # was "Did you mean “ukraine”?"
    assert search.related == {"ukrainian": ("ukrain",)}
    assert "Ukraine" in search.hits[0].passage.text


def test_large_typo_buckets_repair_as_a_full_comparison_would(tmp_path, monkeypatch):
    # Many invented names sharing their first and last letters, as at a million
    # passages: the numpy filter of large buckets must pass every word one edit away.
    import random

    from bot import retriever as retriever_mod

    rng = random.Random(7)
    middles = ("".join(rng.choices("bcdeaé", k=rng.randint(2, 5))) for _ in range(600))
    names = sorted({f"ba{middle}ne" for middle in middles})
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "names.txt").write_text(
        "\n\n".join(f"The {name} station measures ozone." for name in names), encoding="utf-8"
    )
    index_mod.build(corpus, tmp_path / "index")
    retriever = Retriever(index_mod.load(tmp_path / "index"))
    words = sorted(w for w in retriever.index.words if w.startswith("ba"))
    assert max(len(b) for b in retriever._typo_buckets.values()) > retriever_mod._FILTER_FROM
    typos = []
    for word in rng.sample(words, 150):
        i = rng.randrange(len(word) - 1)
        typos += [word[:i] + word[i + 1] + word[i] + word[i + 2 :], word[:i] + word[i + 1 :]]
        typos += [word[:i] + "x" + word[i:], word[:i] + "d" + word[i + 1 :]]
    filtered = [retriever.repair(t) for t in typos]
    monkeypatch.setattr(retriever_mod, "_FILTER_FROM", 10**9)  # every bucket measured whole
    assert filtered == [retriever.repair(t) for t in typos]
    assert sum(f is not None for f in filtered) > len(typos) // 2


def test_a_number_asked_in_digits_finds_it_written_otherwise(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.md").write_text(
        "# Limits\n\nClaims above EUR 5,000 need approval from the CFO.\n\n"
        "# Service\n\nAfter ten years of service you receive two extra days of leave.\n\n"
        "# Claims\n\nClaims above EUR 500 need a receipt.\n"
    )
    index_mod.build(corpus, tmp_path / "index")
    retriever = Retriever(index_mod.load(tmp_path / "index"))
    assert retriever.search("who approves claims above 5000 euros").hits[0].passage.section == (
        "Limits"
    )
    assert retriever.search("extra leave after 10 years").hits[0].passage.section == "Service"


def test_a_possessive_typed_without_its_apostrophe_is_the_word(retriever):
    result = retriever.search("What are the EUs cyber defense policies?", k=3)
    assert result.unknown == () and "eu" in result.stems
    assert "Cyber Defence Policy" in result.hits[0].passage.text
