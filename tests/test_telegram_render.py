"""The Telegram bot's pure rendering: answers to HTML parts, splitting, buttons, topics.

No server, no Application: plain functions from data to text, each part checked
with the fake Bot API's HTML parser, which is as strict as Telegram's.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import telegram as tb
from bot.answer import Answer
from bot.engine import IndexInfo
from bot.passages import Passage
from bot.retriever import Hit
from bot.telegram import callbacks
from tests.fake_telegram import MAX_CALLBACK_DATA, parse_html


def _passage(text: str, n: int = 0, section: str = "SECTION <A&B>") -> Passage:
    return Passage(f"doc.txt#{n}-abcdef12", "doc <1>.txt", section, text, n)


def _answer(
    sentences: tuple[str, ...],
    highlight: tuple[str, ...] = (),
    corrections: tuple[tuple[str, str], ...] = (),
) -> Answer:
    hit = Hit(_passage(" ".join(sentences)), 0.9, 1.0)
    return Answer(
        "q", "answer", True, " ".join(sentences), sentences, (hit,), corrections, highlight
    )


def test_format_answer_escapes_and_bolds() -> None:
    answer = _answer(("Use <script> & PESCO's teams, pesco!",), ("PESCO",), (("pesko", "pesco"),))
    [part] = tb.format_answer(answer)
    assert part == (
        "<i>Did you mean “pesco”?</i>\nUse &lt;script&gt; &amp; <b>PESCO</b>'s teams, "
        "<b>pesco</b>!\n— <i>doc &lt;1&gt;.txt › SECTION &lt;A&amp;B&gt;</i>"
    )
    plain, _ = parse_html(part)
    assert plain.startswith("Did you mean “pesco”?\nUse <script> & PESCO's teams")


def test_a_lead_in_and_its_items_show_one_item_a_line() -> None:
    hit = Hit(_passage("The toolbox holds:\n• declarations\n• sanctions"), 0.9, 1.0)
    sentences = ("The toolbox holds:", "declarations", "sanctions")
    answer = Answer("q", "answer", True, "", sentences, (hit,), (), ("sanctions",))
    [part] = tb.format_answer(answer)
    plain, _ = parse_html(part)
    assert plain.startswith("The toolbox holds:\n• declarations\n• sanctions\n— ")


def test_format_answer_of_an_abstention_is_its_plain_text() -> None:
    answer = Answer("x", "abstain", False, "I could not find this. Nearest topics: A & <B>.")
    assert tb.format_answer(answer) == ["I could not find this. Nearest topics: A &amp; &lt;B&gt;."]


def test_long_answer_splits_at_sentences_never_inside_tags() -> None:
    sentence = "The word alpha appears in this sentence about alpha & beta. "
    answer = _answer(tuple(sentence.strip() for _ in range(120)), ("alpha",))
    parts = tb.format_answer(answer)
    assert len(parts) == 2
    for part in parts:
        plain, _ = parse_html(part)  # every part is valid Telegram HTML
        assert len(plain) <= 4096
    assert parse_html(parts[0])[0].endswith("alpha & beta.")  # cut after a sentence
    assert parts[1].endswith("</i>")


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
            st.sampled_from(["", "b", "i", "code"]),
        ),
        max_size=30,
    ),
    limit=st.integers(min_value=20, max_value=400),
)
def test_split_keeps_every_word_and_each_part_valid(
    pieces: list[tuple[str, str]], limit: int
) -> None:
    parts = tb.to_parts(pieces, limit)
    plains = []
    for part in parts:
        plain, _ = parse_html(part)
        assert 0 < tb.telegram_length(plain) <= limit
        plains.append(plain)
    original = "".join(text for text, _ in pieces)
    assert "".join("".join(p.split()) for p in plains) == "".join(original.split())


def test_keyboard_callback_data_fits_telegram() -> None:
    markup = tb.keyboard(10**12, more=True, source=True, feedback=True)
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == [f"more:{10**12}", f"src:{10**12}", f"fb:{10**12}:1", f"fb:{10**12}:0"]
    assert all(len(str(d).encode()) <= MAX_CALLBACK_DATA for d in data)
    assert tb.keyboard(1, more=False, source=False, feedback=False) is None


def test_topic_keeps_acronyms_in_sentence_case() -> None:
    assert tb.topic("EU CYBERSECURITY STRATEGY") == "EU cybersecurity strategy"
    assert tb.topic("PROTECTION OF HUMAN RIGHTS") == "Protection of human rights"
    assert tb.topic("Mixed Case Heading") == "Mixed Case Heading"


def test_example_questions_come_from_headings_short_first() -> None:
    info = IndexInfo(
        format_version=1,
        passage_count=4,
        build_time="2026-01-01T00:00:00Z",
        build_id="b",
        documents=("energy-report.txt",),
        sections=(
            "energy report",
            "A VERY LONG HEADING WITH FAR TOO MANY WORDS",
            "WIND POWER",
            "ENERGY REPORT",
            "Storage",
        ),
    )
    assert tb.example_questions(info) == [
        "Tell me about wind power",
        "Tell me about storage",
        "Tell me about a very long heading with far too many words",
    ]
    assert "Energy report" in tb.topics(info)  # the title, last; the file name, never
    assert "energy report" not in tb.topics(info)


def test_every_button_kind_reads_back_what_it_writes() -> None:
    answer = tb.keyboard(7, more=True, source=True, feedback=True)
    upload = tb.upload_keyboard(3)
    examples = tb.example_keyboard(["a", "b"])
    assert answer is not None and examples is not None
    more, source, up, down = [str(b.callback_data) for row in answer.inline_keyboard for b in row]
    replace, cancel = [str(b.callback_data) for row in upload.inline_keyboard for b in row]
    assert callbacks.parse_key(callbacks.MORE, more) == 7
    assert callbacks.parse_key(callbacks.SOURCE, source) == 7
    assert callbacks.parse_key(callbacks.MORE, source) is None
    assert (callbacks.parse_feedback(up), callbacks.parse_feedback(down)) == ((7, True), (7, False))
    assert (callbacks.parse_upload(replace), callbacks.parse_upload(cancel)) == (
        (3, True),
        (3, False),
    )
    assert callbacks.parse_upload("up:3:x") is None
    second = str(examples.inline_keyboard[1][0].callback_data)
    assert callbacks.parse_example(second) == 1
