"""Related words: a question in words the text does not use still finds its passage."""

from pathlib import Path

from bot import analysis, related
from bot.engine import Engine
from tests.conftest import settings_for


def engine_over(tmp_path: Path, text: str) -> Engine:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "faq.md").write_text(text, encoding="utf-8")
    return Engine.open(settings_for(corpus))


FAQ = """# Complaints

The service desk responds to complaints within two working days.

# Forms

Complaints forms and complaints letters are kept in the complaints archive.
"""


def test_a_synonym_the_text_lacks_finds_the_passage_that_uses_the_word(tmp_path):
    engine = engine_over(tmp_path, FAQ)
    answer = engine.ask("How quickly does the service desk react to complaints?")
    assert answer.hits[0].passage.section == "Complaints"
    assert "respond" in {analysis.stem(w.casefold()) for w in answer.highlight}


def test_related_words_alone_never_make_an_answer(tmp_path):
    # "install" relates to "initiate" in WordNet; no word of the question is in the text.
    engine = engine_over(tmp_path, "# Projects\n\nThe board runs three initiatives.\n")
    answer = engine.ask("How do I install Python on Windows?")
    assert not answer.answered
    assert "initiatives" not in answer.text


def test_a_word_the_corpus_has_is_not_replaced_by_its_synonyms(tmp_path):
    engine = engine_over(tmp_path, FAQ + "\n# Reactions\n\nStaff react calmly.\n")
    search = engine.retriever.search("Who should react?")
    assert search.related == {}
    assert search.hits[0].passage.section == "Reactions"


def test_the_table_is_derived_from_wordnets_files(tmp_path):
    # Two synsets in WordNet's database format: {react, respond} and {response}, with a
    # derivation pointer (+) from "respond" (word 2) to "response" (word 1).
    header = "  1 This file is part of WordNet (licence header lines start with spaces)\n"
    (tmp_path / "data.verb").write_text(
        header + "00000001 31 v 02 react 0 respond 0 001 + 00000002 n 0201 00 | act\n",
        encoding="latin-1",
    )
    (tmp_path / "data.noun").write_text(
        header + "00000002 04 n 01 response 0 000 | a reply\n", encoding="latin-1"
    )
    (tmp_path / "index.verb").write_text(
        header + "react v 1 1 + 1 1 00000001\nrespond v 1 1 + 1 1 00000001\n",
        encoding="latin-1",
    )
    (tmp_path / "index.noun").write_text(header + "response n 1 0 1 0 00000002\n", "latin-1")
    for pos in ("adj", "adv"):
        (tmp_path / f"data.{pos}").write_text(header, encoding="latin-1")
        (tmp_path / f"index.{pos}").write_text(header, encoding="latin-1")
    table = related.derive(tmp_path)
    react, respond, response = (analysis.stem(w) for w in ("react", "respond", "response"))
    assert table[react] == {respond, response}
    assert table[respond] == {react, response}
    out = tmp_path / "related.tsv.gz"
    related.write(table, out)
    first = out.read_bytes()
    related.write(table, out)
    assert out.read_bytes() == first  # a rebuild gives the same bytes


def test_the_shipped_table_knows_common_paraphrases():
    assert analysis.stem("respond") in related.related(analysis.stem("react"))
    assert analysis.stem("cyberspace") in related.related(analysis.stem("internet"))
    assert related.related("zzzz") == ()


