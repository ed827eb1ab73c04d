"""Starting `python -m bot telegram`: one clear line, whether it starts or not.

Each start-up failure a user meets first (a token the Bot API refuses, an API that
cannot be reached, a webhook port in use) must print exactly one `Error: ...` line
saying what to check and exit 1: no traceback, no "Unclosed client session". A start
that works says so in one line with the bot's username and mode. The real process
runs against the fake Bot API (tests/fake_telegram) or a closed port on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.index import build_with
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "corpus" / "cybersecurity-eu-external-action.txt"
WRONG_TOKEN = "987654321:" + "X" * 35
WAIT = 60.0
USER = 1001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a corpus and its index already built (so start-up prints nothing else)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SHIPPED, corpus / SHIPPED.name)
    build_with(Settings.from_env({}, corpus_dir=corpus, index_dir=tmp_path / "index"))
    return tmp_path


def _start(folder: Path, api_url: str, token: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "BOT_CORPUS_DIR": str(folder / "corpus"),
        "BOT_INDEX_DIR": str(folder / "index"),
        "TELEGRAM_API_URL": api_url,
        "TELEGRAM_BOT_TOKEN": token,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fails(process: subprocess.Popen[str]) -> str:
    """The one stderr line of a start that fails with status 1 and prints nothing else."""
    stdout, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 1, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the bot did not stop on SIGTERM")
    assert process.returncode == 0, stderr
    return stderr


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_token_the_api_refuses_is_one_error_line(fake: FakeTelegram, project: Path) -> None:
    line = _fails(_start(project, fake.api_url, WRONG_TOKEN))
    assert line.startswith("Error: the Bot API refused the token")
    assert "Unauthorized" in line and "check TELEGRAM_BOT_TOKEN" in line
    assert WRONG_TOKEN not in line
    assert [call.method for call in fake.calls(ok=None)] == ["getMe"]


def test_a_refused_token_is_said_before_the_index_is_built(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    (tmp_path / "corpus").mkdir()
    shutil.copy(SHIPPED, tmp_path / "corpus" / SHIPPED.name)
    _fails(_start(tmp_path, fake.api_url, WRONG_TOKEN))
    assert not (tmp_path / "index").exists()


def test_an_unreachable_api_is_one_error_line(project: Path) -> None:
    port = _closed_port()
    line = _fails(_start(project, f"http://127.0.0.1:{port}/bot", WRONG_TOKEN))
    assert line.startswith(f"Error: cannot reach the Bot API at 127.0.0.1:{port}")
    assert "check TELEGRAM_API_URL" in line


def test_a_webhook_port_in_use_is_one_error_line(fake: FakeTelegram, project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _fails(
            _start(
                project,
                fake.api_url,
                fake.token,
                "--webhook-url",
                f"https://bot.example.org/{port}",
                "--port",
                str(port),
            )
        )
    assert line.startswith(f"Error: the webhook server cannot listen on 127.0.0.1:{port}")
    assert "--port" in line
    assert fake.calls(ok=None) == []  # checked before any network call


def test_a_successful_start_says_so_in_one_line(fake: FakeTelegram, project: Path) -> None:
    process = _start(project, fake.api_url, fake.token)
    try:
        fake.wait_for(lambda f: f.waiting_polls > 0 or process.poll() is not None, WAIT)
    finally:
        stderr = _stop(process)
    assert stderr.splitlines() == ["Bot @policy_qa_bot is running (polling); Ctrl-C to stop"]


def test_a_successful_webhook_start_names_its_url(fake: FakeTelegram, project: Path) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/telegram"
    process = _start(project, fake.api_url, fake.token, "--webhook-url", url, "--port", str(port))
    try:
        fake.wait_for(lambda f: f.calls("setWebhook") or process.poll() is not None, WAIT)
        fake.push_text(USER, "What is PESCO?")  # posted to the webhook once it listens
        fake.wait_for_messages(USER, 1, WAIT)  # stopped only once fully started
    finally:
        stderr = _stop(process)
    assert stderr.splitlines() == [
        f"Bot @policy_qa_bot is running (webhook at {url}, listening on 127.0.0.1:{port}); "
        "Ctrl-C to stop"
    ]
