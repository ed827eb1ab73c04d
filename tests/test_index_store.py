"""The index's on-disk format: what a build writes is what `load` reads, plain data,
swapped atomically, and damage is named with the fix (`bot.index.store`, `reader`, `writer`)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import index as index_mod
from bot.documents import corpus_files, read_document
from bot.index import store, weighting, writer
from bot.index.store import BIGRAM_MIN_DF
from bot.passages import Passage, split_documents


def build(corpus, **kwargs):
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def test_index_round_trips_exactly_through_save_and_load(small_corpus):
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    documents = [d for p in corpus_files(small_corpus) for d in read_document(p, p.name)]
    expected = split_documents(documents)
    counts, terms, words = index_mod.analyze_passages(expected)
    counts = weighting.prune_bigrams(counts, terms, BIGRAM_MIN_DF)
    kept = np.unique(counts.indices)
    counts, terms = counts[:, kept], [terms[c] for c in kept]  # the build drops unused terms
    postings, idf, norms = index_mod.bm25_weights(counts, terms, 1.2, 0.75)
    assert list(loaded.passages) == expected
    assert loaded.terms == terms
    assert loaded.words == dict(words)
    np.testing.assert_array_equal(loaded.idf, idf)
    np.testing.assert_array_equal(loaded.norms, norms)
    codes, table = loaded.coded_norms  # what the compiled loop reads instead
    assert codes.dtype == np.uint8 and table.size == 256
    assert table[codes].tobytes() == norms.tobytes()
    assert loaded.postings.data.dtype == np.uint8
    assert (loaded.postings.to_scipy() != postings).nnz == 0
    assert (loaded.counts.to_scipy() != counts).nnz == 0
    assert loaded.manifest["files"][0]["path"] == "energy.txt"


def test_index_folder_holds_only_plain_data(small_corpus):
    report = build(small_corpus)
    folder = small_corpus.parent / "index" / report.build
    suffixes = {p.suffix for p in folder.iterdir()}
    assert suffixes <= {".json", ".jsonl", ".npy", ".txt", ".zst", ".dict"}  # zstd: data
    for path in folder.glob("*.npy"):
        np.load(path, allow_pickle=False)


def test_rebuild_swaps_current_and_keeps_one_previous_build(small_corpus):
    index_dir = small_corpus.parent / "index"
    first = build(small_corpus).build
    second = build(small_corpus).build
    third = build(small_corpus).build
    assert (index_dir / "CURRENT").read_text().strip() == third
    builds = sorted(p.name for p in index_dir.glob("build-*"))
    assert builds == sorted([second, third])
    assert first not in builds


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(index_mod.IndexNotFound, match="Run: python -m bot build"):
        index_mod.load(tmp_path / "index")


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "words.txt").write_text("a\nb\n", encoding="utf-8"),
        lambda d: (d / "vocabulary.hashes.npy").write_bytes(
            (d / "vocabulary.hashes.npy").read_bytes()[:-8]
        ),
        lambda d: (d / "passages.zst").write_bytes(b"truncated"),
        lambda d: (d / "postings.data.npy").write_bytes(b"\x93NUMPY garbage"),
        lambda d: (d / "idf.npy").unlink(),
        lambda d: (d / "manifest.json").write_text("{}", encoding="utf-8"),
        lambda d: (d / "postings.indptr.npy").write_bytes(
            (d / "postings.indptr.npy").read_bytes()[:-8]
        ),
    ],
    ids=[
        "words-without-counts",
        "cut-term-table",
        "truncated-passages",
        "garbage-npy",
        "missing-idf",
        "old-format",
        "cut-npy",
    ],
)
def test_damaged_index_files_are_named_with_the_fix(small_corpus, damage):
    report = build(small_corpus)
    damage(small_corpus.parent / "index" / report.build)
    with pytest.raises(index_mod.IndexCorrupt, match=r"(index|\.npy|\.json|\.jsonl).*build --full"):
        index_mod.load(small_corpus.parent / "index")


def test_other_format_version_is_refused_with_the_rebuild_command(small_corpus):
    report = build(small_corpus)
    manifest = small_corpus.parent / "index" / report.build / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 999
    manifest.write_text(json.dumps(data))
    with pytest.raises(index_mod.IndexCorrupt, match="format 999.*python -m bot build --full"):
        index_mod.load(small_corpus.parent / "index")


def test_a_failed_build_leaves_the_previous_index_serving(small_corpus, monkeypatch):
    index_dir = small_corpus.parent / "index"
    before = build(small_corpus).build

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_dump_json", explode)
    with pytest.raises(OSError, match="No space"):
        build(small_corpus)
    assert (index_dir / "CURRENT").read_text().strip() == before
    assert not list(index_dir.glob(".tmp-*"))
    assert len(index_mod.load(index_dir).passages) > 0


def test_term_lookups_agree_with_the_term_list(small_corpus):
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    assert isinstance(loaded.vocabulary, index_mod.StringTable)
    assert len(loaded.vocabulary) == len(loaded.terms)
    for column, term in enumerate(loaded.terms):
        assert loaded.vocabulary[term] == column
    assert "no such term here" not in loaded.vocabulary
    assert loaded.vocabulary.get("no such term here") is None


def test_passages_are_found_by_id_in_the_current_index(small_corpus):
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    assert loaded.passage_ids is not None
    for passage in loaded.passages:
        assert loaded.position_of(passage.id) == passage.position
    assert loaded.position_of("energy.txt#99-deadbeef") is None


def test_posting_columns_list_their_passages_in_order(small_corpus):
    """bot.scoring splits a question's postings by passage range with a binary search."""
    build(small_corpus)
    postings = index_mod.load(small_corpus.parent / "index").postings
    for column in range(postings.shape[1]):
        passages = postings.indices[postings.indptr[column] : postings.indptr[column + 1]]
        assert (np.diff(passages) > 0).all()


