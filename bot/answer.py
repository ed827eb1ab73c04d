"""Answers: from ranked passages to the reply a user reads, or an honest "I don't know".

The reply leads with the sentence(s) of the best passage that best match the question,
then names the source (document › section). When the evidence is weak it abstains and
lists the nearest topics instead of quoting a random passage. Greetings, thanks and
requests for help get a short human reply without any retrieval.

The abstention rule uses two numbers that keep their meaning across corpora and
scoring changes (see `Hit`): the best passage's normalised score and the share of the
question's information it covers. Both thresholds live in `Settings`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import analysis
from bot.config import Settings
from bot.passages import split_sentences
from bot.retriever import Hit, Search
from bot.suggestions import shorten

# Words of greetings, thanks and help requests. A message made only of these (and stop
# words) is small talk; "hi, what is PESCO?" still has a topic and gets an answer.
_SMALL_TALK = {
    "greeting": {
        "hi",
        "hello",
        "hey",
        "hiya",
        "howdy",
        "morning",
        "afternoon",
        "evening",
        "good",
        "greetings",
        "yo",
        "bonjour",
        "hallo",
        "hola",
        "start",
    },
    "thanks": {
        "thanks",
        "thank",
        "thx",
        "ty",
        "cheers",
        "great",
        "ok",
        "okay",
        "cool",
        "nice",
        "perfect",
        "awesome",
        "bye",
        "goodbye",
        "much",
        "lot",
    },
    "help": {
        "help",
        "usage",
        "instructions",
        "commands",
        "work",
        "use",
        "ask",
        "bot",
        "question",
        "questions",
        "anything",
        "can",
    },
}
# Small-talk replies name no command: each front end adds its own way to get help
# (console ":help", Telegram "/help"). "{example}" is a question from the corpus.
_REPLIES = {
    "greeting": "Hello! Ask me a question about the documents I know{example}.",
    "thanks": "You're welcome! Ask me anything else about the documents.",
    "help": "Ask a question in plain words{example}. I answer with the best-matching "
    "sentence and its source, or tell you when the documents do not cover it.",
}
# Questions that ask for a date or a quantity can only be answered by a sentence that
# holds one: "When was the UN founded?" must not be answered with a sentence that merely
# names the UN.
_ASKS_DATE = re.compile(r"^\s*when\b|\b(what|which) (year|date|day|month)\b", re.I)
_ASKS_NUMBER = re.compile(r"\bhow (many|much)\b|\bwhat (number|percentage|share)\b", re.I)
_MONTHS = (
    "january february march april may june july august september october november "
    "december spring summer autumn winter century decade today yesterday since until"
)
_DATE = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b|\b(" + "|".join(_MONTHS.split()) + r")\b", re.I)
_NUMBERS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred hundreds thousand thousands million millions billion billions "
    "dozen dozens half quarter"
)
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBERS.split()) + r")\b", re.I)
# A runner-up passage joins the answer when it scores at least this share of the best.
CLOSE = 0.8
_EMPTY = "Please type a question{example}."
_ABSTAIN = "I could not find this in the sources."


@dataclass(frozen=True)
class Quote:
    """Sentences quoted from one passage, and the hit they come from.

    An answer may quote two passages (see `supporting_hits`); each front end shows
    every quote followed by its own source, so no sentence is credited to the wrong
    document.
    """

    sentences: tuple[str, ...]
    hit: Hit


@dataclass(frozen=True)
class Answer:
    """The bot's reply to one question.

    Attributes:
        question: The question as asked.
        kind: "answer", "abstain", "smalltalk" or "empty".
        answered: True only when the reply gives an answer from the sources.
        text: The reply text a user sees (plain text).
        sentences: The best sentence(s) quoted from the top passage.
        hits: Ranked passages, best first, also when abstaining.
        corrections: (typed, corrected) words.
        highlight: Words of the question found in the reply, to emphasise.
        suggestions: Nearest topics (section headings) when abstaining.
        confidence: The top hit's normalised score (0 when there is none).
        quotes: The quoted sentences grouped by the passage they come from, best
            first; `sentences` is their concatenation.
    """

    question: str
    kind: str
    answered: bool
    text: str
    sentences: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()
    highlight: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()
    confidence: float = 0.0
    quotes: tuple[Quote, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The `ask --json` object (DESIGN.md's contract, plus a few extra fields)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.text,
            "kind": self.kind,
            "confidence": round(self.confidence, 4),
            "corrections": [{"typed": a, "corrected": b} for a, b in self.corrections],
            "sources": [
                {
                    "doc": h.passage.doc,
                    "section": h.passage.section,
                    "passage_id": h.passage.id,
                    "score": round(h.score, 4),
                    "text": h.passage.text,
                }
                for h in self.hits
            ],
        }


def small_talk(question: str) -> str | None:
    """The kind of small talk a message is ("greeting", "thanks", "help"), or None."""
    tokens = analysis.words(question)
    if not tokens or len(tokens) > 6:
        return None
    topical = [t for t in tokens if t not in analysis.STOP_WORDS]
    for kind in ("help", "thanks", "greeting"):
        if any(t in _SMALL_TALK[kind] for t in tokens) and all(
            any(t in words for words in _SMALL_TALK.values()) for t in topical
        ):
            return kind
    return None


def small_talk_reply(kind: str, examples: Sequence[str] = ()) -> str:
    """The reply to small talk ("greeting", "thanks", "help"; "empty" for no question).

    Args:
        kind: What the message was.
        examples: Questions the loaded corpus can answer; the first is suggested.
    """
    example = f", for example “{examples[0]}”" if examples else ""
    template = _EMPTY if kind == "empty" else _REPLIES[kind]
    return template.format(example=example)


def invites_tip(answer: Answer) -> bool:
    """Whether a front end adds its own help tip: a greeting, a help request, no question.

    Tips name commands, which differ by front end (console ":help", Telegram "/help"),
    so the core's replies leave them out.
    """
    # Read from the reply, not the question, so it holds however small talk is detected.
    return answer.kind == "empty" or (
        answer.kind == "smalltalk" and answer.text != small_talk_reply("thanks")
    )


def answers_the_kind(question: str, reply: str) -> bool:
    """False when the question asks for a date or a number and the reply holds none."""
    if _ASKS_DATE.search(question) and not _DATE.search(reply):
        return False
    return not (_ASKS_NUMBER.search(question) and not _NUMBER.search(reply))


def source_line(hit: Hit) -> str:
    """Where a hit comes from, as "document › section"."""
    return f"{hit.passage.doc} › {hit.passage.section}" if hit.passage.section else hit.passage.doc


def quoted_text(quotes: tuple[Quote, ...]) -> str:
    """The plain-text reply for quotes: each quote's sentences, then its own source line.

    Two quotes read as four lines: sentence, "— doc › section", sentence, "— doc ›
    section", so no sentence is credited to the other passage's document.
    """
    return "\n".join(" ".join(q.sentences) + f"\n— {source_line(q.hit)}" for q in quotes)


def best_sentences(text: str, stems: set[str], limit: int = 2) -> tuple[str, ...]:
    """The sentence(s) of a passage that best match the question's stems, in text order.

    The first is the sentence holding the most distinct question stems; each next one
    is added only if it holds question stems the chosen ones lack (an answer spread over
    two bullets), so the reply stays short and every sentence in it earns its place.
    """
    units = [s for line in text.split("\n") for s in split_sentences(line.removeprefix("• "))]
    if not units:
        return ()
    matched = [set(analysis.stems(analysis.content_words(u))) & stems for u in units]
    chosen: list[int] = []
    covered: set[str] = set()
    while len(chosen) < limit:
        gains = [(len(m - covered), -i) for i, m in enumerate(matched) if i not in chosen]
        gain, neg_i = max(gains, default=(0, 0))
        if chosen and gain == 0:
            break
        chosen.append(-neg_i)
        covered |= matched[-neg_i]
        if not gains or gain == 0:
            break
    return tuple(units[i] for i in sorted(chosen))


def highlight_words(sentences: tuple[str, ...], stems: set[str]) -> tuple[str, ...]:
    """Surface words of the reply whose stem is one of the question's."""
    seen: dict[str, None] = {}
    for sentence in sentences:
        for word in re.findall(r"\w+", sentence):
            if (
                word.casefold() not in analysis.STOP_WORDS
                and analysis.stem(analysis.normalize(word)) in stems
            ):
                seen.setdefault(word, None)
    return tuple(seen)


