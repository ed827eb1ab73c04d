import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import analysis
from bot.question import parse, split


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("When does the office open?", "when"),
        ("What year was the treaty signed?", "when"),
        ("expense claim deadline", "when"),  # a deadline is a date or a time
        ("What is the due date of the report?", "when"),
        ("How many member states are there?", "how_many"),
        ("How much does a ticket cost?", "money"),
        ("What is the price of a certificate?", "money"),
        ("What is the total budget of the projects?", "money"),
        ("What's the budget for the projects?", "money"),
        ("what is the population of ukraine", "how_many"),
        ("How much leave do I get?", "how_much"),
        ("how long was i love lucy on the air", "how_much"),
        ("Who leads ENISA?", "who"),
        ("Where is the agency located?", "where"),
        # A plural asks for the same kind as its singular.
        ("Which regions have EU cyber projects?", "where"),
        ("which countries take part", "country"),
        ("Which EU member states take part in PESCO?", "country"),
        ("which western balkan countrys get the projects", "country"),
        ("Which island countries take part?", "country"),
        ("what should partner countries get better at?", "what"),
        ("Which organisations run the dialogues?", "who"),
        ("What companies does the EU work with?", "who"),
        ("Which days must we come in?", "when"),
        ("Why is cybersecurity essential?", "why"),
        ("Can the EU impose sanctions?", "yes_no"),
        ("How does the EU help partners?", "how"),
        ("What is the Strategic Compass?", "what"),
        ("cyber diplomacy toolbox", "other"),
        ("What does PESCO stand for?", "acronym"),
    ],
)
def test_the_kind_of_answer_asked_for(text, kind):
    assert parse(text).kind == kind


@pytest.mark.parametrize(
    ("text", "acronym"),
    [
        ("What does PESCO stand for?", "PESCO"),
        ("what does pesco stand for", "PESCO"),
        ("What is CSIRT short for?", "CSIRT"),
        ("What does CSDP mean?", "CSDP"),
        ("full form of nato", "NATO"),
        ("What do the NGOs stand for?", "NGO"),
        ("What is PESCO?", "PESCO"),  # about the acronym, though not only its letters
        ("what is pesco 🤔", "PESCO"),
        ("What is PESCO???", "PESCO"),
        ("what is love", None),  # a common word in lower case is no acronym
        ("What does the strategy mean for partners?", None),
    ],
)
def test_the_acronym_asked_about(text, acronym):
    assert parse(text).acronym == acronym


def test_what_is_an_acronym_is_not_only_a_question_about_its_letters():
    assert parse("What is PESCO?").kind == "what"
    assert parse("What does PESCO stand for?").kind == "acronym"
    assert parse("What is Paris?").acronym is None


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("What does PESCO stand for?", ("pesco",)),
        ("Which instruments make up the cyber toolbox?", ("instruments", "cyber", "toolbox")),
        ("What does the toolbox consist of?", ("toolbox",)),
        ("How does the EU help partners deal with attacks?", ("eu", "help", "partners", "attacks")),
        ("What is the budget used for?", ("budget",)),
    ],
)
def test_question_form_phrases_are_not_searched_for(text, content):
    assert parse(text).content == content


def test_a_form_phrase_alone_is_still_searched():
    assert parse("stand for").content == ("stand",)


def test_form_words_are_kept_but_marked():
    question = parse("Where is the agency located?")
    assert "located" in question.content
    assert question.form == frozenset({"located"})


def test_the_record_is_frozen_and_read_once():
    question = parse("Hello there!")
    assert question.small_talk == "greeting"
    assert question.words == ("hello", "there")
    with pytest.raises(AttributeError):
        question.kind = "who"  # type: ignore[misc]


def test_an_empty_message_is_empty():
    assert parse(" ?! ").empty
    assert not parse("PESCO").empty


@pytest.mark.parametrize(
    ("text", "acronym"),
    [
        ("pesco meaning", "PESCO"),
        ("What is the full name of PESCO?", "PESCO"),
        ("What is the meaning of life?", None),  # a common word is no acronym
    ],
)
def test_other_ways_of_asking_for_a_long_form(text, acronym):
    assert parse(text).acronym == acronym


def test_what_follows_the_last_question_mark_without_letters_is_not_searched(shipped_engine):
    assert parse("What is PESCO? 37").content == parse("What is PESCO?").content
    assert "37" in parse("What happened in 37?").content  # a number asked about stays
    answer = shipped_engine.ask("What is PESCO? 37")
    assert answer.answered and "Permanent Structured Cooperation" in answer.text


