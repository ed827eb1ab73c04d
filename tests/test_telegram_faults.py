"""The Telegram bot under faults (issue 16): forged buttons, failing downloads, slow
sends, duplicate and re-delivered updates, restarts.

Same set-up as tests/test_telegram.py, whose fixtures and helpers are reused: the real
Application against the fake Bot API over HTTP on 127.0.0.1, nothing mocked, nothing
sleeping (every wait is `fake.wait_for(condition, timeout)`).
"""

# The fixtures imported below are used as test arguments of the same names (pytest's way).
# ruff: noqa: F811

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot import telegram as tb
from bot.engine import Engine
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import (  # noqa: F401 (fixtures, found by pytest by name)
    ADMIN,
    FACT,
    USER,
    WAIT,
    BotThread,
    ask,
    bot,
    corpus_listing,
    engine,
    fake,
    live_engine,
    start_bot,
    upload,
)


def _answered(fake: FakeTelegram, query_id: str) -> str:
    """Waits for the bot to answer a callback query; returns the notice it showed."""
    call = fake.wait_for(
        lambda f: next(
            (
                c
                for c in f.calls("answerCallbackQuery")
                if c.params["callback_query_id"] == query_id
            ),
            None,
        ),
        WAIT,
    )
    return str(call.params.get("text") or "")


# --------------------------------------------------------------------------------------
# Item 11: forged or garbled button data gets the "too old" notice, never a traceback.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "more:²",
        "more:" + "9" * 59,
        "src:" + "9" * 5000,  # int() refuses over 4,300 digits: a ValueError before
        "fb:١:1",
        "ex:" + "9" * 5000,
        "up:" + "9" * 5000 + ":r",
        "more:-1",
        "more:",
        "",
    ],
)
def test_forged_button_data_says_too_old_without_a_traceback(
    fake: FakeTelegram, bot: BotThread, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    [reply] = ask(fake, "What is PESCO?", user=ADMIN)  # an admin: "up:" reaches its handler
    query = fake.push_callback(ADMIN, reply, data)
    notice = _answered(fake, query)
    assert notice in (tb.texts.EXPIRED, tb.UPLOAD_GONE)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(fake.sent(ADMIN)) == 1  # no "Sorry, something went wrong"
    assert fake.unanswered_callbacks() == []


# --------------------------------------------------------------------------------------
# Item 3: the token never reaches a reply, whatever a failing download says.
# --------------------------------------------------------------------------------------


def _readable_texts(fake: FakeTelegram) -> list[str]:
    """Everything the bot asked Telegram to show anyone, as sent (all parameters)."""
    return [
        json.dumps(c.params, ensure_ascii=False)
        for c in fake.calls(ok=None)
        if c.method not in ("downloadFile", "getFile", "getUpdates")
    ]


@pytest.mark.parametrize("fault", ["redirect-loop", "echo-path"])
def test_failed_download_reply_never_quotes_the_token(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path, fault: str
) -> None:
    start_bot(live_engine)
    before = corpus_listing(tmp_path)
    fake.download_fault = fault
    reply = upload(fake, "zeppelins.txt", FACT.encode())
    assert reply["text"].startswith("I could not download zeppelins.txt: ")
    secret = fake.token.partition(":")[2]
    assert fake.calls("downloadFile", ok=None)  # the download was tried and failed
    assert all(secret not in text for text in _readable_texts(fake))
    assert "<token>" in reply["text"]  # the reason is still told, minus the secret
    assert corpus_listing(tmp_path) == before


def test_redact_removes_every_form_of_the_token() -> None:
    from bot.telegram.redaction import redact

    token = "123456789:AAEfakeTokenForTestsOnly-abcdefghijk"
    text = f"GET /file/bot{token}/x and /bot123456789%3A{token[10:]}/y and {token[10:]}"
    assert token[10:] not in redact(text, token)
    assert redact("nothing here", token) == "nothing here"
