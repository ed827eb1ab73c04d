"""Corpus files into clean, structured text: documents made of sections of units.

Every format ends up in the same shape, so the passage layer never needs to know where
the text came from:

    Document(doc, title, sections=(Section(heading, units, bullets), ...))

A unit is one paragraph (its hard-wrapped lines reflowed into one line) or one bullet
item (its marker removed). Sections follow the document's headings in order; text
before the first heading belongs to a section with the heading "".

Most policy text reaches us as text extracted from PDFs: hard-wrapped lines with
trailing spaces, words hyphenated across line breaks, ALL-CAPS headings split over
several lines, bullets whose items wrap. `parse_plain_text` undoes that. Markdown and
HTML are first turned into the same stream of line events (with their explicit
headings and list items), then share the same section builder.

Nothing here keeps state between calls: each function maps its input to a result.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

log = logging.getLogger(__name__)

# The one list of file types: the corpus reader reads these, and admin uploads accept
# them all but .jsonl (a collection of many documents that a tool writes; it goes into
# the corpus folder directly, not through a chat).
SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
UPLOAD_SUFFIXES = tuple(s for s in SUPPORTED_SUFFIXES if s != ".jsonl")

__all__ = [
    "SUPPORTED_SUFFIXES",
    "UPLOAD_SUFFIXES",
    "CorpusFileError",
    "Document",
    "Section",
    "corpus_files",
    "looks_binary",
    "normalize_text",
    "parse_plain_text",
    "read_document",
]


class CorpusFileError(Exception):
    """A corpus file that cannot be read (binary, unreadable, broken PDF...).

    The message names the file and says why, so the caller can show it as it is.
    """


@dataclass(frozen=True)
class Section:
    """A heading and the units under it.

    Attributes:
        heading: The heading as written (original case, spaces collapsed); "" for text
            before the first heading.
        units: Paragraphs (reflowed into one line each) and bullet items (one unit per
            item, the bullet symbol removed).
        bullets: Same length as `units`: True where the unit was a bullet item.
    """

    heading: str
    units: tuple[str, ...]
    bullets: tuple[bool, ...]


@dataclass(frozen=True)
class Document:
    """One document of the corpus.

    Attributes:
        doc: The name reported to users: the path relative to the corpus folder (posix
            style), or for a .jsonl line its "id".
        title: The document title: jsonl "title", HTML <title> (else the first <h1>), the
            first markdown "# " heading, else the file stem with - and _ as spaces.
        sections: The sections in document order; empty for a file without text.
    """

    doc: str
    title: str
    sections: tuple[Section, ...]


# ---------------------------------------------------------------------------- normalising

# First pass, before NFKC: line breaks and invisible characters. Removing zero-width
# characters before NFKC lets a letter and its combining accent, split by one, compose.
# Form feed (pdftotext's page break), vertical tab and the Unicode line and paragraph
# separators become line breaks rather than vanishing, so the words on either side of
# them are not glued together.
_PRE_TABLE: dict[int, str | None] = {
    cp: None for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if cp not in (0x09, 0x0A)
}
_PRE_TABLE.update({0x0B: "\n", 0x0C: "\n", 0x85: "\n", 0x2028: "\n", 0x2029: "\n\n"})
_PRE_TABLE.update(
    dict.fromkeys(
        (
            0x00AD,  # soft hyphen
            0x180E,  # Mongolian vowel separator (was a space, now zero-width)
            0x200B,  # zero-width space
            0x200C,  # zero-width non-joiner
            0x200D,  # zero-width joiner
            0x200E,  # left-to-right mark
            0x200F,  # right-to-left mark
            *range(0x202A, 0x202F),  # bidi embeddings and overrides
            0x2060,  # word joiner
            *range(0x2066, 0x206A),  # bidi isolates
            0xFEFF,  # byte order mark / zero-width no-break space
        )
    )
)

# Second pass, after NFKC: curly quotes to straight ones (questions are typed with
# straight quotes, and "EU’s" must match "EU's"), and spaces NFKC leaves alone.
_POST_TABLE: dict[int, str | None] = {
    **dict.fromkeys(map(ord, "‘’‚‛′‵"), "'"),
    **dict.fromkeys(map(ord, "“”„‟″‶"), '"'),
    **dict.fromkeys((0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000), " "),
}

_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalize_text(text: str) -> str:
    r"""Cleans text so that what looks the same is the same.

    NFKC folds compatibility forms (ligatures such as "ﬁ", full-width letters); curly
    quotes and apostrophes become straight; non-breaking and other odd spaces become a
    plain space; soft hyphens, zero-width characters and control characters (except
    newline and tab) are removed; "\r\n" and "\r" become "\n", and so do form feeds
    and vertical tabs (page breaks in extracted text separate words).

    Pure ASCII text, the common case in large collections, takes a fast path.

    Args:
        text: Any text.

    Returns:
        The normalised text; applying the function again changes nothing.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii():
        return text.translate(_PRE_TABLE) if _ASCII_CONTROL.search(text) else text
    text = unicodedata.normalize("NFKC", text.translate(_PRE_TABLE))
    return text.translate(_POST_TABLE)


