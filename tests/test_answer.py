import json

import pytest

from bot import answer as answer_mod
from bot import kinds
from bot.answer import source_line
from bot.engine import Engine
from bot.kinds import answers_the_kind
from bot.question import parse
from bot.sentences import best_sentences, is_fragment
from tests.conftest import settings_for


def test_answer_leads_with_the_best_sentence_then_the_source(shipped_engine):
    answer = shipped_engine.ask("What is PESCO?")
    assert answer.answered
    assert answer.kind == "answer"
    assert answer.sentences[0] == "PESCO stands for Permanent Structured Cooperation."
    assert answer.sentences[1].startswith("Permanent Structured Cooperation (PESCO)")
    first_line, source = answer.text.split("\n—")
    assert "Permanent Structured Cooperation" in first_line
    assert source.strip().startswith("cybersecurity-eu-external-action.txt › ")
    assert "PESCO" in answer.highlight


def test_typo_correction_is_said_in_the_reply(shipped_engine):
    answer = shipped_engine.ask("What did the EU offer Ukriane?")
    assert answer.answered
    assert answer.text.startswith("(Did you mean “Ukraine”?)")  # as the text writes it
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


def test_nearest_topics_name_each_heading_once_and_no_file_name():
    from bot.suggestions import nearest_topics

    doc = "cybersecurity-eu-external-action.txt"
    sources = [
        ("EU CYBERSECURITY STRATEGY", doc),
        ("cybersecurity eu external action", doc),  # the file name's stand-in
        ("CYBERSECURITY: EU EXTERNAL ACTION", doc),
        ("EU Cybersecurity Strategy", doc),  # the first heading again
        ("Leave", "hr.txt"),
        ("Pay", "hr.txt"),
    ]
    topics = nearest_topics(sources)
    assert topics == ("EU CYBERSECURITY STRATEGY", "CYBERSECURITY: EU EXTERNAL ACTION", "Leave")


def test_a_declined_question_names_no_file_name_as_a_topic(shipped_engine):
    answer = shipped_engine.ask("why is cybersecurity important for the EU")
    assert not answer.answered
    assert "cybersecurity eu external action" not in answer.text
    assert "CYBERSECURITY: EU EXTERNAL ACTION" in answer.suggestions


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", "greeting"),
        ("Hello there!", "greeting"),
        ("thanks a lot", "thanks"),
        ("help", "help"),
        ("what can you do?", "help"),
        ("what do you know?", "sources"),
        ("What are your sources?", "sources"),
        ("which documents do you have", "sources"),
        ("Do you know the deadline for expense claims?", None),
        ("What documents do I need for a visa?", None),
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


@pytest.mark.parametrize("message", ["Who are you?", "what is this", "how are you"])
def test_a_message_of_stop_words_alone_gets_the_help_reply(shipped_engine, message):
    # It has nothing to search for; "I could not find this in the sources" read as if
    # the documents had been searched for it.
    answer = shipped_engine.ask(message)
    assert (answer.kind, answer.answered) == ("smalltalk", False)
    assert answer.text.startswith("Ask a question in plain words")


def test_asked_what_it_knows_the_bot_names_its_documents(tmp_path):
    # Searched, "What are your sources?" was declined: "None of the documents mention
    # “sources”". A corpus of many files is summed up, not listed in full.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(7):
        (corpus / f"policy-{n}.md").write_text(f"# Policy {n}\n\nRule {n} applies.\n", "utf-8")
    answer = Engine.open(settings_for(corpus)).ask("What are your sources?")
    assert (answer.kind, answer.answered) == ("smalltalk", False)
    assert answer.text.startswith("I answer from 7 documents: “policy-0.md”, “policy-1.md”")
    assert "and 2 more." in answer.text
    assert "policy-6.md" not in answer.text


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
        # A year is no count: the question's number is not there.
        ("How many airships fit?", "Since 1954 the hangar houses airships.", False),
        ("How many airships fit?", "Since 1954 the hangar houses 12 airships.", True),
        ("How much does the hangar hold?", "It was built in 2019.", False),
        ("Who is the service for?", "the service is for everyone in the region.", True),
        ("Who is the service for?", "the service is free of charge.", False),
        # "Which country" wants a country by name: a region or a forum is not one.
        ("Which country did the team help?", "The team was activated to help Ukraine.", True),
        ("Which countries get the projects?", "Projects run in the Western Balkans.", False),
        ("Which countries are in the forum?", "Measures (e.g. OSCE, ASEAN Regional Forum)", False),
        ("What is the hangar?", "The hangar houses airships.", None),
    ],
)
def test_date_and_number_questions_need_a_date_or_number_in_the_reply(question, reply, expected):
    assert answers_the_kind(parse(question), reply) is expected


