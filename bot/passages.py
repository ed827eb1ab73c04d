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

# A passage holds at most this many words (a single longer sentence is kept whole,
# up to MAX_CHARS). About a paragraph: long enough to carry context, short enough to quote.
MAX_WORDS = 150
# And at most this many characters, whatever the text: a sentence or bullet longer than
# this (extracted text without periods, a table flattened into one line) is cut at a
# clause boundary ("; ", ", ", " - "...), else at a space, else anywhere. 150 words of
# policy prose are about 1,000 characters, so this only binds on text that has no
# sentence ends; without it 1.4 MB of hard-wrapped lines without a period became one
# passage, and one answer of 343 Telegram messages.
MAX_CHARS = 2000
# Where a cut may fall: in the second half of the window, so no piece is tiny.
_CLAUSE_ENDS = ("; ", ": ", ", ", " - ", " – ", " — ", ") ")
# Bullets are facts of their own: only short ones share a passage, up to this many words.
# A long list in one passage would bury each item (and its score) among the others.
MAX_BULLET_WORDS = 40

# Sentence ends: . ! ? (optionally closed by a quote or bracket) then space and a
# capital, digit, quote or bracket. Abbreviations below do not end a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*+\s++(?=[A-Z0-9\"'(\[])")
_ABBREVIATIONS = (
    "e.g.", "i.e.", "etc.", "vs.", "cf.", "mr.", "mrs.", "ms.", "dr.", "no.", "art.",
    "st.", "mt.", "jr.", "sr.", "prof.", "gen.", "gov.", "sen.", "rep.", "rev.", "col.",
    "lt.", "capt.", "sgt.", "fr.", "c.", "ca.", "approx.", "fig.", "vol.", "pp.", "para.", "al.",
)  # fmt: skip
# A text ending in one of them (as a whole word), or in an initial ("Ben E. King", "U.S.
# Marshal", "John F. Kennedy"), does not end a sentence. An abbreviation or initial
# that really ends one ("... in the U.S. Then") joins two sentences: the lesser harm.
_NOT_AN_END = re.compile(
    r"(?:^|[^\w.])(?:" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r"|(?:[A-Z]\.)+)$",
    re.IGNORECASE,
)
_LONGEST_ABBREVIATION = max(map(len, _ABBREVIATIONS)) + 1


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
        # Only the last characters can end in an abbreviation: looking at those alone
        # keeps a paragraph of "e.g. A e.g. A ..." linear.
        tail = text[max(start, match.start() - _LONGEST_ABBREVIATION) : match.start()]
        if _NOT_AN_END.search(tail):
            continue
        candidate = text[start : match.start()].strip()
        if candidate:
            pieces.append(candidate)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def cap_length(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Cuts text into pieces of at most `limit` characters, at clause or word boundaries.

    Each cut falls at the last clause end (see `_CLAUSE_ENDS`) in the second half of
    the next `limit` characters, else at the last space there, else at `limit`
    characters (a "word" that long is not prose). Linear in the length: each window is
    searched a fixed number of times. Text within the limit comes back as it is.

    Example: cap_length("one two, three four", 12) -> ["one two,", "three four"]
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        low, high = start + max(1, limit // 2), start + limit
        cut = -1
        for mark in _CLAUSE_ENDS:
            at = text.rfind(mark, low, high + 1)
            if at >= 0:
                cut = max(cut, at + len(mark) - 1)  # the mark's punctuation stays
        if cut < low:
            cut = text.rfind(" ", low, high + 1)
        if cut < low:
            cut = high
        piece = text[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = cut
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _units(section: Section) -> Iterator[tuple[str, bool, int, int]]:
    """Yields (text, is_bullet, unit number, words) for a section's units.

    A paragraph too long for one passage comes out as its sentences, all with the
    paragraph's number, so the grouping step can keep them on one line. Any unit or
    sentence longer than MAX_CHARS comes out in pieces (`cap_length`), also with its
    unit's number; only the first piece of a bullet carries the bullet.
    """
    for number, (text, bullet) in enumerate(zip(section.units, section.bullets, strict=True)):
        words = len(text.split())
        if bullet or words <= MAX_WORDS:
            # Room for the "• " a bullet gets, so no passage exceeds MAX_CHARS.
            pieces = cap_length(text, MAX_CHARS - 2)
            if len(pieces) == 1 and pieces[0] is text:  # the common case: counted once
                yield text, bullet, number, words
                continue
            for i, piece in enumerate(pieces):
                yield piece, bullet and i == 0, number, len(piece.split())
        else:
            for sentence in split_sentences(text):
                for piece in cap_length(sentence, MAX_CHARS - 2):
                    yield piece, False, number, len(piece.split())


def _group(section: Section) -> Iterator[str]:
    """Packs a section's units into passages of at most MAX_WORDS words and MAX_CHARS characters.

    Units go on lines of their own (bullets keep a "• " marker); sentences of one
    paragraph stay on one line. A lead-in ending in a colon keeps the bullets that
    follow it, up to MAX_WORDS: "The strategy covers 5 areas:" means nothing in one
    passage and its five areas nothing in another.
    """
    current = ""
    size = 0
    previous = -1
    listing = False  # the passage so far ends with a lead-in and bullets of its list
    for text, bullet, number, n in _units(section):
        limit = MAX_BULLET_WORDS if bullet and not listing else MAX_WORDS
        if current and (size + n > limit or len(current) + 1 + len(text) + 2 > MAX_CHARS):
            yield current
            current, size = "", 0
        if current:
            current += " " if number == previous else "\n"
        current += f"• {text}" if bullet else text
        size += n
        previous = number
        listing = (listing and bullet) or text.rstrip().endswith(":")
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
        items, marks = tuple(run), tuple(True for _ in run)
        if sections:  # the list of the text before it, in the same section
            last = sections.pop()
            sections.append(Section(last.heading, last.units + items, last.bullets + marks))
        else:
            sections.append(Section("", items, marks))
        run.clear()

    for section in document.sections:
        if section.units:
            flush()
            sections.append(section)
        elif section.heading.strip():
            run.append(section.heading.strip())
    flush()
    return sections


def split_document(document: Document, start: int = 0, id_prefix: str = "") -> list[Passage]:
    """Splits one document into passages.

    Args:
        document: The parsed document.
        start: Position of the first passage in the whole corpus.
        id_prefix: Put before each passage id (a .jsonl file's name and "/", see
            `bot.index.parts.file_passages`).
    """
    single = _single_passage(document)
    if single is not None:
        heading, text = single
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        return [
            Passage(f"{id_prefix}{document.doc}#0-{digest}", document.doc, heading, text, start)
        ]
    out: list[Passage] = []
    for section in _fold_bare_headings(document):
        heading = section.heading.strip() or document.title
        for text in _group(section):
            if not text.strip():
                continue
            n = len(out)
            out.append(
                Passage(
                    id_prefix + passage_id(document.doc, n, text),
                    document.doc,
                    heading,
                    text,
                    start + n,
                )
            )
    return out


def _single_passage(document: Document) -> tuple[str, str] | None:
    """(heading, text) of a document that is one short paragraph, else None.

    The usual shape of a .jsonl collection's line, so it skips the general steps, and
    gives exactly what they give: one section of one unit that is no bullet, no
    longer than MAX_CHARS - 2 characters, whose only whitespace is the ASCII space
    (`isprintable`), so that it holds at most one word more than spaces, and that
    number within MAX_WORDS: `_units` yields it whole, and `_group` makes it the
    one passage.
    """
    if len(document.sections) != 1:
        return None
    section = document.sections[0]
    if len(section.units) != 1 or section.bullets[0]:
        return None
    text = section.units[0]
    if (
        len(text) > MAX_CHARS - 2
        or text.count(" ") >= MAX_WORDS
        or not text.isprintable()
        or not text.strip()
    ):
        return None
    return section.heading.strip() or document.title, text


def split_documents(documents: Iterable[Document], id_prefix: str = "") -> list[Passage]:
    """Splits documents in order, numbering passage positions across all of them."""
    passages: list[Passage] = []
    for document in documents:
        passages.extend(split_document(document, len(passages), id_prefix))
    return passages
