"""The README is the user's manual: its commands must exist and work."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bot

README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
BENCH_README = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """Every `python -m bot ...` command the README shows, once each."""
    found = re.findall(r"python -m bot [^`|\n\\#;]*", README)
    return sorted({c.strip() for c in found})


def test_every_subcommand_and_variable_is_documented():
    for command in ("build", "ask", "console", "telegram", "eval"):
        assert f"python -m bot {command}" in README
    for variable in re.findall(
        r'"((?:BOT|TELEGRAM)_[A-Z_]+)"', (ROOT / "bot" / "config.py").read_text()
    ):
        assert variable in README, variable


def test_make_targets_named_in_the_readme_exist():
    for target in re.findall(r"make ([a-z-]+)", README):
        assert re.search(rf"^{re.escape(target)}:", MAKEFILE, re.M), target


@pytest.mark.parametrize(
    "command",
    [
        c
        for c in readme_commands()
        if c.split()[3] in ("build", "ask", "eval")
        # not placeholders (FILE.jsonl), not commands that run until Ctrl-C
        and not re.search(r"\b[A-Z]+\.jsonl|--watch", c)
    ],
)
def test_readme_commands_run(command, tmp_path, shipped_corpus):
    args = shlex.split(command)[3:]
    if args[0] == "eval":
        # The README's paths are relative to the project; run from elsewhere.
        args = ["eval", str(ROOT / args[1])]
    stdin = "What is PESCO?\nthanks\n" if args[-1] == "-" else None
    result = run_bot(*args, cwd=tmp_path, stdin=stdin)
    assert result.returncode == 0, (command, result.stderr)
    assert result.stdout.strip()


def test_documented_defaults_are_the_real_defaults():
    from bot.config import _ENV, Settings

    defaults = Settings()
    field_of = {var: name for name, var, _ in _ENV}
    checked = 0
    for var, shown in re.findall(r"^\| `([A-Z_]+)` \| ([0-9.]+)\b", README, re.M):
        assert float(shown) == float(getattr(defaults, field_of[var])), var
        checked += 1
    assert checked >= 5


def tracked_files() -> list[Path]:
    """The files a user gets by cloning the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def test_nothing_refers_outside_the_repository():
    # A user clones only the repository: no file may read material from beside it.
    outside = re.compile(r"\.\./" + "shared|/work/" + "shared")
    named = [
        str(path.relative_to(ROOT))
        for path in tracked_files()
        if path.is_file() and outside.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert named == []


def test_readme_paths_and_benchmark_defaults_exist_inside_the_repository():
    paths = re.findall(r"python -m bot eval ([a-z][^\s`]*\.jsonl)", README)  # not FILE.jsonl
    paths += re.findall(r"bench/quality\.py ((?:bench/data/\w+ ?)+)", BENCH_README)[0].split()
    paths += re.findall(r"^BENCH_DIR \?= (\S+)", MAKEFILE, re.M)
    assert len(paths) >= 6
    for name in paths:
        path = (ROOT / name).resolve()
        assert path.is_relative_to(ROOT), name
        assert path.exists(), name


def test_the_layout_table_names_only_files_that_exist():
    section = README[README.index("## Development") :]
    named = set(re.findall(r"`((?:bot|tests|bench|eval|deploy)/[\w./-]+)`", section))
    assert len(named) >= 30
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert missing == []


def test_every_module_has_a_place_in_the_layout_table():
    section = README[README.index("## Development") :]
    modules = [
        p for p in (ROOT / "bot").rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
    ]
    unnamed = sorted(
        str(p.relative_to(ROOT))
        for p in modules
        if f"`{p.name}`" not in section and f"`{p.relative_to(ROOT)}`" not in section
    )
    assert unnamed == []


def test_the_console_example_is_what_the_console_answers(shipped_corpus):
    # The README's first example: "? QUESTION", the reply's lines, then the tip.
    example = re.search(r"```text\n\? (.+)\n((?:.+\n)+?)\(:more", README)
    assert example is not None
    question, reply = example.group(1), example.group(2)
    result = run_bot("console", cwd=shipped_corpus.parent, stdin=question + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == reply  # a pipe gets the reply alone: no prompt, no tips
