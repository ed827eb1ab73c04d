"""A streaming build (parts spilled to disk, then merged) writes the in-memory build's files."""

import json

import pytest

from bot import index as index_mod
from bot.index import builder, store, stream
from bot.retriever import Retriever
from tests.test_split_read import collection

TEXTS = {
    "a.txt": "ALPHA\n\nThe alpha station measures ozone. Ozone rises in summer heat.",
    "b.md": "# Beta\n\nThe beta station measures rainfall and river floods.\n\n- flood alerts",
    "c/d.txt": "GAMMA\n\nThe gamma station measures wind speed on the coast. Café défense.",
    "empty.txt": "",
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    for name, text in TEXTS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    rows = collection(300)
    (folder / "data.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "more.jsonl").write_text("\n".join(collection(50, seed=3)) + "\n", encoding="utf-8")
    return folder


def streamed(monkeypatch, block=None):
    monkeypatch.setattr(builder, "STREAM_BYTES", 0)
    if block:
        monkeypatch.setattr(stream, "BLOCK", block)


def files_of(index_dir):
    build_dir = index_mod.current_build(index_dir)
    return {path.name: path.read_bytes() for path in sorted(build_dir.iterdir())}


def manifest(files):
    value = json.loads(files.pop("manifest.json"))
    value.pop("built_at")
    return value


@pytest.mark.parametrize("block", [None, 64], ids=["one block", "blocks of 64 postings"])
def test_a_streamed_build_writes_the_same_files_as_one_in_memory(
    corpus, tmp_path, monkeypatch, block
):
    memory = index_mod.build(corpus, tmp_path / "memory", workers=1)
    streamed(monkeypatch, block)
    report = index_mod.build(corpus, tmp_path / "stream", workers=1)
    assert (report.files, report.passages, report.terms, report.skipped) == (
        memory.files,
        memory.passages,
        memory.terms,
        memory.skipped,
    )
    left, right = files_of(tmp_path / "memory"), files_of(tmp_path / "stream")
    assert manifest(left) == manifest(right)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name] == right[name], name
    one, two = (
        Retriever(index_mod.load(tmp_path / "memory")),
        Retriever(index_mod.load(tmp_path / "stream")),
    )
    for question in ("ozone station", "flood river", "wind on the coast", "défense treaty"):
        assert [(h.passage.id, h.score) for h in one.search(question, 10).hits] == [
            (h.passage.id, h.score) for h in two.search(question, 10).hits
        ]


def test_a_streamed_build_compresses_passages_with_the_in_memory_dictionary(
    corpus, tmp_path, monkeypatch
):
    # The dictionary is trained on every n-th passage, n known only once all are read:
    # a small corpus gets one here (a small dictionary, sampled every 7th passage).
    monkeypatch.setattr(store, "_DICTIONARY_MIN_BYTES", 1024)
    monkeypatch.setattr(store, "_DICTIONARY_SIZE", 4096)
    monkeypatch.setattr(store, "_DICTIONARY_SAMPLES", 50)
    index_mod.build(corpus, tmp_path / "memory", workers=1)
    streamed(monkeypatch, 64)
    index_mod.build(corpus, tmp_path / "stream", workers=1)
    left, right = files_of(tmp_path / "memory"), files_of(tmp_path / "stream")
    assert left["passages.dict"]
    assert manifest(left) == manifest(right)
    for name in left:
        assert left[name] == right[name], name
    passages = index_mod.load(tmp_path / "stream").passages
    assert [p.id for p in passages] == [p.id for p in index_mod.load(tmp_path / "memory").passages]


def test_a_streamed_build_is_rebuilt_incrementally_as_a_full_build_is(
    corpus, tmp_path, monkeypatch
):
    streamed(monkeypatch, 64)
    index_mod.build(corpus, tmp_path / "index", workers=1)
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures smog now.")
    (corpus / "c/d.txt").unlink()
    (corpus / "e.txt").write_text("EPSILON\n\nA new station measures noise.")
    again = index_mod.build(corpus, tmp_path / "index", workers=1)
    assert again.reused == again.files - 2
    monkeypatch.setattr(builder, "STREAM_BYTES", 1 << 40)
    index_mod.build(corpus, tmp_path / "full", workers=1, full=True)
    left, right = files_of(tmp_path / "index"), files_of(tmp_path / "full")
    assert manifest(left)["files"] == manifest(right)["files"]
    for name in left:
        assert left[name] == right[name], name


def test_a_streamed_build_of_nothing_says_why(tmp_path, monkeypatch):
    streamed(monkeypatch)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "the.txt").write_text("the and of to", encoding="utf-8")
    with pytest.raises(index_mod.EmptyCorpus, match="No words to index"):
        index_mod.build(corpus, tmp_path / "index")
    (corpus / "the.txt").write_text("", encoding="utf-8")
    with pytest.raises(index_mod.EmptyCorpus, match="No text to index"):
        index_mod.build(corpus, tmp_path / "index")
    assert not list((tmp_path / "index").glob(".tmp-*"))
