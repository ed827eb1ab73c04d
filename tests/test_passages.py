import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import passages
from bot.documents import Document, Section


def doc(*sections: Section, name: str = "a.txt") -> Document:
    return Document(name, "A title", tuple(sections))


def section(heading: str, *units: str, bullets: bool = False) -> Section:
    return Section(heading, tuple(units), tuple(bullets for _ in units))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It works. It also stops.", ["It works.", "It also stops."]),
        ("See e.g. the OSCE. Then stop.", ["See e.g. the OSCE.", "Then stop."]),
        ("In 2022 it grew. 20 projects run.", ["In 2022 it grew.", "20 projects run."]),
        ("no end", ["no end"]),
        ("", []),
        ("Sung by Ben E. King in 1961. It sold.", ["Sung by Ben E. King in 1961.", "It sold."]),
        ("He is a U.S. Marshal. He rides.", ["He is a U.S. Marshal.", "He rides."]),
        ("Born c. 482 in Tauresium. Died 565.", ["Born c. 482 in Tauresium.", "Died 565."]),
        ("She plays piano. No one else does.", ["She plays piano.", "No one else does."]),
    ],
)
def test_split_sentences(text, expected):
    assert passages.split_sentences(text) == expected


def test_passages_never_cross_sections_and_name_their_heading():
    result = passages.split_document(
        doc(section("", "Intro text."), section("ONE", "First fact."), section("TWO", "Second."))
    )
    assert [(p.section, p.text) for p in result] == [
        ("A title", "Intro text."),
        ("ONE", "First fact."),
        ("TWO", "Second."),
    ]
    assert [p.position for p in result] == [0, 1, 2]


def test_short_bullets_under_one_heading_are_grouped_long_text_is_split():
    bullets = section("LIST", "alpha beta", "gamma delta", bullets=True)
    many = section("MANY", *[f"item {i} " + "word " * 15 for i in range(4)], bullets=True)
    long = section("LONG", " ".join(f"Sentence number {i} is here." for i in range(100)))
    grouped, *parts = passages.split_document(doc(bullets, long))
    assert grouped.text == "• alpha beta\n• gamma delta"
    listed = passages.split_document(doc(many))
    assert [p.text.count("•") for p in listed] == [2, 2]
    assert len(parts) > 1
    assert all(len(p.text.split()) <= passages.MAX_WORDS for p in parts)
    assert " ".join(p.text for p in parts) == long.units[0]


def test_headings_without_body_become_the_list_the_text_before_announces():
    result = passages.split_document(
        doc(
            section("AREAS", "It covers 2 areas:"),
            section("HUMAN RIGHTS"),
            section("TRADE"),
            section("NEXT", "Body."),
        )
    )
    assert [(p.section, p.text) for p in result] == [
        ("AREAS", "It covers 2 areas:\n• HUMAN RIGHTS\n• TRADE"),
        ("NEXT", "Body."),
    ]


def test_a_lead_in_keeps_its_list_beyond_the_bullet_grouping_limit():
    items = [f"item {i} " + "word " * 12 for i in range(4)]  # 56 words of bullets
    lead = section("RULES", "Staff must:", *items)
    lead = Section("RULES", lead.units, (False, True, True, True, True))
    plain = section("PLAIN", *items, bullets=True)
    (together,) = passages.split_document(doc(lead))
    assert together.text.startswith("Staff must:\n• item 0") and "item 3" in together.text
    assert len(passages.split_document(doc(plain))) == 2  # without a lead-in: 2 + 2


def test_bare_headings_at_the_start_fall_under_the_title():
    result = passages.split_document(doc(section("ONLY A HEADING")))
    assert [(p.section, p.text) for p in result] == [("A title", "• ONLY A HEADING")]


def test_ids_are_stable_and_change_with_the_text():
    first = passages.split_document(doc(section("H", "Same text."), section("I", "Other.")))
    again = passages.split_document(doc(section("H", "Same text."), section("I", "Other.")))
    edited = passages.split_document(doc(section("H", "Same text."), section("I", "Edited.")))
    assert [p.id for p in first] == [p.id for p in again]
    assert first[0].id == edited[0].id
    assert first[1].id != edited[1].id
    assert first[0].id.startswith("a.txt#0-")


def test_positions_run_across_documents():
    result = passages.split_documents(
        [doc(section("H", "One."), name="a.txt"), doc(section("H", "Two."), name="b.txt")]
    )
    assert [(p.doc, p.position) for p in result] == [("a.txt", 0), ("b.txt", 1)]


def alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_sentence_splitting_loses_no_text(text):
    assert alnum("".join(passages.split_sentences(text))) == alnum(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1), min_size=1, max_size=8), st.booleans())
def test_splitting_a_document_loses_no_text(units, bullets):
    sec = Section("HEAD", tuple(units), tuple(bullets for _ in units))
    result = passages.split_document(doc(sec))
    kept = alnum("".join(p.text for p in result))
    assert kept == alnum("".join(units))
    assert {p.section for p in result} <= {"HEAD"}


# ---------------------------------------------------------------------------- length cap


def test_a_paragraph_without_sentence_ends_is_cut_into_capped_passages():
    # Hard-wrapped extracted text with no period, comma or blank line: one unit of
    # 140,000 characters (the 1.4 MB case, scaled down).
    line = "member states cooperate on cyber diplomacy and capacity building"
    paragraph = " ".join(f"{line} {i}" for i in range(2_000))
    result = passages.split_document(doc(section("Cyber", paragraph)))
    assert len(result) > 50
    assert all(len(p.text) <= passages.MAX_CHARS for p in result)
    assert " ".join(p.text for p in result) == paragraph  # cut only at spaces, nothing lost


def test_long_sentences_are_cut_at_clause_ends_first():
    clause = "the union supports partners in building resilience against cyber threats"
    sentence = "; ".join(f"{clause} {i}" for i in range(100)) + "."
    result = passages.split_document(doc(section("", sentence)))
    assert len(result) > 1
    assert all(p.text.endswith((";", ".")) for p in result)  # each piece ends a clause


def test_a_long_bullet_keeps_one_marker_and_a_word_without_spaces_is_cut():
    bullet = " ".join(["word"] * 1_000)
    result = passages.split_document(doc(section("", bullet, bullets=True)))
    assert result[0].text.startswith("• ")
    assert not any(p.text.startswith("• ") for p in result[1:])
    assert all(len(p.text) <= passages.MAX_CHARS for p in result)
    blob = passages.split_document(doc(section("", "x" * 10_000)))
    assert [len(p.text) for p in blob] == [passages.MAX_CHARS - 2] * 5 + [10]


def test_normal_paragraphs_are_not_cut():
    sentence = "The EU funds cyber capacity building in partner countries, with member states. "
    paragraph = (sentence * 10).strip()  # about 800 characters, 120 words
    assert [p.text for p in passages.split_document(doc(section("", paragraph)))] == [paragraph]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab ,;:-–)\n"), max_size=400), st.integers(2, 60))
def test_cap_length_pieces_fit_and_lose_no_text(text, limit):
    pieces = passages.cap_length(text, limit)
    if len(text) <= limit:
        assert pieces == [text]  # untouched, even when blank
    assert all(len(p) <= limit for p in pieces)
    assert len(text) <= limit or all(p.strip() for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_abbreviations_are_checked_on_the_sentence_end_only():
    text = "See e.g. " * 3 + "Art. 5 applies. Then stop."
    assert passages.split_sentences(text) == [
        "See e.g. See e.g. See e.g. Art. 5 applies.",
        "Then stop.",
    ]


def _general_path(document: Document, start: int, prefix: str) -> list[passages.Passage]:
    """What split_document gives without its one-paragraph shortcut."""
    out = []
    for sec in passages._fold_bare_headings(document):
        heading = sec.heading.strip() or document.title
        for text in passages._group(sec):
            if text.strip():
                n = len(out)
                pid = prefix + passages.passage_id(document.doc, n, text)
                out.append(passages.Passage(pid, document.doc, heading, text, start + n))
    return out


_PIECES = st.sampled_from(
    ["word", "Sentence ends.", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1f", "x" * 300,
     "e.g.", "- ", "• ", "", "Ünïcode", "a, b; c"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PIECES, max_size=400).map("".join),
    st.sampled_from(["", "  Heading ", "H"]),
    st.booleans(),
    st.sampled_from(["", "data.jsonl/"]),
)
def test_a_one_paragraph_document_splits_as_the_general_steps_split_it(
    text, heading, bullet, prefix
):
    """The shortcut for one short paragraph (a .jsonl line) gives exactly the passages
    the general steps give, for text near every limit (words, characters, whitespace)."""
    document = doc(section(heading, text, bullets=bullet))
    assert passages.split_document(document, 7, prefix) == _general_path(document, 7, prefix)