@pytest.mark.parametrize(
    ("question", "reply", "expected"),
    [
        ("When does the office open?", "The office opens at 7:30 and closes at 19:00.", True),
        ("When does the office open?", "It opens at 9 am.", True),
        ("When is the canteen closed?", "The canteen is closed on Sundays.", True),
        ("When must claims be submitted?", "Claims are submitted within 30 days.", True),
        ("When must claims be submitted?", "Claims are submitted with every receipt.", False),
        ("How much does it cost?", "A ticket costs €40.", True),
        ("How much does it cost?", "It costs 40 euros.", True),
        ("How much money goes to the projects?", "Around 20 projects run.", False),
        ("How many countries take part?", "Dialogues with third countries.", False),
        ("Who talks to partners?", "Dialogues with international organisations.", True),
        ("Who approves the claims?", "Claims are approved by the CFO.", True),
        ("Who approves the claims?", "Claims are approved by the manager.", True),
        ("Who approves the claims?", "claims are approved quickly.", False),
        ("Where is the office?", "The office is in Rotterdam.", True),
        ("Where is the office?", "the office is on the fourth floor.", True),
        ("Where is the office?", "it is big.", False),
        ("Why is it needed?", "Because.", None),
    ],
)
def test_each_kind_of_question_knows_its_answers(question, reply, expected):
    assert answers_the_kind(parse(question), reply) is expected


def test_a_lead_in_brings_its_list_and_alone_is_no_answer():
    text = "Threats grow. Technologies are misused for:\n• espionage\n• sabotage"
    assert best_sentences(text, {"technolog", "misus"}) == (
        "Technologies are misused for:",
        "espionage",
        "sabotage",
    )
    assert is_fragment(("Technologies are misused for:",))
    assert not is_fragment(("Technologies are misused for:", "espionage"))


def test_a_question_about_a_list_gets_the_whole_list(shipped_engine):
    # The factsheet lists its areas after "covers 5 external policy areas:"; the last
    # ones must not be cut off.
    answer = shipped_engine.ask("List the external policy areas of the EU cybersecurity strategy")
    assert answer.answered
    for area in ("PROTECTION OF HUMAN RIGHTS", "PARTNERSHIPS", "LEADERSHIP ON INTERNATIONAL"):
        assert f"\n• {area}" in answer.text  # one item a line, not run together


def test_two_bullets_quoted_together_read_as_two_items(shipped_engine):
    answer = shipped_engine.ask("Does the EU have rapid response teams?")
    assert "\n• Permanent Structured Cooperation (PESCO) projects" in answer.text
    assert answer.text.startswith("• ")


def test_a_lead_in_whose_list_was_lost_is_declined(shipped_engine):
    answer = shipped_engine.ask("What technologies are being increasingly misused?")
    assert not answer.answered


def test_a_lost_lead_in_never_joins_another_sentence():
    # Quoted beside "Cyber attacks grow.", the lead-in would read as if that were its list.
    text = "Technologies are misused for:\nCyber attacks grow in number."
    assert best_sentences(text, {"technolog", "misus", "cyber", "attack"}) == (
        "Technologies are misused for:",
    )
    text = "Cyber attacks grow in number.\nTechnologies are misused for:"
    assert best_sentences(text, {"technolog", "cyber", "attack", "grow"}) == (
        "Cyber attacks grow in number.",
    )


def test_a_clause_before_a_lead_in_can_answer():
    sentence = "Cyber threats are evolving very fast, with technologies being misused for:"
    assert not is_fragment((sentence,), {"threat", "evolv", "fast"})
    assert is_fragment((sentence,), {"technolog", "misus"})
    assert is_fragment((sentence,), {"threat", "misus"})  # the asked words reach the lead-in
    assert is_fragment((sentence,))


def test_a_lead_in_holding_the_asked_number_answers_how_many(shipped_engine):
    answer = shipped_engine.ask("How many external policy areas does the strategy cover?")
    assert answer.answered
    assert "covers 5 external policy areas:" in answer.text


def test_a_sentence_of_the_asked_kind_is_quoted_first():
    text = "Claims are submitted in the app. Claims must be submitted within 30 days."
    needed = kinds.NEEDS["when"]
    assert best_sentences(text, {"claim", "submit"}, 1, needed) == (
        "Claims must be submitted within 30 days.",
    )


