"""Shared fixtures: small corpora in tmp_path, settings pointing at them, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "corpus" / "cybersecurity-eu-external-action.txt"

SMALL_TEXT = """Solar Energy Report

SOLAR POWER

Solar panels convert sunlight into electricity. The first solar farm opened in 1954 in
Bell Labs. Solar power is cheap in sunny countries.

WIND POWER

Wind turbines turn wind into electricity. Offshore wind farms are built at sea, where the
wind is stronger. Denmark gets half of its electricity from wind.

STORAGE

• Batteries store electricity for the night
• Pumped hydro stores energy by pumping water uphill
"""


@pytest.fixture
def shipped_corpus(tmp_path: Path) -> Path:
    """A corpus folder holding a copy of the shipped factsheet."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SHIPPED, corpus / SHIPPED.name)
    return corpus


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A corpus folder with one short text about energy."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "energy.txt").write_text(SMALL_TEXT, encoding="utf-8")
    return corpus


def settings_for(corpus: Path, **changes: object) -> Settings:
    """Settings for a corpus folder, with the index beside it."""
    return Settings.from_env({}, corpus_dir=corpus, index_dir=corpus.parent / "index", **changes)


@pytest.fixture
def shipped_engine(shipped_corpus: Path) -> Engine:
    return Engine.open(settings_for(shipped_corpus))


@pytest.fixture
def small_engine(small_corpus: Path) -> Engine:
    return Engine.open(settings_for(small_corpus))


def run_bot(
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m bot ARGS` in a subprocess, as a user would from `cwd`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
