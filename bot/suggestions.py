"""What the corpus is about, in words a user reads: topics, example questions, names.

Every front end suggests questions and names documents the same way, from the loaded
index's section headings and document titles, so a greeting never proposes a question
about a corpus the bot does not hold. Pure functions over `IndexInfo`-like data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from bot import analysis

if TYPE_CHECKING:
    from bot.engine import IndexInfo

__all__ = [
    "LONG_WORD",
    "ago",
    "document_names",
    "example_questions",
    "shorten",
    "title_of",
    "topic",
    "topics",
]

LONG_WORD = 40  # characters of a word echoed back before it is cut with "…"


def topic(heading: str) -> str:
    """A section heading as a phrase: ALL-CAPS headings in sentence case, acronyms kept.

    Example: "EU CYBERSECURITY STRATEGY" -> "EU cybersecurity strategy".
    """
    if heading != heading.upper():
        return heading
    words = heading.split()
    out = []
    for i, word in enumerate(words):
        letters = re.sub(r"\W", "", word)
        # Guess acronyms: EU, UN, AI, GDP (but not OF, FAR, NEW).
        short = len(letters) == 2 and letters.casefold() not in analysis.STOP_WORDS
        if short or (len(letters) == 3 and not re.search(r"[AEIOUY]", letters)):
            out.append(word)
        else:
            lower = word.lower()
            out.append(lower[:1].upper() + lower[1:] if i == 0 else lower)
    return " ".join(out)


def _words_only(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text).casefold().split())


def _is_file_name(heading: str, documents: Sequence[str]) -> bool:
    """Whether a heading is only a file name's words (the core's stand-in for a title)."""
    stems = {_words_only(PurePosixPath(doc).stem) for doc in documents}
    return heading == heading.lower() and _words_only(heading) in stems


def nearest_topics(sources: Sequence[tuple[str, str]], limit: int = 3) -> tuple[str, ...]:
    """The headings of the passages nearest a declined question, worth naming as topics.

    Args:
        sources: (section, document) of each passage, best first.
        limit: How many to name at most.

    A file name's stand-in for a heading names no topic, and one heading written twice
    ("CYBERSECURITY: EU EXTERNAL ACTION" and the file's "cybersecurity eu external
    action") is named once: "Nearest topics" listed both.
    """
    named: dict[str, str] = {}
    for section, doc in sources:
        if section.strip() and not _is_file_name(section, (doc,)):
            named.setdefault(_words_only(section), section)
    return tuple(named.values())[:limit]


def topics(info: IndexInfo) -> list[str]:
    """Section topics worth naming: short headings first, a document's title last.

    A heading that is just a file name (the core's stand-in for a document without
    headings) names no topic and is left out.
    """
    titles = {_words_only(PurePosixPath(doc).stem) for doc in info.documents}
    titles |= {_words_only(title) for title in info.titles}
    headings = [
        h
        for h in dict.fromkeys(info.sections)
        if h.strip() and not _is_file_name(h, info.documents)
    ]
    # Short headings make readable buttons; a stable sort keeps corpus order otherwise.
    headings.sort(key=lambda h: (_words_only(h) in titles, len(h.split()) > 6))
    return list(dict.fromkeys(topic(h) for h in headings))


def _in_a_sentence(subject: str) -> str:
    """A topic as it reads inside a sentence: "Annual leave" -> "annual leave".

    Only a capital that merely starts a sentence-case phrase is lowered; Title Case
    ("Holidays and Leave"), acronyms ("EU ...") and names keep their capitals.
    """
    first, _, rest = subject.partition(" ")
    # Title Case has capitalised words later on; acronyms (EU) do not count as such.
    capitals_later = any(w[:1].isupper() and not w.isupper() for w in rest.split())
    if first[1:2].isupper() or capitals_later or not first[:1].isupper():
        return subject
    return first.lower() + (" " + rest if rest else "")


def example_questions(info: IndexInfo, count: int = 3) -> list[str]:
    """Up to `count` questions the corpus can answer.

    The engine fills `info.examples` with candidates it has asked itself and answered
    (`candidate_questions`), so a suggestion never leads to "I could not find this";
    without them, each subject's first phrasing.
    """
    if info.examples:
        return list(info.examples[:count])
    return [phrasings[0] for phrasings in candidate_questions(info)[:count]]


def candidate_questions(info: IndexInfo) -> list[tuple[str, ...]]:
    """Questions made from the corpus's section headings: each subject's phrasings.

    Example: a section "Annual leave" -> ("Tell me about annual leave", "annual leave"):
    the plain heading is a keyword question, which the bot may answer where the
    sentence does not fit its answer model.
    """
    subjects = [_in_a_sentence(subject) for subject in topics(info)]
    return [(f"Tell me about {s}", s) for s in subjects]


def title_of(doc: str, first_section: str) -> str:
    """A document's title: its first section's heading, unless that is its file name.

    The core gives a passage the document's title as its section when the document has
    no heading of its own, and a document with a title (Markdown "# ...", HTML
    <title>, a .jsonl "title") starts under it; a document without one gets its file
    name's words, which name nothing: then the file name itself is used.
    """
    if not first_section.strip() or _is_file_name(first_section, (doc,)):
        return doc
    return topic(first_section)


def document_names(info: IndexInfo) -> list[str]:
    """Each document's title where it has one, else its file name, in corpus order."""
    return list(info.titles or info.documents)


def shorten(word: str, limit: int = LONG_WORD) -> str:
    """A word echoed back to the user, cut with "…" when longer than `limit`.

    A 5,000-character pasted token must not come back in full in a reply.
    """
    return word if len(word) <= limit else word[: limit - 1] + "…"


def ago(when: str, now: datetime | None = None) -> str:
    """How long ago an ISO time ("2026-12-01T03:47:48Z") was, in plain words.

    Example: "just now", "5 minutes ago", "3 hours ago", "2 days ago"; the time itself
    when it cannot be read.
    """
    try:
        then = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return when
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
