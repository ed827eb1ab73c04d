"""Records of the document model, the one list of file types, and text normalising."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The one list of file types: the corpus reader reads these, and admin uploads accept
# them all but .jsonl (a collection of many documents that a tool writes; it goes into
# the corpus folder directly, not through a chat). TEXT_SUFFIXES are the ones decoded
# as text; the others (.pdf, .docx, .odt) are binary formats that other libraries parse.
SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".odt", ".jsonl")
UPLOAD_SUFFIXES = tuple(s for s in SUPPORTED_SUFFIXES if s != ".jsonl")
TEXT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")


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
    # Most text has nothing to collapse: two scans in C find that, where splitting it
    # into words and joining them again costs twice the time and a string per word.
    # Every whitespace character but the space is unprintable (categories Cc, Zs,
    # Zl, Zp), so printable text with no "  " and no space at either end is left as is.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())