@pytest.mark.parametrize(
    ("text", "kind", "content"),
    [
        ("wheres the lisbon office", "where", ("lisbon", "office")),
        ("who do i call if im sick", "who", ("call", "sick")),
        ("whats the notice period", "what", ("notice", "period")),
        ("doesnt the EU use sanctions", "yes_no", ("eu", "use", "sanctions")),
        ("what if im ill", "what", ("ill",)),  # "ill" is a word, not "i'll"
        ("IM policy", "other", ("im", "policy")),  # an acronym in capitals stays
    ],
)
def test_contractions_typed_without_apostrophe_read_as_their_words(text, kind, content):
    question = parse(text)
    assert (question.kind, question.content) == (kind, content)
    assert question.text == text  # shown back as typed


@pytest.mark.parametrize(
    ("text", "kind", "content"),
    [
        ("hi, what is PESCO?", "what", ("pesco",)),
        ("Good morning team, when does the office open?", "when", ("office", "open")),
        ("ok so who leads ENISA", "who", ("leads", "enisa")),
        ("what is PESCO pls", "what", ("pesco",)),
        ("What is PESCO, thanks in advance!", "what", ("pesco",)),
        ("can you tell me when Russia invaded Ukraine", "when", ("russia", "invaded", "ukraine")),
        ("Could you please tell me how many areas there are?", "how_many", ("many", "areas")),
        ("do you know where the agency is", "where", ("agency",)),
        ("tell me if the EU can impose sanctions", "yes_no", ("eu", "impose", "sanctions")),
        ("Do you know the notice period?", "other", ("notice", "period")),
        ("well-being policy", "other", ("well", "policy")),  # a word, not "well, ..."
    ],
)
def test_the_chat_around_a_question_is_not_its_topic_or_its_kind(text, kind, content):
    question = parse(text)
    assert (question.kind, question.content, question.small_talk) == (kind, content, None)
    assert question.text == text


@pytest.mark.parametrize(
    ("text", "kind"), [("hi", "greeting"), ("Good morning!", "greeting"), ("thank you", "thanks")]
)
def test_chat_alone_is_still_small_talk(text, kind):
    assert parse(text).small_talk == kind


@pytest.mark.parametrize(
    "text",
    [
        "hi, what does PESCO stand for?",
        "What does PESCO stand for? thanks",
        "hey bot: whats PESCO pls",
        "waht does PESCO stand for",
        "what is pesco??",
    ],
)
def test_a_question_wrapped_in_chat_gets_the_same_answer(shipped_engine, text):
    answer = shipped_engine.ask(text)
    assert answer.answered and "Permanent Structured Cooperation" in answer.text


@pytest.mark.parametrize(
    ("text", "kind", "content"),
    [
        ("wat is PESCO", "what", ("pesco",)),  # "wat" is a word, but "wat is" asks
        ("wen does the office open", "when", ("office", "open")),
        ("wher is the office", "where", ("office",)),  # "where" cut short, not "when"
        ("wy is cybersecurity important", "why", ("cybersecurity", "important")),
        ("wat time do I phone in sick", "when", ("time", "phone", "sick")),
        ("hw many days of leave", "how_many", ("many", "days", "leave")),
        ("Wat Arun temple", "other", ("wat", "arun", "temple")),  # a name, not "what"
        ("hoe garden tools", "other", ("hoe", "garden", "tools")),
        ("hwo do i claim", "other", ("hwo", "claim")),  # "how" or "who": left alone
    ],
)
def test_a_mistyped_opening_question_word_is_read_as_the_question_word(text, kind, content):
    question = parse(text)
    assert (question.kind, question.content) == (kind, content)
    assert question.text == text


_OPENERS = ["", "hi ", "Hello there, ", "ok so ", "Good morning team: ", "sorry, ", "hey bot! "]
_WRAPPERS = [
    "",
    "can you tell me ",
    "Could you please tell me ",
    "do you know ",
    "I'd like to know ",
]
_CLOSERS = ["", " pls", ", thanks!", " thank you", " please", " thx :)", " cheers"]
_CORES = [
    "when does the office open?",
    "who leads ENISA",
    "how many policy areas does the strategy cover?",
    "where is the Lisbon office",
    "what does PESCO stand for",
]


@given(
    st.sampled_from(_OPENERS),
    st.sampled_from(_WRAPPERS),
    st.sampled_from(_CORES),
    st.sampled_from(_CLOSERS),
)
def test_any_chat_around_a_question_reads_as_the_question(opener, wrapper, core, closer):
    question, plain = parse(opener + wrapper + core + closer), parse(core)
    assert (question.kind, question.content, question.acronym) == (
        plain.kind,
        plain.content,
        plain.acronym,
    )
    assert question.small_talk is None


