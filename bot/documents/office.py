"""Word (.docx) and OpenDocument (.odt) files into line events, refusing hostile archives.

Both formats are ZIP archives of XML. Before anything is inflated, the archive's
directory is checked: more than `MAX_MEMBERS` entries, or entries that would unpack to
more than `MAX_UNPACKED` bytes in all, are refused as a possible zip bomb. The
declared sizes can be trusted for this: Python's `zipfile` never inflates an entry
past its declared size (it stops there and fails the CRC check), and python-docx reads
its parts through `zipfile`. The file's bytes are read once, so the archive checked is
the archive parsed.

.docx goes through python-docx: paragraphs and tables in document order, headings
recognised by their style ("Title", "Heading 1".."Heading 9", or a style based on
one), list items by their numbering or a "List ..." style. .odt is read with the
standard library: its `content.xml` marks headings (`text:h`), lists and tables in the
markup itself, so odfpy (unmaintained since 2020, and flattening what we need) would
add a dependency for twenty lines of ElementTree. Expat, under ElementTree, resolves no
external entity and limits entity expansion (billion laughs).

A table row becomes one line, its cells joined with " | " as markdown tables are.
Running headers and footers, comments, footnotes and tracked deletions are left out.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

from bot.documents.base import CorpusFileError, _collapse, normalize_text
from bot.documents.plain import _BREAK, _BULLET, _HEADING, _LINE, _Event

MAX_MEMBERS = 10_000
MAX_UNPACKED = 256 * 1024 * 1024  # a 10 MB .docx full of photos unpacks to about 10 MB

_HEADING_STYLE = re.compile(r"(?:heading \d|title)", re.IGNORECASE)


def _open_archive(data: bytes, doc: str, kind: str) -> zipfile.ZipFile:
    """Opens a .docx/.odt file's bytes as a ZIP archive after checking its directory.

    Args:
        data: The file's bytes.
        doc: Its name, for messages.
        kind: What it should be, for messages: "a Word .docx file".

    Raises:
        CorpusFileError: Not a ZIP archive, or too many entries, or too large unpacked.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise CorpusFileError(
            f"{doc} is not {kind} (it is not a ZIP archive: an older format, or a "
            "password-protected document? save it again, without a password)"
        ) from exc
    entries = archive.infolist()
    if len(entries) > MAX_MEMBERS:
        raise CorpusFileError(f"{doc} holds {len(entries)} files; refused (at most {MAX_MEMBERS})")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > MAX_UNPACKED:
        raise CorpusFileError(
            f"{doc} would unpack to {unpacked // (1024 * 1024)} MB, more than "
            f"{MAX_UNPACKED // (1024 * 1024)} MB: refused as a possible zip bomb"
        )
    return archive


def _clean(text: str) -> str:
    return _collapse(normalize_text(text))


# ---------------------------------------------------------------------------- .docx


def docx_events(data: bytes, doc: str) -> tuple[list[_Event], str]:
    """Line events of a .docx file's body, and its title ("" if it names none).

    The title is its first "Title" paragraph, else the document's title property (often
    left over from a template, and unseen in Word, so second), else its first level-1
    heading.

    Raises:
        CorpusFileError: Not a readable .docx file; the message names it.
    """
    _open_archive(data, doc, "a Word .docx file").close()
    try:
        import docx  # imported here: only corpora with Word files pay for it
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
        events: list[_Event] = []
        title = first_h1 = ""
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in _docx_rows(block):  # each row its own unit
                    events.extend(((_LINE, row), (_BREAK, "")))
                continue
            text = _clean(block.text)
            if not text:
                continue
            style = _docx_heading_style(block.style)
            if style:
                events.append((_HEADING, text))
                if style == "title" and not title:
                    title = text
                elif style == "heading 1" and not first_h1:
                    first_h1 = text
            else:
                events.append((_BULLET if _docx_listed(block) else _LINE, text))
            events.append((_BREAK, ""))
    except CorpusFileError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types on damaged files
        raise CorpusFileError(
            f"cannot read Word document {doc}: {exc or type(exc).__name__}"
        ) from exc
    return events, title or _docx_title_property(document) or first_h1


def _docx_title_property(document: Any) -> str:
    """The title in the file's properties; "" when it has none.

    python-docx makes up properties titled "Word Document" for a file without them, so
    they are read only when the file has its own.
    """
    from docx.opc.constants import RELATIONSHIP_TYPE

    rels = document.part.package.rels.values()
    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in rels):
        return ""
    return _clean(document.core_properties.title or "")


def _docx_heading_style(style: Any) -> str:
    """The style's name ("title", "heading 1"...) if it is or derives from a heading style.

    Returns "" for any other style.
    """
    seen = 0
    while style is not None and seen < 10:  # a chain of base styles; loops are possible
        name = (style.name or "").lower()
        if _HEADING_STYLE.fullmatch(name):
            return name
        style, seen = style.base_style, seen + 1
    return ""


def _docx_listed(paragraph: Any) -> bool:
    """Whether a paragraph is a list item: numbered, or styled "List ..."."""
    properties = paragraph._p.pPr
    if properties is not None and properties.numPr is not None:
        return True
    style = paragraph.style
    return style is not None and (style.name or "").lower().startswith("list")


def _docx_rows(table: Any) -> Iterator[str]:
    """Each row's cells joined with " | "; a merged cell (repeated by python-docx) once."""
    for row in table.rows:
        cells: list[str] = []
        last = None
        for cell in row.cells:
            if cell._tc is last:
                continue
            last = cell._tc
            text = _clean(cell.text)
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


