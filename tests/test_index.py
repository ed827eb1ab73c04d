"""Building the index: what a build reports, staleness, unreadable files, the build lock,
and one analyzer for passages and questions (`bot.index.builder`, `stale`, `lock`)."""

import os
import threading
from collections import Counter

import pytest

from bot import index as index_mod


def build(corpus, **kwargs):
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def test_build_reports_what_it_indexed(small_corpus):
    report = build(small_corpus)
    assert report.files == 1
    assert report.passages >= 3
    assert report.summary().startswith(f"Indexed {report.passages} passages from 1 file in ")


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


def test_index_and_questions_share_one_analyzer(small_corpus):
    """Every passage's indexed terms are what the analyzer makes of its text, and a
    question made of that text asks for exactly those words."""
    from bot import analysis
    from bot.retriever import Retriever

    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    retriever = Retriever(loaded)
    analysed = [set(analysis.analyze(p.indexed_text)) for p in loaded.passages]
    df = Counter(t for terms in analysed for t in terms)  # one file: df within the file
    for passage, terms in zip(loaded.passages, analysed, strict=True):
        start, end = loaded.counts.indptr[passage.position : passage.position + 2]
        indexed = {loaded.terms[c] for c in loaded.counts.indices[start:end]}
        # Bigrams found in a single passage of their file are left out.
        assert indexed == {t for t in terms if " " not in t or df[t] >= 2}
        asked = retriever.search(passage.indexed_text)
        assert asked.corrections == ()
        assert set(asked.stems) == {t for t in indexed if " " not in t}


@pytest.mark.parametrize("name", ["filewords.zst", "filewords.offsets.npy"])
def test_damaged_rebuild_data_means_a_full_rebuild_not_a_crash(small_corpus, name):
    report = build(small_corpus)
    (small_corpus.parent / "index" / report.build / name).write_bytes(b"{broken")
    with pytest.raises(index_mod.IndexCorrupt, match=f"{name} is damaged"):
        index_mod.load(small_corpus.parent / "index")  # any damaged file: checksums
    rebuilt = build(small_corpus)
    assert rebuilt.reused == 0
    assert build(small_corpus).reused == 1


def test_a_damaged_term_list_means_a_full_rebuild_not_a_crash(small_corpus):
    report = build(small_corpus)
    (small_corpus.parent / "index" / report.build / "vocabulary.json.zst").write_text("[1", "utf-8")
    with pytest.raises(index_mod.IndexCorrupt, match="vocabulary.json.zst.*build --full"):
        index_mod.load(small_corpus.parent / "index")
    rebuilt = build(small_corpus)
    assert rebuilt.reused == 0
    assert index_mod.load(small_corpus.parent / "index").terms
