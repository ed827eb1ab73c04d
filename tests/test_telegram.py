"""The Telegram bot, end to end: the real Application against a fake Bot API over HTTP.

Each test starts `FakeTelegram` on 127.0.0.1 (OS-assigned port) and the real
`Application` from `build_application`, polling it from a background thread's event
loop. Tests push updates into the fake and assert on the HTTP calls the bot made.
Nothing sleeps: every wait is `fake.wait_for(condition, timeout)`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import index as index_mod
from bot import telegram as tb
from bot.answer import Answer
from bot.config import ConfigError, Settings
from bot.engine import Engine
from tests.fake_telegram import (
    DEFAULT_TOKEN,
    MAX_CALLBACK_DATA,
    FakeTelegram,
    iter_buttons,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "corpus" / "cybersecurity-eu-external-action.txt"
USER, OTHER, ADMIN = 1001, 1002, 42
GROUP = -100200
WAIT = 10.0

# A corpus whose one passage is a single 5,000-character sentence: its answer cannot
# fit in one Telegram message.
LONG_SENTENCE = (
    "The zeppelin maintenance manual explains that "
    + ", ".join(
        f"zeppelin hangar number {i} stores spare envelope panel {i} & rigging" for i in range(80)
    )
    + "."
)


# --------------------------------------------------------------------------------------
# Fixtures: the fake server, engines over tiny corpora, the bot in a background loop.
# --------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _engine(folder: Path, files: dict[str, str]) -> Engine:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return Engine.open(Settings.from_env({}, corpus_dir=corpus, index_dir=folder / "index"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The shipped factsheet, indexed once for the whole module (a build takes a second)."""
    return _engine(
        tmp_path_factory.mktemp("shipped"), {SHIPPED.name: SHIPPED.read_text(encoding="utf-8")}
    )


@pytest.fixture(scope="module")
def long_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    # Passages are capped at passages.MAX_CHARS (2,000); lift the cap for this build so
    # one answer is still longer than a Telegram message.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.passages.MAX_CHARS", 20_000)
        return _engine(
            tmp_path_factory.mktemp("long"),
            {"manual.txt": f"Zeppelin manual\n\nHANGARS\n\n{LONG_SENTENCE}\n"},
        )


class BotThread:
    """The real Application, polling the fake from its own event loop in a thread."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _call(self, coroutine: Any, timeout: float = WAIT) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> BotThread:
        self.thread.start()

        async def start() -> None:
            await self.application.initialize()
            if self.application.post_init:
                await self.application.post_init(self.application)
            await self.application.start()
            await self.application.updater.start_polling(
                poll_interval=0, timeout=5, allowed_updates=tb.ALLOWED_UPDATES
            )

        self._call(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            if self.application.updater.running:
                await self.application.updater.stop()
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()

        try:
            self._call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()


@pytest.fixture
def start_bot(
    fake: FakeTelegram, engine: Engine, tmp_path: Path
) -> Iterator[Callable[..., BotThread]]:
    """Starts the bot against the fake; `start_bot(engine=..., rate_limit_per_minute=...)`."""
    running: list[BotThread] = []

    def start(bot_engine: Any = None, typing_delay: float = 0.3, **changes: Any) -> BotThread:
        values: dict[str, Any] = {
            "corpus_dir": tmp_path / "corpus",
            "index_dir": tmp_path / "index",
            "telegram_token": fake.token,
            "telegram_api_url": fake.api_url,
            "admin_ids": frozenset({ADMIN}),
        }
        values.update(changes)
        bot_settings = Settings.from_env({}, **values)
        application = tb.build_application(
            bot_settings, bot_engine or engine, typing_delay=typing_delay
        )
        runner = BotThread(application).start()
        running.append(runner)
        return runner

    yield start
    for runner in running:
        runner.stop()
    # Whatever a test checked, the bot must never have sent Telegram a bad request.
    refused = [
        (c.method, c.response["description"]) for c in fake.calls(ok=None) if c.status == 400
    ]
    assert refused == []


@pytest.fixture
def bot(start_bot: Callable[..., BotThread]) -> BotThread:
    return start_bot()


def ask(
    fake: FakeTelegram,
    text: str,
    user: int = USER,
    count: int = 1,
    chat: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Sends a text and waits for `count` new bot messages in that chat; returns them."""
    chat_id = chat["id"] if chat else user
    before = len(fake.sent(chat_id))
    fake.push_text(user, text, chat=chat)
    return fake.wait_for_messages(chat_id, before + count, WAIT)[before:]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for b in iter_buttons(message)}


