"""Admin document uploads: the checks a file passes before it joins the corpus.

The Telegram front end downloads a document an admin sends and hands it here:

* `safe_name` turns the sender's file name into one that is safe in the corpus folder:
  the last path component only, no hidden names, only ``[A-Za-z0-9._-]``, capped in
  length, ending in an allowed suffix.
* `check_size` enforces the configured limit (on the size Telegram announces, and again
  on the bytes actually downloaded).
* `check_content` looks at the bytes themselves, so a renamed image or archive is
  refused: a .pdf must start with ``%PDF-``, a .docx or .odt must be a ZIP archive (as
  those formats are; the corpus reader then checks it is not a zip bomb); .txt, .md and
  .html must be text.
* `save` writes the file into the corpus folder atomically (a hidden temporary file in
  the same folder, checked with the corpus reader, then renamed into place), and never
  replaces an existing file unless asked to.

Every refusal is an `UploadRefused` whose message can be shown to the admin as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Literal

from bot.documents import (
    TEXT_SUFFIXES,
    UPLOAD_SUFFIXES,
    CorpusFileError,
    looks_binary,
    read_document,
)

ALLOWED_SUFFIXES = UPLOAD_SUFFIXES  # the corpus reader's list, less .jsonl
_ZIP = b"PK\x03\x04"
_ZIP_SUFFIXES = {".docx": "a Word .docx file", ".odt": "an OpenDocument .odt file"}
MAX_NAME = 100  # characters of a saved file name, suffix included
DEFAULT_STEM = "document"
_SAMPLE = 8192  # bytes looked at for an HTML tag (times 8)

# Signatures of common binary formats, so a renamed one is named in the refusal.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP image, WAV or AVI)"),
    (b"PK\x03\x04", "a ZIP archive (or a Word/Excel/OpenDocument file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file"),
    (b"%PDF-", "a PDF file"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"OggS", "an Ogg audio or video file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x00\x00\x00\x18ftyp", "an MP4 video"),
    (b"\x00\x00\x00\x1cftyp", "an MP4 video"),
    (b"\x00\x00\x00\x20ftyp", "an MP4 video"),
)
_HTML_HINT = re.compile(rb"<\s*(?:!doctype|html|head|body|title|h[1-6]|p|div|[a-z]+[\s>/])", re.I)

Outcome = Literal["added", "replaced", "unchanged", "exists"]


class UploadRefused(Exception):
    """An upload that must not be saved; the message says why, for the admin."""


def supported() -> str:
    """The allowed suffixes for messages, e.g. ".txt, .md, .html, .htm, .pdf, .docx or .odt"."""
    return ", ".join(ALLOWED_SUFFIXES[:-1]) + " or " + ALLOWED_SUFFIXES[-1]


def safe_name(raw: str | None, max_length: int = MAX_NAME) -> str:
    """A file name that is safe to create in the corpus folder.

    Only the last path component counts (``../../etc/passwd.txt`` -> ``passwd.txt``,
    backslashes too); accents are dropped (``Résumé.md`` -> ``Resume.md``), any other
    character outside ``[A-Za-z0-9._-]`` becomes ``_``; leading dots, dashes and
    underscores go (no hidden files, nothing that looks like an option); the suffix is
    lower-cased and the stem shortened so the name fits `max_length`. A stem left empty
    becomes "document".

    Raises:
        UploadRefused: The name does not end in an allowed suffix.
    """
    base = (raw or "").replace("\\", "/").split("/")[-1]
    base = unicodedata.normalize("NFKD", base)
    base = "".join(ch for ch in base if not unicodedata.combining(ch))
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in ALLOWED_SUFFIXES:
        shown = (raw or "").strip() or "(no name)"
        raise UploadRefused(
            f"{shown}: I can only add {supported()} files; rename the file to one of these."
        )
    stem = re.sub(r"_{2,}", "_", stem)
    stem = stem.lstrip("._-").rstrip("._-")  # no hidden names, no "name..txt"
    stem = stem[: max(1, max_length - len(suffix))].rstrip("._-") or DEFAULT_STEM
    return stem + suffix


def human_size(size: int) -> str:
    """A byte count for people: "512 bytes", "2.5 KB", "10 MB"."""
    if size < 1024:
        return f"{size} byte{'s' if size != 1 else ''}"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    raise AssertionError("unreachable")


def check_size(name: str, size: int | None, limit: int) -> None:
    """Refuses a file over `limit` bytes; an unknown size (None) passes for now.

    Raises:
        UploadRefused: The file is too big.
    """
    if size is not None and size > limit:
        raise UploadRefused(
            f"{name} is too big ({human_size(size)}); the limit is {human_size(limit)}."
        )


def sniff(data: bytes) -> str | None:
    """The binary format the bytes start with, if a known one (e.g. "a PNG image")."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