def _collapse(text: str) -> str:
    """Collapses runs of whitespace into single spaces and strips the ends."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------- line events

# The parsers of each format emit a stream of (kind, text) events; _SectionBuilder
# turns any such stream into sections, so the reflow rules live in one place.
_BREAK = 0  # a blank line or block boundary: ends the paragraph or bullet being built
_LINE = 1  # a line of a paragraph (or the continuation of a bullet item)
_BULLET = 2  # the first line of a bullet item, marker already removed
_CAPS = 3  # an ALL-CAPS line: consecutive ones join into one heading
_HEADING = 4  # an explicit heading (markdown "#", HTML <h1>-<h6>): never joined

_Event = tuple[int, str]

# Bullet symbols, and numbered items "1." "1)" "a)" "(a)" "(iv)", each followed by a space.
_BULLET_START = re.compile(
    r"(?:([•·▪◦‣●○■□►▸➢✓*–-])|(\d{1,3}[.)]|[A-Za-z]\)|\((?:\d{1,3}|[a-z]|[ivxlc]{1,5})\)))\s"
)
_BULLET_SYMBOLS = frozenset("•·▪◦‣●○■□►▸➢✓*–-")

# An ALL-CAPS line longer than this is shouting prose, not a heading; so is a run of
# such lines longer than _MAX_HEADING_WORDS in total.
_MAX_CAPS_LINE_WORDS = 12
_MAX_HEADING_WORDS = 25

# Words and hyphenated compounds, for the evidence used when joining hyphenated breaks.
_WORD_FORMS = re.compile(r"[^\W\d_]++(?:-[^\W\d_]++)*+")
_FIRST_WORD = re.compile(r"[^\W\d_]+")


def _is_caps(line: str) -> bool:
    """Whether a line reads as an ALL-CAPS heading line.

    Its cased letters are all upper-case, it has at least two letters (so "A" or a
    lone roman numeral "I" is not one) and it is short enough to be a heading.
    """
    if not line.isupper():
        return False
    words = line.count(" ") + 1
    return words <= _MAX_CAPS_LINE_WORDS and sum(ch.isalpha() for ch in line) >= 2


def _plain_line_event(line: str, caps_headings: bool) -> _Event:
    """Classifies one stripped, space-collapsed line of plain text."""
    match = _BULLET_START.match(line)
    if match:
        if match.group(1):
            return _BULLET, line[match.end() :].lstrip()
        # A numbered item keeps its number: it is content ("point 3"), and a numbered
        # ALL-CAPS line ("1. INTRODUCTION") is a heading, not a list item.
        if caps_headings and _is_caps(line):
            return _CAPS, line
        return _BULLET, line
    if line in _BULLET_SYMBOLS and line not in "*-":
        return _BULLET, ""  # a marker alone on its line; the item's text follows
    if caps_headings and _is_caps(line):
        return _CAPS, line
    return _LINE, line


def _plain_events(text: str) -> Iterator[_Event]:
    """Line events of normalised plain text."""
    # A document written entirely in capitals has no headings to find.
    caps_headings = not text.isupper()
    for raw in text.split("\n"):
        line = _collapse(raw)
        if not line:
            yield _BREAK, ""
        else:
            yield _plain_line_event(line, caps_headings)


class _SectionBuilder:
    """Builds sections from line events; lives for one document only."""

    def __init__(self, source: str) -> None:
        self._source = source  # the whole text, read for hyphenation evidence
        self._forms: set[str] | None = None
        self._sections: list[Section] = []
        self._heading: str | None = None  # None until the first heading
        self._units: list[str] = []
        self._bullets: list[bool] = []
        self._block: list[str] = []  # lines of the paragraph or bullet being built
        self._block_bullet = False
        self._caps: list[str] = []  # pending ALL-CAPS lines

    def feed(self, events: Iterable[_Event]) -> list[Section]:
        """Consumes all events and returns the finished sections."""
        for kind, text in events:
            if not text and kind in (_LINE, _CAPS, _HEADING):
                continue
            if kind == _LINE:
                self._line(text)
            elif kind == _CAPS:
                self._caps.append(text)
            elif kind == _BULLET:
                self._end_block()
                self._block, self._block_bullet = [text] if text else [], True
            elif kind == _HEADING:
                self._end_block()
                self._start_section(text)
            else:
                self._end_block()
        self._end_block()
        self._push_section()
        return self._sections

    def _line(self, text: str) -> None:
        if self._caps:
            # Capitals followed by a lower-case line inside a paragraph are an acronym
            # that happened to land on its own line, not a heading.
            if self._block and (text[0].islower() or self._caps_end_sentence()):
                self._block.extend(self._caps)
                self._caps = []
            else:
                self._end_block()
        self._block.append(text)  # continues the open paragraph or bullet, or starts one

    def _caps_end_sentence(self) -> bool:
        """Whether pending capitals finish the open paragraph's sentence.

        "...funded by the" / "EU." is a sentence ending in an acronym: the previous line
        stops mid-sentence and the capitals end with punctuation, which headings rarely do.
        """
        return (
            len(self._caps) == 1
            and self._caps[0][-1] in ".,;!?"
            and self._block[-1][-1] not in ".!?:"
        )

    def _end_block(self) -> None:
        """Closes the open paragraph or bullet, then turns pending capitals into a heading."""
        if self._caps and self._block and self._caps_end_sentence():
            self._block.extend(self._caps)
            self._caps = []
        if self._block:
            self._units.append(self._join(self._block))
            self._bullets.append(self._block_bullet)
        self._block, self._block_bullet = [], False
        if self._caps:
            heading = self._join(self._caps)
            self._caps = []
            if heading.count(" ") + 1 > _MAX_HEADING_WORDS:
                self._units.append(heading)  # shouting prose: keep it as a paragraph
                self._bullets.append(False)
            else:
                self._start_section(heading)

    def _start_section(self, heading: str) -> None:
        self._push_section()
        self._heading = heading

    def _push_section(self) -> None:
        # Text before the first heading forms a section only if there is some; every
        # heading forms one, even with nothing under it (a run of headings, as slides have).
        if self._heading is not None or self._units:
            self._sections.append(
                Section(self._heading or "", tuple(self._units), tuple(self._bullets))
            )
        self._units, self._bullets = [], []

    def _join(self, lines: list[str]) -> str:
        """Reflows lines into one, joining words hyphenated across the breaks.

        Linear in the total length: the joined text is built as a list of pieces, and the
        word before a hyphen is found by walking back from the end of that list at most
        `_MAX_WORD` characters. (Rebuilding the string at every break, and searching it
        for its last word, made a paragraph of 8,000 "secu-" / "rity" lines take 72 s.)
        """
        if len(lines) == 1:
            return lines[0]
        pieces = [lines[0]]
        for nxt in lines[1:]:
            last = pieces[-1]
            if last[-1] == "-" and nxt[0].isalnum() and _char_before_end(pieces, 1).isalnum():
                head, whole = _trailing_word(pieces, skip=1)
                pieces[-1] = last[:-1] if self._drop_hyphen(head, whole, nxt) else last
                pieces.append(nxt)
            else:
                pieces.extend((" ", nxt))
        return "".join(pieces)

    def _drop_hyphen(self, head: str, whole: bool, right: str) -> bool:
        """Whether a hyphen at a line break was put there by the typesetter.

        The rule: if the document spells the word elsewhere with the hyphen
        ("cyber-attacks"), keep it; if it spells it elsewhere without
        ("security"), drop it. Without such evidence, drop it when the letters on
        both sides are lower-case ("secu-" / "rity"), keep it otherwise ("COVID-" /
        "19", "EU-" / "wide"). A compound broken exactly at its hyphen and found nowhere
        else in the text ("Confidence-" / "building") loses its hyphen: a known limit.

        Args:
            head: The letters just before the hyphen ("" if a digit or sign comes
                there), at most `_MAX_WORD` of them.
            whole: False when `head` was cut at `_MAX_WORD` letters: no real word is
                that long, so the spelling evidence is not looked up.
            right: The line after the break.
        """
        right_match = _FIRST_WORD.match(right)
        if not head or right_match is None:
            return False
        tail = right_match.group()
        if whole:
            if self._forms is None:
                self._forms = {w.lower() for w in _WORD_FORMS.findall(self._source) if w}
            if f"{head}-{tail}".lower() in self._forms:
                return False
            if f"{head}{tail}".lower() in self._forms:
                return True
        return head[-1].islower() and tail[0].islower()


# Words longer than this are not looked up as hyphenation evidence (the longest English
# dictionary words have about 45 letters): it bounds the walk back from each line break.
_MAX_WORD = 64


def _is_letter(ch: str) -> bool:
    r"""Whether `ch` is what the pattern [^\W\d_] matches: a letter (or a non-decimal numeral)."""
    return ch.isalnum() and not ch.isdecimal()


def _char_before_end(pieces: list[str], skip: int) -> str:
    """The character `skip` characters before the end of "".join(pieces), or ""."""
    for piece in reversed(pieces):
        if len(piece) > skip:
            return piece[-1 - skip]
        skip -= len(piece)
    return ""


def _trailing_word(pieces: list[str], skip: int) -> tuple[str, bool]:
    """The letters ending `skip` characters before the end of "".join(pieces).

    Returns:
        The letters (at most `_MAX_WORD`) and whether that is the whole run of letters.
    """
    letters: list[str] = []
    for piece in reversed(pieces):
        for i in range(len(piece) - 1 - skip, -1, -1):
            if not _is_letter(piece[i]):
                return "".join(reversed(letters)), True
            if len(letters) == _MAX_WORD:
                return "".join(reversed(letters)), False
            letters.append(piece[i])
        skip = max(0, skip - len(piece))
    return "".join(reversed(letters)), True


def _sections(events: Iterable[_Event], source: str) -> tuple[Section, ...]:
    return tuple(_SectionBuilder(source).feed(events))


def _text_sections(text: str) -> tuple[Section, ...]:
    """Sections of normalised plain text."""
    if "\n" not in text:
        # Fast path for one-line texts, the usual shape of benchmark collections.
        line = _collapse(text)
        if not line:
            return ()
        if _plain_line_event(line, not line.isupper())[0] == _LINE:
            return (Section("", (line,), (False,)),)
    return _sections(_plain_events(text), text)


def parse_plain_text(text: str) -> list[Section]:
    """Splits hard-wrapped plain text (as extracted from PDFs) into sections.

    The text is normalised first (`normalize_text`), then read line by line:

    - Blank lines separate paragraphs; the lines of a paragraph are joined with single
      spaces. A hyphen at the end of a line joins the two halves of the word; see
      `_SectionBuilder._drop_hyphen` for when the hyphen itself is kept.
    - A line whose letters are all upper-case (at least two letters, at most 12 words)
      is a heading line; consecutive ones form one heading ("CYBERSECURITY:" /
      "EU EXTERNAL ACTION"), which may directly follow a paragraph line. Capitals
      inside a paragraph (a lower-case line follows, or they end its sentence: "EU.")
      stay in it. A document entirely in capitals has no headings.
    - A line starting with a bullet symbol ("•", "-", "*", "·", "▪", "–", ... then a
      space) or a number ("1.", "a)", "(iv)" then a space) starts a bullet item; the
      following lines up to a blank line, heading or next item continue it. The symbol
      is removed; a number is kept, because it is content ("point 3").
    - Headings with nothing under them each get a section with no units.

    No word is lost: every letter and digit of the normalised input appears, in order,
    in the headings and units.

    Args:
        text: Plain text, possibly hard-wrapped.

    Returns:
        The sections in document order; empty for blank text.
    """
    return list(_text_sections(normalize_text(text)))


# ---------------------------------------------------------------------------- markdown

# Line patterns: each is matched once, at the start of one line, and can only succeed
# or fail in one way; the possessive quantifiers (*+, ++) say so to the engine, which
# then keeps no backtracking stack ("> " 300,000 times grew it to 6x the linear time).
_MD_FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)\n", re.DOTALL)
_MD_SETEXT = re.compile(r" {0,3}(=++|-++)[ \t]*+$")
_MD_RULE = re.compile(r" {0,3}([-*_])(?:[ \t]*+\1){2,}+[ \t]*+$")
_MD_FENCE = re.compile(r" {0,3}(```|~~~)")
_MD_LIST = re.compile(r"[ \t]*+(?:[-*+]|\d{1,9}[.)])[ \t]++(?:\[[ xX]\][ \t]++)?")
_MD_QUOTE = re.compile(r" {0,3}(?:>[ \t]?+)++")
_MD_REF_DEF = re.compile(r" {0,3}\[[^\]]++\]:[ \t]*+\S")
_MD_TABLE_CELL = re.compile(r":?-+:?")

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_MD_AUTOLINK_SCHEME = re.compile(r"(?:https?|ftp|mailto):")
_MD_AUTOLINK_STOP = re.compile(r"[>\s]")
_MD_TAG_STOP = re.compile(r"[<>]")
_ESCAPE_BASE = 0xF0000  # private-use plane: escaped characters hide here meanwhile

# Inline markdown used to be stripped with regular expressions such as
# r"\[([^\]]*)\]\([^)]*\)" and r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1". They are right, but a
# failed match is retried at the next character and scans to the end of the line
# again: a line of 40,000 "[" took 19 s, 40,000 " *a" 10 s. The scanners below strip
# exactly what those expressions matched (the tests compare both on random lines), in
# time linear in the line: each one remembers where the next closing "]", ")", "-->"
# or emphasis marker is, so a failed opener costs no new scan.


class _NextFinder:
    """`str.find` of one needle for queries whose start never decreases: linear in total.

    The answer for a start is the first valid position at or after it; it stays the
    answer for every later start up to it, so the text between is never scanned twice.
    `valid` narrows what counts as an occurrence (an emphasis closer after a non-space).
    """

    def __init__(self, text: str, needle: str, valid: Callable[[int], bool] | None = None):
        self._text = text
        self._needle = needle
        self._valid = valid
        self._start = -1
        self._found = -1
        self._fresh = True

    def find(self, start: int) -> int:
        if not self._fresh and start >= self._start and (self._found < 0 or start <= self._found):
            return self._found
        found = self._text.find(self._needle, start)
        while found >= 0 and self._valid is not None and not self._valid(found):
            found = self._text.find(self._needle, found + 1)
        self._start, self._found, self._fresh = start, found, False
        return found


def _md_brackets(text: str, image: bool) -> str:
    r"""Replaces "[text](url)" and "[text][ref]" by their text, or drops "![alt](url)".

    What r"!?\[([^\]]*)\]\([^)]*\)|!?\[([^\]]+)\]\[[^\]]*\]" matched, in linear time:
    an opener whose first "]" leads nowhere fails, and so does every opener before
    that "]" (they share it), so scanning goes on after it.
    """
    opener = "![" if image else "["
    close, paren = _NextFinder(text, "]"), _NextFinder(text, ")")
    out: list[str] = []
    copied = 0
    at = text.find(opener)
    while at >= 0:
        inner = at + len(opener)
        shut = close.find(inner)
        if shut < 0:
            break
        after = text[shut + 1 : shut + 2]
        end = -1
        if after == "(":
            end = paren.find(shut + 2)
        if end < 0 and after == "[" and (image or shut > inner):
            end = close.find(shut + 2)
        if end < 0:
            at = text.find(opener, shut + 1)
            continue
        out.append(text[copied:at])
        if not image:
            out.append(text[inner:shut])
        copied = end + 1
        at = text.find(opener, copied)
    out.append(text[copied:])
    return "".join(out)


def _md_autolinks(text: str) -> str:
    r"""Replaces "<https://...>" by the address: r"<((?:https?|ftp|mailto):[^>\s]+)>"."""
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        scheme = _MD_AUTOLINK_SCHEME.match(text, at + 1)
        if scheme is None:
            at = text.find("<", at + 1)
            continue
        stop = _MD_AUTOLINK_STOP.search(text, scheme.end())
        end = stop.start() if stop else len(text)
        if end > scheme.end() and end < len(text) and text[end] == ">":
            out.extend((text[copied:at], text[at + 1 : end]))
            copied = end + 1
            at = text.find("<", copied)
        else:
            # Every "<" before `end` runs into the same stop: none can match either.
            at = text.find("<", max(end, at + 1))
    out.append(text[copied:])
    return "".join(out)


def _md_html(text: str) -> str:
    """Drops comments and tags: what r"<!--.*?-->|</?[A-Za-z][^<>]*>" matched."""
    comment_end = _NextFinder(text, "-->")
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        end = -1
        if text.startswith("<!--", at):
            shut = comment_end.find(at + 4)
            end = shut + 3 if shut >= 0 else -1
        else:
            name = at + 2 if text.startswith("</", at) else at + 1
            if name < len(text) and text[name].isascii() and text[name].isalpha():
                stop = _MD_TAG_STOP.search(text, name + 1)
                if stop and stop.group() == ">":
                    end = stop.end()
        if end < 0:
            at = text.find("<", at + 1)
            continue
        out.append(text[copied:at])
        copied = end
        at = text.find("<", copied)
    out.append(text[copied:])
    return "".join(out)


def _is_word_char(ch: str) -> bool:
    r"""Whether `ch` is what \w matches: a letter, a digit or "_"."""
    return ch.isalnum() or ch == "_"


def _md_emphasis(text: str, mark: str, sizes: tuple[int, ...], word_bound: bool) -> str:
    r"""Unwraps emphasis: "*a*", "**a**", "***a***", "_a_"..., "~~a~~" become "a".

    What r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1" matched (for "_", also not inside a word:
    r"(?<!\w)(_{1,3})...\1(?!\w)"; for "~", only "~~"): the opener takes the longest
    run of marks it can, the text after it starts and ends with a non-space, and the
    closer is the first run of as many marks after it. One `_NextFinder` per size
    remembers the next valid closer, so an opener without one costs no new scan.

    Args:
        text: One line (no newline).
        mark: "*", "_" or "~".
        sizes: The opener lengths tried, longest first.
        word_bound: Whether opener and closer must not touch a letter or digit ("_").
    """
    n = len(text)

    def closer(size: int) -> _NextFinder:
        def valid(at: int) -> bool:
            if text[at - 1].isspace():
                return False
            return not (word_bound and at + size < n and _is_word_char(text[at + size]))

        return _NextFinder(text, mark * size, valid)

    closers = {size: closer(size) for size in sizes}
    out: list[str] = []
    copied = 0
    at = text.find(mark)
    while at >= 0:
        end = -1
        if not (word_bound and at > 0 and _is_word_char(text[at - 1])):
            for size in sizes:
                inner = at + size
                if text[at:inner] != mark * size or inner >= n or text[inner].isspace():
                    continue
                shut = closers[size].find(inner + 1)
                if shut >= 0:
                    out.extend((text[copied:at], text[inner:shut]))
                    end = copied = shut + size
                    break
        at = text.find(mark, end if end >= 0 else at + 1)
    out.append(text[copied:])
    return "".join(out)


def _md_inline(text: str) -> str:
    """Strips inline markdown from one line: emphasis, backticks, links to their text, images.

    Linear in the line's length (see `_md_brackets` and `_md_emphasis`).
    """
    if not any(ch in text for ch in "\\*_`[!<~"):
        return text
    text = _MD_ESCAPE.sub(lambda m: chr(_ESCAPE_BASE + ord(m.group(1))), text)
    if "[" in text:
        text = _md_brackets(_md_brackets(text, image=True), image=False)
    if "<" in text:
        text = _md_html(_md_autolinks(text))
    text = text.replace("`", "")
    if "*" in text:
        text = _md_emphasis(text, "*", (3, 2, 1), word_bound=False)
    if "_" in text:
        text = _md_emphasis(text, "_", (3, 2, 1), word_bound=True)
    if "~~" in text:
        text = _md_emphasis(text, "~", (2,), word_bound=False)
    return re.sub("[\U000f0000-\U000f00ff]", lambda m: chr(ord(m.group()) - _ESCAPE_BASE), text)


def _md_atx(line: str) -> tuple[int, str] | None:
    r"""An ATX heading's level and text: "## Text ##" -> (2, "Text"), or None.

    What r" {0,3}(#{1,6})(?:[ 	]+(.*?))?(?:[ 	]+#+)?[ 	]*$" matched, without its
    backtracking: with the lazy group, a heading line holding two long runs of spaces
    took 23 s for 40,000 characters. Linear: a few strips and one reverse scan.
    """
    body = line.lstrip(" ")
    if len(line) - len(body) > 3 or not body.startswith("#"):
        return None
    rest = body.lstrip("#")
    level = len(body) - len(rest)
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    hashes = text.rstrip("#")
    if hashes != text and hashes[-1:] in (" ", "\t"):
        text = hashes.rstrip(" \t")  # the closing "##", with the spaces before it
    return level, text


def _md_table_rule(line: str) -> bool:
    r"""Whether a line is a table's rule row ("|---|:-:|"), cells of dashes and colons.

    What r"[ 	]*\|?[ 	]*:?-+:?[ 	]*(?:\|[ 	]*:?-+:?[ 	]*)*\|?[ 	]*$" matched;
    that pattern took 9 s on "|" then 40,000 dashes and as many spaces. Linear.
    """
    row = line.strip(" \t")
    row = row.removeprefix("|")
    row = row[:-1] if row.endswith("|") else row
    return all(_MD_TABLE_CELL.fullmatch(cell.strip(" \t")) for cell in row.split("|"))


def _markdown_events(text: str) -> tuple[list[_Event], str]:
    """Line events of normalised markdown, and its title (the first "# " heading)."""
    text = _MD_FRONT_MATTER.sub("", text, count=1)
    caps_headings = not text.isupper()
    events: list[_Event] = []
    title = ""
    in_fence = False
    previous_blank = True  # whether the line before the current paragraph line was blank
    for raw in text.split("\n"):
        if _MD_FENCE.match(raw):
            in_fence = not in_fence
            events.append((_BREAK, ""))
            previous_blank = True
            continue
        if in_fence:
            # Code is kept as text, one line a unit, never read as headings or bullets.
            line = _collapse(raw)
            events.extend([(_LINE, line), (_BREAK, "")] if line else [(_BREAK, "")])
            continue
        line = _MD_QUOTE.sub("", raw, count=1) if raw.lstrip().startswith(">") else raw
        blank_before, previous_blank = previous_blank, not line.strip()
        if not line.strip():
            events.append((_BREAK, ""))
            continue
        setext = _MD_SETEXT.match(line)
        if (
            setext
            and not blank_before
            and events
            and events[-1][0] == _LINE
            and (len(events) == 1 or events[-2][0] == _BREAK)
        ):
            # "Title" / "=====": the underline makes the single line above a heading.
            heading = events.pop()[1]
            events.append((_HEADING, heading))
            if setext.group(1)[0] == "=" and not title:
                title = heading
            previous_blank = True
            continue
        if _MD_RULE.match(line):
            events.append((_BREAK, ""))
            previous_blank = True
            continue
        atx = _md_atx(line)
        if atx:
            heading = _collapse(_md_inline(atx[1]))
            if heading:
                events.append((_HEADING, heading))
                if atx[0] == 1 and not title:
                    title = heading
            else:
                events.append((_BREAK, ""))
            previous_blank = True
            continue
        if _MD_REF_DEF.match(line):
            continue  # "[1]: https://..." defines a link target; it is not text
        stripped = line.strip()
        if stripped.startswith("|") or (stripped.endswith("|") and "|" in stripped[:-1]):
            # A table row is one unit, cells separated by " | "; the rule row goes.
            if not _md_table_rule(line):
                cells = [_collapse(_md_inline(cell)) for cell in stripped.strip("|").split("|")]
                events.extend([(_LINE, " | ".join(c for c in cells if c)), (_BREAK, "")])
            previous_blank = True
            continue
        item = _MD_LIST.match(line)
        if item:
            body = _collapse(_md_inline(line[item.end() :]))
            marker = line[: item.end()].strip()
            numbered = marker[:1].isdigit()
            events.append((_BULLET, f"{marker.split()[0]} {body}".strip() if numbered else body))
            continue
        body = _collapse(_md_inline(line))
        if body:
            events.append(_plain_line_event(body, caps_headings))
    return events, title


# ---------------------------------------------------------------------------- HTML

_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math"})
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HTML_BLOCKS = frozenset(
    {
        "p", "div", "br", "tr", "li", "ul", "ol", "dl", "dt", "dd", "table", "thead",
        "tbody", "tfoot", "caption", "section", "article", "header", "footer", "nav",
        "aside", "main", "blockquote", "pre", "hr", "figure", "figcaption", "form",
        "fieldset", "address", "details", "summary", "center", "body", "html", "head",
        "title",
    }
)  # fmt: skip
_HTML_CELLS = frozenset({"td", "th"})


def _html_closed_markup(text: str) -> str:
    """Escapes every "<" that starts no complete tag, and ends the text at an open comment.

    Python 3.11's `HTMLParser` rescans to the end of its buffer for each "<" that does
    not close: 40,000 characters of "<a " took 21 s, of "<!--" 1.4 s, and the time grows
    with the square of the length. A "<" whose next "<" or ">" is a "<" (or that has
    none) can start no tag, so it becomes "&lt;", which the parser reads as the text "<"
    as it did before. A comment that never closes runs to the end of the file, as HTML5
    says, so the rest is dropped. Linear: each character is looked at a bounded number
    of times. A quoted attribute value holding "<" ('<a title="a<b">') is the one
    well-formed case this changes: the tag's text then shows as text.
    """
    if "<" not in text:
        return text
    comment_end = _NextFinder(text, "-->")
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        if text.startswith("<!--", at):
            shut = comment_end.find(at + 4)
            if shut < 0:
                out.append(text[copied:at])
                return "".join(out)
            at = text.find("<", shut + 3)
            continue
        stop = _MD_TAG_STOP.search(text, at + 1)
        if stop is not None and stop.group() == ">":
            at = text.find("<", stop.end())
            continue
        out.extend((text[copied:at], "&lt;"))
        copied = at + 1
        at = stop.start() if stop is not None else -1
    out.append(text[copied:])
    return "".join(out)


class _HtmlEvents(HTMLParser):
    """Collects line events and the title from HTML; one instance per document.

    Whitespace in HTML source is not meaningful, so each block's text is collapsed into
    one unit: an HTML paragraph is never reflowed line by line, and its capitals are
    never taken for a heading (HTML marks its headings).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[_Event] = []
        self.title = ""
        self.first_h1 = ""
        self._buffer: list[str] = []
        self._skip = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: str | None = None  # the open h1-h6 tag
        self._bullet = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HTML_HEADINGS:
            self._flush()
            self._heading = tag
        elif tag == "li":
            self._flush()
            self._bullet = True
        elif tag in _HTML_BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre += 1
        elif tag in _HTML_CELLS:
            self._buffer.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
            self.title = self.title or _collapse(normalize_text("".join(self._title_parts)))
        elif tag in _HTML_HEADINGS or tag in _HTML_BLOCKS:
            self._flush()
            if tag == "li":
                self._bullet = False  # an empty item must not turn the next block into one
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in _HTML_CELLS:
            self._buffer.append(" ")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif self._skip:
            return
        elif self._pre and "\n" in data:
            # Preformatted text keeps its lines: each line is a unit.
            first, *rest = data.split("\n")
            self._buffer.append(first)
            for line in rest:
                self._flush()
                self._buffer.append(line)
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        text = _collapse(normalize_text("".join(self._buffer)))
        self._buffer = []
        if self._heading is not None:
            if text:
                self.events.append((_HEADING, text))
                if self._heading == "h1" and not self.first_h1:
                    self.first_h1 = text
            self._heading = None
        elif text:
            self.events.append((_BULLET if self._bullet else _LINE, text))
            self._bullet = False
        self.events.append((_BREAK, ""))