# ---------------------------------------------------------------------------- .odt

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
# Inside a paragraph: left out (notes, comments, change records) or read as a space.
_ODT_SKIP = frozenset(
    {f"{_TEXT}note", f"{_OFFICE}annotation", f"{_TEXT}tracked-changes", f"{_TEXT}ruby-text"}
)
_ODT_SPACE = frozenset({f"{_TEXT}s", f"{_TEXT}tab", f"{_TEXT}line-break"})
# Whole blocks left out: generated indexes repeat the headings; change records hold
# deleted text.
_ODT_SKIP_BLOCKS = frozenset(
    {
        f"{_TEXT}table-of-content",
        f"{_TEXT}alphabetical-index",
        f"{_TEXT}illustration-index",
        f"{_TEXT}table-index",
        f"{_TEXT}bibliography",
        f"{_TEXT}tracked-changes",
        f"{_TEXT}sequence-decls",
        f"{_OFFICE}forms",
    }
)


def odt_events(data: bytes, doc: str) -> tuple[list[_Event], str]:
    """Line events of an .odt file's text, and its title ("" if it names none).

    The title is the document's title property (meta.xml), else its first "Title"
    paragraph, else its first level-1 heading.

    Raises:
        CorpusFileError: Not a readable .odt file; the message names it.
    """
    with _open_archive(data, doc, "an OpenDocument .odt file") as archive:
        try:
            content = ElementTree.fromstring(archive.read("content.xml"))
            names = set(archive.namelist())
            meta = ElementTree.fromstring(archive.read("meta.xml")) if "meta.xml" in names else None
        except KeyError as exc:
            raise CorpusFileError(
                f"{doc} is not an OpenDocument text: it has no content.xml"
            ) from exc
        except (ElementTree.ParseError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CorpusFileError(f"cannot read OpenDocument {doc}: {exc}") from exc
    title = _clean(meta.findtext(f".//{_DC_TITLE}") or "") if meta is not None else ""
    reader = _OdtReader(_odt_title_styles(content))
    body = content.find(f"{_OFFICE}body/{_OFFICE}text")
    try:
        if body is not None:
            reader.blocks(body, bullet=False)
    except RecursionError as exc:
        raise CorpusFileError(f"cannot read OpenDocument {doc}: nested too deeply") from exc
    return reader.events, title or reader.title or reader.first_h1


def _odt_title_styles(content: ElementTree.Element) -> set[str]:
    """Names of the paragraph styles that are, or derive from, the "Title" style."""
    parents = {
        style.get(f"{_STYLE}name", ""): style.get(f"{_STYLE}parent-style-name", "")
        for style in content.iter(f"{_STYLE}style")
    }
    titles = {"Title"}
    for name in parents:
        seen, at = 0, name
        while at and at not in titles and seen < 10:
            at, seen = parents.get(at, ""), seen + 1
        if at in titles:
            titles.add(name)
    return titles


class _OdtReader:
    """Walks an .odt body into line events; one instance per document."""

    def __init__(self, title_styles: set[str]) -> None:
        self.events: list[_Event] = []
        self.title = ""
        self.first_h1 = ""
        self._title_styles = title_styles

    def blocks(self, parent: ElementTree.Element, bullet: bool) -> None:
        """Reads the block elements under `parent` (a list item's are bullets)."""
        for child in parent:
            tag = child.tag
            if tag in _ODT_SKIP_BLOCKS:
                continue
            if tag == f"{_TEXT}h":
                self._heading(_odt_text(child), child.get(f"{_TEXT}outline-level", "1"))
            elif tag == f"{_TEXT}p":
                text = _odt_text(child)
                if child.get(f"{_TEXT}style-name", "") in self._title_styles and text:
                    self._heading(text, "title")
                elif text:
                    self.events.extend((((_BULLET if bullet else _LINE), text), (_BREAK, "")))
                    bullet = False  # an item's later paragraphs continue it
            elif tag == f"{_TEXT}list-item":
                self.blocks(child, bullet=True)
            elif tag == f"{_TABLE}table":
                self._table(child)
            else:  # lists, sections, list headers, frames: read what they hold
                self.blocks(child, bullet)

    def _heading(self, text: str, level: str) -> None:
        if not text:
            return
        self.events.extend(((_HEADING, text), (_BREAK, "")))
        if level == "title" and not self.title:
            self.title = text
        elif level == "1" and not self.first_h1:
            self.first_h1 = text

    def _table(self, table: ElementTree.Element) -> None:
        for row in _odt_rows(table):
            cells = [_odt_text(cell) for cell in row if cell.tag == f"{_TABLE}table-cell"]
            line = " | ".join(cell for cell in cells if cell)
            if line:  # each row its own unit
                self.events.extend(((_LINE, line), (_BREAK, "")))


_ROW_GROUPS = frozenset(
    {f"{_TABLE}table-header-rows", f"{_TABLE}table-rows", f"{_TABLE}table-row-group"}
)


def _odt_rows(table: ElementTree.Element) -> Iterator[ElementTree.Element]:
    """The table's own rows, in order (a table nested in a cell is read as the cell's text)."""
    for child in table:
        if child.tag == f"{_TABLE}table-row":
            yield child
        elif child.tag in _ROW_GROUPS:
            yield from _odt_rows(child)


def _odt_text(element: ElementTree.Element) -> str:
    """The text of a paragraph or cell: spans and links read, notes and comments left out."""
    parts: list[str] = []

    def walk(node: ElementTree.Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if child.tag in _ODT_SPACE:
                parts.append(" ")
            elif child.tag not in _ODT_SKIP:
                walk(child)
                if child.tag == f"{_TEXT}p":
                    parts.append(" ")  # paragraphs inside a cell
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return _clean("".join(parts))