def test_the_derive_command_names_a_missing_wordnet_folder(tmp_path, capsys):
    assert related.main([str(tmp_path / "nowhere")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error:") and "data.noun" in error and error.count("\n") == 1


def test_well_known_acronyms_are_paired_with_the_long_forms_they_spell(tmp_path):
    # WordNet's synsets: {European Union, EU, Common Market} and {chief executive
    # officer, CEO, chief operating officer}; only long forms whose initials spell the
    # acronym are kept.
    header = "  1 licence header\n"
    (tmp_path / "data.noun").write_text(
        header
        + "00000001 14 n 03 European_Union 0 EU 0 Common_Market 0 000 | a union\n"
        + "00000002 18 n 03 chief_executive_officer 0 CEO 0 chief_operating_officer 0 000 | x\n"
        + "00000003 14 n 02 United_States_of_America 0 USA 0 000 | a country\n",
        encoding="latin-1",
    )
    table = related.derive_acronyms(tmp_path)
    assert table == {
        "eu": ["European Union"],
        "ceo": ["chief executive officer"],
        "usa": ["United States of America"],
    }
    out = tmp_path / related.ACRONYMS
    related.write_acronyms(table, out)
    first = out.read_bytes()
    related.write_acronyms(table, out)
    assert out.read_bytes() == first


def test_country_names_are_the_instances_of_the_political_sense_of_country(tmp_path):
    # {country, state, land} (sense 1) has a kind, {European country}, whose instances
    # are countries; {area, country} (sense 2) has instances too, but they are cities.
    # {Balkans} is "the Balkan countries collectively": a region, left out.
    header = "  1 licence header\n"
    (tmp_path / "data.noun").write_text(
        header
        + "00000001 15 n 03 country 0 state 0 land 0 000 | a political body\n"
        + "00000002 15 n 02 European_country 0 European_nation 0 001 @ 00000001 n 0000 | x\n"
        + "00000003 15 n 02 Ukraine 0 Ukrayina 0 001 @i 00000002 n 0000 | a republic\n"
        + "00000004 15 n 01 Balkans 0 001 @i 00000002 n 0000 | the Balkan countries collectively\n"
        + "00000005 15 n 02 area 0 country 0 000 | a region\n"
        + "00000006 15 n 01 Hobart 0 001 @i 00000005 n 0000 | a city\n",
        encoding="latin-1",
    )
    (tmp_path / "index.noun").write_text(
        header + "country n 2 0 2 2 00000001 00000005\n", encoding="latin-1"
    )
    assert related.derive_countries(tmp_path) == ["Ukraine", "Ukrayina"]


def test_the_shipped_country_names_hold_countries_and_no_regions():
    names = set(related.countries())
    assert {"Ukraine", "Russia", "United States", "Netherlands"} <= names
    assert not {"Balkans", "Europe", "Brussels"} & names


def test_an_acronym_the_text_spells_out_finds_the_passage(tmp_path):
    engine = engine_over(
        tmp_path,
        "# Outreach\n\nDiplomatic outreach with the United Nations.\n\n"
        "# Nations\n\nMember nations meet in Brussels.\n",
    )
    search = engine.retriever.search("Is there outreach to the UN?")
    assert search.hits[0].passage.section == "Outreach"
    assert search.corrections == () and search.unknown == ()
    assert engine.ask("Is there outreach to the UN?").answered


def test_the_text_decides_which_long_form_an_acronym_has(tmp_path):
    # "AI" is first "artificial insemination" in WordNet: this text has both its words,
    # but writes only "artificial intelligence".
    engine = engine_over(
        tmp_path,
        "# Office\n\nThe artificial intelligence office opened in May.\n\n"
        "# Farms\n\nOn most farms insemination is done the artificial way.\n",
    )
    search = engine.retriever.search("When did the AI office open?")
    assert analysis.stem("intelligence") in search.stems
    assert analysis.stem("insemination") not in search.stems
    assert search.hits[0].passage.section == "Office"


def test_a_common_word_in_lower_case_is_not_read_as_an_acronym(tmp_path):
    engine = engine_over(
        tmp_path, "# Health\n\nAcquired immune deficiency syndrome is treated at the clinic.\n"
    )
    assert engine.retriever.search("what about AIDS").hits
    assert analysis.stem("syndrome") in engine.retriever.search("what about AIDS").stems
    lower = engine.retriever.search("which hearing aids are paid")
    assert analysis.stem("syndrome") not in lower.stems and "aids" in lower.unknown
