"""The documents teams have: Word and OpenDocument files, saved web pages, hostile archives.

Every file is written by the test: .docx with python-docx, .odt as the ZIP of XML it
is, web pages by hand with the parts real ones have (navigation, cookie banner,
article, sidebar, footer).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import docx
import pytest

from bot.documents import CorpusFileError, Document, office, read_document
from bot.index import parts
from tests.conftest import run_bot

# ---------------------------------------------------------------------------- files


def write_docx(path: Path, core_title: str = "") -> Path:
    """A Word file with a title, headings, a list, a numbered list and a table."""
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading("Remote work policy", level=0)  # the "Title" style
    document.add_paragraph("Staff may work from home up to two days per week.")
    document.add_heading("Equipment", level=1)
    document.add_paragraph("The company provides a laptop and a headset.")
    document.add_paragraph("Ask IT for a second screen.", style="List Bullet")
    document.add_paragraph("Return equipment when you leave.", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, (item, budget) in enumerate(
        [("Item", "Yearly budget"), ("Desk chair", "150 EUR"), ("Broadband", "240 EUR")]
    ):
        table.cell(row, 0).text = item
        table.cell(row, 1).text = budget
    document.add_heading("Security at home", level=2)
    document.add_paragraph("Connect through the VPN before opening company files.")
    document.save(str(path))
    return path


_ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.3">
<office:automatic-styles>
 <style:style style:name="P1" style:family="paragraph" style:parent-style-name="Title"/>
</office:automatic-styles>
<office:body><office:text>
<text:table-of-content><text:index-body><text:p>Travel ..... 2</text:p></text:index-body>
</text:table-of-content>
<text:p text:style-name="P1">Expenses policy</text:p>
<text:p>Claims are paid<text:s text:c="3"/>within <text:span>thirty</text:span> days.<text:note>
<text:note-body><text:p>A footnote.</text:p></text:note-body></text:note></text:p>
<text:h text:outline-level="1">Travel</text:h>
<text:list><text:list-item><text:p>Book trains in standard class.</text:p></text:list-item>
<text:list-item><text:p>Flights need a manager's approval.</text:p></text:list-item></text:list>
<table:table><table:table-header-rows><table:table-row>
<table:table-cell><text:p>Band</text:p></table:table-cell>
<table:table-cell><text:p>Hotel limit</text:p></table:table-cell></table:table-row>
</table:table-header-rows><table:table-row>
<table:table-cell><text:p>A</text:p></table:table-cell>
<table:table-cell><text:p>120 EUR a night</text:p></table:table-cell></table:table-row>
</table:table>
</office:text></office:body></office:document-content>"""


def write_odt(path: Path, content: str = _ODT_CONTENT) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