# ---------------------------------------------------------------------------- reading files

_BINARY_BLOCK = 8192
# Bytes of ASCII control characters other than tab, newline, vertical tab, form feed and
# carriage return. Text in any encoding we read (UTF-8, cp1252, latin-1) has almost
# none; random binary data has about 27 in 256 (10%), and a NUL in any 8 KB of it.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)


def looks_binary(data: bytes) -> bool:
    """Whether a file's bytes are binary rather than text: the one rule for corpus and uploads.

    Binary means a NUL byte anywhere, or, in any block of 8 KB (the last one may be
    shorter), more control bytes than 5% of the block (and more than 2): tab, newline,
    vertical tab, form feed and carriage return do not count. The whole file is looked
    at, block by block, so a file that turns binary after its start is caught; counting
    runs in C (`bytes.translate`), about 2 ms for 6 MB. Files starting with a UTF-16 or
    UTF-32 byte order mark hold NULs by design: the corpus reader decodes those first.
    """
    if b"\x00" in data:
        return True
    controls = data.translate(None, _NOT_CONTROL)
    if len(controls) <= 2:
        return False
    for start in range(0, len(data), _BINARY_BLOCK):
        block = data[start : start + _BINARY_BLOCK]
        count = len(block) - len(block.translate(None, _CONTROL_BYTES))
        if count > max(2, len(block) // 20):
            return True
    return False


def _read_bytes(path: Path, doc: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CorpusFileError(f"cannot read {doc}: {exc.strerror or exc}") from exc


def _decode(data: bytes, doc: str) -> str:
    """Decodes a text file's bytes, refusing binary files and never losing a text file.

    UTF-8 (a BOM is dropped) is tried first, then UTF-16/32 when the file starts with
    their BOM, then cp1252 (Windows text) and finally latin-1, which decodes any byte;
    a fallback logs a warning naming the encoding, since accented letters may be wrong.

    Raises:
        CorpusFileError: The file looks binary (`looks_binary`).
    """
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    if looks_binary(data):
        raise CorpusFileError(f"{doc} looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text, codec = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, codec = data.decode("latin-1"), "latin-1"
    log.warning("%s is not UTF-8; read it as %s (save it as UTF-8 to be sure)", doc, codec)
    return text


def _title_from_stem(path: Path) -> str:
    return _collapse(path.stem.replace("-", " ").replace("_", " "))


def _read_pdf(path: Path, doc: str) -> Document:
    """Extracts a PDF's text page by page with pypdf, then parses it as plain text."""
    data = _read_bytes(path, doc)
    if b"%PDF-" not in data[:1024]:
        raise CorpusFileError(f"{doc} is not a PDF file (it has no %PDF header)")
    try:
        from pypdf import PdfReader  # imported here: only PDF corpora pay for it

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty password just to restrict
            # printing; those open in any viewer, so they are read too.
            try:
                opened = bool(reader.decrypt(""))
            except Exception:  # e.g. AES without the optional cryptography package
                opened = False
            if not opened:
                raise CorpusFileError(f"{doc} is an encrypted PDF; save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorpusFileError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise CorpusFileError(f"cannot read PDF {doc}: {exc or type(exc).__name__}") from exc
    text = normalize_text("\n\n".join(pages))
    return Document(doc, _title_from_stem(path), _text_sections(text))


_MAX_LINE_WARNINGS = 5


def _read_jsonl(text: str, path: Path, doc: str) -> list[Document]:
    """One document per line of {"id", "title", "text"}; bad lines are skipped, with warnings.

    Kept lean: benchmark collections hold tens of thousands of lines.
    """
    fallback_title = _title_from_stem(path)
    documents: list[Document] = []
    seen: set[str] = set()
    problems: list[str] = []
    lines = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        lines += 1
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not valid JSON ({exc})")
            continue
        except RecursionError:  # json's decoder recurses: "[[[[..." 1,000 deep ends it
            problems.append(f"line {number}: nested too deeply")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        raw_id = record.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            problems.append(f'line {number}: no "id" (a string or an integer)')
            continue
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            problems.append(f'line {number}: no "text"')
            continue
        name = str(raw_id)
        if name in seen:
            problems.append(f'line {number}: duplicate id "{name}", the first one is kept')
            continue
        seen.add(name)
        title = record.get("title")
        title = _collapse(normalize_text(title)) if isinstance(title, str) else ""
        sections = _text_sections(normalize_text(body))
        documents.append(Document(name, title or fallback_title, sections))
    for problem in problems[:_MAX_LINE_WARNINGS]:
        log.warning("%s: skipped %s", doc, problem)
    if len(problems) > _MAX_LINE_WARNINGS:
        log.warning("%s: skipped %d more bad lines", doc, len(problems) - _MAX_LINE_WARNINGS)
    if lines == 0:
        return [Document(doc, fallback_title, ())]
    if not documents:
        raise CorpusFileError(
            f'{doc} has no valid line: each line should be a JSON object with "id" and "text"'
        )
    return documents


def read_document(path: Path, doc: str) -> list[Document]:
    """Reads one corpus file into its documents.

    Args:
        path: The file.
        doc: Its name for users: the path relative to the corpus folder.

    Returns:
        One document for .txt/.md/.html/.htm/.pdf (with no sections if the file holds no
        text: the caller decides how to warn), one per valid line for .jsonl.

    Raises:
        CorpusFileError: The file cannot be read: unreadable, binary, a broken or
            encrypted PDF, a .jsonl file without a single valid line, or an unsupported
            suffix. The message names the file.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = "/".join(SUPPORTED_SUFFIXES)
        raise CorpusFileError(f"{doc}: unsupported file type (supported: {supported})")
    if suffix == ".pdf":
        return [_read_pdf(path, doc)]
    text = _decode(_read_bytes(path, doc), doc)
    if suffix == ".jsonl":
        return _read_jsonl(text, path, doc)
    title = _title_from_stem(path)
    if suffix == ".md":
        text = normalize_text(text)
        events, md_title = _markdown_events(text)
        return [Document(doc, md_title or title, _sections(events, text))]
    if suffix in (".html", ".htm"):
        parser = _HtmlEvents()
        try:
            parser.feed(_html_closed_markup(text))
            parser.close()
        except (AssertionError, ValueError) as exc:  # html.parser on badly broken markup
            raise CorpusFileError(f"cannot read HTML {doc}: {exc}") from exc
        source = " ".join(t for _, t in parser.events)
        sections = _sections(parser.events, source)
        return [Document(doc, parser.title or parser.first_h1 or title, sections)]
    return [Document(doc, title, tuple(parse_plain_text(text)))]


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Lists the corpus files under a folder, recursively, in a stable order.

    Hidden files and folders (name starting with ".") are skipped: editors and version
    control keep their own files there. A README.md is content like any other file.
    Suffixes match case-insensitively ("REPORT.PDF"). Symbolic links to folders are not
    followed, so a link loop cannot hang the build.

    Args:
        corpus_dir: The corpus folder.

    Returns:
        The files sorted by their path relative to `corpus_dir` (posix style), so that
        passage positions, and with them tie-breaks in ranking, never depend on the
        order the file system lists files in.

    Raises:
        CorpusFileError: `corpus_dir` does not exist or is not a folder.
    """
    expected = "it should be a folder of .txt/.md/.html/.pdf/.jsonl files"
    if not corpus_dir.exists():
        raise CorpusFileError(f"corpus folder {corpus_dir} does not exist; {expected}")
    if not corpus_dir.is_dir():
        raise CorpusFileError(f"corpus path {corpus_dir} is not a folder; {expected}")

    def warn(exc: OSError) -> None:
        log.warning("cannot list %s: %s", exc.filename, exc.strerror or exc)

    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(corpus_dir, onerror=warn):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") or not name.lower().endswith(SUPPORTED_SUFFIXES):
                continue
            path = Path(root, name)
            if (
                path.is_file() or not path.exists()
            ):  # a broken link gets reported; a FIFO would block
                found.append((path.relative_to(corpus_dir).as_posix(), path))
    return [path for _, path in sorted(found)]
