"""Texts drawn from the loaded corpus, in each front end's own words.

Greetings, help and empty-question replies suggest a question made from the index's
headings (the same ones /start offers), never one about a corpus the bot does not
hold; each front end adds its own command syntax; documents are named by title;
/about speaks plainly; an upload is summed up in one line; a long unknown word is
not echoed back in full. The corpus is the HR one of tests/test_two_sources.py.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import telegram as tb
from bot.config import Settings
from bot.console import HELP, Console
from bot.engine import Engine
from bot.index import BuildReport
from bot.suggestions import ago, shorten
from bot.telegram import texts
from tests.conftest import run_bot
from tests.fake_telegram import parse_html
from tests.test_two_sources import write_hr_corpus

HEADINGS = ("annual leave", "public holidays", "remote work", "working from home")


@pytest.fixture
def hr_corpus(tmp_path: Path) -> Path:
    return write_hr_corpus(tmp_path / "hr")


@pytest.fixture
def hr_engine(hr_corpus: Path) -> Engine:
    return Engine.open(
        Settings.from_env({}, corpus_dir=hr_corpus, index_dir=hr_corpus.parent / "index")
    )


@pytest.fixture
def hr_example(hr_engine: Engine) -> str:
    """The question the HR corpus's replies suggest: from a heading, and answered."""
    [example, *_] = hr_engine.examples()
    assert any(heading in example.lower() for heading in HEADINGS), example
    assert hr_engine.ask(example).answered
    return example


def test_hello_piped_to_ask_suggests_a_question_from_the_corpus(
    hr_corpus: Path, hr_example: str
) -> None:
    result = run_bot("ask", "--corpus", str(hr_corpus), "-", stdin="hello\n", cwd=hr_corpus.parent)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert f"“{hr_example}”" in line
    assert "PESCO" not in line and "help" not in line  # answers only on a pipe
    # and the suggestion is one the corpus answers
    asked = run_bot("ask", "--json", "--corpus", str(hr_corpus), hr_example, cwd=hr_corpus.parent)
    reply = json.loads(asked.stdout)
    assert reply["answered"] and reply["sources"][0]["section"].lower() in hr_example.lower()


@pytest.mark.parametrize("question", ["hello", "help", "", "?!"])
def test_greeting_help_and_empty_replies_suggest_from_the_corpus(
    hr_engine: Engine, question: str, hr_example: str
) -> None:
    answer = hr_engine.ask(question)
    assert answer.kind in ("smalltalk", "empty")
    assert f"“{hr_example}”" in answer.text
    assert "PESCO" not in answer.text


def test_the_shipped_corpus_suggests_its_own_question(shipped_engine: Engine) -> None:
    examples = texts.example_questions(shipped_engine.info)
    assert examples and f"“{examples[0]}”" in shipped_engine.ask("hi").text
    # Only questions the bot itself answers are suggested, never a dead end.
    assert all(shipped_engine.ask(example).answered for example in examples)
    assert all(not e.startswith(("Tell me about cyber", "Tell me about eu")) for e in examples)


def test_each_front_end_names_its_own_help_command(
    hr_corpus: Path, hr_engine: Engine, hr_example: str
) -> None:
    once = run_bot("ask", "--corpus", str(hr_corpus), "hello", cwd=hr_corpus.parent).stdout
    assert 'python -m bot ask "your question"' in once
    assert ":help" not in once and "/help" not in once

    console = Console(hr_engine, io.StringIO(), io.StringIO())
    console.interactive = True  # as on a terminal, where tips are shown
    greeting = console.handle("hello")
    assert greeting is not None and greeting.endswith("Type :help for the commands.")
    assert "/help" not in greeting and "python -m bot" not in greeting
    assert console.handle(":help") == f"{HELP}\nFor example: {hr_example}"

    [part] = tb.format_answer(hr_engine.ask("hello"))
    plain, _ = parse_html(part)
    assert plain.endswith("Send /help for tips.") and ":help" not in plain
    [thanks] = tb.format_answer(hr_engine.ask("thanks"))
    assert "/help" not in thanks  # thanks needs no tip


def test_telegram_help_and_ask_usage_use_corpus_questions(
    hr_engine: Engine, hr_example: str
) -> None:
    help_text = texts.help_text(hr_engine.info)
    assert hr_example in help_text and "/whoami" in help_text
    assert "PESCO" not in help_text
    parse_html(help_text)
    assert f"<code>/ask {hr_example}</code>" in texts.ask_usage(hr_engine.info)


def test_start_and_sources_name_documents_by_title(
    hr_engine: Engine, shipped_engine: Engine, hr_example: str
) -> None:
    start, _ = parse_html(texts.start_text(hr_engine.info))
    assert "2 documents (Holidays and Leave, Remote Work Policy)" in start
    assert texts.sources(hr_engine.info) == (
        "I answer from 2 documents:\n"
        "• Holidays and Leave (holidays.html)\n"
        "• Remote Work Policy (remote-work-policy.md)"
    )
    # A plain text file without a title is named by its file name.
    assert "(cybersecurity-eu-external-action.txt)" in texts.start_text(shipped_engine.info)
    assert texts.example_questions(hr_engine.info)[0] == hr_example


def test_about_says_size_and_age_in_plain_words(hr_engine: Engine) -> None:
    info = hr_engine.info
    built = datetime.fromisoformat(info.build_time.replace("Z", "+00:00"))
    assert texts.about(info, built + timedelta(minutes=5, seconds=20)) == (
        f"{info.passage_count} passages from 2 documents, updated 5 minutes ago."
    )


@pytest.mark.parametrize(
    ("elapsed", "said"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(hours=3, minutes=59), "3 hours ago"),
        (timedelta(days=2, hours=5), "2 days ago"),
    ],
)
def test_ago(elapsed: timedelta, said: str) -> None:
    now = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
    assert ago((now - elapsed).isoformat().replace("+00:00", "Z"), now) == said
    assert ago("not a time", now) == "not a time"


def test_an_upload_is_summed_up_in_one_line() -> None:
    report = BuildReport(3, 25, 100, 0.1, (), added=("policy.md",), previous_passages=23)
    assert texts.describe_upload("Added", "policy.md", "2 KB", report) == (
        "Added policy.md (2 KB); the index now has 25 passages (23 before)."
    )
    both = BuildReport(
        3, 25, 100, 0.1, (), added=("policy.md",), changed=("other.md",), previous_passages=23
    )
    assert texts.describe_upload("Added", "policy.md", "2 KB", both).endswith(
        ", with 1 other file changed on disk."
    )


def test_a_long_unknown_word_is_not_echoed_in_full(hr_engine: Engine) -> None:
    nonsense = "q" * 5000
    answer = hr_engine.ask(nonsense)
    assert answer.kind == "abstain"
    assert len(answer.text) < 200
    assert shorten(nonsense) in answer.text and shorten(nonsense).endswith("…")
    assert len(tb.format_answer(answer)) == 1
