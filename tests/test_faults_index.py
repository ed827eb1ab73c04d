"""Faults lose nothing (issue 16): killed builds, edits during builds, damaged index
files, unreadable files and corpus boundaries. Each test injects the fault for real
(a killed process, a file changed while read, bytes overwritten) and checks what a
user would see: no orphan, no stale index, one Error line, no traceback."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from bot import index as index_mod
from bot.engine import Engine
from bot.index import lock, parts
from tests.conftest import ROOT, SMALL_TEXT, run_bot, settings_for


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
        os.write(1, b"child running\\n")  # after the fork hooks: it has let go
        sys.stdin.read()
        os._exit(0)
    os.write(1, b"locked\\n")    # one write each: the two processes share the pipe
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
        said = {holder.stdout.readline(), holder.stdout.readline()}
        assert said == {"locked\n", "child running\n"}
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


# ------------------------------------------------------------------ 2: edits during a build


def build(corpus: Path, **kwargs) -> index_mod.BuildReport:
    return index_mod.build(corpus, corpus.parent / "index", **kwargs)


def texts(corpus: Path) -> str:
    return "\n".join(p.text for p in index_mod.load(corpus.parent / "index").passages)


def test_a_file_saved_while_it_is_read_is_read_again(small_corpus, monkeypatch):
    real = parts.read_document
    reads = []

    def read_then_save(file: Path, name: str):
        documents = real(file, name)
        if not reads:  # the editor saves once, just after the reader took the old text
            with open(file, "a", encoding="utf-8") as handle:
                handle.write("\nGEOTHERMAL\n\nIceland heats its homes from hot springs.\n")
        reads.append(name)
        return documents

    monkeypatch.setattr(parts, "read_document", read_then_save)
    build(small_corpus)
    assert len(reads) == 2
    assert "hot springs" in texts(small_corpus)
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") is None
    monkeypatch.undo()
    assert build(small_corpus).changed == ()


def test_a_file_that_never_settles_is_read_again_by_the_next_build(small_corpus, monkeypatch):
    path = small_corpus / "energy.txt"
    real = parts.read_document
    edits = iter(range(100))

    def read_then_save(file: Path, name: str):
        documents = real(file, name)
        with open(file, "a", encoding="utf-8") as handle:
            handle.write(f"\nLOG\n\nEntry number {next(edits)} was written.\n")
        return documents

    monkeypatch.setattr(parts, "read_document", read_then_save)
    build(small_corpus)
    monkeypatch.undo()
    last = path.read_text(encoding="utf-8").rsplit("Entry number ", 1)[1]
    assert last.split()[0] not in texts(small_corpus)  # written after the last read
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") == (
        "energy.txt changed"
    )
    assert build(small_corpus).changed == ("energy.txt",)
    assert f"Entry number {last.split()[0]} was written" in texts(small_corpus)
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") is None


# ---------------------------------------------------------------------------- 8: unreadable files


def test_an_unreadable_file_is_skipped_once_not_rebuilt_for_by_every_command(
    small_corpus, monkeypatch, caplog
):
    noperm = small_corpus / "noperm.txt"
    noperm.write_text("Secret text nobody may read.", encoding="utf-8")
    noperm.chmod(0)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # tests run as root, where chmod 000 still reads
        if self.name == "noperm.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = build(small_corpus)
    assert report.skipped == ("noperm.txt",)
    assert "noperm.txt" in caplog.text
    index_dir = small_corpus.parent / "index"
    assert index_mod.stale_reason(small_corpus, index_dir) is None
    said: list[str] = []
    Engine.open(settings_for(small_corpus), say=said.append)
    assert said == []  # no "Building the index first (noperm.txt changed)..."
    noperm.chmod(0o644)
    monkeypatch.undo()
    noperm.write_text("Readable now: the secret is out.", encoding="utf-8")
    assert index_mod.stale_reason(small_corpus, index_dir) == "noperm.txt changed"


def test_a_dangling_link_is_skipped_once_not_rebuilt_for(small_corpus, caplog):
    (small_corpus / "gone.txt").symlink_to(small_corpus / "deleted.txt")
    assert build(small_corpus).skipped == ("gone.txt",)
    assert "gone.txt" in caplog.text
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") is None


# ---------------------------------------------------------------------------- 11: corpus boundaries


def test_links_leaving_the_corpus_are_skipped_with_a_warning(tmp_path, small_corpus, caplog):
    outside = tmp_path / "secret.txt"
    outside.write_text("The root password is hunter2.", encoding="utf-8")
    (small_corpus / "passwd.txt").symlink_to(outside)
    (small_corpus / "loop.txt").symlink_to(small_corpus / "loop.txt")
    (small_corpus / "sub").mkdir()
    (small_corpus / "sub" / "again.txt").symlink_to(small_corpus / "energy.txt")
    report = build(small_corpus)
    assert "passwd.txt" in caplog.text and "outside the corpus folder" in caplog.text
    assert "hunter2" not in texts(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    assert [f["path"] for f in loaded.manifest["files"]] == ["energy.txt", "sub/again.txt"]
    assert report.files == 2
    assert index_mod.stale_reason(small_corpus, small_corpus.parent / "index") is None


def test_a_linked_corpus_folder_is_followed(tmp_path, small_corpus):
    linked = tmp_path / "linked"
    linked.symlink_to(small_corpus)
    index_mod.build(linked, tmp_path / "index")
    assert "Solar panels" in "".join(p.text for p in index_mod.load(tmp_path / "index").passages)


def test_passage_ids_are_unique_across_files_whatever_the_jsonl_ids(small_corpus):
    text = (small_corpus / "energy.txt").read_text(encoding="utf-8")
    line = {"id": "energy.txt", "title": "Copy", "text": text.replace("Denmark", "Norway")}
    (small_corpus / "data.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    build(small_corpus)
    loaded = index_mod.load(small_corpus.parent / "index")
    passages = list(loaded.passages)
    ids = [p.id for p in passages]
    assert len(set(ids)) == len(ids)
    for passage in passages:
        assert loaded.position_of(passage.id) == passage.position
    norway = next(p for p in passages if "Norway" in p.text)
    assert norway.doc == "energy.txt"  # the name users see is the line's id
    assert norway.id.startswith("data.jsonl/energy.txt#")
    assert loaded.passage_ids is not None  # no collision: the fast id table was written


# ---------------------------------------------------------- 4, 5: damaged index files


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-4])


def _retype(path: Path) -> None:  # float32 read as int32: same size, other numbers
    data = path.read_bytes()
    assert b"'<f4'" in data[:128]
    path.write_bytes(data.replace(b"'<f4'", b"'<i4'", 1))


DAMAGE = {
    "empty-idf": ("idf.npy", lambda p: p.write_bytes(b"")),
    "truncated-postings": ("postings.indices.npy", _cut),
    "flipped-passages": ("passages.zst", _flip_middle),
    "flipped-postings-indptr": ("postings.indptr.npy", _flip_middle),
    "flipped-offsets": ("passages.offsets.npy", _flip_middle),
    "retyped-norms": ("norms.npy", _retype),
    "truncated-norm-codes": ("norms.codes.npy", _cut),
    "flipped-norm-table": ("norms.table.npy", _flip_middle),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_any_damaged_file_stops_load_and_a_plain_build_rebuilds_in_full(small_corpus, case, caplog):
    name, damage = DAMAGE[case]
    index_dir = small_corpus.parent / "index"
    damage(index_dir / build(small_corpus).build / name)
    with pytest.raises(index_mod.IndexCorrupt, match=rf"{name} is damaged.*build --full"):
        index_mod.load(index_dir)
    report = build(small_corpus)  # plain: falls back to a full build, no crash
    assert report.reused == 0
    assert "previous index failed its checks" in caplog.text and name in caplog.text
    assert "Denmark gets half" in texts(small_corpus)
    assert build(small_corpus).reused == 1  # and the next build trusts the new one


def test_ask_on_a_damaged_index_prints_one_error_line_and_build_repairs_it(small_corpus):
    index_dir = small_corpus.parent / "index"
    (index_dir / build(small_corpus).build / "idf.npy").write_bytes(b"")
    args = ("--corpus", str(small_corpus), "--index", str(index_dir))
    asked = run_bot("ask", "Where are offshore wind farms built?", *args, cwd=small_corpus.parent)
    assert asked.returncode == 1
    assert asked.stderr.splitlines() == [asked.stderr.strip()]
    assert asked.stderr.startswith("Error: ") and "idf.npy is damaged" in asked.stderr
    built = run_bot("build", *args, cwd=small_corpus.parent)
    assert built.returncode == 0 and "Traceback" not in built.stderr
    assert "failed its checks" in built.stderr
    asked = run_bot("ask", "Where are offshore wind farms built?", *args, cwd=small_corpus.parent)
    assert asked.returncode == 0 and "at sea" in asked.stdout


@pytest.mark.parametrize("number", [-1, 10**6])
@pytest.mark.parametrize("compiled", [False, True])
def test_passage_numbers_out_of_range_are_named_by_the_question_that_reads_them(
    small_corpus, number, compiled
):
    # As a build with a bug would write them: checksums match, so only the numbers
    # themselves tell. Load no longer reads every one (at 10M passages: 3 GB).
    import numpy as np

    from bot import scoring
    from bot.index import writer

    index_dir = small_corpus.parent / "index"
    folder = index_dir / build(small_corpus).build
    path = folder / "postings.indices.npy"
    indices = np.load(path)
    np.save(path, np.full_like(indices, number))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["checksums"][path.name] = writer._checksum(path)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    engine = Engine.open(settings_for(small_corpus))  # loads: shapes and ends agree
    kernels = scoring.compiled() if compiled else None  # as a large index's questions
    with mock.patch.object(scoring, "_kernels", kernels):
        for _ in range(2):  # the loop's accumulator is left clean: the same again
            with pytest.raises(
                index_mod.IndexCorrupt, match=r"postings.indices.npy is damaged.*build --full"
            ):
                engine.ask("Where are offshore wind farms built?")
    assert build(small_corpus).reused == 0  # a rebuild checks every number
    assert "at sea" in engine.ask("Where are offshore wind farms built?").text


def test_damage_the_load_check_misses_is_never_copied_forward(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Codes that do not repeat, so that the compressed passages outgrow both checked ends.
    codes = [hashlib.sha256(str(n).encode()).hexdigest()[:16] for n in range(16000)]
    rows = [
        f"Station {n} ({code}) measures ozone every {n} minutes." for n, code in enumerate(codes)
    ]
    (corpus / "stations.txt").write_text("\n\n".join(rows), encoding="utf-8")
    (corpus / "other.txt").write_text("The alpha station measures methane.", encoding="utf-8")
    index_dir = tmp_path / "index"
    passages = index_dir / build(corpus).build / "passages.zst"
    assert passages.stat().st_size > 4 * store_ends()  # the flip lies beyond both ends
    _flip_middle(passages)
    index_mod.load(index_dir)  # size and ends match: the cheap check on load passes
    with pytest.raises(index_mod.IndexCorrupt, match="passages.zst is damaged"):
        index_mod.load(index_dir, full_check=True)
    assert build(corpus).reused == 0  # the build's full check found it
    assert "every 8000 minutes" in texts(corpus)


def store_ends() -> int:
    from bot.index import store

    return store._ENDS


def test_an_index_built_before_checksums_loads_and_is_rebuilt_once(small_corpus, caplog):
    index_dir = small_corpus.parent / "index"
    manifest_path = index_dir / build(small_corpus).build / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["checksums"]  # what the previous code of format 2 wrote
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert not index_mod.load(index_dir).checked
    caplog.set_level("INFO", logger="bot")
    assert build(small_corpus).reused == 0
    assert "no checksums" in caplog.text
    assert index_mod.load(index_dir).checked
    assert build(small_corpus).reused == 1


def test_the_engine_keeps_serving_and_says_once_when_a_new_build_is_damaged(small_corpus, caplog):
    engine = Engine.open(settings_for(small_corpus))
    serving = engine.info.build_id
    (small_corpus / "more.txt").write_text("HYDRO\n\nNorway runs on hydro power.", "utf-8")
    damaged = build(small_corpus).build
    (small_corpus.parent / "index" / damaged / "idf.npy").write_bytes(b"")
    for _ in range(3):
        assert "at sea" in engine.ask("Where are offshore wind farms built?").text
    assert engine.info.build_id == serving
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and damaged in errors[0].getMessage()
    assert f"still serving {serving}" in errors[0].getMessage()
    build(small_corpus)  # a plain build repairs it; the engine takes the new index
    assert "hydro" in engine.ask("What does Norway run on?").text.lower()
    assert engine.info.build_id not in (serving, damaged)


def test_files_are_fsynced_before_current_names_the_build(small_corpus, monkeypatch):
    from bot.index import writer

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("replace " + os.path.basename(dst))
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "fsync", fsync)
    monkeypatch.setattr(writer.os, "replace", replace)
    report = build(small_corpus)
    switch = events.index("replace CURRENT")
    synced = {e.split(" ", 1)[1] for e in events[:switch] if e.startswith("fsync")}
    written = {p.name for p in (small_corpus.parent / "index" / report.build).iterdir()}
    assert written <= synced
    assert events[switch + 1] == "fsync index"  # the folder, after the switch


def test_an_index_emptied_while_in_use_is_refused_not_read_past_its_end(small_corpus, caplog):
    engine = Engine.open(settings_for(small_corpus))
    engine.check_interval = 0  # before every question, not once a second
    question = "Where are offshore wind farms built?"
    assert "at sea" in engine.ask(question).text
    assert engine.damage() is None
    (engine.retriever.index.path / "idf.npy").write_bytes(b"")  # `: > index/<build>/idf.npy`
    assert "idf.npy changed on disk" in (engine.damage() or "")
    for _ in range(2):  # reading the mapped file now would be SIGBUS: the process gone
        with pytest.raises(index_mod.IndexCorrupt, match="idf.npy changed on disk"):
            engine.ask(question)
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    build(small_corpus)  # a plain build: the previous index fails its checks, full build
    assert "at sea" in engine.ask(question).text


@pytest.mark.parametrize("damaged", [False, True])
def test_a_failed_reload_says_still_serving_only_when_that_is_true(small_corpus, damaged):
    import asyncio

    from bot.telegram import admin
    from bot.telegram.state import BotState, UserRateLimit

    engine = Engine.open(settings_for(small_corpus))
    engine.check_interval = 0
    if damaged:
        (engine.retriever.index.path / "idf.npy").write_bytes(b"")

    def broken_rebuild(**_: object) -> None:
        raise OSError("disk full")

    engine.rebuild = broken_rebuild  # type: ignore[method-assign]
    state = BotState(engine, engine.settings, UserRateLimit(20))
    [(reply, _)] = asyncio.run(admin.rebuild(state))
    assert reply.startswith("The rebuild failed (OSError: disk full)")
    if damaged:
        assert "still serving" not in reply
        assert "damaged too" in reply and "python -m bot build --full" in reply
    else:
        assert reply.endswith("the previous index is still serving.")


def test_files_the_bot_cannot_read_are_named_in_one_warning_line(small_corpus, tmp_path):
    (small_corpus / "policy.doc").write_bytes(b"\xd0\xcf\x11\xe0 an old word document")
    (small_corpus / "sub").mkdir()
    (small_corpus / "sub" / "figures.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    (small_corpus / ".hidden.docx").write_bytes(b"editor's lock file")
    (small_corpus / "~$policy.docx").write_bytes(b"Word's owner file")
    result = run_bot("build", "--corpus", str(small_corpus), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cannot read" in line]
    assert warnings == [
        "WARNING: not indexed, of a type the bot cannot read (it reads .txt, .md, .html, "
        ".htm, .pdf, .docx, .odt, .jsonl): policy.doc, sub/figures.xlsx"
    ]
    again = run_bot("ask", "--corpus", str(small_corpus), "What is solar power?", cwd=tmp_path)
    assert "cannot read" not in again.stderr  # said by builds, not on every command
