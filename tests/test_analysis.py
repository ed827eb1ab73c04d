import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import analysis


def test_normalize_folds_case_accents_and_compatibility_forms():
    assert analysis.normalize("Café ＥＵ ﬁle") == "cafe eu file"
    assert analysis.normalize("Ukraine’s") == "ukraine's"


def test_stop_words_and_question_words_carry_no_topic():
    assert analysis.content_words("What is the role of the EU in it?") == ["role", "eu"]


def test_word_forms_share_a_stem():
    assert analysis.analyze("attacks", bigrams=False) == analysis.analyze("attacked", bigrams=False)
    assert analysis.analyze("attacking", bigrams=False) == ["attack"]


def test_bigrams_join_neighbouring_content_words():
    assert analysis.analyze("cyber defence policy") == [
        "cyber",
        "defenc",
        "polici",
        "cyber defenc",
        "defenc polici",
    ]


def test_single_digits_are_kept_single_letters_are_not():
    assert analysis.words("covers 5 areas, plan B") == ["covers", "5", "areas", "plan"]


@pytest.mark.parametrize("text", ["", "   ", "the of and", "🙂🙂", "!!!", "\x00\x01"])
def test_texts_without_content_give_no_terms(text):
    assert analysis.analyze(text) == []


def test_right_to_left_script_is_tokenised():
    assert analysis.analyze("سلام دنیا", bigrams=False) == ["سلام", "دنیا"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_analyses_without_error_into_clean_terms(text):
    terms = analysis.analyze(text)
    unigrams = [t for t in terms if " " not in t]
    assert all(t and t == t.strip() for t in terms)
    assert len(terms) == len(unigrams) + max(len(unigrams) - 1, 0)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text):
    once = analysis.normalize(text)
    assert analysis.normalize(once) == once


@pytest.mark.parametrize(
    ("written", "asked"),
    [
        ("claims above EUR 5,000", "claims above EUR 5000"),
        ("a budget of 1,250,000 euros", "budget 1250000 euros"),
        ("after ten years", "after 10 years"),
        ("five working days", "5 working days"),
        ("within twenty days", "within 20 days"),
    ],
)
def test_one_number_written_two_ways_is_one_term(written, asked):
    assert analysis.analyze(written) == analysis.analyze(asked)


@pytest.mark.parametrize(
    ("text", "not_term"),
    [("pi is 3,14", "314"), ("1,5 litres", "15"), ("one of them", "1"), ("two hundred", "100")],
)
def test_what_is_not_a_grouped_number_or_a_plain_count_is_left_alone(text, not_term):
    # A decimal comma, the pronoun "one" and "hundred" keep their own terms.
    assert not_term not in analysis.analyze(text, bigrams=False)


def test_the_number_words_table_is_keyed_by_their_stems():
    words = "two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    words += " fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty"
    words += " seventy eighty ninety"
    assert [analysis.stem(w) for w in words.split()] == [
        str(n) for n in (*range(2, 21), 30, 40, 50, 60, 70, 80, 90)
    ]


def test_won_is_a_word_and_wont_is_will_not():
    assert "won" in analysis.analyze("Who won the world cup?", bigrams=False)
    assert "won" not in analysis.analyze("It won't rain and it won’t snow", bigrams=False)
