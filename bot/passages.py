"""Passages: the units the index ranks and the bot quotes.

A passage is a run of sentences or bullets from one section of one document, small
enough that its text answers one question. Passages never cross a section boundary, so
the source line "document › section" is always true. Each passage has a stable id made
of its document, its position in the document and a hash of its text: the same text in
the same place keeps its id across rebuilds, and an edited passage gets a new one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.documents import Document, Section

# A passage holds at most this many words (a single longer sentence is kept whole).
# About a paragraph: long enough to carry context, short enough to quote.
MAX_WORDS = 150
# Bullets are facts of their own: only short ones share a passage, up to this many words.
# A long list in one passage would bury each item (and its score) among the others.
MAX_BULLET_WORDS = 40

# Sentence ends: . ! ? (optionally closed by a quote or bracket) then space and a
# capital, digit, quote or bracket. Abbreviations below do not end a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "mr.", "mrs.", "dr.", "no.", "art.")


@dataclass(frozen=True)
class Passage:
    """One indexed passage.

    Attributes:
        id: Stable id: "<doc>#<n>-<hash8>", n counting passages within the document.
        doc: Corpus file path relative to the corpus folder, or a .jsonl line's id.
        section: The section heading, or the document title where there is none.
        text: The passage text as shown to users.
        position: Order of the passage in the whole corpus; ties in score break on it.
    """

    id: str
    doc: str
    section: str
    text: str
    position: int

    @property
    def indexed_text(self) -> str:
        """What the analyzer sees: the heading counts toward a passage's match."""
        if not self.section or self.section == self.text:
            return self.text
        return f"{self.section}\n{self.text}"

    @property
    def source(self) -> str:
        """Where the passage comes from, as "document › section" (the one way it is said)."""
        return f"{self.doc} › {self.section}" if self.section else self.doc


def split_sentences(text: str) -> list[str]:
    """Splits a paragraph into sentences, keeping every character except the gaps.

    Example: "It works. See e.g. Art. 5. Done" -> ["It works.", "See e.g. Art. 5.", "Done"]
    """
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].strip()
        if candidate.casefold().endswith(_ABBREVIATIONS):
            continue
        if candidate:
            pieces.append(candidate)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _units(section: Section) -> Iterator[tuple[str, bool, int]]:
    """Yields (text, is_bullet, unit number) for a section's units.

    A paragraph too long for one passage comes out as its sentences, all with the
    paragraph's number, so the grouping step can keep them on one line.
    """
    for number, (text, bullet) in enumerate(zip(section.units, section.bullets, strict=True)):
        if bullet or len(text.split()) <= MAX_WORDS:
            yield text, bullet, number
        else:
            for sentence in split_sentences(text):
                yield sentence, False, number


def _group(section: Section) -> Iterator[str]:
    """Packs a section's units into passages of at most MAX_WORDS words.

    Units go on lines of their own (bullets keep a "• " marker); sentences of one
    paragraph stay on one line.
    """
    current = ""
    size = 0
    previous = -1
    for text, bullet, number in _units(section):
        n = len(text.split())
        limit = MAX_BULLET_WORDS if bullet else MAX_WORDS
        if current and size + n > limit:
            yield current
            current, size = "", 0
        if current:
            current += " " if number == previous else "\n"
        current += f"• {text}" if bullet else text
        size += n
        previous = number
    if current:
        yield current


def passage_id(doc: str, n: int, text: str) -> str:
    """The stable id of the n-th passage of a document."""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{doc}#{n}-{digest}"


def _fold_bare_headings(document: Document) -> list[Section]:
    """Turns runs of headings without a body into a bullet list of the section before.

    Slides and factsheets set a list of topics as big headings in boxes ("The strategy
    covers 5 areas:" then one heading per area). Read as sections, each would be an
    empty section; read as what they are, they are the items of the list that the
    preceding text announces, and that is how they are indexed and quoted.
    """
    sections: list[Section] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        heading = sections[-1].heading if sections else ""
        sections.append(Section(heading, tuple(run), tuple(True for _ in run)))
        run.clear()

    for section in document.sections:
        if section.units:
            flush()
            sections.append(section)
        elif section.heading.strip():
            run.append(section.heading.strip())
    flush()
    return sections


def split_document(document: Document, start: int = 0) -> list[Passage]:
    """Splits one document into passages.

    Args:
        document: The parsed document.
        start: Position of the first passage in the whole corpus.
    """
    out: list[Passage] = []
    for section in _fold_bare_headings(document):
        heading = section.heading.strip() or document.title
        for text in _group(section):
            if not text.strip():
                continue
            n = len(out)
            out.append(
                Passage(passage_id(document.doc, n, text), document.doc, heading, text, start + n)
            )
    return out


def split_documents(documents: Iterable[Document]) -> list[Passage]:
    """Splits documents in order, numbering passage positions across all of them."""
    passages: list[Passage] = []
    for document in documents:
        passages.extend(split_document(document, start=len(passages)))
    return passages