COOKIE = "We use cookies to improve your experience. Accept all or open Cookie settings."
NAV = ("Home", "Policies", "Contact")
FOOTER = "© 2024 Acme Ltd. All rights reserved. Privacy | Cookie settings"
SIDEBAR = ("Latest news", "Office closed on Friday", "New canteen menu", "Staff survey results")
PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Holiday policy - Acme Intranet</title>
<script>window.dataLayer = [];</script></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>{COOKIE}</p>
<button>Accept all</button><button>Cookie settings</button></div>
<header><a class="logo" href="/">Acme Intranet</a>
<nav class="main-nav"><ul>{"".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in NAV)}</ul>
</nav></header>
<div class="layout">
<nav class="toc"><h2>On this page</h2><ul><li><a href="#booking">Booking holiday</a></li>
<li><a href="#carry">Carrying over unused days</a></li></ul></nav>
<main><article>
<h1>Holiday policy</h1>
<p>Staff get 28 days of paid holiday a year, including the eight public holidays.
Part-time staff get the same entitlement in proportion to the days they work.</p>
<h2>Booking holiday</h2>
<p>Book holiday through the HR portal at least two weeks ahead. Your manager approves or
declines the request within five working days.</p>
<ul><li>Up to ten days may be taken in one block.</li>
<li>Holiday over Christmas is shared out by rota.</li></ul>
<h2>Carrying over unused days</h2>
<p>Up to five unused days may be carried over into the next holiday year; they must be
used by the end of March.</p>
<table><tr><th>Years of service</th><th>Extra days</th></tr>
<tr><td>5</td><td>1</td></tr><tr><td>10</td><td>3</td></tr></table>
</article></main>
<aside class="sidebar"><h3>{SIDEBAR[0]}</h3><ul>
{"".join(f'<li><a href="/news/{i}">{t}</a></li>' for i, t in enumerate(SIDEBAR[1:]))}</ul></aside>
</div>
<footer class="site-footer"><p>{FOOTER}</p>
<p><a href="/">Home</a> | <a href="/policies">Policies</a> | <a href="/contact">Contact</a></p>
</footer>
</body></html>
"""


def units(document: Document) -> list[str]:
    return [unit for section in document.sections for unit in section.units]


def headings(document: Document) -> list[str]:
    return [section.heading for section in document.sections]


def read_one(path: Path) -> Document:
    [document] = read_document(path, path.name)
    return document


# ---------------------------------------------------------------------------- .docx and .odt


def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    document = read_one(write_docx(tmp_path / "remote-work.docx"))
    assert document.title == "Remote work policy"
    assert headings(document) == ["Remote work policy", "Equipment", "Security at home"]
    equipment = document.sections[1]
    assert list(zip(equipment.units, equipment.bullets, strict=True)) == [
        ("The company provides a laptop and a headset.", False),
        ("Ask IT for a second screen.", True),
        ("Return equipment when you leave.", True),
        ("Item | Yearly budget", False),
        ("Desk chair | 150 EUR", False),
        ("Broadband | 240 EUR", False),
    ]


def test_docx_title_from_its_title_paragraph_then_properties_then_file_name(
    tmp_path: Path,
) -> None:
    styled = read_one(write_docx(tmp_path / "a.docx", core_title="Old template title"))
    assert styled.title == "Remote work policy"
    plain = docx.Document()
    plain.add_paragraph("Just one paragraph.")
    plain.save(str(tmp_path / "meeting_notes.docx"))
    assert read_one(tmp_path / "meeting_notes.docx").title == "meeting notes"
    plain.core_properties.title = "Minutes of the staff meeting"
    plain.save(str(tmp_path / "meeting_notes.docx"))
    assert read_one(tmp_path / "meeting_notes.docx").title == "Minutes of the staff meeting"


def without_properties(path: Path) -> Path:
    """The same .docx without its properties part (as some tools write them)."""
    with zipfile.ZipFile(path) as source:
        members = {
            info.filename: source.read(info)
            for info in source.infolist()
            if info.filename != "docProps/core.xml"
        }
    members["_rels/.rels"] = re.sub(
        rb"<Relationship [^>]*core-properties[^>]*/>", b"", members["_rels/.rels"]
    )
    path.write_bytes(zip_bytes(members))
    return path


def test_a_docx_without_properties_is_not_titled_word_document(tmp_path: Path) -> None:
    plain = docx.Document()
    plain.add_paragraph("Just one paragraph.")
    plain.save(str(tmp_path / "meeting_notes.docx"))
    document = read_one(without_properties(tmp_path / "meeting_notes.docx"))
    assert document.title == "meeting notes"
    assert units(document) == ["Just one paragraph."]


def test_odt_headings_lists_and_tables(tmp_path: Path) -> None:
    document = read_one(write_odt(tmp_path / "expenses.odt"))
    assert document.title == "Expenses policy"
    assert headings(document) == ["Expenses policy", "Travel"]
    assert units(document) == [
        "Claims are paid within thirty days.",  # the footnote left out
        "Book trains in standard class.",
        "Flights need a manager's approval.",
        "Band | Hotel limit",
        "A | 120 EUR a night",
    ]
    assert document.sections[1].bullets == (True, True, False, False)


def test_a_docx_is_indexed_and_answers_with_its_section(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_docx(corpus / "remote-work.docx")
    write_odt(corpus / "expenses.odt")
    build = run_bot("build", "--corpus", str(corpus), cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert "cannot read" not in build.stderr
    asked = run_bot(
        "ask",
        "--json",
        "--corpus",
        str(corpus),
        "What is the budget for a desk chair?",
        cwd=tmp_path,
    )
    answer = json.loads(asked.stdout)
    top = answer["sources"][0]
    assert (top["doc"], top["section"]) == ("remote-work.docx", "Equipment")
    assert "Desk chair | 150 EUR" in answer["answer"]
    hotel = json.loads(
        run_bot("ask", "--json", "--corpus", str(corpus), "hotel limit", cwd=tmp_path).stdout
    )
    assert (hotel["sources"][0]["doc"], hotel["sources"][0]["section"]) == (
        "expenses.odt",
        "Travel",
    )


# ---------------------------------------------------------------------------- hostile archives


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.docx", b"", r"a\.docx is not a Word \.docx file \(it is not a ZIP archive"),
        ("a.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "not a ZIP archive"),
        ("a.docx", b"just text renamed", "not a ZIP archive"),
        ("a.docx", zip_bytes({"hello.txt": b"hi"}), r"cannot read Word document a\.docx"),
        ("a.odt", b"PK\x03\x04garbage", r"a\.odt is not an OpenDocument \.odt file"),
        ("a.odt", zip_bytes({"mimetype": b"x"}), r"a\.odt is not an OpenDocument text"),
        ("a.odt", zip_bytes({"content.xml": b"<unclosed"}), r"cannot read OpenDocument a\.odt"),
    ],
)
def test_damaged_office_files_are_refused_with_their_name(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorpusFileError, match=message):
        read_document(path, name)


def test_a_truncated_docx_is_refused(tmp_path: Path) -> None:
    whole = write_docx(tmp_path / "whole.docx").read_bytes()
    for cut in (len(whole) // 3, len(whole) - 30):
        path = tmp_path / "cut.docx"
        path.write_bytes(whole[:cut])
        with pytest.raises(CorpusFileError, match=r"cut\.docx"):
            read_document(path, "cut.docx")


def zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """A .docx whose extra part inflates from about 4.5 KB a MB to `unpacked_mb` MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as part:
            block = bytes(1024 * 1024)
            for _ in range(unpacked_mb):
                part.write(block)
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.docx", unpacked_mb=office.MAX_UNPACKED // 2**20 + 1)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(CorpusFileError, match=r"bomb\.docx would unpack to 257 MB.*zip bomb"):
        read_document(bomb, "bomb.docx")


