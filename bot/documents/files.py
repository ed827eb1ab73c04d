"""Reading corpus files of each format: bytes, decoding, binary checks, PDF, JSON Lines."""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bot.documents.base import (
    SUPPORTED_SUFFIXES,
    CorpusFileError,
    Document,
    _collapse,
    normalize_text,
)
from bot.documents.htmltext import html_events
from bot.documents.markdown import _markdown_events
from bot.documents.plain import _sections, _text_sections, parse_plain_text

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class JsonlLines:
    """What some lines of a .jsonl file hold: documents, and the lines skipped and why.

    Attributes:
        documents: One per valid line, in order.
        problems: (line number, why it was skipped) of each bad line; numbers count
            from the first line given, 1 for the file's first.
        lines: How many lines were not blank.
        ids: The documents' ids, in order (a duplicate across pieces must be found).
    """

    documents: list[Document]
    problems: list[tuple[int, str]]
    lines: int
    ids: list[str]


def parse_jsonl(text: str, fallback_title: str) -> JsonlLines:
    """One document per line of {"id", "title", "text"}; bad lines are listed, not read.

    Kept lean: benchmark collections hold millions of lines.
    """
    documents: list[Document] = []
    seen: dict[str, None] = {}
    problems: list[tuple[int, str]] = []
    lines = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        lines += 1
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append((number, f"not valid JSON ({exc})"))
            continue
        except RecursionError:  # json's decoder recurses: "[[[[..." 1,000 deep ends it
            problems.append((number, "nested too deeply"))
            continue
        if not isinstance(record, dict):
            problems.append((number, "not a JSON object"))
            continue
        raw_id = record.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            problems.append((number, 'no "id" (a string or an integer)'))
            continue
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            problems.append((number, 'no "text"'))
            continue
        name = str(raw_id)
        if name in seen:
            problems.append((number, f'duplicate id "{name}", the first one is kept'))
            continue
        seen[name] = None
        title = record.get("title")
        title = _collapse(normalize_text(title)) if isinstance(title, str) else ""
        sections = _text_sections(normalize_text(body))
        documents.append(Document(name, title or fallback_title, sections))
    return JsonlLines(documents, problems, lines, list(seen))


def warn_jsonl_problems(doc: str, problems: list[tuple[int, str]]) -> None:
    """Logs the first bad lines of a .jsonl file, then how many more there were."""
    for number, problem in problems[:_MAX_LINE_WARNINGS]:
        log.warning("%s: skipped line %d: %s", doc, number, problem)
    if len(problems) > _MAX_LINE_WARNINGS:
        log.warning("%s: skipped %d more bad lines", doc, len(problems) - _MAX_LINE_WARNINGS)


def jsonl_documents(parsed: JsonlLines, path: Path, doc: str) -> list[Document]:
    """The documents of a whole .jsonl file, once its bad lines have been warned about.

    Raises:
        CorpusFileError: The file has lines but not one valid line.
    """
    if parsed.lines == 0:
        return [Document(doc, _title_from_stem(path), ())]
    if not parsed.documents:
        raise CorpusFileError(
            f'{doc} has no valid line: each line should be a JSON object with "id" and "text"'
        )
    return parsed.documents


def _read_jsonl(text: str, path: Path, doc: str) -> list[Document]:
    """The documents of a .jsonl file's text, warning about bad lines."""
    parsed = parse_jsonl(text, _title_from_stem(path))
    warn_jsonl_problems(doc, parsed.problems)
    return jsonl_documents(parsed, path, doc)


@dataclass(frozen=True)
class JsonlPiece:
    """The lines in one byte range of a .jsonl file, read on their own.

    Attributes:
        parsed: The range's lines (line numbers count from the range's first line).
        newlines: Line breaks in the range: the next range's first line number is one
            more than the breaks before it.
        plain: False when the range does not read as the whole file would (not UTF-8,
            a byte order mark, binary signs): the file must then be read whole.
    """

    parsed: JsonlLines
    newlines: int
    plain: bool


