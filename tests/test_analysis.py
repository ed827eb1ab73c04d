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
