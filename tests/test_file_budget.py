"""The time budget per file (BOT_FILE_TIMEOUT): no file can stall a build.

A file that takes longer than the budget to read, split and analyse is skipped with a
warning naming it; the other files are indexed and answer; no worker process is left
behind. The slow file is real, not mocked: megabytes of varied prose, which take
seconds to analyse on any machine (0.43 s/MB measured here), under a budget of half a
second.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from bot import index as index_mod
from bot.config import ConfigError, Settings
from bot.engine import Engine
from bot.index import parts
from tests.conftest import ROOT, run_bot, settings_for

SHIPPED = ROOT / "corpus" / "cybersecurity-eu-external-action.txt"
BUDGET = 0.5
WAIT = 60.0  # seconds any condition below may take on a loaded machine
TAG = "POLICY_QA_TEST_TAG"  # marks a subprocess's descendants, to find them in /proc


def prose(megabytes: int, seed: int = 15) -> str:
    """Varied made-up prose under headings: slow to analyse in proportion to its size."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "che", "gu"]
    words = [a + b + c for a in syllables for b in syllables for c in syllables]
    out, size, n = [], 0, 0
    while size < megabytes * 1024 * 1024:
        if n % 40 == 0:
            line = f"SECTION {n}\n\n"
        else:
            sentences = (" ".join(rng.choices(words, k=12)).capitalize() + "." for _ in range(5))
            line = " ".join(sentences) + "\n\n"
        out.append(line)
        size, n = size + len(line), n + 1
    return "".join(out)


