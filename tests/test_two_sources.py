"""A reply that quotes two documents names each sentence's own source, in every front end.

The corpus is HR-like and written here: a Markdown remote-work policy and an HTML
holiday page. "Days at home and days of holiday?" (one question: "how many ... and how
many ..." would be two, each answered apart) is answered by one sentence from each, so
each front end must show two source lines, each after the sentence it belongs to.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot import telegram as tb
from bot.config import Settings
from bot.console import Console
from bot.engine import Engine
from tests.conftest import run_bot
from tests.fake_telegram import parse_html

REMOTE = """# Remote Work Policy

## Working from home

Staff may work from home up to two days per week. Requests go to your line manager.

## Equipment

The company provides a laptop and a headset for remote work.
"""
HOLIDAYS = """<html><head><title>Holidays and Leave</title></head><body>
<h1>Holidays and Leave</h1>
<h2>Annual leave</h2>
<p>Staff get 28 days of paid holiday a year.</p>
<h2>Public holidays</h2>
<p>Public holidays are paid in addition to annual leave.</p>
</body></html>
"""
QUESTION = "Days at home and days of holiday?"
HOME = "Staff may work from home up to two days per week."
HOLIDAY = "Staff get 28 days of paid holiday a year."
HOME_SOURCE = "— remote-work-policy.md › Working from home"
HOLIDAY_SOURCE = "— holidays.html › Annual leave"


def write_hr_corpus(folder: Path) -> Path:
    """The HR corpus in `folder`/corpus; returns the corpus folder."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "remote-work-policy.md").write_text(REMOTE, encoding="utf-8")
    (corpus / "holidays.html").write_text(HOLIDAYS, encoding="utf-8")
    return corpus


@pytest.fixture
def hr_corpus(tmp_path: Path) -> Path:
    return write_hr_corpus(tmp_path)


@pytest.fixture
def hr_engine(hr_corpus: Path) -> Engine:
    return Engine.open(
        Settings.from_env({}, corpus_dir=hr_corpus, index_dir=hr_corpus.parent / "index")
    )


def _in_order(text: str, *pieces: str) -> bool:
    """Whether every piece occurs in `text`, each after the one before."""
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def test_the_answer_quotes_two_passages_each_with_its_hit(hr_engine: Engine) -> None:
    answer = hr_engine.ask(QUESTION)
    assert answer.kind == "answer"
    assert [(q.sentences, q.hit.passage.doc) for q in answer.quotes] == [
        ((HOME,), "remote-work-policy.md"),
        ((HOLIDAY,), "holidays.html"),
    ]


def test_ask_prints_each_sentence_then_its_own_source(hr_corpus: Path) -> None:
    result = run_bot("ask", "--corpus", str(hr_corpus), QUESTION, cwd=hr_corpus.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{HOME}\n{HOME_SOURCE}\n{HOLIDAY}\n{HOLIDAY_SOURCE}\n"


def test_ask_stdin_keeps_each_source_after_its_sentence_on_one_line(hr_corpus: Path) -> None:
    result = run_bot(
        "ask", "--corpus", str(hr_corpus), "-", stdin=QUESTION + "\n", cwd=hr_corpus.parent
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{HOME} {HOME_SOURCE} {HOLIDAY} {HOLIDAY_SOURCE}\n"


def test_console_prints_each_sentence_then_its_own_source(hr_engine: Engine) -> None:
    out = io.StringIO()
    Console(hr_engine, io.StringIO(QUESTION + "\n"), out).run()
    assert out.getvalue() == f"{HOME}\n{HOME_SOURCE}\n{HOLIDAY}\n{HOLIDAY_SOURCE}\n"


def test_telegram_shows_each_sentence_then_its_own_source_with_bold_words(
    hr_engine: Engine,
) -> None:
    [part] = tb.format_answer(hr_engine.ask(QUESTION))
    plain, entities = parse_html(part)  # valid Telegram HTML
    assert plain == f"{HOME}\n{HOME_SOURCE}\n\n{HOLIDAY}\n{HOLIDAY_SOURCE}"
    bold = {plain[e["offset"] : e["offset"] + e["length"]] for e in entities if e["type"] == "bold"}
    assert {"days", "home", "holiday"} <= bold
    italic = [
        plain[e["offset"] : e["offset"] + e["length"]] for e in entities if e["type"] == "italic"
    ]
    assert italic == [HOME_SOURCE[2:], HOLIDAY_SOURCE[2:]]


def test_telegram_splits_a_long_two_source_answer_within_the_limit(hr_engine: Engine) -> None:
    answer = hr_engine.ask(QUESTION)
    parts = tb.format_answer(answer, limit=80)
    plains = [parse_html(part)[0] for part in parts]
    assert all(len(plain) <= 80 for plain in plains)
    assert _in_order("\n".join(plains), HOME, HOME_SOURCE[2:], HOLIDAY, HOLIDAY_SOURCE[2:])


def test_telegram_bot_sends_each_sentence_with_its_own_source(
    hr_engine: Engine, tmp_path: Path
) -> None:
    """Over HTTP: the real Application, polling the fake Bot API."""
    from tests.fake_telegram import FakeTelegram
    from tests.test_telegram import BotThread

    with FakeTelegram() as fake:
        settings = Settings.from_env(
            {},
            corpus_dir=tmp_path / "corpus",
            index_dir=tmp_path / "index",
            telegram_token=fake.token,
            telegram_api_url=fake.api_url,
        )
        runner = BotThread(tb.build_application(settings, hr_engine)).start()
        try:
            fake.push_text(1001, QUESTION)
            [reply] = fake.wait_for_messages(1001, 1, 10.0)
        finally:
            runner.stop()
    assert reply["text"] == f"{HOME}\n{HOME_SOURCE}\n\n{HOLIDAY}\n{HOLIDAY_SOURCE}"
    italic = [
        reply["text"][e["offset"] : e["offset"] + e["length"]]
        for e in reply["entities"]
        if e["type"] == "italic"
    ]
    assert italic == [HOME_SOURCE[2:], HOLIDAY_SOURCE[2:]]
