"""The Telegram bot under faults (issue 16): forged buttons, failing downloads, slow
sends, duplicate and re-delivered updates, restarts.

Same set-up as tests/test_telegram.py, whose fixtures and helpers are reused: the real
Application against the fake Bot API over HTTP on 127.0.0.1, nothing mocked, nothing
sleeping (every wait is `fake.wait_for(condition, timeout)`).
"""

# The fixtures imported below are used as test arguments of the same names (pytest's way).
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import telegram as tb
from bot.config import Settings
from bot.engine import Engine
from bot.telegram.delivery import JOURNAL_NAME, UpdateJournal
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import (  # noqa: F401 (fixtures, found by pytest by name)
    ADMIN,
    FACT,
    OTHER,
    USER,
    WAIT,
    BotThread,
    SlowEngine,
    _bot_process,
    _free_port,
    _stop,
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


# --------------------------------------------------------------------------------------
# Item 10: a slow send that was delivered is not followed by "Sorry"; a repeated update
# is answered once; "Sorry" comes only when nothing was delivered, quoting the question.
# --------------------------------------------------------------------------------------


class WebhookBotThread(BotThread):
    """The real Application taking updates on a webhook the fake posts them to."""

    def __init__(self, application: Any, port: int) -> None:
        super().__init__(application)
        self.port = port

    def start(self) -> WebhookBotThread:
        self.thread.start()

        async def start() -> None:
            await self.application.initialize()
            await self.application.start()
            await self.application.updater.start_webhook(
                listen="127.0.0.1",
                port=self.port,
                url_path="telegram",
                webhook_url=f"http://127.0.0.1:{self.port}/telegram",
                secret_token="s3cret-Token",
                allowed_updates=tb.ALLOWED_UPDATES,
            )

        self._call(start())
        return self


@pytest.fixture
def launch(
    fake: FakeTelegram, engine: Engine, tmp_path: Path
) -> Iterator[Callable[..., BotThread]]:
    """Starts bots on the test's index folder: `launch(engine=..., send_timeout=..., port=...)`
    (a port: webhook mode). Bots a test has "killed" (`kill`) are not stopped."""
    running: list[BotThread] = []

    def start(bot_engine: Any = None, port: int | None = None, **options: Any) -> BotThread:
        settings = Settings.from_env(
            {},
            corpus_dir=tmp_path / "corpus",
            index_dir=tmp_path / "index",
            telegram_token=fake.token,
            telegram_api_url=fake.api_url,
        )
        application = tb.build_application(settings, bot_engine or engine, **options)
        runner = BotThread(application) if port is None else WebhookBotThread(application, port)
        running.append(runner.start())
        return runner

    yield start
    for runner in running:
        if runner.thread.is_alive():
            runner.stop()
        elif not runner.loop.is_closed():
            runner.loop.run_until_complete(_bury(runner.application))
            runner.loop.close()


async def _bury(application: Any) -> None:
    """Cancels what a killed bot left pending and closes its connections."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await application.bot.shutdown()


def kill(runner: BotThread) -> None:
    """Stops a bot's event loop dead, as SIGKILL would: no handler finishes, nothing is
    confirmed or written any more."""
    runner.loop.call_soon_threadsafe(runner.loop.stop)
    runner.thread.join(WAIT)


def test_slow_send_that_was_delivered_is_not_followed_by_sorry(
    fake: FakeTelegram, launch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    launch(send_timeout=0.3)
    fake.delay_next("sendMessage", seconds=1.0)  # answered after the bot gave up waiting
    [answer] = ask(fake, "What is PESCO?")
    assert "PESCO" in answer["text"]
    [later] = ask(fake, "How does the EU help Ukraine?")  # after any apology for the first
    assert "Ukraine" in later["text"]
    assert [m["text"] for m in fake.sent(USER)] == [answer["text"], later["text"]]
    assert any("after replying" in r.getMessage() for r in caplog.records)


def test_sorry_only_when_nothing_was_delivered_and_it_quotes_the_question(
    fake: FakeTelegram, launch: Any, engine: Engine
) -> None:
    launch(SlowEngine(engine))
    [sorry] = ask(fake, "boom, what is PESCO?")
    assert sorry["text"] == tb.SORRY
    assert sorry["reply_to_message"]["text"] == "boom, what is PESCO?"
    fake.fail_next("sendMessage", times=4, status=500)  # the first try and 3 retries fail
    [sorry] = ask(fake, "What is PESCO?", user=OTHER)
    assert sorry["text"] == tb.SORRY
    assert sorry["reply_to_message"]["text"] == "What is PESCO?"


def test_the_same_update_posted_twice_to_the_webhook_is_answered_once(
    fake: FakeTelegram, launch: Any
) -> None:
    launch(port=_free_port())
    fake.wait_for(lambda f: f.calls("setWebhook"), WAIT)
    [reply] = ask(fake, "What is PESCO?")
    fake.repeat_update()  # Telegram did not get the 200 and sends it again
    fake.wait_for(lambda f: f.pending_updates() == 0, WAIT)  # the bot took the repeat
    [other] = ask(fake, "How does the EU help Ukraine?", user=OTHER)
    assert "Ukraine" in other["text"]
    assert [m["text"] for m in fake.sent(USER)] == [reply["text"]]


# --------------------------------------------------------------------------------------
# Item 9: questions fetched before a stop or a kill are answered by the next start, once.
# --------------------------------------------------------------------------------------


def test_questions_fetched_before_a_kill_are_answered_once_after_restart(
    fake: FakeTelegram, launch: Any, engine: Engine, tmp_path: Path
) -> None:
    stuck = SlowEngine(engine)  # its gate stays shut: nothing gets answered
    first = launch(stuck)
    users = [5000 + n for n in range(30)]
    for user in users:
        fake.push_text(user, f"slow What is PESCO? ({user})")
    # The bot has fetched them all and told Telegram so (the next getUpdates offset).
    fake.wait_for(lambda f: f.pending_updates() == 0, WAIT)
    done_before = fake.calls("sendMessage")
    kill(first)
    stuck.gate.set()  # its worker threads end; its loop is dead, so nothing is sent
    assert done_before == []

    launch()
    replies = fake.wait_for(lambda f: len(f.sent()) >= len(users) and f.sent(), WAIT)
    [sentinel] = ask(fake, "How does the EU help Ukraine?", user=OTHER)  # after any repeat
    assert "Ukraine" in sentinel["text"]
    per_user = Counter(m["chat"]["id"] for m in fake.sent() if m["chat"]["id"] != OTHER)
    assert per_user == Counter(dict.fromkeys(users, 1))
    assert all(m["text"] != tb.SORRY for m in replies)
    journal = tmp_path / "index" / JOURNAL_NAME
    assert journal.exists()


def test_updates_redelivered_after_a_restart_are_not_answered_again(
    fake: FakeTelegram, launch: Any
) -> None:
    first = launch()
    [reply] = ask(fake, "What is PESCO?")
    first.stop()
    fake.repeat_update()  # as if the stop never confirmed it to Telegram
    launch()
    [other] = ask(fake, "How does the EU help Ukraine?", user=OTHER)
    assert "Ukraine" in other["text"]
    assert [m["text"] for m in fake.sent(USER)] == [reply["text"]]


def _update(update_id: int) -> dict[str, Any]:
    return {"update_id": update_id, "message": {"message_id": update_id, "text": "hi"}}


def test_journal_replays_unfinished_updates_and_remembers_a_bounded_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index" / JOURNAL_NAME
    journal = UpdateJournal(path, remembered=3)
    for update_id in range(1, 6):
        journal.fetched(_update(update_id))
    for update_id in (1, 2, 4):
        journal.done(update_id)
    journal.close()
    with path.open("ab") as out:
        out.write(b'{"update": {"update_id": 6, "mess')  # the kill tore the last line

    again = UpdateJournal(path, remembered=3)
    assert [u["update_id"] for u in again.load()] == [3, 5]
    assert again.seen(1) and again.seen(3) and not again.seen(6)
    for update_id in range(7, 10):
        again.fetched(_update(update_id))
        again.done(update_id)
    assert not again.seen(1)  # only the last 3 handled ids are remembered
    again.close()
    assert [u["update_id"] for u in UpdateJournal(path, remembered=3).load()] == [3, 5]


def test_a_journal_that_cannot_be_written_does_not_stop_the_bot(
    fake: FakeTelegram, launch: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "index" / JOURNAL_NAME).mkdir(parents=True)  # not a file: unusable
    launch()
    [reply] = ask(fake, "What is PESCO?")
    assert "PESCO" in reply["text"]
    assert "a restart may lose the questions in hand" in caplog.text


def test_sigterm_mid_load_then_restart_answers_every_question_once(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    process = _bot_process(fake, tmp_path)
    try:
        fake.wait_for(lambda f: f.waiting_polls > 0 or process.poll() is not None, 60)
        users = [6000 + n for n in range(40)]
        for user in users:
            fake.push_text(user, "What is PESCO?")
        fake.wait_for(lambda f: len(f.sent()) >= 5, WAIT)
    finally:
        status, stderr = _stop(process)  # SIGTERM, most questions still to answer
    assert status == 0, stderr
    process = _bot_process(fake, tmp_path)  # the same corpus, index and journal
    try:
        fake.wait_for(lambda f: len({m["chat"]["id"] for m in f.sent()}) >= len(users), 60)
        [sentinel] = ask(fake, "How does the EU help Ukraine?", user=OTHER)
        assert "Ukraine" in sentinel["text"]
    finally:
        status, stderr = _stop(process)
    assert status == 0, stderr
    assert "Traceback" not in stderr
    per_user = Counter(m["chat"]["id"] for m in fake.sent() if m["chat"]["id"] != OTHER)
    assert per_user == Counter(dict.fromkeys(users, 1))