def html_of(fake: FakeTelegram, message: dict[str, Any]) -> str:
    """The HTML the bot sent for a message (the fake stores the parsed text)."""
    for call in fake.calls("sendMessage"):
        if (
            call.result["message_id"] == message["message_id"]
            and call.result["chat"]["id"] == message["chat"]["id"]
        ):
            return str(call.params["text"])
    raise LookupError(message)


def press(
    fake: FakeTelegram, message: dict[str, Any], text: str, user: int = USER, count: int = 1
) -> tuple[str, list[dict[str, Any]]]:
    """Presses a button; waits for its callback answer and `count` new messages."""
    chat_id = message["chat"]["id"]
    before = len(fake.sent(chat_id))
    query = fake.press(user, message, text)
    answer = fake.wait_for(
        lambda f: next(
            (c for c in f.calls("answerCallbackQuery") if c.params["callback_query_id"] == query),
            None,
        ),
        WAIT,
    )
    new = fake.wait_for_messages(chat_id, before + count, WAIT)[before:] if count else []
    return str(answer.params.get("text") or ""), new


# --------------------------------------------------------------------------------------
# The bot over HTTP: the scenarios.
# --------------------------------------------------------------------------------------


def test_start_registers_commands_and_offers_example_questions(
    fake: FakeTelegram, bot: BotThread
) -> None:
    commands = fake.wait_for(lambda f: f.calls("setMyCommands"), WAIT)[0].params["commands"]
    assert {c["command"] for c in commands} >= {"start", "help", "ask", "sources", "about"}

    [greeting] = ask(fake, "/start")
    assert "1 document" in greeting["text"]
    assert "cybersecurity-eu-external-action.txt" in greeting["text"]
    assert "cybersecurity strategy" in greeting["text"].lower()  # a section title
    examples = buttons(greeting)
    assert 1 <= len(examples) <= 3  # only headings the bot answers become buttons
    # Headings turned into questions, each one the bot answers (pressed below).
    assert all("cyber" in q.lower() or "eu" in q.lower() for q in examples)
    assert all(len(data.encode()) <= MAX_CALLBACK_DATA for data in examples.values())

    notice, [reply] = press(fake, greeting, next(iter(examples)))
    assert notice == ""
    assert next(iter(examples)) in reply["text"]  # the question is echoed
    assert "›" in reply["text"]  # and answered with its source


def test_question_gets_best_sentence_bold_words_source_and_buttons(
    fake: FakeTelegram, bot: BotThread, engine: Engine
) -> None:
    [reply] = ask(fake, "What is PESCO?")
    top = engine.ask("What is PESCO?").hits[0].passage
    assert "Permanent Structured Cooperation (PESCO)" in reply["text"]
    assert reply["text"].endswith(f"\n— {top.doc} › {top.section}")
    assert "<b>PESCO</b>" in html_of(fake, reply)
    assert any(e["type"] == "bold" for e in reply["entities"])
    assert set(buttons(reply)) == {"More", "Source", "👍", "👎"}
    assert all(len(d.encode()) <= MAX_CALLBACK_DATA for d in buttons(reply).values())


def test_two_questions_in_one_message_get_both_answers(fake: FakeTelegram, bot: BotThread) -> None:
    [reply] = ask(fake, "What is PESCO? And what is the EU's fishing policy?")
    first, second = reply["text"].split("\n\n“")
    assert first.startswith("“What is PESCO?”\n")
    assert "Permanent Structured Cooperation" in first and "›" in first
    assert second.startswith("what is the EU's fishing policy?”\nI could not find this")
    assert "<b>“What is PESCO?”</b>" in html_of(fake, reply)


def test_typo_is_repaired_and_said(fake: FakeTelegram, bot: BotThread) -> None:
    [reply] = ask(fake, "How does the EU help Ukriane?")
    assert reply["text"].startswith("Did you mean “Ukraine”?")
    assert "Ukraine" in reply["text"]
    assert "<i>Did you mean “Ukraine”?" in html_of(fake, reply)


def test_out_of_scope_question_abstains_with_feedback_buttons_only(
    fake: FakeTelegram, bot: BotThread
) -> None:
    [reply] = ask(fake, "What is the price of bananas in Peru?")
    assert reply["text"].startswith("I could not find this in the sources.")
    assert "Source" not in buttons(reply)
    assert {"👍", "👎"} <= set(buttons(reply))


def test_asked_what_it_knows_it_names_its_documents(fake: FakeTelegram, bot: BotThread) -> None:
    [reply] = ask(fake, "what do you know?")
    assert reply["text"].startswith(
        "I answer from 1 document: “cybersecurity-eu-external-action.txt”"
    )
    assert reply["text"].endswith("Send /help for tips.")  # the front end's own tip
    assert {"👍", "👎"}.isdisjoint(buttons(reply))