def test_an_archive_of_too_many_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.odt"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(office.MAX_MEMBERS + 1):
            archive.writestr(f"f{number}", b"")
    with pytest.raises(CorpusFileError, match=r"many\.odt holds 10001 files; refused"):
        read_document(path, "many.odt")


def test_a_build_names_each_bad_office_file_once_and_indexes_the_rest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_docx(corpus / "remote-work.docx")
    (corpus / "corrupt.docx").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    zip_bomb(corpus / "bomb.docx", unpacked_mb=300)
    build = run_bot("build", "--corpus", str(corpus), cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    warnings = [line for line in build.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, build.stderr
    assert any("corrupt.docx is not a Word .docx file" in line for line in warnings)
    assert any("bomb.docx would unpack to 300 MB" in line for line in warnings)
    assert "Traceback" not in build.stderr
    asked = run_bot(
        "ask", "--corpus", str(corpus), "How many days can I work from home?", cwd=tmp_path
    )
    assert "two days per week" in asked.stdout


@pytest.mark.parametrize("name", ["a.docx", "a.odt", "a.pdf"])
def test_office_files_are_read_where_the_time_budget_can_stop_them(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK")
    assert not parts._sure_to_finish(path, budget=60.0)  # a worker that is killed if it overruns


# ---------------------------------------------------------------------------- web pages


def test_a_saved_web_page_keeps_its_article_only(tmp_path: Path) -> None:
    page = tmp_path / "holidays.html"
    page.write_text(PAGE, encoding="utf-8")
    document = read_one(page)
    assert document.title == "Holiday policy - Acme Intranet"
    assert headings(document) == ["Holiday policy", "Booking holiday", "Carrying over unused days"]
    text = units(document)
    assert text == [
        "Staff get 28 days of paid holiday a year, including the eight public holidays. "
        "Part-time staff get the same entitlement in proportion to the days they work.",
        "Book holiday through the HR portal at least two weeks ahead. Your manager approves "
        "or declines the request within five working days.",
        "Up to ten days may be taken in one block.",
        "Holiday over Christmas is shared out by rota.",
        "Up to five unused days may be carried over into the next holiday year; they must be "
        "used by the end of March.",
        "Years of service | Extra days",
        "5 | 1",
        "10 | 3",
    ]
    assert document.sections[1].bullets == (False, True, True)


def test_asking_a_saved_page_quotes_no_navigation_banner_or_footer(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "holidays.html").write_text(PAGE, encoding="utf-8")
    assert run_bot("build", "--corpus", str(corpus), cwd=tmp_path).returncode == 0
    asked = run_bot(
        "ask",
        "--json",
        "-k",
        "10",
        "--corpus",
        str(corpus),
        "cookie settings home contact",
        cwd=tmp_path,
    )
    sources = json.loads(asked.stdout)["sources"]
    texts = " ".join(source["text"] for source in sources)
    for boilerplate in (COOKIE, FOOTER, "Home | Policies | Contact", *SIDEBAR, "Acme Intranet"):
        assert boilerplate not in texts
    holiday = json.loads(
        run_bot(
            "ask", "--json", "--corpus", str(corpus), "How many days of paid holiday?", cwd=tmp_path
        ).stdout
    )
    top = holiday["sources"][0]
    assert (top["doc"], top["section"]) == ("holidays.html", "Holiday policy")
    assert "28 days of paid holiday" in holiday["answer"]


@pytest.mark.parametrize(
    ("html", "expected_headings", "expected_units"),
    [
        (  # a FAQ answer saved on its own: trafilatura drops the question, or finds nothing
            "<h2>Can I work from home?</h2>\n<p>Yes, up to two days per week.</p>\n",
            ["Can I work from home?"],
            ["Yes, up to two days per week."],
        ),
        (
            "<p>Payday is the last working day of each month.</p>",
            [""],
            ["Payday is the last working day of each month."],
        ),
        (  # a short FAQ page, which trafilatura flattens into one paragraph
            "<html><body><h1>FAQ</h1><h2>Can I work from home?</h2><p>Yes, two days a week "
            "with your manager's agreement.</p><h2>When is payday?</h2><p>The last working "
            "day of each month.</p></body></html>",
            ["FAQ", "Can I work from home?", "When is payday?"],
            [
                "Yes, two days a week with your manager's agreement.",
                "The last working day of each month.",
            ],
        ),
    ],
)
def test_short_pages_and_fragments_still_index_whole(
    tmp_path: Path, html: str, expected_headings: list[str], expected_units: list[str]
) -> None:
    page = tmp_path / "faq.html"
    page.write_text(html, encoding="utf-8")
    document = read_one(page)
    assert headings(document) == expected_headings
    assert units(document) == expected_units
