"""The command-line contract (the README's "Command line" section), run as a user runs it."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from bot.cli import main
from tests.conftest import ROOT, SHIPPED, run_bot

QUESTIONS = ["What is PESCO?", "", "Who painted the Mona Lisa?", "thanks", "Ukriane defense"]


@pytest.fixture
def project(tmp_path, shipped_corpus):
    """A working folder laid out like the project: corpus/ and index/ side by side."""
    return tmp_path


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_subcommand_and_imports_nothing_heavy():
    probe = (
        "import sys, contextlib, io\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = ('numpy', 'scipy', 'numba', 'telegram', 'trafilatura', 'lxml', 'docx')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(out.getvalue()); print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    for command in ("build", "ask", "console", "telegram", "eval"):
        assert command in result.stdout
    assert "HEAVY []" in result.stdout


def _run_and_list_loaded(project, argv: list[str], modules: tuple[str, ...]) -> str:
    """Runs `main(argv)` in a fresh interpreter; its output and which `modules` it loaded."""
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        f"code = main({argv!r})\n"
        f"print('CODE', code, 'HEAVY', [m for m in {modules!r} if m in sys.modules])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout


def test_build_loads_no_search_machinery(project):
    """`build` needs no loaded index: it must not pay for numba's start-up."""
    out = _run_and_list_loaded(project, ["build"], ("numba", "bot.engine"))
    assert "CODE 0 HEAVY []" in out


def test_one_shot_ask_imports_only_what_answering_needs(project):
    """An answer from a built index needs neither scipy nor numba nor the build's code."""
    assert run_bot("build", cwd=project).returncode == 0
    build = ("scipy", "numba", "numpy.f2py", "bot.index.builder", "bot.index.weighting")
    build += ("trafilatura", "lxml", "docx")  # the readers' libraries: a build's only
    out = _run_and_list_loaded(project, ["ask", "What is PESCO?"], build)
    assert "PESCO" in out
    assert "CODE 0 HEAVY []" in out