def test_more_pages_through_further_results(fake: FakeTelegram, bot: BotThread) -> None:
    [reply] = ask(fake, "cyber resilience and cooperation")
    notice, [more] = press(fake, reply, "More")
    assert notice == ""
    assert more["text"].startswith("2. ")
    assert "3. " in more["text"]
    assert "cybersecurity-eu-external-action.txt ›" in more["text"]
    _, [again] = press(fake, more, "More")
    assert again["text"].startswith("4. ")


def test_source_shows_the_whole_passage(fake: FakeTelegram, bot: BotThread, engine: Engine) -> None:
    [reply] = ask(fake, "What is PESCO?")
    _, [source] = press(fake, reply, "Source")
    top = engine.ask("What is PESCO?").hits[0].passage
    assert source["text"] == f"{top.doc} › {top.section}\n\n{top.text}"


def test_feedback_is_appended_for_curators_once_per_user(
    fake: FakeTelegram, bot: BotThread, tmp_path: Path
) -> None:
    [reply] = ask(fake, "What is PESCO?")
    notice, _ = press(fake, reply, "👍", count=0)
    assert notice == "Thanks for the feedback!"
    again, _ = press(fake, reply, "👎", count=0)
    assert "already" in again
    other, _ = press(fake, reply, "👎", user=OTHER, count=0)
    assert other == "Thanks for the feedback!"

    lines = (tmp_path / "index" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["vote"] for e in entries] == ["up", "down"]
    assert entries[0]["question"] == "What is PESCO?"
    assert entries[0]["kind"] == "answer"
    assert entries[0]["passage_ids"]
    assert fake.unanswered_callbacks() == []


def test_every_callback_query_is_answered_even_stale_ones(
    fake: FakeTelegram, bot: BotThread
) -> None:
    [reply] = ask(fake, "What is PESCO?")
    stale = {
        **reply,
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "More", "callback_data": "more:999"},
                    {"text": "Junk", "callback_data": "zz:what"},
                ]
            ]
        },
    }
    assert "ask again" in press(fake, stale, "More", count=0)[0]
    assert "ask again" in press(fake, stale, "Junk", count=0)[0]
    assert fake.unanswered_callbacks() == []


def test_group_answers_only_commands_mentions_and_replies(
    fake: FakeTelegram, bot: BotThread
) -> None:
    group = fake.group_chat(GROUP)
    fake.push_text(USER, "What is PESCO? (just chatting, not for the bot)", chat=group)
    [mentioned] = ask(fake, "@policy_qa_bot What is PESCO?", chat=group)
    assert "PESCO" in mentioned["text"]
    assert mentioned["reply_to_message"]["text"] == "@policy_qa_bot What is PESCO?"

    [command] = ask(fake, "/ask@policy_qa_bot What is PESCO?", chat=group)
    assert "PESCO" in command["text"]
    [replied] = _reply_to(fake, mentioned, "and what about Ukraine?", group)
    assert "Ukraine" in replied["text"]

    fake.push_sticker(USER, chat=group)  # not addressed: ignored
    fake.push_text(USER, "/ask", chat=group)
    usage = fake.wait_for_messages(GROUP, 4, WAIT)[3]
    assert usage["text"].startswith("Usage: /ask your question")
    assert len(fake.sent(GROUP)) == 4  # the chatter and the sticker got nothing


def _reply_to(
    fake: FakeTelegram, message: dict[str, Any], text: str, chat: dict[str, Any]
) -> list[dict[str, Any]]:
    before = len(fake.sent(chat["id"]))
    fake.push_text(USER, text, chat=chat, reply_to=message)
    return fake.wait_for_messages(chat["id"], before + 1, WAIT)[before:]


def test_html_in_questions_is_escaped(fake: FakeTelegram, bot: BotThread) -> None:
    for question in ("<b>x</b> & <script>", "What is PESCO <b>x</b> & <script>alert(1)"):
        [reply] = ask(fake, question)
        assert reply["text"]
    assert fake.calls("sendMessage", ok=False) == []
    group = fake.group_chat(GROUP)
    [reply] = ask(fake, "/ask <i>What</i> is <PESCO>?", chat=group)
    assert "PESCO" in reply["text"]


