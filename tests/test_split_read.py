"""A large .jsonl file read in byte ranges by several workers gives the one-worker index."""

import json
import logging
import random

import numpy as np
import pytest

from bot import index as index_mod
from bot.index import parts
from bot.retriever import Retriever

VOCABULARY = """
    station measures ozone rainfall wind speed river flood satellite orbit crop harvest
    policy budget council treaty défense cyber attack vaccine trial harbour cargo school
    teacher pupil storm coast glacier melt forest fire
"""
WORDS = VOCABULARY.split()


def collection(lines: int, seed: int = 7) -> list[str]:
    """`lines` JSON Lines of generated passages, ids g0, g1, ..."""
    rng = random.Random(seed)
    rows = []
    for n in range(lines):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."
            for _ in range(rng.randint(2, 5))
        ]
        row = {"id": f"g{n}", "title": f"Topic {n % 13}", "text": " ".join(sentences)}
        rows.append(json.dumps(row, ensure_ascii=n % 2 == 0))
    return rows


def build_both(tmp_path, monkeypatch, rows, caplog=None):
    """Builds the corpus with one worker, then split across two; returns both indexes."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "data.jsonl").write_bytes("\n".join(rows).encode("utf-8") + b"\n")
    one = index_mod.build(corpus, tmp_path / "one", workers=1)
    warnings_one = [r.getMessage() for r in caplog.records] if caplog else []
    if caplog:
        caplog.clear()
    monkeypatch.setattr(parts, "SPLIT_BYTES", 1024)  # a small file split all the same
    pieces = []
    read_in_workers = parts.read_in_workers

    def spy(tasks, away, *args):
        pieces.extend(task for task in tasks if task[2:3] == ("piece",))
        return read_in_workers(tasks, away, *args)

    monkeypatch.setattr(parts, "read_in_workers", spy)
    two = index_mod.build(corpus, tmp_path / "two", workers=2)
    warnings_two = [r.getMessage() for r in caplog.records] if caplog else []
    assert len(pieces) == 2, "the file was read in two byte ranges"
    assert (one.passages, one.terms, one.skipped) == (two.passages, two.terms, two.skipped)
    return (
        index_mod.load(tmp_path / "one"),
        index_mod.load(tmp_path / "two"),
        warnings_one,
        warnings_two,
    )


def assert_same(left, right):
    assert list(left.passages) == list(right.passages)
    assert left.terms == right.terms
    assert left.words == right.words
    for number in range(len(left.manifest["files"])):
        assert left.file_words_line(number) == right.file_words_line(number)
    np.testing.assert_array_equal(left.id_hashes, right.id_hashes)
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(left.postings, name), getattr(right.postings, name))
    np.testing.assert_array_equal(left.norms, right.norms)
    names = sorted(path.name for path in left.path.iterdir() if path.name != "manifest.json")
    assert names == sorted(p.name for p in right.path.iterdir() if p.name != "manifest.json")
    for name in names:  # every file of the build, byte for byte
        assert (left.path / name).read_bytes() == (right.path / name).read_bytes(), name
    for question in ("ozone station", "flood river harbour", "défense treaty council", "xyz"):
        hits = [(h.passage.id, h.score) for h in Retriever(left).search(question, k=10).hits]
        assert hits == [(h.passage.id, h.score) for h in Retriever(right).search(question, 10).hits]


def test_a_file_split_across_workers_gives_the_one_worker_index(tmp_path, monkeypatch):
    left, right, _, _ = build_both(tmp_path, monkeypatch, collection(600))
    assert len(left.passages) >= 600
    assert_same(left, right)


def test_a_large_file_is_read_in_pieces_of_at_most_the_cap_even_by_one_worker(
    tmp_path, monkeypatch
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "data.jsonl").write_text("\n".join(collection(500)) + "\n", encoding="utf-8")
    whole = index_mod.build(corpus, tmp_path / "whole", workers=1)
    monkeypatch.setattr(parts, "MAX_PIECE_BYTES", 20_000)
    spans = []
    read_in_workers = parts.read_in_workers

    def spy(tasks, away, *args):
        spans.extend(task[3:] for task in tasks if task[2:3] == ("piece",))
        return read_in_workers(tasks, away, *args)

    monkeypatch.setattr(parts, "read_in_workers", spy)
    cut = index_mod.build(corpus, tmp_path / "cut", workers=1)
    size = (corpus / "data.jsonl").stat().st_size
    assert len(spans) >= size // 20_000
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert (cut.passages, cut.terms) == (whole.passages, whole.terms)
    assert_same(index_mod.load(tmp_path / "whole"), index_mod.load(tmp_path / "cut"))


def test_bad_lines_in_any_piece_are_skipped_and_named_by_their_line(tmp_path, monkeypatch, caplog):
    rows = collection(400)
    rows[3] = "{not json"
    rows[350] = '{"id": "g340", "text": "a repeat of an id in the same piece"}'
    rows[390] = '{"title": "no id"}'
    with caplog.at_level(logging.WARNING):
        left, right, before, after = build_both(tmp_path, monkeypatch, rows, caplog)
    assert_same(left, right)
    assert any("skipped line 4: not valid JSON" in m for m in before)
    assert any("skipped line 351: duplicate id" in m for m in before)
    assert before == after


def test_an_id_repeated_across_pieces_is_kept_once_as_in_one_read(tmp_path, monkeypatch):
    rows = collection(400)
    rows[350] = '{"id": "g1", "text": "a repeat of an id from the first piece"}'
    left, right, _, _ = build_both(tmp_path, monkeypatch, rows)
    assert_same(left, right)
    assert not any("repeat" in p.text for p in right.passages)


@pytest.mark.parametrize(
    "damage",
    [b"caf\xe9 in cp1252", b"\x00\x01binary"],
    ids=["not UTF-8 after the cut", "binary after the cut"],
)
def test_a_piece_that_reads_otherwise_makes_the_file_read_whole(tmp_path, monkeypatch, damage):
    rows = collection(300)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    data = "\n".join(rows).encode("utf-8") + b"\n"
    data += b'{"id": "last", "text": "' + damage + b'"}\n'
    (corpus / "data.jsonl").write_bytes(data)
    (corpus / "note.txt").write_text("NOTE\n\nThe ozone station is on the coast.")
    one = index_mod.build(corpus, tmp_path / "one", workers=1)
    monkeypatch.setattr(parts, "SPLIT_BYTES", 1024)
    two = index_mod.build(corpus, tmp_path / "two", workers=2)
    assert (one.passages, one.skipped) == (two.passages, two.skipped)
    assert_same(index_mod.load(tmp_path / "one"), index_mod.load(tmp_path / "two"))