def test_build_prints_a_one_line_summary(project):
    result = run_bot("build", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Indexed ")
    assert result.stdout.count("\n") == 1


def test_the_summary_names_every_added_file_up_to_ten(project):
    assert run_bot("build", cwd=project).returncode == 0
    for n in range(12):
        (project / "corpus" / f"note{n:02}.txt").write_text(f"Fact number {n} about topic {n}.")
    line = run_bot("build", cwd=project).stdout
    assert "12 added: note00.txt, note01.txt" in line
    assert "note09.txt and 2 more" in line and "note10.txt" not in line
    (project / "corpus" / "note00.txt").unlink()
    assert "1 removed: note00.txt" in run_bot("build", cwd=project).stdout


def test_first_ask_builds_the_index_and_says_so_on_stderr(project):
    result = run_bot("ask", "What is PESCO?", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Building the index first (no index yet)" in result.stderr
    assert "Permanent Structured Cooperation" in result.stdout
    again = run_bot("ask", "What is PESCO?", cwd=project)
    assert "Building" not in again.stderr


def test_ask_json_follows_the_contract(project, capsys):
    code, out, _ = cli(
        capsys,
        "ask",
        "--json",
        "-k",
        "2",
        "--corpus",
        str(project / "corpus"),
        "--index",
        str(project / "index"),
        "What",
        "is",
        "PESCO?",
    )
    assert code == 0
    data = json.loads(out)
    assert data["question"] == "What is PESCO?"
    assert data["answered"] is True
    assert len(data["sources"]) == 2
    assert {"doc", "section", "passage_id", "score", "text"} <= set(data["sources"][0])


def test_ask_stdin_answers_one_line_per_question_in_order(project):
    result = run_bot("ask", "--json", "-", cwd=project, stdin="\n".join(QUESTIONS) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == QUESTIONS
    assert [r["answered"] for r in rows] == [True, False, False, False, True]
    assert rows[2]["sources"] == [] or rows[2]["answered"] is False
    assert "(Did you mean" in rows[4]["answer"]


def test_ask_stdin_plain_text_is_one_line_per_answer(project):
    result = run_bot("ask", "-", cwd=project, stdin="What is PESCO?\nhello\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_environment_variables_choose_the_folders(tmp_path, shipped_corpus):
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    env = {"BOT_CORPUS_DIR": str(shipped_corpus), "BOT_INDEX_DIR": str(tmp_path / "idx")}
    result = run_bot("ask", "What is PESCO?", cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "idx" / "CURRENT").exists()


@pytest.mark.parametrize(
    "question",
    [
        "   ",
        "x" * 100_000,
        "\x00\x01\x02\xff\ufffd",
        "🙂🔥🙂",
        "ما هو الأمن السيبراني؟",
        "the of and is",
        "<b>x</b> & <script>",
    ],
    ids=["blank", "huge", "binary", "emoji", "rtl", "stopwords", "html"],
)
def test_nasty_questions_get_a_reply_not_a_traceback(project, capsys, question):
    code, out, err = cli(
        capsys,
        "ask",
        "--json",
        "--corpus",
        str(project / "corpus"),
        "--index",
        str(project / "index"),
        question,
    )
    assert code == 0
    data = json.loads(out)
    assert data["answered"] is False
    assert data["answer"]
    assert "Traceback" not in err


def test_missing_corpus_folder_is_one_error_line(tmp_path, capsys):
    code, out, err = cli(
        capsys, "build", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "index")
    )
    assert code == 1
    assert err.startswith("Error: ") and "nope" in err
    assert err.count("\n") == 1


def test_empty_corpus_folder_is_one_error_line(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    code, _, err = cli(
        capsys,
        "ask",
        "--corpus",
        str(tmp_path / "corpus"),
        "--index",
        str(tmp_path / "index"),
        "anything",
    )
    assert code == 1
    assert "Error: No text to index" in err


def test_bad_corpus_files_are_skipped_with_a_warning(project, capsys):
    corpus = project / "corpus"
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "latin1.txt").write_bytes("NOTE\n\nCafé résumé naïve policy.".encode("cp1252"))
    (corpus / "fake.pdf").write_text("not a pdf at all", encoding="utf-8")
    code, out, err = cli(
        capsys, "build", "--corpus", str(corpus), "--index", str(project / "index")
    )
    assert code == 0
    assert "binary.txt" in err and "fake.pdf" in err
    assert "skipped 2 unreadable" in out
    code, out, _ = cli(
        capsys,
        "ask",
        "--corpus",
        str(corpus),
        "--index",
        str(project / "index"),
        "resume policy cafe",
    )
    assert "Café" in out


def test_corrupted_index_is_rebuilt_and_said(project, capsys):
    assert (
        cli(
            capsys, "build", "--corpus", str(project / "corpus"), "--index", str(project / "index")
        )[0]
        == 0
    )
    build_dir = next((project / "index").glob("build-*"))
    (build_dir / "manifest.json").write_text("{broken", encoding="utf-8")
    code, out, err = cli(
        capsys,
        "ask",
        "--corpus",
        str(project / "corpus"),
        "--index",
        str(project / "index"),
        "What is PESCO?",
    )
    assert code == 0
    assert "the index is unusable" in err and "manifest.json" in err
    assert "Permanent Structured Cooperation" in out


def test_bad_settings_are_one_error_line(project):
    result = run_bot("ask", "x", cwd=project, env={"BOT_TOP_K": "many"})
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: BOT_TOP_K='many' is not a whole number"


def test_usage_mistakes_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ask"])
    assert exit_info.value.code == 2


def test_eval_prints_the_figures(project, capsys):
    code, out, _ = cli(
        capsys,
        "eval",
        str(ROOT / "eval" / "dev_questions.jsonl"),
        "--corpus",
        str(project / "corpus"),
        "--index",
        str(project / "index"),
    )
    assert code == 0
    for label in ("hit@1:", "hit@3:", "MRR:", "abstention precision:", "recall:"):
        assert label in out


def test_eval_rejects_a_malformed_file_naming_the_line(project, capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "expected": []}\n{"question": 3}\n', encoding="utf-8")
    code, _, err = cli(
        capsys,
        "eval",
        str(bad),
        "--corpus",
        str(project / "corpus"),
        "--index",
        str(project / "index"),
    )
    assert code == 1
    assert f"{bad}:2" in err


def test_make_run_style_console_exits_cleanly_at_end_of_input(project):
    result = run_bot("console", cwd=project, stdin="What is PESCO?\n:more\n")
    assert result.returncode == 0, result.stderr
    assert "Permanent Structured Cooperation" in result.stdout
    assert "2. " in result.stdout
    closed = run_bot("console", cwd=project)
    assert closed.returncode == 0


def test_corpus_folder_can_be_moved_without_rebuild_confusion(project, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(project / "corpus", moved)
    result = run_bot(
        "ask", "--corpus", str(moved), "--index", str(tmp_path / "i2"), "PESCO", cwd=project
    )
    assert result.returncode == 0


def _bot_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    return env | {"PYTHONPATH": str(ROOT), "LC_ALL": "C", "PYTHONIOENCODING": ""}


@pytest.mark.parametrize("locale", ["C", "en_US.UTF-8", "C.UTF-8"])
def test_a_line_that_is_not_utf8_is_reported_and_the_batch_goes_on(tmp_path, locale):
    (tmp_path / "corpus").mkdir()
    shutil.copy(SHIPPED, tmp_path / "corpus")
    lines = [b"What is PESCO?"] * 3 + [b"caf\xe9 or \xff\xfe?"] + [b"What is PESCO?"] * 3
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        cwd=tmp_path,
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=_bot_env() | {"LC_ALL": locale},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(replies) == len(lines)
    assert [r["answered"] for r in replies] == [True] * 3 + [False] + [True] * 3
    assert "line 4 is not valid UTF-8" in replies[3]["error"]
    assert b"Traceback" not in result.stderr
    assert b"line 4 is not valid UTF-8" in result.stderr


def test_an_argument_that_is_not_utf8_gets_an_answer_not_a_traceback(tmp_path):
    (tmp_path / "corpus").mkdir()
    shutil.copy(SHIPPED, tmp_path / "corpus")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", b"What is \xff PESCO?"],
        cwd=tmp_path,
        capture_output=True,
        env=_bot_env() | {"LC_ALL": "en_US.UTF-8"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert b"Permanent Structured Cooperation" in result.stdout
    assert b"Traceback" not in result.stderr


def test_a_reader_that_goes_away_ends_the_batch_quietly(tmp_path):
    (tmp_path / "corpus").mkdir()
    shutil.copy(SHIPPED, tmp_path / "corpus")
    assert run_bot("build", cwd=tmp_path).returncode == 0
    questions = tmp_path / "questions.txt"
    questions.write_bytes(b"What is PESCO?\n" * 5_000)  # more answers than a pipe holds
    with questions.open("rb") as stdin:
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "ask", "-"],
            cwd=tmp_path,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_bot_env(),
        )
    assert bot.stdout and bot.stderr
    assert b"Permanent" in bot.stdout.readline()  # `| head -1`
    bot.stdout.close()
    assert bot.wait(timeout=120) == 0
    assert bot.stderr.read() == b""


def test_an_index_path_naming_a_file_is_one_error_line(tmp_path):
    (tmp_path / "corpus").mkdir()
    shutil.copy(SHIPPED, tmp_path / "corpus")
    (tmp_path / "notes.txt").write_text("not an index")
    result = run_bot("ask", "--index", "notes.txt", "What is PESCO?", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: index path notes.txt is a file; --index names a folder (it is created if missing)"
    ]


def test_messages_built_to_make_patterns_backtrack_are_answered(project):
    # Runs of spaces or punctuation between the words a pattern looks for: one of the
    # question patterns once took cubic time on them (800 spaces: 6 s; a 4,000-character
    # message: hours, a stalled bot). Each must get its line of reply, like any message.
    hostile = [
        "what does" + " " * 4000 + "x",
        "What is meant by " + "! " * 2000 + "a",
        "define " + "!" * 4000 + "a",
        "what does " + "a " * 2000 + "mean",
        "What does" + " " * 3000 + "technological sovereignty" + " " * 900 + "mean?",
    ]
    result = run_bot("ask", "--json", "-", cwd=project, stdin="\n".join(hostile) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(hostile)
    assert all(row["answer"] for row in rows)