@pytest.mark.parametrize("ask", ["What does PESCO stand for?", "what does pesco stand for"])
def test_an_acronym_is_answered_with_its_long_form_and_source(shipped_engine, ask):
    answer = shipped_engine.ask(ask)
    assert answer.answered
    assert answer.text.startswith("PESCO stands for Permanent Structured Cooperation.")
    assert "Permanent Structured Cooperation (PESCO)" in answer.hits[0].passage.text
    assert answer.text.endswith(source_line(answer.hits[0]))


def test_an_acronym_the_text_does_not_define_is_not_invented(shipped_engine):
    answer = shipped_engine.ask("What does NATO stand for?")
    assert "NATO stands for" not in answer.text


def test_features_stay_in_their_ranges(shipped_engine):
    retriever = shipped_engine.retriever
    for text in ("What is PESCO?", "Who helps Ukraine?", "When was the strategy adopted?"):
        question = parse(text)
        reply = answer_mod.draft(retriever, question, retriever.search(question, 3))
        assert reply is not None
        assert set(reply.features) == set(answer_mod.FEATURES)
        for name, value in reply.features.items():
            upper = 10.0 if name in ("terms", "quoted_words") else 1.0
            assert 0.0 <= value <= upper, (text, name, value)


def test_more_of_the_question_matched_gives_more_confidence(shipped_engine):
    full = shipped_engine.ask("What does the EU Cybersecurity Strategy aim to build?")
    partial = shipped_engine.ask("What does the EU Cybersecurity Strategy say about tennis?")
    assert full.confidence > partial.confidence


def test_an_acronym_question_the_text_cannot_expand_counts_as_unmet(shipped_engine):
    retriever = shipped_engine.retriever
    question = parse("What does OSCE stand for?")  # the factsheet names OSCE, never expands it
    reply = answer_mod.draft(retriever, question, retriever.search(question, 3))
    assert reply is not None
    assert reply.features["kind_unmet"] == 1.0
    assert not shipped_engine.ask("What does OSCE stand for?").answered


def test_general_english_words_are_less_specific_than_rare_ones_and_names():
    from bot.wordlist import specificity

    assert specificity("the") < specificity("makes") < specificity("treaties")
    assert specificity("pesco") == 1.0  # a word no English dictionary counts: a name
    assert all(0.0 <= specificity(w) <= 1.0 for w in ("the", "cup", "2022", "zzzzqx"))


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("neighbouring", "neighboring"),
        ("organisations", "organizations"),
        ("defence", "defense"),
        ("favourite", "favorite"),
        ("programme", "program"),
        ("labour", "labor"),
    ],
)
def test_a_british_spelling_is_an_english_word_not_a_name(british, american):
    # The dictionary spells American English: read as written, "neighbouring" was as
    # specific as "PESCO" to the decision and no common word to the typo repair.
    from bot.wordlist import is_common, specificity

    assert specificity(british) == specificity(american) < 1.0
    assert is_common(british)


def test_a_specific_word_the_corpus_lacks_is_measured_as_absent(shipped_engine):
    retriever = shipped_engine.retriever

    def features(text):
        question = parse(text)
        reply = answer_mod.draft(retriever, question, retriever.search(question, 3))
        assert reply is not None
        return reply.features

    # "treaties" and "signed" are not in the factsheet; every word of the other is.
    outside = features("Which human rights treaties has the EU signed?")
    inside = features("Did the EU help Ukraine with cyber defence?")
    assert outside["absent_specific"] >= 0.6
    assert inside["absent_specific"] == 0.0
    assert inside["quoted_specific"] == 1.0 > outside["quoted_specific"]
    assert outside["unquoted_specific"] > inside["unquoted_specific"] == 0.0


@pytest.mark.parametrize(
    ("question", "reply", "expected"),
    [
        ("How many cyberattacks hit Ukraine in 2022?", "In February 2022 Ukraine was hit.", False),
        ("How many cyberattacks hit Ukraine in 2022?", "In 2022, 300 attacks hit Ukraine.", True),
        ("Who leads the PESCO team?", "PESCO projects include the team.", False),
        ("Who leads the PESCO team?", "The PESCO team is led by Lithuania.", True),
    ],
)
def test_what_the_question_names_is_not_its_answer(question, reply, expected):
    assert answers_the_kind(parse(question), reply) is expected


def test_a_message_asking_two_things_gets_both_answered(shipped_engine):
    answer = shipped_engine.ask("what is PESCO and when did Russia invade Ukraine?")
    assert answer.answered and len(answer.parts) == 2
    pesco, ukraine = answer.text.split("\n\n")
    assert pesco.startswith("“what is PESCO”\n") and "Permanent Structured Cooperation" in pesco
    assert ukraine.startswith("“when did Russia invade Ukraine?”\n") and "February 2022" in ukraine
    assert answer.confidence == min(p.confidence for p in answer.parts)
    assert [p["question"] for p in answer.to_json()["parts"]] == [
        "what is PESCO",
        "when did Russia invade Ukraine?",
    ]


