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
HTML (its main content), Word and OpenDocument files are first turned into the same
stream of line events (with their explicit headings, list items and table rows), then
share the same section builder.

Nothing here keeps state between calls: each function maps its input to a result.

The package, one file a job: `base` (records, file types, normalising), `plain` (line
events and the section builder every format shares), `markdown` and `htmltext` (their
line events), `office` (.docx and .odt line events, zip bomb checks), `files` (reading
a file of each format, binary checks, the corpus listing).
"""

from bot.documents.base import (
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    UPLOAD_SUFFIXES,
    CorpusFileError,
    Document,
    Section,
    normalize_text,
)
from bot.documents.files import corpus_files, looks_binary, read_document
from bot.documents.plain import parse_plain_text

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
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
