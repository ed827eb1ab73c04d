"""What the bot says: every sentence a Telegram user reads, in one place.

Fixed sentences are constants (HTML where a handler sends them with parse_mode=HTML,
as the name of each says); sentences that depend on the corpus, a rebuild or the
counts are small pure functions. Handlers only pick which one to send.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bot import analysis
from bot import index as index_mod
from bot.engine import IndexInfo

if TYPE_CHECKING:
    from bot.telegram.render import Span
    from bot.telegram.state import Stats

__all__ = [
    "ASK_USAGE",
    "BUILD_BUSY",
    "COMMANDS",
    "EXPIRED",
    "HELP",
    "NOT_ALLOWED",
    "NOT_TEXT",
    "SORRY",
    "UPLOAD_GONE",
    "describe_build",
    "example_questions",
    "start_text",
    "stats_report",
    "topic",
    "topics",
]

MAX_LISTED = 10  # file names listed per kind of change after a rebuild

COMMANDS = (
    ("start", "What I know, with example questions"),
    ("ask", "Ask a question (in groups: /ask your question)"),
    ("sources", "The documents I answer from"),
    ("about", "Index version, size and build time"),
    ("help", "How to ask"),
)
HELP = (
    "Send me a question in plain words and I reply with the best-matching sentence from "
    "the documents and where it comes from. Buttons under an answer show more results "
    "(<b>More</b>), the whole passage (<b>Source</b>), and let you rate it (👍/👎).\n\n"
    "In a group, use <code>/ask your question</code>, mention me, or reply to one of my "
    "messages.\n\n"
    "/sources lists the documents, /about the index."
)
NOT_TEXT = "I can only read text questions. Please type your question."
SORRY = "Sorry, something went wrong while answering. Please try again."
NOT_ALLOWED = "Sorry, {command} is only for the bot's admins."
ASK_USAGE = "Usage: <code>/ask your question</code>, e.g. <code>/ask What is PESCO?</code>"
EXPIRED = "This answer is too old for its buttons; please ask again."
BUILD_BUSY = "Another build of the index is in progress; try /reload again when it has finished."
UPLOAD_GONE = "This upload is no longer waiting; send the file again."
BUTTON_FAILED = "Sorry, something went wrong."
PASSAGE_CHANGED = "That passage changed since this answer; please ask again."
NO_MORE = "No more results."
DID_YOU_MEAN = "Did you mean {fixed}?"
RESULT_CHANGED = "(this passage changed since; ask again)"
ALREADY_RATED = "You already rated this answer. Thanks!"
THANKS = "Thanks for the feedback!"
UNKNOWN_COMMAND = "I don't know that command. Try {known}."
TOO_FAST = (
    "You are asking faster than I can keep up with ({per_minute} questions a minute). "
    "Please try again in {wait} s."
)
NOT_REBUILT = "The index was not rebuilt: {problem}"
REBUILD_FAILED = "The rebuild failed ({kind}: {problem}); the previous index is still serving."
NOT_LOADED = "\nThe new index could not be loaded; still serving the old one."
REPLACING = "Replacing…"
CANCELLED = "Cancelled."
KEPT = "Kept the existing {name}; your upload was dropped."
NOT_SAVED = "I could not save the file: {reason}"
NOT_DOWNLOADED = "I could not download {name}: {reason}"
ALREADY_THERE = "{name} is already in the corpus with exactly this content; nothing changed."
SAVED = "{verb} {name} ({size}).\n"
REPLACE_QUESTION = (
    "A different file named <b>{name}</b> is already in the corpus. Replace it with this one?"
)


def sources(documents: tuple[str, ...]) -> str:
    """The /sources reply (plain text): how many documents, then one per line."""
    lines = [f"I answer from {len(documents)} document{'s' if len(documents) != 1 else ''}:"]
    lines += [f"• {doc}" for doc in documents]
    return "\n".join(lines)


def about(info: IndexInfo) -> str:
    """The /about reply (plain text): index format, size and build."""
    return (
        f"Index format {info.format_version}, {info.passage_count} passages from "
        f"{len(info.documents)} document(s), built {info.build_time} ({info.build_id})."
    )


def describe_build(report: index_mod.BuildReport) -> list[Span]:
    """What a rebuild changed, for the admin: counts, passages before and after, names.

    Example: "Index rebuilt: 1 added, 0 changed, 0 removed; 23 → 25 passages." then the
    names per kind of change, then the build's summary line in italics.
    """
    changes = (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed))
    if any(names for _, names in changes):
        head = (
            f"Index rebuilt: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed; {report.previous_passages} → {report.passages} "
            "passages."
        )
    else:
        head = f"Index rebuilt: nothing changed ({report.passages} passages)."
    spans: list[Span] = [(head, "b")]
    for label, names in changes:
        if names:
            listed = ", ".join(names[:MAX_LISTED])
            more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            spans.append((f"\n{label}: {listed}{more}", ""))
    spans.append(("\n" + report.summary(), "i"))
    return spans


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


def topics(info: IndexInfo) -> list[str]:
    """Section topics worth naming: short headings first, a document's title last.

    A heading that is just a file name (the core's stand-in for a document without
    headings) names no topic and is left out.
    """
    titles = {_words_only(Path(doc).stem) for doc in info.documents}

    def file_name(heading: str) -> bool:
        return heading == heading.lower() and _words_only(heading) in titles

    headings = [h for h in dict.fromkeys(info.sections) if h.strip() and not file_name(h)]
    # Short headings make readable buttons; a stable sort keeps corpus order otherwise.
    headings.sort(key=lambda h: (_words_only(h) in titles, len(h.split()) > 6))
    return list(dict.fromkeys(topic(h) for h in headings))


def example_questions(info: IndexInfo) -> list[str]:
    """Up to three questions the corpus can answer, made from its section headings."""
    questions = []
    for subject in topics(info)[:3]:
        first = subject.split()[0]
        acronym = len(first.strip(",:;")) >= 2 and first.isupper()  # kept by topic()
        questions.append(
            f"Tell me about {subject if acronym else subject[0].lower() + subject[1:]}"
        )
    return questions


def start_text(info: IndexInfo) -> str:
    """The /start greeting: what the bot knows, in one line derived from the corpus."""
    docs = info.documents
    what = f"{len(docs)} document{'s' if len(docs) != 1 else ''}"
    names = ", ".join(docs[:3]) + (f" and {len(docs) - 3} more" if len(docs) > 3 else "")
    subjects = topics(info)[:4]
    about = f", on topics such as {'; '.join(subjects)}" if subjects else ""
    return (
        f"Hello! I answer questions from <b>{html.escape(what)}</b> "
        f"({html.escape(names)}){html.escape(about)}.\n\n"
        "Try one of these, or type your own question:"
    )


def stats_report(stats: Stats, top: int = 5) -> str:
    """The /stats message (HTML): counts since start, top unanswered questions."""
    kinds, feedback = stats.kinds, stats.feedback
    questions = sum(kinds.values())
    searched = kinds["answer"] + kinds["abstain"]
    rate = f"{100 * kinds['abstain'] / searched:.0f}%" if searched else "n/a"
    lines = [
        f"<b>Since {stats.started:%Y-%m-%d %H:%M} UTC</b>",
        f"Questions: {questions} (answered {kinds['answer']}, abstained "
        f"{kinds['abstain']}, small talk {kinds['smalltalk'] + kinds['empty']})",
        f"Abstention rate: {rate}",
        f"Feedback: 👍 {feedback['up']} · 👎 {feedback['down']}",
    ]
    if stats.unanswered:
        lines.append("Top unanswered:")
        lines += [
            f"{n}. {html.escape(q)} ({c})"
            for n, (q, c) in enumerate(stats.unanswered.most_common(top), 1)
        ]
    return "\n".join(lines)
