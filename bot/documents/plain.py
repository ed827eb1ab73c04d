"""Plain text (and the line events every format becomes) into sections.

Text extracted from PDFs arrives hard-wrapped: reflowing lines, joining hyphenated
breaks and multi-line ALL-CAPS headings, keeping bullets as units.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from bot.documents.base import Section, _collapse, normalize_text

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
