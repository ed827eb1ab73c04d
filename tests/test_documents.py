import io
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter

from bot.documents import (
    CorpusFileError,
    Document,
    Section,
    base,
    corpus_files,
    normalize_text,
    parse_plain_text,
    read_document,
)

SHIPPED = Path(__file__).parents[1] / "corpus" / "cybersecurity-eu-external-action.txt"


def read_one(path: Path, name: str | None = None) -> Document:
    docs = read_document(path, name or path.name)
    assert len(docs) == 1
    return docs[0]


def headings(sections: list[Section] | tuple[Section, ...]) -> list[str]:
    return [s.heading for s in sections]


def all_units(sections: list[Section] | tuple[Section, ...]) -> list[tuple[str, bool]]:
    return [pair for s in sections for pair in zip(s.units, s.bullets, strict=True)]


def alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF whose text is `lines`, with a correct xref table."""
    shown = " ".join(f"({line}) Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


# ---------------------------------------------------------------------------- shipped file


@pytest.fixture(scope="module")
def shipped() -> Document:
    return read_one(SHIPPED, SHIPPED.name)


def test_shipped_first_paragraph_is_one_reflowed_unit(shipped):
    first = shipped.sections[0]
    assert first.heading == ""
    assert len(first.units) == 1
    assert "prevent, deter and respond to cyberattacks" in first.units[0]
    assert first.units[0].startswith("The Strategic Compass")
    assert first.units[0].endswith("resilient, green and digital Union.")
    assert "  " not in first.units[0]


def test_shipped_headings(shipped):
    names = headings(shipped.sections)
    # A heading right after a paragraph line, with no blank line between.
    assert "EU CYBERSECURITY STRATEGY" in names
    assert "CYBERSECURITY: EU EXTERNAL ACTION" in names
    assert "PROTECTION OF HUMAN RIGHTS AND FUNDAMENTAL FREEDOMS" in names
    assert "PREVENTING, DETERRING AND RESPONDING TO CYBER THREATS AND ATTACKS" in names
    strategy = shipped.sections[names.index("EU CYBERSECURITY STRATEGY")]
    assert strategy.units[0].startswith("The EU Cybersecurity Strategy will increase resilience")


def test_shipped_heading_runs_are_separate_empty_sections(shipped):
    names = headings(shipped.sections)
    start = names.index("PROTECTION OF HUMAN RIGHTS AND FUNDAMENTAL FREEDOMS")
    assert names[start + 1] == "GLOBAL CYBER RESILIENCE"
    assert shipped.sections[start].units == ()


def test_shipped_bullets(shipped):
    units = all_units(shipped.sections)
    pesco = (
        "Permanent Structured Cooperation (PESCO) projects (e.g. Cyber Rapid Response Teams "
        "will allow deployable teams to respond to cyber-attacks)"
    )
    assert (pesco, True) in units
    assert ("Confidence-building measures (e.g. OSCE, ASEAN Regional Forum)", True) in units
    assert sum(bullet for _, bullet in units) == 10
    assert not any(text.startswith("•") for text, _ in units)


def test_shipped_apostrophes_are_straight(shipped):
    text = " ".join(text for text, _ in all_units(shipped.sections))
    assert "Ukraine's cyber resilience" in text
    assert "EU's ability" in text
    assert "’" not in text


def test_shipped_title_and_name(shipped):
    assert shipped.doc == "cybersecurity-eu-external-action.txt"
    assert shipped.title == "cybersecurity eu external action"


def test_shipped_loses_no_text(shipped):
    source = normalize_text(SHIPPED.read_text(encoding="utf-8"))
    out = " ".join(s.heading + " " + " ".join(s.units) for s in shipped.sections)
    assert alnum(out) == alnum(source)


# ---------------------------------------------------------------------------- normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("“Quoted” and ‘single’ — EU’s", "\"Quoted\" and 'single' — EU's"),
        ("a\u00a0b\u2009c\u202fd\u3000e", "a b c d e"),
        ("secu\u00adrity zero\u200bwidth\ufeff", "security zerowidth"),
        ("bell\x07 and\x00 nul\tkept", "bell and nul\tkept"),
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("page\fbreak", "page\nbreak"),
        ("ﬁnance ＡＢＣ ½", "finance ABC 1⁄2"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


# ---------------------------------------------------------------------------- parse_plain_text


def test_reflow_joins_wrapped_lines_with_single_spaces():
    sections = parse_plain_text("First line of a   \nparagraph goes on.  \n\nSecond one.\n")
    assert sections == [
        Section("", ("First line of a paragraph goes on.", "Second one."), (False, False))
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("strengthens secu-\nrity today", "strengthens security today"),
        ("respond to cyber-attacks\nquickly", "respond to cyber-attacks quickly"),
        ("Confidence-\nBuilding measures", "Confidence-Building measures"),
        ("the COVID-\n19 crisis", "the COVID-19 crisis"),
        ("an EU-\nwide rule", "an EU-wide rule"),
        ("a dash -\nthen more", "a dash - then more"),
        # The text itself spells the word with a hyphen elsewhere: the hyphen stays.
        (
            "cross-border data. More cross-\nborder data.",
            "cross-border data. More cross-border data.",
        ),
        # ...or without: the hyphen goes, whatever the case.
        (
            "Cybersecurity matters. Cyber-\nsecurity again.",
            "Cybersecurity matters. Cybersecurity again.",
        ),
    ],
)
def test_hyphenation_rule(text, expected):
    assert parse_plain_text(text)[0].units == (expected,)


def test_multiline_caps_heading_directly_after_paragraph():
    text = "Some text here.\n CYBERSECURITY:\nEU EXTERNAL ACTION\n\nBody text."
    sections = parse_plain_text(text)
    assert sections == [
        Section("", ("Some text here.",), (False,)),
        Section("CYBERSECURITY: EU EXTERNAL ACTION", ("Body text.",), (False,)),
    ]


def test_heading_keeps_its_case_and_numbered_caps_line_is_a_heading():
    sections = parse_plain_text("1. INTRODUCTION\nIntro text.\n\nPart 2 – OVERVIEW OF EU\n")
    assert headings(sections) == ["1. INTRODUCTION"]
    assert sections[0].units == ("Intro text.", "Part 2 – OVERVIEW OF EU")


def test_acronyms_inside_a_paragraph_are_not_headings():
    text = "The work is funded by the\nEU.\n\nSigned with\nNATO AND UN\npartners in 2020."
    sections = parse_plain_text(text)
    assert headings(sections) == [""]
    assert sections[0].units == (
        "The work is funded by the EU.",
        "Signed with NATO AND UN partners in 2020.",
    )


def test_single_letter_lines_are_not_headings():
    assert headings(parse_plain_text("A\n\nI")) == [""]


def test_shouting_document_has_no_headings():
    text = "THIS WHOLE NOTICE\nIS WRITTEN IN CAPITALS\n\nAND SO IS THIS"
    sections = parse_plain_text(text)
    assert sections == [
        Section("", ("THIS WHOLE NOTICE IS WRITTEN IN CAPITALS", "AND SO IS THIS"), (False, False))
    ]


def test_long_caps_run_is_prose():
    line = "THE SOFTWARE IS PROVIDED AS IS WITHOUT WARRANTY OF ANY KIND"
    text = f"Licence\n\n{line}\n{line}\n{line}\n"
    sections = parse_plain_text(text)
    assert headings(sections) == [""]
    assert sections[0].units[1] == " ".join([line] * 3)


@pytest.mark.parametrize("marker", ["•", "-", "*", "·", "▪", "–"])
def test_symbol_bullets_lose_their_marker_and_keep_continuations(marker):
    text = f"Intro:\n{marker} first item that\nwraps here\n{marker} second item\nFinal words.\n"
    sections = parse_plain_text(text)
    assert all_units(sections) == [
        ("Intro:", False),
        ("first item that wraps here", True),
        ("second item Final words.", True),  # no blank line: still the item's text
    ]


def test_numbered_items_are_bullets_that_keep_their_number():
    sections = parse_plain_text("Steps:\n1. Open the\nfile\n2) Read it\na) detail\n(iv) more\n")
    assert all_units(sections) == [
        ("Steps:", False),
        ("1. Open the file", True),
        ("2) Read it", True),
        ("a) detail", True),
        ("(iv) more", True),
    ]


def test_marker_alone_on_its_line_starts_an_item():
    assert all_units(parse_plain_text("•\nItem text\nwrapped")) == [("Item text wrapped", True)]


def test_heading_ends_a_bullet():
    sections = parse_plain_text("• an item\nNEXT PART\nText.")
    assert sections == [
        Section("", ("an item",), (True,)),
        Section("NEXT PART", ("Text.",), (False,)),
    ]


@pytest.mark.parametrize("text", ["", "   \n\t\n", "\x00\x07"])
def test_blank_text_has_no_sections(text):
    assert parse_plain_text(text) == []


# ---------------------------------------------------------------------------- property tests

# Text shaped like extracted PDF text: words, capitals, bullets, hyphens, odd spaces.
_pieces = st.sampled_from(
    ["word", "WORD", "EU", "secu-", "rity", "-", "•", "1.", "a)", "(iv)", "’", "\u00a0", "\u00ad",
     "\u200b", "é", "ﬁ", "½", "\r\n", "\n", "\n\n", " ", "  ", "\t", "\f", ".", ":", "*", "–"]
)  # fmt: skip
_pdf_like = st.lists(_pieces, max_size=60).map("".join)
_any_text = st.one_of(st.text(max_size=300), _pdf_like)


@settings(max_examples=200, deadline=None)
@given(_any_text)
def test_parse_plain_text_never_loses_text(text):
    sections = parse_plain_text(text)
    out = " ".join(s.heading + " " + " ".join(s.units) for s in sections)
    assert alnum(out) == alnum(normalize_text(text))
    for section in sections:
        assert len(section.units) == len(section.bullets)
        assert all(unit and unit == unit.strip() and "\n" not in unit for unit in section.units)
        assert "\n" not in section.heading


@settings(max_examples=200, deadline=None)
@given(_any_text)
def test_normalize_text_is_idempotent_and_clean(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "\r" not in once
    assert not any(ch in once for ch in "\u00ad\u200b\ufeff\u00a0’“")
    assert all(ch in "\n\t" or ord(ch) >= 0x20 for ch in once)


# ---------------------------------------------------------------------------- formats


def test_markdown(tmp_path):
    md = tmp_path / "guide_to-things.md"
    md.write_text(
        "# The *Guide*\n\nIntro with **bold**, `code`, a [link](https://x.eu) and\n"
        "a wrapped line. ![logo](logo.png)\n\n## Rules\n\n- first _rule_\n  continued\n"
        "* second rule\n1. numbered\n\nSetext Heading\n--------------\n\n"
        "Body \\*not emphasis\\*.\n\n"
        "| Name | Value |\n|------|-------|\n| a | 1 |\n\n```\ncode line\n```\n",
        encoding="utf-8",
    )
    doc = read_one(md)
    assert doc.title == "The Guide"
    assert headings(doc.sections) == ["The Guide", "Rules", "Setext Heading"]
    assert doc.sections[0].units == ("Intro with bold, code, a link and a wrapped line.",)
    assert all_units(doc.sections[1:2]) == [
        ("first rule continued", True),
        ("second rule", True),
        ("1. numbered", True),
    ]
    assert doc.sections[2].units == ("Body *not emphasis*.", "Name | Value", "a | 1", "code line")


def test_markdown_without_heading_takes_title_from_file_name(tmp_path):
    md = tmp_path / "README.md"
    md.write_text("Just text.\n\nNOTICE\n\nMore.", encoding="utf-8")
    doc = read_one(md)
    assert doc.title == "README"
    assert headings(doc.sections) == ["", "NOTICE"]


def test_html(tmp_path):
    html = tmp_path / "page.html"
    html.write_text(
        "<html><head><title>EU &amp; Cyber</title><style>p {color: red}</style>"
        "<script>var x = '<p>not text</p>';</script></head><body>"
        "<noscript>enable JS</noscript>"
        "<h1>Main&nbsp;heading</h1><p>First\n   paragraph &lt;here&gt; &#8217;ok&#8217;</p>"
        "<div>Second<br>third</div><h2>List</h2><ul><li>one <b>bold</b></li><li><p>two</p></li>"
        "</ul><p>after</p><table><tr><td>a</td><td>b</td></tr></table></body></html>",
        encoding="utf-8",
    )
    doc = read_one(html)
    assert doc.title == "EU & Cyber"
    assert headings(doc.sections) == ["Main heading", "List"]
    assert all_units(doc.sections) == [
        ("First paragraph <here> 'ok'", False),
        ("Second", False),
        ("third", False),
        ("one bold", True),
        ("two", True),
        ("after", False),
        ("a | b", False),
    ]
    text = str(doc)
    assert "not text" not in text and "color" not in text and "enable JS" not in text


def test_html_without_title_uses_first_h1(tmp_path):
    html = tmp_path / "page.htm"
    html.write_text("<h2>Sub</h2><h1>Top</h1><p>x</p>", encoding="utf-8")
    assert read_one(html).title == "Top"


def test_pdf(tmp_path):
    pdf = tmp_path / "eu_report.pdf"
    pdf.write_bytes(make_pdf(["THE REPORT", "The EU will strengthen secu-", "rity for all."]))
    doc = read_one(pdf)
    assert doc.title == "eu report"
    assert doc.sections == (
        Section("THE REPORT", ("The EU will strengthen security for all.",), (False,)),
    )


def test_pdf_without_text_has_no_sections(tmp_path):
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(buffer.getvalue())
    assert read_one(pdf).sections == ()


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_encrypted_pdf_is_refused(tmp_path):
    pdf = tmp_path / "secret.pdf"
    pdf.write_bytes(encrypted_pdf("secret"))
    with pytest.raises(CorpusFileError, match=r"secret\.pdf is an encrypted PDF"):
        read_document(pdf, "secret.pdf")


def test_pdf_encrypted_with_empty_password_is_read(tmp_path):
    pdf = tmp_path / "restricted.pdf"
    pdf.write_bytes(encrypted_pdf(""))
    assert read_one(pdf).sections == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text renamed to pdf\n", r"notes\.pdf is not a PDF file"),
        (b"%PDF-1.4\n1 0 obj garbage", r"cannot read PDF notes\.pdf"),
        (make_pdf(["x"])[:120], r"cannot read PDF notes\.pdf"),
    ],
)
def test_broken_pdf(tmp_path, data, message):
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(data)
    with pytest.raises(CorpusFileError, match=message):
        read_document(pdf, "notes.pdf")


def test_jsonl(tmp_path, caplog):
    lines = [
        json.dumps({"id": "a1", "title": "First", "text": "Hello world.\nWrapped line."}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "b2", "text": ""}),
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps({"id": 7, "text": "INTRO\nBody here."}),
        json.dumps({"id": "a1", "text": "Duplicate."}),
        json.dumps({"id": True, "text": "bool id"}),
    ]
    path = tmp_path / "my_collection.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.documents"):
        docs = read_document(path, "sub/my_collection.jsonl")
    assert docs == [
        Document("a1", "First", (Section("", ("Hello world. Wrapped line.",), (False,)),)),
        Document("7", "my collection", (Section("INTRO", ("Body here.",), (False,)),)),
    ]
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0].startswith("sub/my_collection.jsonl: skipped line 3: not valid JSON")
    assert any("line 4: not a JSON object" in w for w in warnings)
    assert any('line 5: no "text"' in w for w in warnings)
    assert any('line 6: no "id"' in w for w in warnings)
    assert any("1 more bad lines" in w for w in warnings)


def test_jsonl_title_is_not_a_heading(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "x", "title": "TITLE", "text": "text"}), encoding="utf-8")
    assert read_document(path, "c.jsonl") == [
        Document("x", "TITLE", (Section("", ("text",), (False,)),))
    ]


def test_jsonl_duplicate_id_keeps_first(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    rows = [{"id": "x", "text": "first"}, {"id": "x", "text": "second"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.documents"):
        docs = read_document(path, "c.jsonl")
    assert [d.sections[0].units for d in docs] == [("first",)]
    assert 'c.jsonl: skipped line 2: duplicate id "x"' in caplog.text


def test_jsonl_without_valid_line_is_an_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\nnope\n', encoding="utf-8")
    with pytest.raises(CorpusFileError, match=r"bad\.jsonl has no valid line"):
        read_document(path, "bad.jsonl")


def test_every_line_of_a_large_jsonl_is_a_document(tmp_path):
    # How fast it is read is bench/speed.py's business (a timed test fails on a busy
    # machine); that every line comes out is this test's.
    path = tmp_path / "big.jsonl"
    row = "compact memories have flexible capacities a digital data storage system number {}"
    path.write_text(
        "\n".join(
            json.dumps({"id": str(i), "title": "", "text": row.format(i)}) for i in range(11_000)
        ),
        encoding="utf-8",
    )
    docs = read_document(path, "big.jsonl")
    assert [d.doc for d in docs] == [str(i) for i in range(11_000)]
    assert docs[-1].sections[0].units == (row.format(10_999),)


# ---------------------------------------------------------------------------- text file edge cases


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
def test_binary_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"image{suffix}"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(
        CorpusFileError, match=rf"image\{suffix} looks like a binary file, not text"
    ):
        read_document(path, path.name)


def test_binary_without_nul_bytes_is_refused(tmp_path):
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(range(1, 256)) * 20)
    with pytest.raises(CorpusFileError, match="looks like a binary file"):
        read_document(path, "noise.txt")


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
@pytest.mark.parametrize("content", [b"", b"  \n\t\r\n"])
def test_empty_file_has_no_sections(tmp_path, suffix, content):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    assert read_document(path, path.name) == [Document(path.name, "empty", ())]


def test_cp1252_file_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "menu.txt"
    path.write_bytes("Un café “crème” à 2 €".encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="bot.documents"):
        doc = read_one(path, "menu.txt")
    assert doc.sections[0].units == ('Un café "crème" à 2 €',)
    assert "menu.txt is not UTF-8; read it as cp1252" in caplog.text


def test_latin1_fallback_never_loses_the_file(tmp_path, caplog):
    path = tmp_path / "odd.txt"
    path.write_bytes(b"caf\xe9 \x81 ok")  # 0x81 is undefined in cp1252
    with caplog.at_level(logging.WARNING, logger="bot.documents"):
        doc = read_one(path, "odd.txt")
    assert doc.sections[0].units == ("café ok",)
    assert "read it as latin-1" in caplog.text


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffHEADING\nText.".encode())
    assert read_one(path).sections == (Section("HEADING", ("Text.",), (False,)),)


def test_utf16_file_with_bom_is_text(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("Hello from Notepad".encode("utf-16"))
    assert read_one(path).sections[0].units == ("Hello from Notepad",)


def test_curly_quotes_and_nbsp_in_files(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("The EU’s “open”\u00a0cyberspace", encoding="utf-8")
    assert read_one(path).sections[0].units == ('The EU\'s "open" cyberspace',)


def test_directory_named_like_a_file_is_an_error(tmp_path):
    folder = tmp_path / "x.txt"
    folder.mkdir()
    with pytest.raises(CorpusFileError, match=r"cannot read x\.txt"):
        read_document(folder, "x.txt")


def test_unsupported_suffix_is_an_error(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(CorpusFileError, match="unsupported file type"):
        read_document(path, "sheet.xlsx")


# ---------------------------------------------------------------------------- corpus_files


def test_corpus_files_order_and_skips(tmp_path):
    for name in [
        "b.txt", "a.md", "README.md", "sub/z.pdf", "sub/a.HTML", "A_upper.jsonl", "notes.docx",
        ".hidden.txt", ".git/config.txt", "sub/.cache/x.md", "page.htm", "~$notes.docx",
        "sub/minutes.odt", "old.doc",
    ]:  # fmt: skip
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    (tmp_path / "folder.txt").mkdir()
    names = [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)]
    assert names == [
        "A_upper.jsonl",
        "README.md",
        "a.md",
        "b.txt",
        "notes.docx",
        "page.htm",
        "sub/a.HTML",
        "sub/minutes.odt",
        "sub/z.pdf",
    ]


def test_corpus_files_does_not_follow_folder_links(tmp_path):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert corpus_files(tmp_path) == [tmp_path / "a.txt"]


def test_corpus_files_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(
        CorpusFileError, match=r"nope does not exist; it should be a folder of \.txt"
    ):
        corpus_files(missing)


def test_corpus_files_on_a_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(
        CorpusFileError, match=r"corpus\.txt is not a folder; it should be a folder"
    ):
        corpus_files(path)


def test_one_binary_rule_whole_file_and_single_byte_text():
    from bot.documents import looks_binary

    text = "Un café “crème” — 2 €\n".encode("cp1252") * 500  # curly quotes are 0x93/0x94
    assert not looks_binary(text)
    assert not looks_binary(b"tab\tform feed\x0cCRLF\r\n" * 1000)
    assert looks_binary(text + b"\x00")  # a NUL anywhere, even after 11 KB
    assert looks_binary(text * 3 + bytes(range(1, 32)) * 300 + text)  # a control-heavy block
    assert not looks_binary(text + b"\x1b[1m bold \x1b[0m")  # a few escapes are text


_SPACES = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(" ab\u00e9" + _SPACES)) | st.text())
def test_collapse_is_split_and_join_whatever_the_whitespace(text):
    """The shortcut for text with nothing to collapse gives what splitting and joining
    gives, for every whitespace character Python knows."""
    assert base._collapse(text) == " ".join(text.split())