def test_answer_over_4096_characters_is_split(
    fake: FakeTelegram, start_bot: Any, long_engine: Engine
) -> None:
    start_bot(long_engine)
    parts = ask(fake, "What does the zeppelin manual explain about hangars?", count=2)
    assert fake.calls("sendMessage", ok=False) == []
    assert all(len(p["text"]) <= 4096 for p in parts)
    text = " ".join(p["text"] for p in parts)
    assert "spare envelope panel 79 & rigging." in text
    assert "reply_markup" not in parts[0] and "Source" in buttons(parts[1])


def test_non_text_messages_get_one_polite_line(fake: FakeTelegram, bot: BotThread) -> None:
    fake.push_sticker(USER)
    fake.push_photo(USER, caption="what is this?")
    fake.push_document(USER)
    replies = fake.wait_for_messages(USER, 3, WAIT)
    assert all(r["text"] == tb.NOT_TEXT for r in replies)


def test_edited_question_is_answered_again(fake: FakeTelegram, bot: BotThread) -> None:
    [first] = ask(fake, "How does the EU help Ukriane?")
    original = fake._messages[(USER, first["message_id"] - 1)]
    fake.push_text(USER, "What is PESCO?", edited_of=original)
    second = fake.wait_for_messages(USER, 2, WAIT)[1]
    assert "PESCO" in second["text"]


def test_unknown_command_lists_the_known_ones(fake: FakeTelegram, bot: BotThread) -> None:
    [reply] = ask(fake, "/frobnicate")
    assert "/help" in reply["text"]


def test_whoami_tells_each_sender_their_id_for_the_admin_list(
    fake: FakeTelegram, bot: BotThread
) -> None:
    [mine] = ask(fake, "/whoami")
    assert mine["text"].startswith(f"Your Telegram user id is {USER}.")
    assert "TELEGRAM_ADMIN_IDS" in mine["text"]
    [admins] = ask(fake, "/whoami", user=ADMIN)
    assert admins["text"].startswith(f"Your Telegram user id is {ADMIN}.")
    assert "one of this bot's admins" in admins["text"]
    commands = fake.calls("setMyCommands")[0].params["commands"]
    assert "whoami" in {c["command"] for c in commands}
    [help_reply] = ask(fake, "/help")
    assert "/whoami" in help_reply["text"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/help", "/ask your question"),
        ("/sources", "cybersecurity-eu-external-action.txt"),
        ("/about", "passages from 1 document, updated "),
    ],
)
def test_info_commands(fake: FakeTelegram, bot: BotThread, command: str, expected: str) -> None:
    [reply] = ask(fake, command)
    assert expected in reply["text"]


def test_rate_limit_answers_a_burst_then_says_so_once(fake: FakeTelegram, start_bot: Any) -> None:
    start_bot(rate_limit_per_minute=3)
    for n in range(7):
        fake.push_text(USER, f"What is PESCO? ({n})")
    replies = fake.wait_for_messages(USER, 4, WAIT)
    [other] = ask(fake, "What is PESCO?", user=OTHER)  # others are not affected
    assert "PESCO" in other["text"]
    replies = fake.sent(USER)
    warnings = [r for r in replies if "faster than I can keep up" in r["text"]]
    assert len(warnings) == 1 and len(replies) == 4
    assert "3 questions a minute" in warnings[0]["text"]


# PTB 22 warns about its own RetryAfter internals (retry_after becomes a timedelta).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_retry_after_is_honoured_and_nothing_lost(fake: FakeTelegram, bot: BotThread) -> None:
    fake.fail_next("sendMessage", times=1, status=429, retry_after=1)
    [reply] = ask(fake, "What is PESCO?")
    assert "PESCO" in reply["text"]
    [failed] = fake.calls("sendMessage", ok=False)
    assert failed.status == 429
    assert failed.response["parameters"] == {"retry_after": 1}
    assert len(fake.sent(USER)) == 1


def test_server_error_is_retried_and_nothing_lost(fake: FakeTelegram, bot: BotThread) -> None:
    fake.fail_next("sendMessage", times=2, status=500)
    [reply] = ask(fake, "What is PESCO?")
    assert "PESCO" in reply["text"]
    assert [c.status for c in fake.calls("sendMessage", ok=None)] == [500, 500, 200]


def test_stats_for_admins_only(fake: FakeTelegram, bot: BotThread) -> None:
    ask(fake, "What is PESCO?")
    ask(fake, "What is the price of bananas in Peru?")
    [refused] = ask(fake, "/stats", user=OTHER)
    assert "only for the bot's admins" in refused["text"]
    [stats] = ask(fake, "/stats", user=ADMIN)
    assert "Questions: 2 (answered 1, abstained 1" in stats["text"]
    assert "Abstention rate: 50%" in stats["text"]
    assert "Feedback: 👍 0 · 👎 0" in stats["text"]
    assert "1. what is the price of bananas in peru? (1)" in stats["text"]


