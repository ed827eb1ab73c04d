"""Faults lose nothing (issue 16): killed builds, edits during builds, damaged index
files, unreadable files and corpus boundaries. Each test injects the fault for real
(a killed process, a file changed while read, bytes overwritten) and checks what a
user would see: no orphan, no stale index, one Error line, no traceback."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import index as index_mod
from bot.index import lock, parts
from tests.conftest import ROOT, SMALL_TEXT, run_bot


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    """Polls `condition` until it returns something true; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)  # a poll interval, not a wait for something to happen
    raise AssertionError(f"timed out waiting for {what}")


def children_of(pid: int) -> set[int]:
    """PIDs of the live (not zombie) processes whose parent is `pid`."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def _stat(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def bot_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def big_corpus(folder: Path, files: int = 3) -> None:
    """`files` files holding more text in all than `parts.PARALLEL_BYTES`."""
    folder.mkdir()
    rng = random.Random(16)
    words = [
        "".join(rng.choices("abcdefghijklmnoprstuvw", k=rng.randint(3, 9))) for _ in range(3000)
    ]
    share = parts.PARALLEL_BYTES // files + 1024 * 1024
    for n in range(files):
        sentences = []
        size = 0
        while size < share:
            sentence = " ".join(rng.choices(words, k=12)).capitalize() + "."
            sentences.append(sentence)
            size += len(sentence) + 1
        paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
        (folder / f"part{n}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")


# ---------------------------------------------------------------------------- 1: killed builds


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_parallel_build_leaves_no_orphans_and_no_lock(tmp_path, sig):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    big_corpus(corpus)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "build", "--corpus", str(corpus), "--index", str(index_dir)],
        env=bot_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        workers = wait_for(
            lambda: len(children_of(process.pid)) >= 2 and children_of(process.pid),
            what="the build's worker processes",
        )
        process.send_signal(sig)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_for(lambda: not any(alive(pid) for pid in workers), what="the workers to die")
    assert not (index_dir / "CURRENT").exists()  # it died mid-read: nothing was swapped in
    for path in corpus.iterdir():
        path.unlink()
    (corpus / "energy.txt").write_text(SMALL_TEXT, encoding="utf-8")
    result = run_bot("build", "--corpus", str(corpus), "--index", str(index_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Indexed")


HOLD_AND_FORK = """
import os, sys
from pathlib import Path
from bot.index import build_lock
with build_lock(Path(sys.argv[1])):
    if os.fork() == 0:          # a child that outlives its parent, like an orphan worker
        sys.stdin.read()
        os._exit(0)
    print("locked", flush=True)
    os._exit(0)                 # dies holding the lock, as a killed build does
"""


def test_the_lock_is_not_inherited_by_forked_children(tmp_path):
    index_dir = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_FORK, str(index_dir)],
        env=bot_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        holder.wait(timeout=30)
        with index_mod.build_lock(index_dir):  # the orphan child is still alive here
            pass
    finally:
        holder.stdin.close()


STALE_HOLDER = """
import fcntl, sys
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)  # an orphan of an older program, holding the lock
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_lock_whose_build_has_died_is_named_not_waited_on(tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", STALE_HOLDER, str(index_dir / lock.LOCK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        (index_dir / lock.LOCK).write_text(dead.stdout)
        with (
            pytest.raises(
                index_mod.BuildInProgress, match=rf"process {dead.stdout.strip()}\) has ended"
            ),
            index_mod.build_lock(index_dir, wait=True),
        ):
            pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_busy_lock_names_its_holder(tmp_path):
    index_dir = tmp_path / "index"
    with index_mod.build_lock(index_dir):
        result = run_bot("build", "--index", str(index_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert f"(process {os.getpid()}) is running" in result.stderr
