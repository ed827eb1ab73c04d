"""The README is the user's manual: its commands must exist and work."""

import re
import shlex

import pytest

from tests.conftest import ROOT, run_bot

README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


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
        # The README's paths are relative to the project; run from a copy's parent.
        args = [
            "eval",
            str(ROOT / args[1])
            if not args[1].startswith("..")
            else str((ROOT / args[1]).resolve()),
        ]
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