def check_content(name: str, data: bytes) -> None:
    """Checks that the bytes are what the name says.

    A .pdf must start with ``%PDF-``; a .docx or .odt must be a ZIP archive (binary by
    design: the text checks do not apply; `save` then reads it as the corpus will). A
    .txt, .md or .html file must be text: not a known binary format, no NUL bytes,
    almost no control characters, and valid UTF-8 (a BOM is fine) or, failing that,
    single-byte text such as Windows-1252. An .html file must also contain at least one
    tag.

    Raises:
        UploadRefused: The content does not match the name, or the file is empty.
    """
    suffix = Path(name).suffix.lower()
    if not data.strip():
        raise UploadRefused(f"{name} is empty.")
    if suffix == ".pdf":
        if not data.startswith(b"%PDF-"):
            kind = sniff(data)
            what = f"it is {kind}" if kind else "it has no %PDF- header"
            raise UploadRefused(f"{name} is not a PDF file: {what}. Nothing was saved.")
        return
    if suffix in _ZIP_SUFFIXES:
        if not data.startswith(_ZIP):
            kind = sniff(data)
            what = f"it is {kind}" if kind else "it is not a ZIP archive, as those files are"
            raise UploadRefused(
                f"{name} is not {_ZIP_SUFFIXES[suffix]}: {what}. Nothing was saved."
            )
        return
    if suffix not in TEXT_SUFFIXES:
        raise UploadRefused(f"{name}: I can only add {supported()} files.")
    kind = sniff(data)
    if kind is not None:
        raise UploadRefused(f"{name} is not text: it is {kind}. Nothing was saved.")
    _check_text(name, data)
    if suffix in (".html", ".htm") and not _HTML_HINT.search(data[: _SAMPLE * 8]):
        raise UploadRefused(f"{name} does not look like HTML (no tags); send it as .txt instead.")


def _check_text(name: str, data: bytes) -> None:
    # The corpus reader's rule, so what an upload accepts a build reads, and the
    # reverse; single-byte text (Windows-1252, Latin-1) is allowed by both.
    if looks_binary(data):
        raise UploadRefused(f"{name} looks like a binary file, not text. Nothing was saved.")


def save(corpus_dir: Path, name: str, data: bytes, replace: bool = False) -> Outcome:
    """Saves an upload as corpus_dir/name, atomically, after reading it as the corpus will.

    The bytes go to a hidden temporary file in the corpus folder (corpus scans skip
    hidden names), are flushed to disk and read with `read_document`; only then is the
    file moved into place, so a reader never sees half a file and a file the index
    could not read never lands. Without `replace` an existing file is never
    overwritten (a hard link creates the name only if it is free).

    Args:
        corpus_dir: The corpus folder (created if missing).
        name: A name from `safe_name`.
        data: The file's bytes.
        replace: Overwrite a different file of that name.

    Returns:
        "added" (a new file), "replaced", "unchanged" (the same bytes are already
        there; nothing written) or "exists" (a different file has that name and
        `replace` is False; nothing written).

    Raises:
        UploadRefused: The name is taken by a folder, or the corpus reader cannot read
            the file (the reason is in the message).
        OSError: The file could not be written (disk full, permissions).
    """
    if safe_name(name) != name:
        raise ValueError(f"not a sanitised name: {name!r}")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / name
    if target.is_dir():
        raise UploadRefused(f"{name} is the name of a folder in the corpus; rename the file.")
    if _same_bytes(target, data):
        return "unchanged"
    handle, temp_name = tempfile.mkstemp(
        dir=corpus_dir, prefix=".upload-", suffix=Path(name).suffix
    )
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        _check_readable(temp, name)
        if replace:
            existed = target.exists() or target.is_symlink()
            os.replace(temp, target)
            return "replaced" if existed else "added"
        try:
            os.link(temp, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            return "unchanged" if _same_bytes(target, data) else "exists"
        except OSError:  # a file system without hard links: check, then rename
            if target.exists() or target.is_symlink():
                return "unchanged" if _same_bytes(target, data) else "exists"
            os.replace(temp, target)
        return "added"
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        _fsync_dir(corpus_dir)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _check_readable(path: Path, name: str) -> None:
    """Reads the file as a corpus build would; refuses it if that fails or finds no text."""
    try:
        documents = read_document(path, name)
    except CorpusFileError as exc:
        raise UploadRefused(f"{exc}. Nothing was saved.") from None
    if not any(unit.strip() for doc in documents for s in doc.sections for unit in s.units):
        raise UploadRefused(f"{name} has no text I could read. Nothing was saved.")


def _fsync_dir(folder: Path) -> None:
    """Makes a rename in `folder` durable (best effort: not every system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
