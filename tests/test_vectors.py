"""Word vectors: the decision sees how close a reply comes to the words it lacks."""

import pytest

from bot import answer as answer_mod
from bot import vectors
from bot.question import parse

# GloVe's text format: a word, then its numbers; most frequent first. Punctuation,
# numbers, capitals and words with dots are not words a question is split into.
GLOVE = """the 0.1 0.2 0.3
, 0.5 0.5 0.5
fast 1.0 0.1 0.0
quick 0.9 0.2 0.0
2014 0.3 0.3 0.3
u.s. 0.1 0.1 0.1
Paris 0.0 0.0 1.0
passport 0.0 1.0 0.0
"""


def test_the_table_is_derived_from_gloves_text_file(tmp_path):
    source = tmp_path / "glove.txt"
    source.write_text(GLOVE, encoding="utf-8")
    words, rows = vectors.derive(source)
    assert words == ["the", "fast", "quick", "passport"]
    out = tmp_path / "vectors.npz"
    vectors.write(words, rows, out)
    first = out.read_bytes()
    vectors.write(words, rows, out)
    assert out.read_bytes() == first  # a rebuild gives the same bytes
    table, index = vectors.load(first)
    assert list(index) == words
    closest = table[index["fast"]] @ table[index["quick"]]
    assert closest > 0.95 > table[index["fast"]] @ table[index["passport"]]
    assert vectors.derive(source, limit=2)[0] == ["the", "fast"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fast 1.0 0.1\nquick 0.9\n", "line 2"),
        ("fast one two\n", "line 1"),
        (", 0.1 0.2\n", "no word"),
    ],
)
def test_the_derive_command_names_what_is_wrong_with_the_file(tmp_path, capsys, text, problem):
    source = tmp_path / "glove.txt"
    source.write_text(text, encoding="utf-8")
    assert vectors.main([str(source), str(tmp_path / "out.npz")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error:") and problem in error and error.count("\n") == 1
    assert not (tmp_path / "out.npz").exists()


def test_the_derive_command_names_a_missing_file(tmp_path, capsys):
    assert vectors.main([str(tmp_path / "glove.6B.50d.txt")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error:") and "glove.6B.50d.txt" in error


def test_the_shipped_vectors_put_paraphrases_close_and_unrelated_words_far():
    near = vectors.closeness(["quickly", "changing"], ["fast", "evolving"])
    far = vectors.closeness(["quickly", "changing"], ["passport", "lunch"])
    assert near[0] > far[0] and near[1] > far[1]
    assert vectors.closeness(["passport", "lunch"], ["evolving", "dialogues"]) == [0.0, 0.0]
    assert vectors.closeness(["Fast"], ["fast"]) == [pytest.approx(1.0, abs=1e-3)]
    # A name the table lacks is close to nothing, and nothing is close to an empty reply.
    assert vectors.closeness(["iproceeds"], ["projects"]) == [0.0]
    assert vectors.closeness(["fast"], []) == [0.0]


def test_without_the_table_nothing_is_close_and_the_bot_still_replies(shipped_engine, monkeypatch):
    def forget():
        vectors._table.cache_clear()
        vectors._rows_in.cache_clear()

    forget()
    monkeypatch.setattr(vectors, "FILENAME", "no-such-table.npz")
    try:
        assert vectors.closeness(["quickly"], ["fast"]) == [0.0]
        reply = shipped_engine.ask("Does the EU hold talks with non-EU countries?")
        assert reply.hits and reply.text
    finally:
        forget()


def features(engine, text):
    retriever = engine.retriever
    question = parse(text)
    reply = answer_mod.draft(retriever, question, retriever.search(question, 3))
    assert reply is not None
    return reply.features


def test_a_reply_close_in_meaning_to_the_words_it_lacks_counts_them_in_part(shipped_engine):
    # "hold talks" and "non-EU" are not the factsheet's words; "dialogues with third
    # countries" is close in meaning to them, so the reply holds more of the question
    # than its exact words say, and the words it lacks count less against it.
    paraphrase = features(shipped_engine, "Does the EU hold talks with non-EU countries?")
    assert paraphrase["sentence_closeness"] > paraphrase["sentence_coverage"]
    # Every word quoted: nothing to add.
    exact = features(shipped_engine, "Did the EU help Ukraine with cyber defence?")
    assert exact["sentence_closeness"] == exact["sentence_coverage"] == 1.0
    assert exact["unquoted_specific"] == 0.0