def _abstain(question: str, search: Search, did_you_mean: str) -> Answer:
    """The honest "not in the sources" reply, naming the nearest topics if any."""
    hits = search.hits
    suggestions = tuple(dict.fromkeys(h.passage.section for h in hits if h.passage.section))[:3]
    text = did_you_mean + _ABSTAIN
    if search.unknown and not hits:
        text += f" None of the documents mention “{shorten(search.unknown[0])}”."
    if suggestions:
        text += " Nearest topics: " + "; ".join(suggestions) + "."
    confidence = hits[0].score if hits else 0.0
    return Answer(
        question, "abstain", False, text, (), hits, search.corrections, (), suggestions, confidence
    )


def supporting_hits(search: Search) -> list[Hit]:
    """The passage(s) an answer quotes.

    The best one, plus the runner-up when it is nearly as good (within `CLOSE`) and
    holds question words the best one lacks, as when the two halves of a question are
    answered by two neighbouring bullets.
    """
    top, *rest = search.hits
    support = [top]
    if rest and rest[0].score >= CLOSE * top.score and rest[0].matched - top.matched:
        support.append(rest[0])
    return support


def compose(
    question: str, search: Search | None, settings: Settings, examples: Sequence[str] = ()
) -> Answer:
    """Turns a search into the reply, deciding whether to answer or abstain.

    Args:
        question: The question as asked.
        search: The search result, or None when the question was not searched
            (empty or small talk).
        settings: Thresholds `min_score` and `min_coverage`.
        examples: Questions the corpus can answer, suggested by small-talk replies.
    """
    if not analysis.words(question):
        return Answer(question, "empty", False, small_talk_reply("empty", examples))
    talk = small_talk(question)
    if talk is not None or search is None:
        return Answer(question, "smalltalk", False, small_talk_reply(talk or "help", examples))
    did_you_mean = ""
    if search.corrections:
        fixed = ", ".join(f"“{b}”" for _, b in search.corrections)
        did_you_mean = f"(Did you mean {fixed}?)\n"
    if not search.hits:
        return _abstain(question, search, did_you_mean)
    support = supporting_hits(search)
    matched = frozenset().union(*(h.matched for h in support))
    top = support[0]
    if top.score < settings.min_score or search.coverage(matched) < settings.min_coverage:
        return _abstain(question, search, did_you_mean)
    stems = set(search.stems)
    quotes: list[Quote] = []
    sentences: tuple[str, ...] = ()
    for hit in support:
        wanted = stems - {s for s in stems if _mentions(sentences, s)} if sentences else stems
        chosen = best_sentences(hit.passage.text, wanted, limit=2 if hit is top else 1)
        sentences += chosen
        quotes.append(Quote(chosen, hit))
    if not answers_the_kind(question, " ".join(sentences)):
        return _abstain(question, search, did_you_mean)
    return Answer(
        question,
        "answer",
        True,
        did_you_mean + quoted_text(tuple(quotes)),
        sentences,
        search.hits,
        search.corrections,
        highlight_words(sentences, stems),
        (),
        top.score,
        tuple(quotes),
    )


def _mentions(sentences: tuple[str, ...], stem: str) -> bool:
    return any(stem in analysis.stems(analysis.content_words(s)) for s in sentences)
