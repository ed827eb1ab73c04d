import json

import pytest

from bot.answer import answers_the_kind, best_sentences
from bot.question import parse


def test_answer_leads_with_the_best_sentence_then_the_source(shipped_engine):
    answer = shipped_engine.ask("What is PESCO?")
    assert answer.answered
    assert answer.kind == "answer"
    assert answer.sentences[0].startswith("Permanent Structured Cooperation (PESCO)")
    first_line, source = answer.text.split("\n—")
    assert "Permanent Structured Cooperation" in first_line
    assert source.strip().startswith("cybersecurity-eu-external-action.txt › ")
    assert "PESCO" in answer.highlight


def test_typo_correction_is_said_in_the_reply(shipped_engine):
    answer = shipped_engine.ask("What did the EU offer Ukriane?")
    assert answer.answered
    assert answer.text.startswith("(Did you mean “ukraine”?)")
    assert answer.corrections == (("ukriane", "ukraine"),)


@pytest.mark.parametrize(
    "question",
    ["Who painted the Mona Lisa?", "What is the EU's fishing policy?", "How do I reset my iPhone?"],
)
def test_out_of_scope_questions_are_declined_honestly(shipped_engine, question):
    answer = shipped_engine.ask(question)
    assert not answer.answered
    assert answer.kind == "abstain"
    assert answer.text.startswith("I could not find this in the sources.")


def test_abstention_lists_the_nearest_topics_when_there_are_some(shipped_engine):
    answer = shipped_engine.ask("What is the EU's fishing policy?")
    assert answer.suggestions
    assert "Nearest topics:" in answer.text


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", "greeting"),
        ("Hello there!", "greeting"),
        ("thanks a lot", "thanks"),
        ("help", "help"),
        ("what can you do?", "help"),
        ("What is PESCO?", None),
        ("hi, what is PESCO?", None),
    ],
)
def test_small_talk_is_recognised_only_without_a_topic(message, kind):
    assert parse(message).small_talk == kind


def test_small_talk_gets_a_human_reply_without_retrieval(shipped_engine):
    answer = shipped_engine.ask("thanks!")
    assert answer.kind == "smalltalk"
    assert not answer.answered
    assert answer.hits == ()


def test_best_sentences_pick_the_matching_one():
    text = "Cats sleep a lot. Dogs bark at night. Birds sing."
    assert best_sentences(text, {"dog", "bark"}) == ("Dogs bark at night.",)


def test_json_holds_the_contract_fields(shipped_engine):
    data = json.loads(json.dumps(shipped_engine.ask("What is PESCO?", k=2).to_json()))
    assert data["question"] == "What is PESCO?"
    assert data["answered"] is True
    assert "Permanent Structured Cooperation" in data["answer"]
    assert len(data["sources"]) == 2
    assert set(data["sources"][0]) >= {"doc", "section", "passage_id", "score", "text"}
    assert data["sources"][0]["doc"] == "cybersecurity-eu-external-action.txt"


@pytest.mark.parametrize(
    ("question", "reply", "expected"),
    [
        ("When was it founded?", "It was founded in 1954.", True),
        ("When was it founded?", "It was founded in March.", True),
        ("When was it founded?", "It was founded by engineers.", False),
        ("How many airships fit?", "The hangar houses fifteen airships.", True),
        ("How many airships fit?", "The hangar houses 12 airships.", True),
        ("How many airships fit?", "The hangar houses airships.", False),
        ("What is the hangar?", "The hangar houses airships.", None),
    ],
)
def test_date_and_number_questions_need_a_date_or_number_in_the_reply(question, reply, expected):
    assert answers_the_kind(parse(question), reply) is expected