@given(st.text(max_size=200))
def test_any_text_is_read_without_error(text):
    question = parse(text)
    assert question.text == text
    assert question.empty == (not question.words)


@pytest.mark.parametrize(
    ("text", "questions"),
    [
        (
            "what is PESCO and when did Russia invade Ukraine?",
            ("what is PESCO", "when did Russia invade Ukraine?"),
        ),
        ("What is PESCO? Who leads ENISA?", ("What is PESCO?", "Who leads ENISA?")),
        ("hi, what is PESCO? and who leads ENISA", ("what is PESCO?", "who leads ENISA")),
        ("what's PESCO; who leads ENISA", ("what's PESCO", "who leads ENISA")),
        ("What is PESCO? When was it set up?", ("What is PESCO? When was it set up?",)),
        ("what is the act and when does it apply", ("what is the act and when does it apply",)),
        ("will they pay my ticket? got it at work", ("will they pay my ticket? got it at work",)),
        ("Hello? Is anyone there? What is PESCO?", ("What is PESCO?",)),  # chat left out
        ("What is PESCO? thanks!", ("What is PESCO? thanks!",)),
        ("What is PESCO? Why?", ("What is PESCO? Why?",)),  # no topic of its own
        ("How and when can I claim expenses?", ("How and when can I claim expenses?",)),
        ("Who is the CISO and what does she do?", ("Who is the CISO and what does she do?",)),
        ("what is the toolbox and what it holds", ("what is the toolbox and what it holds",)),
        (
            "Which tools and which partners does the EU use?",
            ("Which tools and which partners does the EU use?",),
        ),
        ("What is PESCO? 37", ("What is PESCO? 37",)),
        ("a? b? c?", ("a? b? c?",)),
    ],
)
def test_a_message_asking_several_things_is_split_into_its_questions(text, questions):
    assert split(text) == questions


def test_more_than_three_questions_are_read_as_one_text():
    text = "What is PESCO? Who leads ENISA? What is CSDP? Where is the agency?"
    assert split(text) == (text,)


@given(st.lists(st.sampled_from(["a", "pesco", "?", ",", ";", "what", "and", "who", "is", "hi"])))
def test_the_questions_split_off_are_the_message_s_own_words_in_order(words):
    text = " ".join(words)
    questions = split(text)
    assert 1 <= len(questions) <= 3
    said = iter(analysis.tokens(text))
    assert all(word in said for q in questions for word in analysis.tokens(q))


@pytest.mark.parametrize(
    "text",
    [
        "WHAT DOES PESCO STAND FOR",
        "What does P.E.S.C.O. stand for?",
        "WHAT DOES P.E.S.C.O. STAND FOR",
        "what does pesco stand for",
    ],
)
def test_an_acronym_is_found_however_the_question_is_typed(text):
    # Read as typed, a shouted question made every word an acronym ("FOR" was asked
    # about), and a dotted one left only "stand for" to search.
    question = parse(text)
    assert (question.kind, question.acronym) == ("acronym", "PESCO")
    assert question.text == text


def test_a_shouted_question_is_answered_like_a_typed_one(shipped_engine):
    answer = shipped_engine.ask("WHAT DOES PESCO STAND FOR")
    assert answer.answered and "Permanent Structured Cooperation" in answer.text


@pytest.mark.parametrize(
    "text",
    ["What is <PESCO>?", "What is “PESCO”?", "What is 'pesco'?", "<i>What</i> is <b>PESCO</b>?"],
)
def test_quotes_brackets_and_pasted_tags_around_an_acronym_do_not_hide_it(text):
    assert parse(text).acronym == "PESCO"


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("What does 'technological sovereignty' actually mean?", "technological sovereignty"),
        ("What is meant by cyber resilience?", "cyber resilience"),
        ("what is the definition of a hung jury", "hung jury"),
        ("Define rules-based order.", "rules-based order"),
        ("How does the factsheet define 'technological sovereignty'?", "technological sovereignty"),
        ("how is a hung jury defined", "hung jury"),
        ("What do confidence-building measures mean?", "confidence-building measures"),
    ],
)
def test_a_question_about_what_a_term_means_asks_for_its_definition(text, term):
    question = parse(text)
    assert question.kind == "definition" and question.term == term


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("What does the strategy mean for partners?", "what"),  # not what the word means
        ("what does this mean", "what"),  # no term to define
        ("What does PESCO mean?", "acronym"),  # an acronym's long form
        ("What is technological sovereignty?", "what"),  # a usage may answer this
    ],
)
def test_other_questions_with_mean_ask_no_definition(text, kind):
    question = parse(text)
    assert question.kind == kind and question.term is None