class SlowEngine:
    """The real engine, except that questions with "slow" wait for a gate to open,
    and questions with "boom" fail."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.gate = threading.Event()

    def ask(self, question: str, k: int | None = None) -> Answer:
        if "boom" in question:
            raise RuntimeError("engine failure")
        if "slow" in question and not self.gate.wait(WAIT):
            raise TimeoutError("gate never opened")
        return self.engine.ask(question.replace("slow", ""), k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def test_slow_retrieval_shows_typing_and_does_not_stall_others(
    fake: FakeTelegram, start_bot: Any, engine: Engine
) -> None:
    slow = SlowEngine(engine)
    start_bot(slow, typing_delay=0.05)
    fake.push_text(USER, "slow What is PESCO?")
    typing = fake.wait_for(lambda f: f.calls("sendChatAction"), WAIT)[0]
    assert typing.params == {"chat_id": USER, "action": "typing"}
    [other] = ask(fake, "What is PESCO?", user=OTHER)  # answered while USER's waits
    assert "PESCO" in other["text"]
    assert fake.sent(USER) == []
    assert "reply_to_message" not in other  # one question at a time: no quote
    slow.gate.set()
    [late] = fake.wait_for_messages(USER, 1, WAIT)
    assert "PESCO" in late["text"]


def test_overlapping_questions_in_one_chat_quote_their_question(
    fake: FakeTelegram, start_bot: Any, engine: Engine
) -> None:
    slow = SlowEngine(engine)
    start_bot(slow)
    first = fake.push_text(USER, "slow What is PESCO?")
    [quick] = ask(fake, "How does the EU help Ukraine?")  # overtakes the first
    assert quick["reply_to_message"]["text"] == "How does the EU help Ukraine?"
    slow.gate.set()
    late = fake.wait_for_messages(USER, 2, WAIT)[1]
    assert late["reply_to_message"]["message_id"] == first["message_id"]


def test_errors_are_logged_and_told_and_the_bot_goes_on(
    fake: FakeTelegram, start_bot: Any, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    start_bot(SlowEngine(engine))
    [sorry] = ask(fake, "boom")
    assert sorry["text"] == tb.SORRY
    assert "RuntimeError: engine failure" not in sorry["text"]
    [fine] = ask(fake, "What is PESCO?")
    assert "PESCO" in fine["text"]
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)


def test_token_never_reaches_the_logs(
    fake: FakeTelegram, bot: BotThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    ask(fake, "What is PESCO?")
    assert fake.token not in caplog.text


# --------------------------------------------------------------------------------------
# Admins: /reload and document uploads change the corpus of a running bot.
# --------------------------------------------------------------------------------------

ENERGY = """Energy Report

SOLAR POWER

Solar panels convert sunlight into electricity. Solar power is cheap in sunny countries.

WIND POWER

Wind turbines turn wind into electricity. Offshore wind farms are built at sea.
"""
FACT = """Zeppelin Facts

AIRSHIPS

The zeppelin hangar in Friedrichshafen houses twelve airships for summer tours.
"""
FACT_QUESTION = "How many airships does the Friedrichshafen hangar house?"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256)) * 4


@pytest.fixture
def live_engine(tmp_path: Path) -> Engine:
    """An engine over tmp_path/corpus and tmp_path/index: the folders `start_bot` uses."""
    return _engine(tmp_path, {"energy.txt": ENERGY})


def corpus_listing(tmp_path: Path) -> dict[str, bytes]:
    """Every file under the test's folder except the index: what an upload may touch."""
    return {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file() and p.relative_to(tmp_path).parts[0] != "index"
    }


def upload(
    fake: FakeTelegram, name: str | None, content: bytes, user: int = ADMIN, **extra: Any
) -> dict[str, Any]:
    """Sends a document as `user` in a private chat; waits for the bot's one reply."""
    before = len(fake.sent(user))
    fake.push_document(user, name, content=content, **extra)
    return fake.wait_for_messages(user, before + 1, WAIT)[before]


