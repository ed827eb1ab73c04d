"""Sentences: which of a passage's sentences a reply quotes, and which read as a fragment.

A passage is cut into sentences once (memoised: the top passages of a corpus recur
across questions); a reply quotes the one holding most of the question's information,
then any that add what it lacks, a lead-in's list items after it, and nothing that
only leads in to a list that was lost.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping
from functools import lru_cache

from bot import analysis
from bot.kinds import without_asked
from bot.passages import split_sentences

# A passage's first sentence usually introduces its subject (an encyclopaedia's lead, a
# FAQ answer's first line), so as the first quote it counts this much more. Measured on
# the draft replies of 756 questions: 1.5 quotes the right sentence 3 times more on
# WikiQA's dev split and once more on the US Constitution set, no change elsewhere.
LEAD = 1.5
# A sentence holding what the question's kind asks for (a date for "when") counts this
# much more: "When must claims be submitted?" quotes "... within 30 days ...", not the
# lead sentence that merely says how claims are submitted.
KIND = 2.0
# List items quoted after a lead-in that ends in a colon ("... covers 5 external policy
# areas:"): a question about the list wants the whole list, so up to this many, a
# chat screen's worth; 3 cut the factsheet's list of areas short.
LIST_ITEMS = 8


def is_fragment(sentences: tuple[str, ...], stems: Collection[str] = ()) -> bool:
    """Whether the quoted sentences only lead in to something missing (`leads_in`)."""
    return bool(sentences) and all(leads_in(s, stems) for s in sentences)


def leads_in(sentence: str, stems: Collection[str] = ()) -> bool:
    """Whether a sentence only leads in to a list: it ends in a colon.

    Unless what it says about the question (its `stems`) comes before its last clause
    and none in it: "Cyber threats are evolving very fast, with technologies being
    misused for:" answers how fast threats evolve, though it only leads in to what
    technologies are misused for.
    """
    text = sentence.rstrip()
    if not text.endswith(":"):
        return False
    head, comma, tail = text.rpartition(", ")
    if not comma or not stems:
        return True
    asked = set(stems)
    return not (stems_of(head) & asked) or bool(stems_of(tail) & asked)


def units(text: str) -> list[str]:
    """A passage's sentences, bullet marks dropped: a bullet item counts as a sentence."""
    return [unit for unit, _ in marked_units(text)]


@lru_cache(maxsize=1 << 12)
def marked_units(text: str) -> tuple[tuple[str, bool], ...]:
    """A passage's sentences, each with whether it is (part of) a bullet item."""
    return tuple(
        (sentence, line.startswith("• "))
        for line in text.split("\n")
        for sentence in split_sentences(line.removeprefix("• "))
    )


@lru_cache(maxsize=1 << 12)
def item_starts(text: str) -> frozenset[str]:
    """The sentences of a passage that begin a bullet item (its first sentence)."""
    return frozenset(
        sentences[0]
        for line in text.split("\n")
        if line.startswith("• ") and (sentences := split_sentences(line.removeprefix("• ")))
    )


@lru_cache(maxsize=1 << 12)
def analysed(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """A passage's sentences with their content stems, worked out once per passage.

    Every question now drafts a reply (the decision reads its features), and the top
    passages of a corpus recur across questions: the memo halved the time spent
    choosing sentences over 853 questions (0.37 of 1.08 s before it).
    """
    return tuple((u, stems_of(u)) for u in units(text))


@lru_cache(maxsize=1 << 14)
def _holds_kind(needed: re.Pattern[str], sentence: str) -> bool:
    """Whether a sentence holds what a kind of question needs (memoised like `stems_of`)."""
    return needed.search(sentence) is not None


@lru_cache(maxsize=1 << 14)
def stems_of(sentence: str) -> frozenset[str]:
    """A sentence's content stems (memoised: the same sentences are weighed again and again)."""
    return frozenset(analysis.stems(analysis.content_words(sentence)))


def best_sentences(
    text: str,
    stems: set[str],
    limit: int = 2,
    needed: re.Pattern[str] | None = None,
    weights: Mapping[str, float] | None = None,
    asked: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """The sentence(s) of a passage that best match the question's stems, in text order.

    The first is the sentence holding the most of the question's information (the idf
    of its stems in `weights`, or their count; the passage's lead sentence counts
    `LEAD` times; among equals, one holding what the question's kind needs, then the
    first); each next one is added
    only if it holds question stems the chosen ones lack (an answer spread over two
    bullets), so the reply stays short and every sentence in it earns its place. A
    chosen lead-in ending in a colon brings the bullets after it (up to `LIST_ITEMS`):
    alone it says nothing.
    """
    cut = analysed(text)
    if not cut:
        return ()
    sentences = [u for u, _ in cut]
    matched = [set(found & stems) for _, found in cut]
    meets = [needed is not None and _holds_kind(needed, without_asked(asked, u)) for u in sentences]
    bullets = [bullet for _, bullet in marked_units(text)]
    # A lead-in whose list was lost ("... misused for:" and no bullets after it) says
    # nothing unless it holds what the question asks for ("covers 5 areas:" for "how
    # many"). It may be the best match (the reply is then a bare lead-in, which the bot
    # declines), but it never joins another sentence: quoted next to one, it would
    # read as if that sentence were its list.
    lost = [
        leads_in(u, stems) and not meets[i] and not (i + 1 < len(sentences) and bullets[i + 1])
        for i, u in enumerate(sentences)
    ]
    chosen: list[int] = []
    covered: set[str] = set()
    while len(chosen) < limit and not (chosen and lost[chosen[0]]):
        gains = [
            (
                _weight(m - covered, weights)
                * (LEAD if i == 0 and not chosen else 1.0)
                * (KIND if meets[i] else 1.0),
                meets[i],
                -i,
            )
            for i, m in enumerate(matched)
            if i not in chosen and not (chosen and lost[i])
        ]
        if not gains:
            break
        gain, _, neg_i = max(gains)
        if chosen and gain == 0:
            break
        chosen.append(-neg_i)
        covered |= matched[-neg_i]
        if gain == 0:
            break
    for i in list(chosen):
        if sentences[i].rstrip().endswith(":"):
            # Its items: the bullets right after it (none when the list was lost).
            items = range(i + 1, min(i + 1 + LIST_ITEMS, len(sentences)))
            chosen.extend(itertools.takewhile(lambda j: bullets[j], items))
    return tuple(sentences[i] for i in sorted(set(chosen)))


def _weight(stems: set[str], weights: Mapping[str, float] | None) -> float:
    """The information of a set of stems: their idf sum, or their count without weights."""
    return float(len(stems)) if weights is None else sum(weights.get(s, 0.0) for s in stems)


def highlight_words(sentences: tuple[str, ...], stems: set[str]) -> tuple[str, ...]:
    """Surface words of the reply whose stem is one of the question's."""
    seen: dict[str, None] = {}
    for sentence in sentences:
        for word in _WORD.findall(sentence):
            if word not in seen and _highlight_stem(word) in stems:
                seen[word] = None
    return tuple(seen)


_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 16)
def _highlight_stem(word: str) -> str | None:
    """The stem a reply's word is highlighted by, or None for a stop word (memoised).

    Every answered reply looks up each of its words (40 or so): normalising,
    stemming and the stop-word test cost 2-3 us a word, most of `compose` (at a
    million passages, 0.14 of the slowest questions' 2.5 ms went to `compose`);
    replies repeat words, so a memo makes most of them one lookup.
    """
    if word.casefold() in analysis.STOP_WORDS:
        return None
    return analysis.stem(analysis.normalize(word))