def test_one_half_out_of_scope_is_declined_and_the_other_answered(shipped_engine):
    answer = shipped_engine.ask("What is PESCO? What is the EU's fishing policy?")
    assert answer.answered and answer.kind == "answer"
    assert [p.answered for p in answer.parts] == [True, False]
    assert "I could not find this in the sources." in answer.text.split("\n\n")[1]
    # The answered half's passage is the first source.
    assert "PESCO" in answer.hits[0].passage.text


def test_chat_between_questions_is_left_out_but_the_message_is_kept(shipped_engine):
    answer = shipped_engine.ask("Hello? Is anyone there? What is PESCO?")
    assert answer.answered and not answer.parts
    assert answer.question == "Hello? Is anyone there? What is PESCO?"
    assert "Permanent Structured Cooperation" in answer.text


def test_did_you_mean_spells_a_repaired_word_as_the_passages_write_it():
    from bot.passages import Passage
    from bot.retriever import Hit

    def hit(text: str, n: int) -> Hit:
        return Hit(Passage(f"doc.txt#{n}-abcdef12", "doc.txt", "", text, n), 0.5, 1.0)

    hits = (hit("CYBERSECURITY: EU EXTERNAL ACTION", 0), hit("The EU's Cybersecurity Strategy", 1))
    shown = answer_mod.corrected_words((("cybersecurty", "cybersecurity"),), hits)
    assert shown == "“Cybersecurity”"  # not the heading's capitals
    hits += (hit("Increased cybersecurity is essential", 2),)
    shown = answer_mod.corrected_words((("cybersecurty", "cybersecurity"),), hits)
    assert shown == "“cybersecurity”"  # a common noun, capitalised only in a title
    acronym = answer_mod.corrected_words((("pecso", "pesco"),), (hit("PESCO projects", 2),))
    assert acronym == "“PESCO”"  # written only in capitals: kept so
    assert answer_mod.corrected_words((("atak", "attack"),), hits) == "“attack”"  # not there


@pytest.mark.parametrize(
    ("term", "reply", "expected"),
    [
        ("hung jury", "A hung jury or deadlocked jury is a jury that cannot agree.", True),
        ("judgment as a matter of law", "Judgment as a matter of law (JMOL) is a motion.", True),
        ("plus-minus sign", "The plus-minus sign (±) is a mathematical symbol.", True),
        ("cyber diplomacy toolbox", "Use of the cyber diplomacy toolbox: declarations", True),
        ("phishing", 'Such attacks, sometimes referred to as "phishing", fool users.', True),
        ("EU's cyber policy", "The EU’s cyber-policy is a set of measures.", True),
        ("technological sovereignty", "It increases technological sovereignty and trust.", False),
        ("memorized secret", "Memorized secrets SHALL be at least 8 characters long.", False),
    ],
)
def test_a_definition_question_needs_a_reply_that_defines_the_term(term, reply, expected):
    question = parse(f"What does {term} mean?")
    assert question.kind == "definition"
    assert answers_the_kind(question, reply) is expected


def test_a_term_the_text_only_uses_is_not_defined_by_quoting_it(shipped_engine, tmp_path):
    declined = shipped_engine.ask("What does 'technological sovereignty' actually mean?")
    assert not declined.answered  # the factsheet names it in a list, never says what it is
    corpus = tmp_path / "glossary"
    corpus.mkdir()
    (corpus / "terms.txt").write_text(  # the passage's lead only uses the term
        "The strategy increases technological sovereignty and leadership. Technological "
        "sovereignty is the ability to develop and use key technologies without depending "
        "on others.\n",
        encoding="utf-8",
    )
    answer = Engine.open(settings_for(corpus)).ask("What is meant by technological sovereignty?")
    assert answer.answered
    assert answer.text.startswith("Technological sovereignty is the ability")


@pytest.mark.parametrize(
    "question",
    [
        "According to the factsheet, what will the EU Cybersecurity Strategy increase?",
        "What does the document say the EU Cybersecurity Strategy will increase?",
        "Does the text mention what the EU Cybersecurity Strategy will increase?",
    ],
)
def test_naming_the_text_itself_does_not_make_a_question_unanswerable(shipped_engine, question):
    # The factsheet never calls itself a factsheet, a document or a text; the words
    # name where to look, not what to find (before, the first was declined).
    plain = shipped_engine.ask("What will the EU Cybersecurity Strategy increase?")
    asked = shipped_engine.ask(question)
    assert plain.answered and asked.answered
    assert asked.text == plain.text