def test_reload_by_admin_answers_a_fact_added_on_disk(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    [before] = ask(fake, FACT_QUESTION, user=ADMIN)
    assert "twelve airships" not in before["text"]
    (tmp_path / "corpus" / "zeppelins.txt").write_text(FACT, encoding="utf-8")

    [reloaded] = ask(fake, "/reload", user=ADMIN)
    assert reloaded["text"].startswith("Index rebuilt: 1 added, 0 changed, 0 removed; ")
    assert "Added: zeppelins.txt" in reloaded["text"]
    passages = live_engine.info.passage_count
    assert f"→ {passages} passages." in reloaded["text"]
    [after] = ask(fake, FACT_QUESTION, user=ADMIN)
    assert "twelve airships" in after["text"]

    [again] = ask(fake, "/reload", user=ADMIN)
    assert again["text"].startswith(f"Index rebuilt: nothing changed ({passages} passages).")


def test_a_build_outside_the_bot_is_picked_up_without_restart(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    [before] = ask(fake, FACT_QUESTION)
    assert "twelve airships" not in before["text"]
    (tmp_path / "corpus" / "zeppelins.txt").write_text(FACT, encoding="utf-8")
    index_mod.build(tmp_path / "corpus", live_engine.settings.index_dir)  # `python -m bot build`
    [after] = ask(fake, FACT_QUESTION)
    assert "twelve airships" in after["text"]


def test_reload_is_for_admins_only(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    build = live_engine.info.build_id
    (tmp_path / "corpus" / "zeppelins.txt").write_text(FACT, encoding="utf-8")
    [refused] = ask(fake, "/reload", user=USER)
    assert refused["text"] == "Sorry, /reload is only for the bot's admins."
    assert live_engine.info.build_id == build
    assert index_mod.current_build(tmp_path / "index").name == build


def test_reload_while_another_build_runs_says_so(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    with index_mod.build_lock(tmp_path / "index"):  # as a `python -m bot build` would
        [busy] = ask(fake, "/reload", user=ADMIN)
    assert busy["text"] == tb.BUILD_BUSY
    [fine] = ask(fake, "/reload", user=ADMIN)
    assert fine["text"].startswith("Index rebuilt")


def test_reload_reports_index_errors_without_a_traceback(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    (tmp_path / "corpus" / "energy.txt").unlink()
    [reply] = ask(fake, "/reload", user=ADMIN)
    assert reply["text"].startswith("The index was not rebuilt: No text to index in ")
    assert "Traceback" not in reply["text"]
    [still] = ask(fake, "What do wind turbines do?", user=ADMIN)  # the old index serves
    assert "Wind turbines turn wind into electricity" in still["text"]


def test_upload_from_admin_is_saved_indexed_and_answered(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    reply = upload(fake, "zeppelins.txt", FACT.encode())
    assert reply["text"].startswith(
        f"Added zeppelins.txt ({len(FACT.encode())} bytes); the index now has "
    )
    assert "\n" not in reply["text"]  # one summary line
    assert fake.downloads() == [fake.calls("getFile")[0].result["file_path"]]
    assert (tmp_path / "corpus" / "zeppelins.txt").read_bytes() == FACT.encode()
    assert [p.name for p in (tmp_path / "corpus").iterdir()] != []
    assert not [p for p in (tmp_path / "corpus").iterdir() if p.name.startswith(".")]
    [answer] = ask(fake, FACT_QUESTION, user=OTHER)
    assert "twelve airships" in answer["text"]
    assert "zeppelins.txt" in answer["text"]


def docx_bytes(*paragraphs: tuple[str, str]) -> bytes:
    """A Word file of (style, text) paragraphs, as python-docx writes it."""
    import docx

    document = docx.Document()
    for style, text in paragraphs:
        document.add_paragraph(text, style=style)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_word_upload_from_admin_is_saved_indexed_and_answered(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    data = docx_bytes(
        ("Title", "Zeppelin Facts"),
        ("Heading 1", "Airships"),
        (
            "Normal",
            "The zeppelin hangar in Friedrichshafen houses twelve airships for summer tours.",
        ),
    )
    reply = upload(fake, "Zeppelin facts.docx", data)
    assert reply["text"].startswith("Added Zeppelin_facts.docx (")
    assert "the index now has " in reply["text"]
    assert (tmp_path / "corpus" / "Zeppelin_facts.docx").read_bytes() == data
    [answer] = ask(fake, FACT_QUESTION, user=OTHER)
    assert "twelve airships" in answer["text"]
    assert "Airships" in answer["text"]  # the section, from the Word heading


def test_upload_from_others_is_refused_and_nothing_saved(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    before = corpus_listing(tmp_path)
    reply = upload(fake, "zeppelins.txt", FACT.encode(), user=USER)
    assert reply["text"] == tb.NOT_TEXT
    assert fake.calls("getFile") == [] and fake.downloads() == []
    assert corpus_listing(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.txt", PNG, "notes.txt is not text: it is a PNG image."),
        ("notes.md", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "it is a ZIP archive"),
        ("report.pdf", FACT.encode(), "report.pdf is not a PDF file"),
        ("report.pdf", b"%PDF-1.7\n" + bytes(300), "cannot read PDF report.pdf"),
        ("page.html", b"\x01\x02\x03\x04binary\x05\x06\x07\x08" * 20, "binary file"),
        (
            "virus.exe",
            b"MZ\x90\x00",
            "I can only add .txt, .md, .html, .htm, .pdf, .docx or .odt files",
        ),
        ("policy.docx", PNG, "policy.docx is not a Word .docx file: it is a PNG image."),
        ("policy.docx", FACT.encode(), "policy.docx is not a Word .docx file: it is not a ZIP"),
        ("policy.docx", b"PK\x03\x04" + bytes(300), "policy.docx is not a Word .docx file"),
        ("notes.odt", b"PK\x03\x04" + bytes(300), "notes.odt is not an OpenDocument .odt file"),
    ],
)
def test_upload_whose_content_does_not_match_its_name_is_refused(
    fake: FakeTelegram,
    start_bot: Any,
    live_engine: Engine,
    tmp_path: Path,
    name: str,
    content: bytes,
    expected: str,
) -> None:
    start_bot(live_engine)
    before = corpus_listing(tmp_path)
    build = live_engine.info.build_id
    reply = upload(fake, name, content)
    assert expected in reply["text"]
    assert corpus_listing(tmp_path) == before  # nothing saved, no temporary file left
    assert index_mod.current_build(tmp_path / "index").name == build


def test_oversize_upload_is_refused_before_and_after_download(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine, max_upload_bytes=100)
    before = corpus_listing(tmp_path)
    big = (FACT * 5).encode()
    reply = upload(fake, "zeppelins.txt", big)
    assert reply["text"] == f"zeppelins.txt is too big ({len(big)} bytes); the limit is 100 bytes."
    assert fake.calls("getFile") == []  # refused on the announced size: nothing fetched
    lying = upload(fake, "zeppelins.txt", big, file_size=50)  # the size announced is wrong
    assert lying["text"] == reply["text"]
    assert len(fake.calls("getFile")) == 1 and fake.downloads() == []  # getFile's size
    fake.get_file_reports_size = False
    unknown = upload(fake, "zeppelins.txt", big, file_size=50)
    assert unknown["text"] == reply["text"]
    assert len(fake.downloads()) == 1  # the bytes themselves gave it away
    assert corpus_listing(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\win.ini.md", "win.ini.md"),
        (".bashrc.txt", "bashrc.txt"),
        ("Résumé «final» 2024.TXT", "Resume_final_2024.txt"),
    ],
)
def test_upload_names_are_sanitised_into_the_corpus_folder(
    fake: FakeTelegram,
    start_bot: Any,
    live_engine: Engine,
    tmp_path: Path,
    name: str,
    saved: str,
) -> None:
    start_bot(live_engine)
    before = corpus_listing(tmp_path)
    reply = upload(fake, name, FACT.encode())
    assert reply["text"].startswith(f"Added {saved} (")
    after = corpus_listing(tmp_path)
    assert set(after) - set(before) == {f"corpus/{saved}"}  # nothing outside corpus/
    assert not (tmp_path.parent / "etc").exists()


def test_same_name_upload_asks_before_replacing(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    target = tmp_path / "corpus" / "zeppelins.txt"
    upload(fake, "zeppelins.txt", FACT.encode())
    same = upload(fake, "zeppelins.txt", FACT.encode())
    assert same["text"] == (
        "zeppelins.txt is already in the corpus with exactly this content; nothing changed."
    )

    newer = FACT.replace("twelve", "twenty").encode()
    question = upload(fake, "zeppelins.txt", newer)
    assert question["text"] == (
        "A different file named zeppelins.txt is already in the corpus. Replace it with this one?"
    )
    assert set(buttons(question)) == {"Replace", "Cancel"}
    assert all(len(d.encode()) <= MAX_CALLBACK_DATA for d in buttons(question).values())
    assert target.read_bytes() == FACT.encode()  # not replaced yet

    notice, [replaced] = press(fake, question, "Replace", user=ADMIN)
    assert notice == "Replacing…"
    assert replaced["text"].startswith(
        f"Replaced zeppelins.txt ({len(newer)} bytes); the index now has "
    )
    assert target.read_bytes() == newer
    edited = fake._messages[(ADMIN, question["message_id"])]
    assert "reply_markup" not in edited  # the buttons are gone
    [answer] = ask(fake, FACT_QUESTION, user=OTHER)
    assert "twenty airships" in answer["text"]

    stale, _ = press(fake, question, "Replace", user=ADMIN, count=0)
    assert stale == tb.UPLOAD_GONE


def test_same_name_upload_can_be_cancelled(
    fake: FakeTelegram, start_bot: Any, live_engine: Engine, tmp_path: Path
) -> None:
    start_bot(live_engine)
    original = (tmp_path / "corpus" / "energy.txt").read_bytes()
    question = upload(fake, "energy.txt", FACT.encode())
    assert "Replace it with this one?" in question["text"]
    notice, [kept] = press(fake, question, "Cancel", user=ADMIN)
    assert notice == "Cancelled."
    assert kept["text"] == "Kept the existing energy.txt; your upload was dropped."
    assert (tmp_path / "corpus" / "energy.txt").read_bytes() == original
    assert fake.unanswered_callbacks() == []


# --------------------------------------------------------------------------------------
# The real process: `python -m bot telegram`.
# --------------------------------------------------------------------------------------


def _bot_process(
    fake: FakeTelegram, tmp_path: Path, *args: str, token: str | None = None
) -> subprocess.Popen[str]:
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        corpus.mkdir()
        shutil.copy(SHIPPED, corpus / SHIPPED.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BOT_CORPUS_DIR": str(corpus),
            "BOT_INDEX_DIR": str(tmp_path / "index"),
            "TELEGRAM_API_URL": fake.api_url,
            "TELEGRAM_BOT_TOKEN": fake.token if token is None else token,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", "-v", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"the bot did not stop on SIGTERM:\n{stderr}")
    return process.returncode, stderr


def test_subprocess_polls_answers_and_stops_cleanly_on_sigterm(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    process = _bot_process(fake, tmp_path)
    try:
        fake.wait_for(lambda f: f.waiting_polls > 0 or process.poll() is not None, 60)
        [reply] = ask(fake, "What is PESCO?")
        assert "PESCO" in reply["text"]
    finally:
        status, stderr = _stop(process)
    assert status == 0, stderr
    assert fake.token not in stderr
    assert "Traceback" not in stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_subprocess_webhook_mode(fake: FakeTelegram, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    process = _bot_process(
        fake,
        tmp_path,
        "--webhook-url",
        url,
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--secret-token",
        "s3cret-Token",
    )
    try:
        fake.wait_for(lambda f: f.calls("setWebhook") or process.poll() is not None, 60)
        hook = fake.calls("setWebhook")[0].params
        assert hook["url"] == url and hook["secret_token"] == "s3cret-Token"
        [reply] = ask(fake, "What is PESCO?")  # the fake POSTs it to the webhook
        assert "PESCO" in reply["text"]
        forged = urllib.request.Request(
            url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=WAIT)
        assert refused.value.code == 403  # no secret, no entry
    finally:
        status, stderr = _stop(process)
    assert status == 0, stderr


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "TELEGRAM_BOT_TOKEN is not set"),
        ("12345:short", "does not look like a bot token"),
    ],
)
def test_missing_or_malformed_token_fails_before_any_network_call(
    fake: FakeTelegram, tmp_path: Path, token: str, message: str
) -> None:
    process = _bot_process(fake, tmp_path, token=token)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert message in stderr and stderr.startswith("Error: TELEGRAM_BOT_TOKEN")
    assert fake.calls(ok=None) == []
    assert not (tmp_path / "index").exists()  # refused before even building the index


def test_token_refused_by_the_api_is_a_clear_error(fake: FakeTelegram, tmp_path: Path) -> None:
    wrong = "987654321:" + "X" * 35
    process = _bot_process(fake, tmp_path, token=wrong)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Error: the Bot API refused the token" in stderr
    assert wrong not in stderr  # PTB logs its traceback; the token is redacted there


# --------------------------------------------------------------------------------------
# The pure pieces (rendering: tests/test_telegram_render.py).
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", [None, "", "abc", "123:short", "123456:" + "a" * 29, "x123456:" + "a" * 35]
)
def test_malformed_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        tb.validate_token(token)
    assert tb.validate_token(DEFAULT_TOKEN) == DEFAULT_TOKEN


def test_user_rate_limit_window() -> None:
    now = [0.0]
    limit = tb.UserRateLimit(2, clock=lambda: now[0])
    assert [limit.check(1) for _ in range(4)] == ["ok", "ok", "warn", "drop"]
    assert limit.check(2) == "ok"
    assert limit.retry_in(1) == 60
    now[0] = 60.0
    assert limit.check(1) == "ok"
