"""What the bot says: every sentence a Telegram user reads, in one place.

Fixed sentences are constants (HTML where a handler sends them with parse_mode=HTML,
as the name of each says); sentences that depend on the corpus, a rebuild or the
counts are small pure functions. Handlers only pick which one to send.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING

from bot import index as index_mod
from bot.engine import IndexInfo
from bot.suggestions import ago, document_names, example_questions, topic, topics

if TYPE_CHECKING:
    from bot.telegram.render import Span
    from bot.telegram.state import Stats

__all__ = [
    "BUILD_BUSY",
    "COMMANDS",
    "EXPIRED",
    "NOT_ALLOWED",
    "NOT_TEXT",
    "SORRY",
    "TIP",
    "UPLOAD_GONE",
    "about",
    "ask_usage",
    "describe_build",
    "describe_upload",
    "example_questions",
    "help_text",
    "sources",
    "start_text",
    "stats_report",
    "topic",
    "topics",
    "whoami",
]

MAX_LISTED = 10  # file names listed per kind of change after a rebuild

COMMANDS = (
    ("start", "What I know, with example questions"),
    ("ask", "Ask a question (in groups: /ask your question)"),
    ("sources", "The documents I answer from"),
    ("about", "How much I know and when it was updated"),
    ("whoami", "Your Telegram user id"),
    ("help", "How to ask"),
)
TIP = "Send /help for tips."  # after a greeting, a help request or an empty question


def help_text(info: IndexInfo) -> str:
    """The /help reply (HTML): how to ask, with a question from the corpus."""
    examples = example_questions(info, 1)
    example = f", for example <i>{html.escape(examples[0])}</i>" if examples else ""
    return (
        f"Send me a question in plain words{example}, and I reply with the best-matching "
        "sentence from the documents and where it comes from. Buttons under an answer "
        "show more results (<b>More</b>), the whole passage (<b>Source</b>), and let you "
        "rate it (👍/👎).\n\n"
        "In a group, use <code>/ask your question</code>, mention me, or reply to one of my "
        "messages.\n\n"
        "/sources lists the documents, /about says how much I know, /whoami tells you "
        "your user id."
    )


def ask_usage(info: IndexInfo) -> str:
    """The reply to a bare /ask (HTML): the usage, with a question from the corpus."""
    examples = example_questions(info, 1)
    example = f", e.g. <code>/ask {html.escape(examples[0])}</code>" if examples else ""
    return f"Usage: <code>/ask your question</code>{example}"


def whoami(user_id: int, is_admin: bool) -> str:
    """The /whoami reply (HTML): the sender's id, as TELEGRAM_ADMIN_IDS wants it."""
    role = (
        "You are one of this bot's admins."
        if is_admin
        else "To make someone an admin, add their id to TELEGRAM_ADMIN_IDS (comma-separated) "
        "and restart the bot."
    )
    return f"Your Telegram user id is <code>{user_id}</code>.\n{role}"


NOT_TEXT = "I can only read text questions. Please type your question."
SORRY = "Sorry, something went wrong while answering. Please try again."
NOT_ALLOWED = "Sorry, {command} is only for the bot's admins."
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
REBUILD_FAILED = "The rebuild failed ({kind}: {problem})"
NOT_LOADED = "\nThe new index could not be loaded"
STILL_SERVING = "; the previous index is still serving."
SERVED_DAMAGED = "; the index in use is damaged too ({problem}). Run: python -m bot build --full"
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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def sources(info: IndexInfo) -> str:
    """The /sources reply (plain text): how many documents, then one per line.

    Each by its title, with the file name that source lines show when they differ.
    """
    lines = [f"I answer from {_count(len(info.documents), 'document')}:"]
    for doc, name in zip(info.documents, document_names(info), strict=True):
        lines.append(f"• {name} ({doc})" if name != doc else f"• {doc}")
    return "\n".join(lines)


def about(info: IndexInfo, now: datetime | None = None) -> str:
    """The /about reply (plain text): "20 passages from 4 documents, updated 5 minutes ago."."""
    return (
        f"{_count(info.passage_count, 'passage')} from "
        f"{_count(len(info.documents), 'document')}, updated {ago(info.build_time, now)}."
    )


def describe_build(report: index_mod.BuildReport) -> list[Span]:
    """What a /reload changed, for the admin: counts and passages, then the names.

    Example: "Index rebuilt: 1 added, 0 changed, 0 removed; 23 → 25 passages." then
    one line of names per kind of change.
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
    unreadable = [name for name in report.skipped if name not in report.timed_out]
    if unreadable:  # the files over the time budget are named apart (`admin.rebuild`)
        spans.append((f"\nSkipped as unreadable: {', '.join(unreadable)}", ""))
    return spans


def describe_upload(verb: str, name: str, size: str, report: index_mod.BuildReport) -> str:
    """The one line an admin reads after an upload (plain text).

    Example: "Added policy.md (2 KB); the index now has 25 passages (23 before)." Other
    files the same rebuild picked up from disk are counted after it.
    """
    line = (
        f"{verb} {name} ({size}); the index now has {_count(report.passages, 'passage')} "
        f"({report.previous_passages} before)"
    )
    others = len(report.added) + len(report.changed) + len(report.removed) - 1
    if others > 0:
        line += f", with {_count(others, 'other file')} changed on disk"
    return line + "."


def start_text(info: IndexInfo) -> str:
    """The /start greeting: what the bot knows, in one line derived from the corpus."""
    names = document_names(info)
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    subjects = topics(info)[:4]
    about = f", on topics such as {'; '.join(subjects)}" if subjects else ""
    return (
        f"Hello! I answer questions from <b>{_count(len(names), 'document')}</b> "
        f"({html.escape(listed)}){html.escape(about)}.\n\n"
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
