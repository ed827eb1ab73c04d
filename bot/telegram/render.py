"""Telegram message rendering: pure functions from answers to HTML parts.

Rich text is a list of spans, (plain text, tag). Splitting works on the plain text
and slices spans, so a cut never falls inside a tag or an entity, and each part is
rendered on its own: every part is valid HTML for parse_mode=HTML and at most 4096
characters after entity parsing (Telegram's limit).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from bot.answer import Answer, Quote, corrected_words, invites_tip, quote_body, source_line
from bot.passages import Passage
from bot.telegram import texts

__all__ = [
    "MAX_MESSAGE",
    "Span",
    "emphasise",
    "format_answer",
    "format_passage",
    "format_results",
    "render",
    "split_spans",
    "telegram_length",
    "to_parts",
]

MAX_MESSAGE = 4096  # Telegram's limit on a message's text after entity parsing

Span = tuple[str, str]
"""A piece of rich text: (plain text, tag), tag "" for none, else "b", "i" or "code"."""


def telegram_length(text: str) -> int:
    """Length as Telegram may count it (UTF-16 code units; never less than characters)."""
    return len(text.encode("utf-16-le")) // 2


def render(spans: Iterable[Span]) -> str:
    """HTML for rich text: every text escaped, each tag closed within its span."""
    out = []
    for text, tag in spans:
        if not text:
            continue
        escaped = html.escape(text, quote=False)
        out.append(f"<{tag}>{escaped}</{tag}>" if tag else escaped)
    return "".join(out)


def _fit(plain: str, start: int, limit: int) -> int:
    """The largest end such that plain[start:end] is at most `limit` long for Telegram."""
    used = 0
    for index in range(start, len(plain)):
        used += 2 if ord(plain[index]) > 0xFFFF else 1
        if used > limit:
            return index
    return len(plain)


_SENTENCE_BREAK = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def _cut(plain: str, start: int, end: int) -> int:
    """Where to end a part that must stop by `end`.

    A paragraph break, else a line break, else a sentence end, each in the part's
    second half (a tiny part would waste a message); else the last space; a hard cut
    only when one word fills the whole part.
    """
    half = start + (end - start) // 2
    window = plain[start:end]
    for separator in ("\n\n", "\n"):
        found = window.rfind(separator)
        if found >= 0 and start + found >= half:
            return start + found
    sentence_ends = [m.end() for m in _SENTENCE_BREAK.finditer(window)]
    if sentence_ends and start + sentence_ends[-1] >= half:
        return start + sentence_ends[-1]
    spaces = [m.start() for m in re.finditer(r"\s", window)]
    if spaces and spaces[-1] > 0:
        return start + spaces[-1]
    return end


def _slice(spans: Sequence[Span], start: int, end: int) -> list[Span]:
    """The spans covering plain[start:end], tags kept."""
    out: list[Span] = []
    offset = 0
    for text, tag in spans:
        lo, hi = max(start, offset), min(end, offset + len(text))
        if lo < hi:
            out.append((text[lo - offset : hi - offset], tag))
        offset += len(text)
    return out


def split_spans(spans: Sequence[Span], limit: int = MAX_MESSAGE) -> list[list[Span]]:
    """Splits rich text into parts of at most `limit` characters after entity parsing.

    Cuts fall at paragraph, line, sentence or word boundaries (see `_cut`); whitespace
    at a cut is dropped. Since tags belong to spans, a cut never falls inside a tag or
    an entity: a bold phrase cut in two is bold in both parts.
    """
    plain = "".join(text for text, _ in spans)
    parts: list[list[Span]] = []
    start = 0
    while True:
        while start < len(plain) and plain[start].isspace():
            start += 1
        if start >= len(plain):
            return parts
        end = _fit(plain, start, limit)
        cut = end if end == len(plain) else _cut(plain, start, end)
        stop = cut
        while stop > start and plain[stop - 1].isspace():
            stop -= 1
        parts.append(_slice(spans, start, stop))
        start = cut


def to_parts(spans: Sequence[Span], limit: int = MAX_MESSAGE) -> list[str]:
    """Rich text as HTML message parts, each within Telegram's limit."""
    return [render(part) for part in split_spans(spans, limit)]


def emphasise(text: str, words: Sequence[str]) -> list[Span]:
    """Runs of `text` with each of `words` (whole words, any case) in bold."""
    if not words:
        return [(text, "")]
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    spans: list[Span] = []
    position = 0
    for match in pattern.finditer(text):
        spans.append((text[position : match.start()], ""))
        spans.append((match.group(), "b"))
        position = match.end()
    spans.append((text[position:], ""))
    return [span for span in spans if span[0]]


def format_answer(answer: Answer, limit: int = MAX_MESSAGE, echo: bool = False) -> list[str]:
    """The reply to a question as HTML parts for parse_mode=HTML.

    An answer leads with the best sentence(s), the question's words in bold, then the
    source (document › section) in italics; when it quotes a second passage, its
    sentence follows with its own source line. A typo repair is said first. Abstentions,
    small talk and empty questions read exactly as in the console. A message asking
    several questions gets each answer (or abstention) under its question in bold.

    Args:
        answer: The core's answer.
        limit: Longest part, in characters after entity parsing.
        echo: Repeat the question first (for questions asked by a button, which the
            chat does not show).
    """
    spans: list[Span] = [("❓ " + answer.question + "\n\n", "i")] if echo else []
    if not answer.parts:
        tip = [("\n\n" + texts.TIP, "")] if invites_tip(answer) else []
        return to_parts(spans + _answer_spans(answer) + tip, limit)
    for number, part in enumerate(answer.parts):
        # A message asking several questions: each answer under its question.
        spans += [("\n\n", "")] if number else []
        spans += [("“" + part.question.strip() + "”", "b"), ("\n", "")]
        spans += _answer_spans(part)
    return to_parts(spans, limit)


def _answer_spans(answer: Answer) -> list[Span]:
    """One answer's spans (see `format_answer`)."""
    if answer.kind != "answer" or not answer.hits:
        return [(answer.text, "")]
    spans: list[Span] = []
    if answer.corrections:
        fixed = corrected_words(answer.corrections, answer.hits)
        spans += [(texts.DID_YOU_MEAN.format(fixed=fixed), "i"), ("\n", "")]
    quotes = answer.quotes or (Quote(answer.sentences, answer.hits[0]),)
    for number, quote in enumerate(quotes):
        if number:
            spans.append(("\n\n", ""))
        spans.extend(emphasise(quote_body(quote), answer.highlight))
        spans.append(("\n— ", ""))
        spans.append((source_line(quote.hit), "i"))
    return spans


def format_passage(passage: Passage, limit: int = MAX_MESSAGE) -> list[str]:
    """A whole passage under its source heading (the Source button)."""
    return to_parts([(passage.source, "b"), ("\n\n", ""), (passage.text, "")], limit)


def format_results(
    passages: Sequence[Passage | None], first_rank: int, limit: int = MAX_MESSAGE
) -> list[str]:
    """Further results (the More button): rank, source, then the passage text."""
    spans: list[Span] = []
    for rank, passage in enumerate(passages, start=first_rank):
        if spans:
            spans.append(("\n\n", ""))
        if passage is None:
            spans.append((f"{rank}. {texts.RESULT_CHANGED}", "i"))
            continue
        spans += [(f"{rank}. ", "b"), (passage.source, "i"), ("\n", ""), (passage.text, "")]
    return to_parts(spans, limit)
