"""Rebuilding after text updates: incremental, equal to full, atomic, picked up live."""

import io
import os
import queue
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from bot import index as index_mod
from bot.console import Console
from bot.engine import Engine
from bot.index import builder, parts
from bot.watch import snapshot, watch
from tests.conftest import ROOT, run_bot, settings_for

FACTS = {
    "a.txt": "ALPHA\n\nThe alpha station measures ozone.",
    "b.md": "# Beta\n\nThe beta station measures rainfall.",
    "c.txt": "GAMMA\n\nThe gamma station measures wind speed.",
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in FACTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def build(corpus, **kwargs):
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def answer(engine, question):
    reply = engine.ask(question)
    return reply.text if reply.answered else ""


def test_add_change_delete_are_answered_live_without_restart(corpus):
    engine = Engine.open(settings_for(corpus))
    assert "ozone" in answer(engine, "What does the alpha station measure?")
    assert answer(engine, "What does the delta station measure?") == ""

    (corpus / "d.txt").write_text("DELTA\n\nThe delta station measures snow depth.")
    report = build(corpus)
    assert report.added == ("d.txt",)
    assert "snow depth" in answer(engine, "What does the delta station measure?")

    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures carbon dioxide.")
    report = build(corpus)
    assert report.changed == ("a.txt",)
    assert "carbon dioxide" in answer(engine, "What does the alpha station measure?")

    (corpus / "b.md").unlink()
    report = build(corpus)
    assert report.removed == ("b.md",)
    assert answer(engine, "What does the beta station measure rainfall?") == ""


def test_summary_says_what_changed(corpus):
    build(corpus)
    (corpus / "c.txt").write_text("GAMMA\n\nWind speed.\n\nMORE\n\nAnd gusts of wind.")
    summary = build(corpus).summary()
    assert "1 changed: c.txt, 0 added, 0 removed; 3 -> 4 passages; 2 reused" in summary


def test_unchanged_files_are_not_read_again(corpus, monkeypatch):
    build(corpus)
    (corpus / "c.txt").write_text("GAMMA\n\nThe gamma station measures humidity.")
    read = []
    original = parts.read_document
    monkeypatch.setattr(parts, "read_document", lambda p, n: read.append(n) or original(p, n))
    report = build(corpus)
    assert read == ["c.txt"]
    assert report.reused == 2


def test_touched_but_unchanged_file_is_reused(corpus):
    build(corpus)
    text = (corpus / "a.txt").read_text()
    (corpus / "a.txt").write_text(text)  # new mtime, same bytes
    report = build(corpus)
    assert report.reused == 3
    assert report.changed == ()


def assert_same_index(left, right):
    assert list(left.passages) == list(right.passages)
    assert left.terms == right.terms
    assert left.words == right.words
    np.testing.assert_array_equal(left.idf, right.idf)
    np.testing.assert_array_equal(left.id_hashes, right.id_hashes)
    for term in right.terms:  # the incremental term table reused hashes; it must agree
        assert left.vocabulary[term] == right.vocabulary[term]
    np.testing.assert_array_equal(left.norms, right.norms)
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(left.postings, name), getattr(right.postings, name))


def test_incremental_build_equals_full_build(corpus, tmp_path):
    build(corpus)
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures ozone and smog.")
    (corpus / "e.txt").write_text("EPSILON\n\nA new station measures noise.")
    (corpus / "b.md").unlink()
    incremental = build(corpus)
    assert incremental.reused == 1
    index_mod.build(corpus, tmp_path / "full-index", full=True)
    assert_same_index(
        index_mod.load(corpus.parent / "index"), index_mod.load(tmp_path / "full-index")
    )


def test_files_read_in_worker_processes_give_the_same_index(corpus, tmp_path, monkeypatch):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (corpus / "notes.txt").write_bytes(b"")  # no text: no passages, still listed
    one = build(corpus, workers=1)
    monkeypatch.setattr(parts, "PARALLEL_BYTES", 0)  # small files, worker processes anyway
    submitted = []
    read_in_workers = parts.read_in_workers

    def spy(files, away, *args):
        submitted.extend(task[1] for task, sent in zip(files, away, strict=True) if sent)
        return read_in_workers(files, away, *args)

    monkeypatch.setattr(parts, "read_in_workers", spy)
    two = index_mod.build(corpus, tmp_path / "parallel", workers=2)
    assert sorted(submitted) == sorted(p.name for p in corpus.iterdir())
    assert (two.files, two.passages, two.skipped) == (one.files, one.passages, one.skipped)
    assert two.skipped == ("broken.pdf",)
    assert_same_index(
        index_mod.load(corpus.parent / "index"), index_mod.load(tmp_path / "parallel")
    )


