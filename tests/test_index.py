import json
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import index as index_mod
from bot.documents import corpus_files, read_document
from bot.index import store
from bot.passages import Passage, split_documents


def build(corpus, **kwargs):
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def test_build_reports_what_it_indexed(small_corpus):
    report = build(small_corpus)
    assert report.files == 1
    assert report.passages >= 3
    assert report.summary().startswith(f"Indexed {report.passages} passages from 1 file in ")


def test_index_round_trips_exactly_through_save_and_load(small_corpus):
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    documents = [d for p in corpus_files(small_corpus) for d in read_document(p, p.name)]
    expected = split_documents(documents)
    counts, terms, words = index_mod.analyze_passages(expected)
    weights, idf = index_mod.bm25_weights(counts, terms, 1.2, 0.75)
    assert list(loaded.passages) == expected
    assert loaded.terms == terms
    assert loaded.words == dict(words)
    np.testing.assert_array_equal(loaded.idf, idf)
    assert (loaded.weights != weights).nnz == 0
    assert (loaded.counts != counts).nnz == 0
    assert loaded.manifest["files"][0]["path"] == "energy.txt"


def test_a_word_in_every_passage_still_counts(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("EU one\n\nEU apples.\n\nTWO\n\nEU pears.", encoding="utf-8")
    build(corpus)
    loaded = index_mod.load(tmp_path / "index")
    assert loaded.idf[loaded.vocabulary["eu"]] > 0


def test_index_folder_holds_only_plain_data(small_corpus):
    report = build(small_corpus)
    folder = small_corpus.parent / "index" / report.build
    suffixes = {p.suffix for p in folder.iterdir()}
    assert suffixes <= {".json", ".jsonl", ".npy", ".txt"}
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
        lambda d: (d / "passages.jsonl").write_bytes(b"truncated"),
        lambda d: (d / "weights.data.npy").write_bytes(b"\x93NUMPY garbage"),
        lambda d: (d / "idf.npy").unlink(),
        lambda d: (d / "manifest.json").write_text("{}", encoding="utf-8"),
        lambda d: (d / "counts.indptr.npy").write_bytes(
            (d / "counts.indptr.npy").read_bytes()[:-8]
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


def test_staleness_follows_content_not_timestamps(small_corpus):
    index_dir = small_corpus.parent / "index"
    assert index_mod.stale_reason(small_corpus, index_dir) == "no index yet"
    build(small_corpus)
    assert index_mod.stale_reason(small_corpus, index_dir) is None
    text = small_corpus / "energy.txt"
    os.utime(text, ns=(1, 1))  # touched, not changed
    assert index_mod.stale_reason(small_corpus, index_dir) is None
    text.write_text(text.read_text() + "\nNEW\n\nA new fact.\n", encoding="utf-8")
    assert index_mod.stale_reason(small_corpus, index_dir) == "energy.txt changed"
    build(small_corpus)
    (small_corpus / "more.md").write_text("# More\n\nText.", encoding="utf-8")
    assert index_mod.stale_reason(small_corpus, index_dir) == "more.md is new"
    build(small_corpus)
    (small_corpus / "more.md").unlink()
    assert index_mod.stale_reason(small_corpus, index_dir) == "more.md was removed"


def test_unreadable_files_are_skipped_and_the_build_succeeds(small_corpus, caplog):
    (small_corpus / "image.txt").write_bytes(b"\x89PNG\x00\x00\x01binary" * 50)
    (small_corpus / "empty.md").write_text("", encoding="utf-8")
    report = build(small_corpus)
    assert report.skipped == ("image.txt",)
    assert report.files == 2
    assert "image.txt" in report.summary()
    assert "image.txt" in caplog.text
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") is None


def test_empty_or_missing_corpus_gets_a_sentence(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(index_mod.EmptyCorpus, match="No text to index"):
        build(tmp_path / "corpus")
    with pytest.raises(index_mod.EmptyCorpus, match="nowhere"):
        index_mod.build(tmp_path / "nowhere", tmp_path / "index")


def test_corpus_of_stop_words_only_is_refused_with_a_reason(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("the of and\n\nit is", encoding="utf-8")
    with pytest.raises(index_mod.EmptyCorpus, match="only stop words"):
        build(corpus)


def test_a_second_concurrent_build_stops_cleanly(small_corpus):
    index_dir = small_corpus.parent / "index"
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with index_mod.build_lock(index_dir):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(index_mod.BuildInProgress, match="another build"):
            build(small_corpus)
    finally:
        release.set()
        thread.join()
    assert build(small_corpus).passages > 0


def test_a_failed_build_leaves_the_previous_index_serving(small_corpus, monkeypatch):
    index_dir = small_corpus.parent / "index"
    before = build(small_corpus).build

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_dump_json", explode)
    with pytest.raises(OSError, match="No space"):
        build(small_corpus)
    assert (index_dir / "CURRENT").read_text().strip() == before
    assert not list(index_dir.glob(".tmp-*"))
    assert len(index_mod.load(index_dir).passages) > 0


def test_index_and_questions_share_one_analyzer(small_corpus):
    """Every passage's indexed terms are what the analyzer makes of its text, and a
    question made of that text asks for exactly those words."""
    from bot import analysis
    from bot.retriever import Retriever

    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    retriever = Retriever(loaded)
    for passage in loaded.passages:
        start, end = loaded.counts.indptr[passage.position : passage.position + 2]
        indexed = {loaded.terms[c] for c in loaded.counts.indices[start:end]}
        assert indexed == set(analysis.analyze(passage.indexed_text))
        asked = retriever.search(passage.indexed_text)
        assert asked.corrections == ()
        assert set(asked.stems) == {t for t in indexed if " " not in t}


@pytest.mark.parametrize("name", ["filewords.jsonl", "filewords.offsets.npy"])
def test_damaged_rebuild_data_means_a_full_rebuild_not_a_crash(small_corpus, name):
    report = build(small_corpus)
    (small_corpus.parent / "index" / report.build / name).write_bytes(b"{broken")
    assert index_mod.load(small_corpus.parent / "index").passages  # questions unaffected
    rebuilt = build(small_corpus)
    assert rebuilt.reused == 0
    assert build(small_corpus).reused == 1


def test_a_damaged_term_list_means_a_full_rebuild_not_a_crash(small_corpus):
    report = build(small_corpus)
    (small_corpus.parent / "index" / report.build / "vocabulary.json").write_text("[1", "utf-8")
    loaded = index_mod.load(small_corpus.parent / "index")  # questions need no term list
    with pytest.raises(index_mod.IndexCorrupt, match="vocabulary.json.*build --full"):
        loaded.terms  # noqa: B018
    rebuilt = build(small_corpus)
    assert rebuilt.reused == 0
    assert index_mod.load(small_corpus.parent / "index").terms


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


_WORDS = st.sampled_from(
    ["cyber", "Cyber", "defence", "defences", "the", "of", "a", "5", "x", "EU's", "é", "naïve", "б"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_WORDS, max_size=12).map(" ".join), min_size=1, max_size=6))
def test_passage_counts_are_exactly_what_the_analyzer_makes(texts):
    """The vectorised counting (per distinct word, bigrams as numbers) against
    `analysis.analyze` passage by passage: the same terms, each counted as often."""
    from collections import Counter

    from bot import analysis

    passages = [Passage(f"d#{i}", "d", "", text, i) for i, text in enumerate(texts)]
    counts, terms, words = index_mod.analyze_passages(passages)
    assert terms == sorted(terms)
    expected_words: Counter[str] = Counter()
    for row, text in enumerate(texts):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        row_terms = counts.indices[start:end].tolist()
        row_counts = counts.data[start:end].tolist()
        got = {terms[c]: int(n) for c, n in zip(row_terms, row_counts, strict=True)}
        assert got == dict(Counter(analysis.analyze(text)))
        expected_words.update(analysis.content_words(text))
    assert dict(words) == dict(expected_words)


def test_weight_columns_list_their_passages_in_order(small_corpus):
    """bot.scoring splits a question's postings by passage range with a binary search."""
    build(small_corpus)
    weights = index_mod.load(small_corpus.parent / "index").weights
    for column in range(weights.shape[1]):
        passages = weights.indices[weights.indptr[column] : weights.indptr[column + 1]]
        assert (np.diff(passages) > 0).all()
