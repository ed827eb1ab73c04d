"""Each subcommand's --help lists its environment variables and defaults, as the README does.

The --help text is generated from bot/config.py (variables and `Settings()` defaults);
the README's Configuration table is written by hand. This keeps the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import cli
from bot.config import _ENV

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ("build", "ask", "console", "telegram", "eval")


def readme_table() -> dict[str, str]:
    """The Configuration table: variable -> default as shown (units in brackets dropped)."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = {}
    for variable, default in re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", section, re.M):
        table[variable] = re.sub(r"\s*\(.*\)$", "", default.strip()).strip("`")
    return table


def help_environment(command: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """The variables and defaults `python -m bot COMMAND --help` prints."""
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    listing = text.split("environment variables and their defaults", 1)[1]
    return dict(re.findall(r"^  ((?:BOT|TELEGRAM)_[A-Z0-9_]+)\s{2,}(.+)$", listing, re.M))


def test_help_and_readme_agree_on_every_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = readme_table()
    assert set(table) == {variable for _, variable, _ in _ENV}
    listed: dict[str, str] = {}
    for command in COMMANDS:
        shown = help_environment(command, capsys)
        assert {"BOT_CORPUS_DIR", "BOT_INDEX_DIR"} <= set(shown), command
        for variable, default in shown.items():
            assert default == table[variable], (command, variable)
        listed |= shown
    assert listed == table  # every documented variable is listed by some command


def test_telegram_help_names_its_variables_and_option_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = help_environment("telegram", capsys)
    assert shown["TELEGRAM_BOT_TOKEN"] == "required"
    assert shown["TELEGRAM_API_URL"] == "https://api.telegram.org/bot"
    assert "TELEGRAM_ADMIN_IDS" in shown and "TELEGRAM_WEBHOOK_SECRET" in shown
    with pytest.raises(SystemExit):
        cli.main(["telegram", "--help"])
    text = capsys.readouterr().out
    assert "(default 127.0.0.1)" in text and "(default 8443)" in text


def test_build_help_lists_only_what_a_build_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(help_environment("build", capsys)) == {
        "BOT_CORPUS_DIR",
        "BOT_INDEX_DIR",
        "BOT_K1",
        "BOT_B",
    }