def test_loaded_matrices_stay_memory_mapped_as_stored(small_corpus):
    """Loading maps the .npy files; it neither copies nor converts them."""
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    matrix = loaded.postings
    for array in (matrix.data, matrix.indices, matrix.indptr, loaded.norms):
        assert isinstance(array.base, np.memmap)
    assert (matrix.indices.dtype, matrix.indptr.dtype) == (np.int32, np.int64)
    assert matrix.shape == loaded.counts.shape == (len(loaded.passages), len(loaded.terms))


def test_an_index_of_the_previous_format_is_rebuilt_by_the_next_command(small_corpus, caplog):
    """Format 4 adds the norms as codes for the scoring loop: a format 3 index is not
    read, and any command rebuilds it in full, saying why."""
    from bot.engine import Engine, ensure_index
    from tests.conftest import settings_for

    report = build(small_corpus)
    manifest = small_corpus.parent / "index" / report.build / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 3
    manifest.write_text(json.dumps(data))
    said: list[str] = []
    ensure_index(settings_for(small_corpus), said.append)
    assert "index format 3, this program reads format 4" in said[0]
    assert "python -m bot build --full" in said[0]
    assert "previous index failed its checks" in caplog.text  # nothing reused from it
    loaded = index_mod.load(small_corpus.parent / "index")
    assert loaded.manifest["format_version"] == index_mod.FORMAT_VERSION == 4
    assert (
        Engine.open(settings_for(small_corpus))
        .ask("How much of its electricity does Denmark get from wind?")
        .answered
    )


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.text(), st.text())
def test_a_passage_line_is_the_json_of_its_four_fields(id_, doc, section, text):
    """Quotes, backslashes, control characters, any script, emoji: json.dumps's bytes."""
    passage = Passage(id_, doc, section, text, 0)
    row = {"id": id_, "doc": doc, "section": section, "text": text}
    try:
        expected = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 line either way
        with pytest.raises(UnicodeEncodeError):
            store.passage_line(passage)
        return
    assert store.passage_line(passage) == expected
    assert json.loads(expected) == row


def _varied_passages(name, count):
    rivers = ("Rhine", "Danube", "Elbe", "Oder", "Vistula", "Loire", "Po", "Tagus")
    return "\n".join(
        json.dumps(
            {
                "id": f"{name}{i}",
                "text": f"Station {i} on the {rivers[i % 8]} logged {i * 37 % 101} mm of rain "
                f"and ozone at {i * 13 % 89} ppb in week {i % 52}; floods {i % 5} times.",
            }
        )
        for i in range(count)
    )


def test_passages_compressed_with_a_trained_dictionary_read_back_exactly(tmp_path, monkeypatch):
    """The dictionary is trained with fixed parameters: every passage reads back as
    written, and a rebuild that reuses one file writes the same dictionary and
    passages.zst, byte for byte, as a full build of the same text."""
    monkeypatch.setattr(store, "_DICTIONARY_MIN_BYTES", 1024)
    monkeypatch.setattr(store, "_DICTIONARY_SIZE", 4096)
    monkeypatch.setattr(store, "_DICTIONARY_SAMPLES", 100)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text(_varied_passages("a", 300), encoding="utf-8")
    (corpus / "b.jsonl").write_text(_varied_passages("b", 200), encoding="utf-8")
    index_mod.build(corpus, tmp_path / "index")
    (corpus / "b.jsonl").write_text(_varied_passages("c", 250), encoding="utf-8")
    assert index_mod.build(corpus, tmp_path / "index").reused == 1
    index_mod.build(corpus, tmp_path / "full", full=True)
    left, right = (index_mod.current_build(tmp_path / name) for name in ("index", "full"))
    assert (left / store.PASSAGE_DICTIONARY).read_bytes()
    for name in (store.PASSAGE_DICTIONARY, store.PASSAGES, "passages.offsets.npy"):
        assert (left / name).read_bytes() == (right / name).read_bytes(), name
    documents = [d for p in corpus_files(corpus) for d in read_document(p, p.name)]
    expected = [p.text for p in split_documents(documents)]
    assert [p.text for p in index_mod.load(tmp_path / "index").passages] == expected