def test_full_flag_reads_everything(corpus):
    build(corpus)
    assert build(corpus, full=True).reused == 0


def test_interrupted_build_leaves_the_old_index_serving(corpus, monkeypatch):
    engine = Engine.open(settings_for(corpus))
    before = (corpus.parent / "index" / "CURRENT").read_text()
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures methane.")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(builder, "bm25_weights", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(corpus)
    assert (corpus.parent / "index" / "CURRENT").read_text() == before
    assert "ozone" in answer(engine, "What does the alpha station measure?")
    monkeypatch.undo()
    build(corpus)
    assert "methane" in answer(engine, "What does the alpha station measure?")


def test_watch_rebuilds_once_for_a_burst_and_stops(corpus):
    build(corpus)
    reports: list[str] = []
    seen = threading.Condition()
    stop = threading.Event()

    def report(line: str) -> None:
        with seen:
            reports.append(line)
            seen.notify_all()

    thread = threading.Thread(
        target=watch,
        args=(lambda: build(corpus), corpus, report, stop),
        kwargs={"interval": 0.02, "debounce": 0.2, "since": snapshot(corpus)},
    )
    thread.start()
    try:
        for i in range(3):  # a burst of saves
            (corpus / "f.txt").write_text(f"ZETA\n\nThe zeta station measures {i} things.")
        with seen:
            assert seen.wait_for(lambda: reports, timeout=20)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(reports) == 1
    assert "1 added" in reports[0]


def test_engine_rebuild_serves_the_new_text_at_once(corpus):
    engine = Engine.open(settings_for(corpus))
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures radon.")
    report = engine.rebuild()
    assert (report.changed, report.reused) == (("a.txt",), 2)
    assert engine.info.build_id == report.build
    assert "radon" in engine.retriever.search("alpha station", 1).hits[0].passage.text
    assert engine.rebuild(full=True).reused == 0


def test_engine_rebuild_stops_cleanly_while_another_build_runs(corpus):
    engine = Engine.open(settings_for(corpus))
    before = engine.info.build_id
    with (
        index_mod.build_lock(corpus.parent / "index"),
        pytest.raises(index_mod.BuildInProgress, match="another build"),
    ):
        engine.rebuild()
    assert engine.info.build_id == before
    calls = []
    report = engine.rebuild(wait=True, progress=lambda *call: calls.append(call))
    assert calls[-1] == (3, 3, 100)
    assert engine.info.build_id == report.build != before


def test_console_answers_the_new_fact_after_a_build(corpus):
    engine = Engine.open(settings_for(corpus))
    console = Console(engine, io.StringIO(), io.StringIO())
    assert "ozone" in console.handle("What does the alpha station measure?")
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures pollen.")
    build(corpus)
    assert "pollen" in console.handle("What does the alpha station measure?")


def test_a_question_uses_one_index_throughout(corpus):
    engine = Engine.open(settings_for(corpus))
    old = engine.retriever
    (corpus / "a.txt").write_text("ALPHA\n\nThe alpha station measures lightning.")
    build(corpus)
    assert old.search("alpha station", 1).hits[0].passage.text.endswith("ozone.")
    assert "lightning" in answer(engine, "What does the alpha station measure?")
    assert engine.retriever is not old


def test_build_watch_command_rebuilds_and_stops_on_ctrl_c(corpus):
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "build", "--watch"],
        cwd=corpus.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    try:
        assert lines.get(timeout=60).startswith("Indexed 3 passages")
        (corpus / "g.txt").write_text("ETA\n\nThe eta station measures hail.")
        assert "1 added" in lines.get(timeout=60)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Stopped watching." in err


def test_a_second_build_command_says_it_lost(corpus):
    index_dir = corpus.parent / "index"
    with index_mod.build_lock(index_dir):
        result = run_bot("build", cwd=corpus.parent)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: another build of")


def test_build_reports_progress_per_file_up_to_all_bytes(corpus):
    calls = []
    build(corpus, progress=lambda done, files, percent: calls.append((done, files, percent)))
    assert [c[0] for c in calls] == [1, 2, 3]
    assert calls[-1] == (3, 3, 100)
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)


def test_progress_line_appears_only_for_long_builds_and_is_cleared():
    from bot.cli import Progress

    now = [0.0]
    quiet, shown = io.StringIO(), io.StringIO()
    short = Progress(quiet, delay=2.0, clock=lambda: now[0])
    long = Progress(shown, delay=2.0, clock=lambda: now[0])
    short(1, 2, 50)
    short(2, 2, 100)
    now[0] = 5.0
    long(1, 2, 50)
    long(2, 2, 100)
    assert quiet.getvalue() == ""
    assert "Reading files:  50% (1/2)" in shown.getvalue()
    assert shown.getvalue().endswith("\r")
