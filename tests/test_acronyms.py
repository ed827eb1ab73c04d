import pytest

from bot.acronyms import definitions, is_acronym, long_form, match_long_form


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        (
            "Projects of Permanent Structured Cooperation (PESCO) help.",
            ("PESCO", "Permanent Structured Cooperation"),
        ),
        (
            "PESCO (Permanent Structured Cooperation) helps.",
            ("PESCO", "Permanent Structured Cooperation"),
        ),
        ("The World Health Organization (WHO) said so.", ("WHO", "World Health Organization")),
        (
            "the Common Security and Defence Policy (CSDP)",
            ("CSDP", "Common Security and Defence Policy"),
        ),
        (
            "Computer Security Incident Response Teams (CSIRTs) exist.",
            ("CSIRTs", "Computer Security Incident Response Teams"),
        ),
        (
            "the North Atlantic Treaty Organization (NATO)",
            ("NATO", "North Atlantic Treaty Organization"),
        ),
    ],
)
def test_both_ways_of_defining_an_acronym_are_found(text, pair):
    assert [(d.acronym, d.long_form) for d in definitions(text)] == [pair]


@pytest.mark.parametrize(
    "text",
    [
        "The budget rose (see Annex II).",
        "Teams (e.g. CERT-EU) respond.",
        "NATO (which the EU works with) met.",
        "It grew fast (30%).",
        "The office (Rotterdam) opens early.",
    ],
)
def test_brackets_that_define_nothing_are_ignored(text):
    assert definitions(text) == []


def test_the_long_form_must_spell_the_letters_in_order():
    assert match_long_form("EU", "the European Union") == "European Union"
    assert match_long_form("UE", "the European Union") is None
    assert match_long_form("WHO", "who said") is None


def test_acronyms_need_two_capitals():
    assert is_acronym("PESCO")
    assert is_acronym("CSIRTs")
    assert not is_acronym("Rotterdam")
    assert not is_acronym("e.g")


def test_the_first_text_defining_it_wins_and_case_is_ignored():
    texts = ["PESCO projects run.", "Permanent Structured Cooperation (PESCO) projects run."]
    assert long_form("pesco", texts) == ("Permanent Structured Cooperation", 1)
    assert long_form(
        "CSIRT", ["Response Teams (CSIRTs)", "Computer Security Incident Response Teams (CSIRTs)"]
    ) == (
        "Computer Security Incident Response Teams",
        1,
    )
    assert long_form("NATO", texts) is None


def test_a_mistyped_acronym_is_expanded_as_repaired(shipped_engine):
    answer = shipped_engine.ask("what does pecso stand for")
    assert answer.answered
    assert "Did you mean “PESCO”?" in answer.text
    assert "PESCO stands for Permanent Structured Cooperation" in answer.text