def read_jsonl_piece(path: Path, doc: str, start: int, end: int) -> JsonlPiece:
    """Reads bytes start..end-1 of a .jsonl file; both ends lie at line starts (or 0, EOF).

    Whole-file decoding (a BOM, cp1252 fallback) and the binary check (8 KB blocks
    counted from the file's start) are replayed exactly: the binary check looks at the
    whole blocks that overlap the range, so the pieces of a file see every block the
    whole file's check sees. Anything that the whole file might read otherwise gives
    `plain=False`, and the caller reads the file whole.

    Raises:
        CorpusFileError: The file cannot be read.
    """
    low = start - start % _BINARY_BLOCK
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            high = min(size, -(-end // _BINARY_BLOCK) * _BINARY_BLOCK)
            handle.seek(low)
            window = handle.read(high - low)
    except OSError as exc:
        raise CorpusFileError(f"cannot read {doc}: {exc.strerror or exc}") from exc
    data = window[start - low : end - low]
    empty = JsonlPiece(JsonlLines([], [], 0, []), 0, plain=False)
    boms = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
    if (start == 0 and data.startswith(boms)) or looks_binary(window):
        return empty
    try:
        text = data.decode("utf-8-sig" if start == 0 else "utf-8")
    except UnicodeDecodeError:
        return empty
    parsed = parse_jsonl(text, _title_from_stem(path))
    return JsonlPiece(parsed, data.count(b"\n"), plain=True)


def read_document(path: Path, doc: str) -> list[Document]:
    """Reads one corpus file into its documents.

    Args:
        path: The file.
        doc: Its name for users: the path relative to the corpus folder.

    Returns:
        One document for each file of another type (with no sections if the file holds no
        text: the caller decides how to warn), one per valid line for .jsonl.

    Raises:
        CorpusFileError: The file cannot be read: unreadable, binary, a broken or
            encrypted PDF, a damaged or oversized (zip bomb) .docx/.odt, a .jsonl file
            without a single valid line, or an unsupported suffix. The message names
            the file.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = "/".join(SUPPORTED_SUFFIXES)
        raise CorpusFileError(f"{doc}: unsupported file type (supported: {supported})")
    if suffix == ".pdf":
        return [_read_pdf(path, doc)]
    if suffix in (".docx", ".odt"):
        # Imported here: zipfile and ElementTree cost a one-shot `ask` 10 ms it never needs.
        from bot.documents.office import docx_events, odt_events

        read = docx_events if suffix == ".docx" else odt_events
        events, office_title = read(_read_bytes(path, doc), doc)
        source = " ".join(t for _, t in events)
        return [Document(doc, office_title or _title_from_stem(path), _sections(events, source))]
    text = _decode(_read_bytes(path, doc), doc)
    if suffix == ".jsonl":
        return _read_jsonl(text, path, doc)
    title = _title_from_stem(path)
    if suffix == ".md":
        text = normalize_text(text)
        events, md_title = _markdown_events(text)
        return [Document(doc, md_title or title, _sections(events, text))]
    if suffix in (".html", ".htm"):
        events, html_title = html_events(text, doc)
        source = " ".join(t for _, t in events)
        return [Document(doc, html_title or title, _sections(events, source))]
    return [Document(doc, title, tuple(parse_plain_text(text)))]


def corpus_files(corpus_dir: Path, unsupported: list[str] | None = None) -> list[Path]:
    """Lists the corpus files under a folder, recursively, in a stable order.

    Hidden files and folders (name starting with ".") are skipped: editors and version
    control keep their own files there; so are Microsoft Office's owner files ("~$"
    names, which Word leaves beside a document while it is open). A README.md is
    content like any other file.
    Suffixes match case-insensitively ("REPORT.PDF"). Symbolic links to folders are not
    followed, so a link loop cannot hang the build.

    Args:
        corpus_dir: The corpus folder.
        unsupported: If given, receives the relative names of visible files of a type
            the bot cannot read (a .docx, a spreadsheet), for a build to name them.

    Returns:
        The files sorted by their path relative to `corpus_dir` (posix style), so that
        passage positions, and with them tie-breaks in ranking, never depend on the
        order the file system lists files in.

    Raises:
        CorpusFileError: `corpus_dir` does not exist or is not a folder.
    """
    expected = "it should be a folder of " + "/".join(SUPPORTED_SUFFIXES) + " files"
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
            if name.startswith((".", "~$")):
                continue
            if not name.lower().endswith(SUPPORTED_SUFFIXES):
                if unsupported is not None:
                    unsupported.append(Path(root, name).relative_to(corpus_dir).as_posix())
                continue
            path = Path(root, name)
            if (
                path.is_file() or not path.exists()
            ):  # a broken link gets reported; a FIFO would block
                found.append((path.relative_to(corpus_dir).as_posix(), path))
    return [path for _, path in sorted(found)]
