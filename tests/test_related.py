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