@pytest.fixture
def slow_corpus(tmp_path: Path) -> Path:
    """The factsheet, a small Markdown note, and 8 MB of prose (seconds to analyse)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SHIPPED.name).write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    (corpus / "note.md").write_text("# Zeppelins\n\nThe hangar houses twelve airships.\n")
    (corpus / "huge.txt").write_text(prose(8), encoding="utf-8")
    return corpus


def children_of(pid: int) -> list[int]:
    """Every live descendant of a process (from /proc), zombies aside."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def our_workers() -> list[int]:
    """This test process's descendants, but multiprocessing's forkserver and resource tracker."""
    workers = []
    for pid in children_of(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" not in command and b"resource_tracker" not in command:
            workers.append(pid)
    return workers


def tagged(tag: str) -> list[int]:
    """Processes whose environment holds TAG=tag: a subprocess and whatever it started."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(condition: object, what: str) -> None:
    """Polls `condition()` until it is true, failing after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def assert_factsheet_answers(settings: Settings) -> None:
    answer = Engine.open(settings).ask("What is PESCO?")
    assert answer.hits[0].passage.doc == SHIPPED.name
    assert "Permanent Structured Cooperation" in answer.text


def test_a_file_over_the_budget_is_skipped_and_the_others_answer(
    slow_corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(slow_corpus, file_timeout=BUDGET)
    with caplog.at_level(logging.WARNING):
        report = index_mod.build_with(settings, full=True)
    assert report.timed_out == ("huge.txt",)
    assert report.skipped == ("huge.txt",)
    assert report.files == 2
    assert "skipped 1 over the 0.5 s time budget: huge.txt" in report.summary()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("huge.txt" in w and "time budget" in w for w in warnings), warnings
    assert our_workers() == []
    assert_factsheet_answers(settings)
    assert "twelve airships" in Engine.open(settings).ask("How many airships?").text


def test_an_unchanged_slow_file_is_not_read_again_until_a_full_build(
    slow_corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(slow_corpus, file_timeout=BUDGET)
    index_mod.build_with(settings, full=True)
    (slow_corpus / "more.txt").write_text("MORE\n\nThe depot stores four balloons.\n")
    with caplog.at_level(logging.WARNING):
        again = index_mod.build_with(settings)  # as `--watch` does on every save
    assert again.timed_out == ("huge.txt",)
    assert again.added == ("more.txt",)
    assert "huge.txt took longer than the 0.5 s time budget to read at the last build" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        full = index_mod.build_with(settings, full=True)
    assert full.timed_out == ("huge.txt",)
    assert "at the last build" not in caplog.text
    assert "huge.txt took longer than the 0.5 s time budget to read and was skipped" in (
        caplog.text
    )


def test_the_budget_holds_beside_other_threads_as_in_the_telegram_bot(slow_corpus: Path) -> None:
    # With other threads running, workers come from a forkserver instead of fork().
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        report = index_mod.build_with(settings_for(slow_corpus, file_timeout=BUDGET), full=True)
    finally:
        stop.set()
        other.join()
    assert report.timed_out == ("huge.txt",)
    assert our_workers() == []


def test_a_build_read_in_parallel_workers_skips_the_slow_file_too(
    slow_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts, "PARALLEL_BYTES", 0)  # every file in a worker process
    index_dir = slow_corpus.parent / "index"
    report = index_mod.build(slow_corpus, index_dir, full=True, workers=2, budget=BUDGET)
    assert report.timed_out == ("huge.txt",)
    assert report.files == 2
    assert our_workers() == []


def test_a_build_stopped_half_way_leaves_no_worker(slow_corpus: Path) -> None:
    (slow_corpus / "report.pdf").write_bytes(b"%PDF-1.4\n% not really\n")  # read in a worker

    def interrupt(done: int, total: int, percent: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_mod.build(slow_corpus, slow_corpus.parent / "index", progress=interrupt, budget=60)
    assert our_workers() == []


def test_the_command_line_build_skips_the_slow_file_and_leaves_no_process(
    slow_corpus: Path,
) -> None:
    tag = uuid.uuid4().hex
    env = {"BOT_FILE_TIMEOUT": str(BUDGET), TAG: tag}
    result = run_bot("build", "--corpus", str(slow_corpus), cwd=slow_corpus.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 over the 0.5 s time budget: huge.txt" in result.stdout
    assert "huge.txt took longer than the 0.5 s time budget" in result.stderr
    assert tagged(tag) == []
    asked = run_bot("ask", "What is PESCO?", cwd=slow_corpus.parent, env=env)
    assert "Permanent Structured Cooperation" in asked.stdout


# A build beside another thread, as the Telegram bot's /reload: workers come from a forkserver.
BUILD_BESIDE_A_THREAD = """
import sys, threading
from pathlib import Path
from bot import index
threading.Thread(target=threading.Event().wait, daemon=True).start()
index.build(Path(sys.argv[1]), Path(sys.argv[2]), full=True, budget=600)
"""


@pytest.mark.parametrize("beside_a_thread", [False, True], ids=["forked", "forkserver"])
def test_workers_die_with_a_killed_build(slow_corpus: Path, beside_a_thread: bool) -> None:
    tag = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), BOT_FILE_TIMEOUT="600", **{TAG: tag})
    index_dir = slow_corpus.parent / "index"
    if beside_a_thread:
        command = ["-c", BUILD_BESIDE_A_THREAD, str(slow_corpus), str(index_dir)]
    else:
        command = ["-m", "bot", "build", "--corpus", str(slow_corpus)]
    build = subprocess.Popen(
        [sys.executable, *command],
        cwd=slow_corpus.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: reading(tag, build.pid), "no worker started")
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait(WAIT)
    wait_until(lambda: tagged(tag) == [], "a worker outlived its build")


def reading(tag: str, build: int) -> bool:
    """Whether a worker of the tagged build runs: not the build, nor multiprocessing's helpers.

    A forked worker is a child of the build; a forkserver's worker, a child of the server.
    """
    for pid in tagged(tag):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        helper = parent == build and b"from multiprocessing" in command
        if pid != build and not helper:
            return True
    return False


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ConfigError, match="BOT_FILE_TIMEOUT"):
        Settings.from_env({"BOT_FILE_TIMEOUT": "-1"})
    assert Settings.from_env({"BOT_FILE_TIMEOUT": "2.5"}).file_timeout == 2.5
    assert Settings.from_env({"BOT_FILE_TIMEOUT": "0"}).file_timeout == 0  # no limit


def test_reload_announces_a_slow_build_and_names_the_skipped_file(
    slow_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import telegram as tb
    from bot.telegram import admin
    from tests.fake_telegram import FakeTelegram
    from tests.test_telegram import BotThread

    monkeypatch.setattr(admin, "SLOW_BUILD", 0.0)  # announce every rebuild, however quick
    huge = slow_corpus / "huge.txt"
    held = huge.rename(slow_corpus.parent / "huge.txt")  # added after the bot starts
    admin_id = 42
    with FakeTelegram() as fake:
        settings = settings_for(
            slow_corpus,
            file_timeout=BUDGET,
            telegram_token=fake.token,
            telegram_api_url=fake.api_url,
            admin_ids=frozenset({admin_id}),
        )
        engine = Engine.open(settings)
        bot = BotThread(tb.build_application(settings, engine, typing_delay=0.3)).start()
        try:
            held.rename(huge)
            fake.push_text(admin_id, "/reload")
            slow, done = fake.wait_for_messages(admin_id, 2, WAIT)
        finally:
            bot.stop()
    assert slow["text"].startswith("Rebuilding the index; this is taking a while.")
    assert "longer than 0.5 s to read is skipped" in slow["text"]
    assert "Skipped, as reading took longer than 0.5 s: huge.txt" in done["text"]
    assert "Skipped, as reading took longer than 0.5 s: huge.txt" in done["text"]
    assert "unreadable" not in done["text"]  # named once, for the reason it was skipped
    assert our_workers() == []
    assert_factsheet_answers(settings)
