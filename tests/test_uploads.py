"""The checks an admin's upload passes before it joins the corpus (bot.uploads)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot import uploads
from bot.uploads import UploadRefused

TEXT = b"Zeppelin Facts\n\nAIRSHIPS\n\nThe hangar in Friedrichshafen houses twelve airships.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _pdf(text: str) -> bytes:
    """A one-page PDF holding `text` (made with pypdf, which the corpus reader uses)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\system.ini.md", "system.ini.md"),
        ("C:\\Users\\ann\\report.pdf", "report.pdf"),
        (".hidden.txt", "hidden.txt"),
        ("...txt.txt", "txt.txt"),
        ("-rf.txt", "rf.txt"),
        ("my report (final).md", "my_report_final.md"),
        ("Résumé.md", "Resume.md"),
        ("Zürich–Genève notes.html", "Zurich_Geneve_notes.html"),
        ("政策.txt", "document.txt"),
        ("😀.txt", "document.txt"),
        (".txt", "document.txt"),
        ("__.txt", "document.txt"),
        ("REPORT.PDF", "REPORT.pdf"),
        ("page.HTM", "page.htm"),
        ("a\x00b.txt", "a_b.txt"),
        ("line\nbreak.txt", "line_break.txt"),
        ("name..txt", "name.txt"),
        ("v1.2.final.md", "v1.2.final.md"),
        ("x" * 300 + ".txt", "x" * (uploads.MAX_NAME - 4) + ".txt"),
    ],
)
def test_safe_name(raw: str, expected: str) -> None:
    name = uploads.safe_name(raw)
    assert name == expected
    assert len(name) <= uploads.MAX_NAME
    assert uploads.safe_name(name) == name  # sanitising is idempotent
    assert Path(name).name == name and not name.startswith(".")


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "notes", "virus.exe", "notes.txt.exe", "archive.tar.gz", "../..", "x."]
)
def test_safe_name_refuses_other_suffixes(raw: str | None) -> None:
    with pytest.raises(
        UploadRefused, match=r"I can only add \.txt, \.md, \.html, \.htm, \.pdf, \.docx or \.odt"
    ):
        uploads.safe_name(raw)


def test_refusal_names_the_file_or_says_it_has_none() -> None:
    with pytest.raises(UploadRefused, match=r"^\(no name\): "):
        uploads.safe_name(None)
    with pytest.raises(UploadRefused, match=r"^photo\.jpg: "):
        uploads.safe_name("photo.jpg")


# ------------------------------------------------------------------------------ sizes


def test_check_size() -> None:
    uploads.check_size("a.txt", 100, 100)
    uploads.check_size("a.txt", None, 100)  # unknown yet: checked after download
    with pytest.raises(UploadRefused, match=r"^a\.txt is too big \(101 bytes\); the limit is 100"):
        uploads.check_size("a.txt", 101, 100)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1536, "1.5 KB"), (10 << 20, "10 MB")],
)
def test_human_size(size: int, text: str) -> None:
    assert uploads.human_size(size) == text


# ------------------------------------------------------------------------------ content


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", TEXT),
        ("notes.txt", "Café crème, naïve résumé — “quotes”\n".encode()),
        ("notes.txt", "\ufeffWith a BOM\n".encode()),
        ("notes.txt", "Windows-1252: café\n".encode("cp1252")),
        ("notes.md", b"# Title\n\nSome *markdown* text.\n"),
        ("page.html", b"<!doctype html><html><body><p>Hello</p></body></html>"),
        ("page.htm", b"<p>Just a paragraph</p>"),
        ("report.pdf", b"%PDF-1.7\n..."),
        ("policy.docx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256))),  # binary by design
        ("minutes.odt", b"PK\x03\x04\x14\x00\x00\x08" + bytes(100)),
    ],
)
def test_check_content_accepts_what_the_name_says(name: str, data: bytes) -> None:
    uploads.check_content(name, data)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.txt", PNG, r"notes\.txt is not text: it is a PNG image"),
        ("notes.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        ("notes.md", b"PK\x03\x04" + bytes(100), "a ZIP archive"),
        ("notes.txt", b"%PDF-1.4\n...", "a PDF file"),
        ("notes.txt", b"\x7fELF\x02\x01\x01", r"a program \(ELF\)"),
        ("notes.txt", b"text with a NUL\x00 byte", "binary file"),
        ("notes.txt", bytes(range(1, 32)) * 10, "binary file"),
        ("page.html", b"\x1f\x8b\x08\x00", "a gzip archive"),
        ("page.html", b"plain words, no tags at all", "does not look like HTML"),
        ("report.pdf", TEXT, r"report\.pdf is not a PDF file: it has no %PDF- header"),
        ("report.pdf", PNG, "it is a PNG image"),
        ("notes.txt", b"", r"notes\.txt is empty"),
        ("notes.txt", b" \n\t\n", "is empty"),
    ],
)
def test_check_content_refuses_disguised_files(name: str, data: bytes, message: str) -> None:
    with pytest.raises(UploadRefused, match=message):
        uploads.check_content(name, data)


def test_sniff() -> None:
    assert uploads.sniff(PNG) == "a PNG image"
    assert uploads.sniff(TEXT) is None


# ------------------------------------------------------------------------------ saving


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}  # hidden ones too


def test_save_adds_then_never_overwrites_unasked(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    assert uploads.save(corpus, "facts.txt", TEXT) == "added"
    assert _files(corpus) == {"facts.txt": TEXT}
    assert uploads.save(corpus, "facts.txt", TEXT) == "unchanged"
    newer = TEXT.replace(b"twelve", b"twenty")
    assert uploads.save(corpus, "facts.txt", newer) == "exists"
    assert _files(corpus) == {"facts.txt": TEXT}  # untouched, no temporary file left
    assert uploads.save(corpus, "facts.txt", newer, replace=True) == "replaced"
    assert _files(corpus) == {"facts.txt": newer}
    assert oct(os.stat(corpus / "facts.txt").st_mode & 0o777) == oct(0o644)


def test_save_replaces_a_symlink_not_its_target(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside.txt"
    corpus.mkdir()
    outside.write_bytes(b"outside the corpus\n")
    (corpus / "facts.txt").symlink_to(outside)
    assert uploads.save(corpus, "facts.txt", TEXT) == "exists"
    assert uploads.save(corpus, "facts.txt", TEXT, replace=True) == "replaced"
    assert outside.read_bytes() == b"outside the corpus\n"
    assert not (corpus / "facts.txt").is_symlink()
    assert (corpus / "facts.txt").read_bytes() == TEXT


def test_save_reads_the_file_as_the_corpus_will(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    assert uploads.save(corpus, "facts.pdf", _pdf("The hangar houses twelve airships.")) == "added"
    with pytest.raises(UploadRefused, match=r"cannot read PDF broken\.pdf"):
        uploads.save(corpus, "broken.pdf", b"%PDF-1.7\n" + bytes(300))
    with pytest.raises(UploadRefused, match=r"empty\.html has no text"):
        uploads.save(corpus, "empty.html", b"<html><script>var x = 1;</script></html>")
    assert set(_files(corpus)) == {"facts.pdf"}  # nothing else saved, no temporary file


def test_save_refuses_a_folder_name_and_unsanitised_names(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "folder.txt").mkdir(parents=True)
    with pytest.raises(UploadRefused, match="name of a folder"):
        uploads.save(corpus, "folder.txt", TEXT)
    with pytest.raises(ValueError, match="not a sanitised name"):
        uploads.save(corpus, "../escape.txt", TEXT)
    assert not (tmp_path / "escape.txt").exists()
