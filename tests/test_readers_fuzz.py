"""Fuzzing the corpus readers: any bytes in, documents or a CorpusFileError out.

Every reader (.txt, .md, .html, .jsonl, .pdf) gets random and adversarial input: runs of
every punctuation character, deep nesting, huge lines, mixed encodings, NUL and other
control characters. Each must return documents whose passages fit the length cap, or
raise the documented `CorpusFileError`; nothing else may escape. Growth with size is
measured by `bench/robustness.py` (`make bench-robustness`), not here: tests are not
timed.

The markdown inline scanners replaced regular expressions that backtracked; a
differential test runs both on random lines and requires the same output, which is
how "behaviour on normal text did not change" is checked.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.documents import CorpusFileError, Document, Section, read_document
from bot.documents.markdown import _md_inline
from bot.passages import MAX_CHARS, split_document

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEXT_SUFFIXES = (".txt", ".md", ".html", ".jsonl")


def read_or_refuse(path: Path) -> list[Document] | None:
    """Reads a file as a build does; None when it is refused with the documented error."""
    try:
        documents = read_document(path, path.name)
    except CorpusFileError as exc:
        assert path.name in str(exc)  # the message names the file
        return None
    for document in documents:
        assert isinstance(document.title, str)
        assert all(isinstance(s, Section) for s in document.sections)
        for section in document.sections:
            assert len(section.units) == len(section.bullets)
            assert all(isinstance(u, str) and u for u in section.units)
        for passage in split_document(document):
            assert 0 < len(passage.text) <= MAX_CHARS
    return documents


def write(tmp_path: Path, suffix: str, data: bytes | str) -> Path:
    path = tmp_path / f"fuzz{suffix}"
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogatepass")
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- random input

_MARKUP = st.sampled_from(
    [
        *string.punctuation,
        *"\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u00ad\u200b\u2028\u2029\ufeff\t\n\r ",
        *"éßﬁＡ“”—–•▪",
        *("<div>", "</div>", "<!--", "-->", "<p>", "<li>", "<h1>", "</h1>", "<pre>", "<script>"),
        *("**", "__", "~~", "```", "# ", "- ", "1. ", "> ", "| ", "---\n", "[a](b)", "![x]("),
        *("secu-\nrity", "-\n", "\n\n", "EU.\n", "CYBER\n", "http://x", "&amp;", "&#", "&#x"),
        *('{"id": 1, "text": "', '"}\n', "\\", "\\u00e9", "\\ud800"),
        *("word ", "Word. ", "e.g. ", "a" * 50),
    ]
)
_TEXTS = st.lists(_MARKUP, max_size=80).map("".join)


@FUZZ
@given(text=_TEXTS, suffix=st.sampled_from(TEXT_SUFFIXES))
def test_any_text_reads_or_is_refused(tmp_path: Path, text: str, suffix: str) -> None:
    read_or_refuse(write(tmp_path, suffix, text))


@FUZZ
@given(
    data=st.binary(max_size=3000),
    suffix=st.sampled_from((*TEXT_SUFFIXES, ".pdf", ".docx", ".odt")),
)
def test_any_bytes_read_or_are_refused(tmp_path: Path, data: bytes, suffix: str) -> None:
    read_or_refuse(write(tmp_path, suffix, data))


@FUZZ
@given(
    parts=st.lists(
        st.tuples(st.text(max_size=40), st.sampled_from(("utf-8", "cp1252", "latin-1", "utf-16")))
    ),
    suffix=st.sampled_from(TEXT_SUFFIXES),
)
def test_mixed_encodings_read_or_are_refused(
    tmp_path: Path, parts: list[tuple[str, str]], suffix: str
) -> None:
    data = b"".join(text.encode(codec, errors="replace") for text, codec in parts)
    read_or_refuse(write(tmp_path, suffix, data))


@settings(max_examples=40, deadline=None)
@given(tail=st.binary(min_size=1, max_size=400))
def test_pdf_header_with_garbage_is_a_corpus_file_error(tmp_path_factory, tail: bytes) -> None:
    path = tmp_path_factory.mktemp("pdf") / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + tail)
    read_or_refuse(path)


def _docx() -> bytes:
    import io

    import docx

    document = docx.Document()
    document.add_heading("Policy", level=1)
    document.add_paragraph("Staff may work from home two days a week.", style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


_DOCX = _docx()


@settings(max_examples=60, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(_DOCX) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_a_damaged_word_file_reads_or_is_refused(tmp_path_factory, flips) -> None:
    data = bytearray(_DOCX)
    for at, value in flips:
        data[at] = value
    path = tmp_path_factory.mktemp("docx") / "damaged.docx"
    path.write_bytes(bytes(data))
    read_or_refuse(path)


# ---------------------------------------------------------------------------- adversarial


@pytest.mark.parametrize("mark", list(string.punctuation))
@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
def test_a_run_of_any_punctuation_reads(tmp_path: Path, mark: str, suffix: str) -> None:
    # Runs on one line, runs broken over lines, and runs around words.
    text = f"{mark * 20_000}\n\n{(mark + chr(10)) * 2_000}\n\n{(' ' + mark + 'a') * 5_000}\n"
    read_or_refuse(write(tmp_path, suffix, text))


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".html", "<div>" * 20_000 + "deep words" + "</div>" * 20_000),
        (".html", "<ul><li>" * 5_000 + "item" + "</li></ul>" * 5_000),
        (".html", "<a " * 20_000),
        (".html", "<!--" * 20_000),
        (".html", '<a b="' * 10_000),
        (".html", "<![" * 10_000),
        (".html", "<p>" + "x" * 300_000 + "</p>"),
        (".md", "> " * 20_000 + "quoted"),
        (".md", "[" * 20_000 + "]" * 20_000),
        (".md", "*" * 20_000 + "a" + "*" * 20_000),
        (".md", "_a" * 20_000),
        (".md", "- " * 20_000 + "item"),
        (".md", "#" + " " * 100_000 + "x"),
        (".md", "# a" + " " * 100_000 + "b"),
        (".md", "|" + "-" * 50_000 + " " * 50_000 + "x"),
        (".md", "```\n" + "code\n" * 10_000),
        (".txt", "x" * 300_000),
        (".txt", "secu-\n" * 20_000 + "rity"),
        (".txt", "\x0c" * 10_000 + "page"),
        (".jsonl", '{"id": 1, "text": "' + "word " * 60_000 + '"}\n'),
        (".jsonl", "[" * 50_000 + "\n" + '{"id": 2, "text": "ok"}\n'),
    ],
    ids=lambda value: value if value.startswith(".") else repr(value[:12]),
)
def test_deep_nesting_and_huge_lines_read(tmp_path: Path, suffix: str, text: str) -> None:
    documents = read_or_refuse(write(tmp_path, suffix, text))
    assert documents is not None


def test_text_that_turns_binary_after_its_start_is_refused(tmp_path: Path) -> None:
    text = b"The EU cyber diplomacy toolbox. " * 400  # 12.8 KB of text first
    with_nul = write(tmp_path, ".txt", text + bytes(range(256)) * 8)
    with pytest.raises(CorpusFileError, match="binary"):
        read_document(with_nul, "late.txt")
    without_nul = tmp_path / "late2.txt"
    without_nul.write_bytes(text + bytes(range(1, 32)) * 300 + text)
    with pytest.raises(CorpusFileError, match="binary"):
        read_document(without_nul, "late2.txt")


# ---------------------------------------------------------------------------- markdown


# The regular expressions `_md_inline` used before it became linear, applied in the same
# order: the reference its scanners must agree with.
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]")
_LINK = re.compile(
    r"\[(\[[^\]]*\])\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)"
    r"|\[(\[[^\]]*\])\]\[[^\]]*\]|\[([^\]]+)\]\[[^\]]*\]"
)  # a link's text may be one bracketed word: "[[SP 800-90Ar1]](#ref)"
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_HTML = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>")
_STAR = re.compile(r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORE = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BASE = 0xF0000


def reference_md_inline(text: str) -> str:
    if not any(ch in text for ch in "\\*_`[!<~"):
        return text
    text = _ESCAPE.sub(lambda m: chr(_BASE + ord(m.group(1))), text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML.sub("", text)
    text = text.replace("`", "")
    text = _STAR.sub(r"\2", text)
    text = _UNDERSCORE.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    return re.sub("[\U000f0000-\U000f00ff]", lambda m: chr(ord(m.group()) - _BASE), text)


_INLINE = st.sampled_from(
    [
        *"ab *_[]()!<>-~`\\/:\t1é",
        *("http:", "mailto:", "<!--", "-->", "</", "<a", "**", "__", "~~", "![", "](", "]["),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_INLINE, max_size=30).map("".join))
def test_markdown_inline_scanners_match_the_old_regular_expressions(line: str) -> None:
    assert _md_inline(line) == reference_md_inline(line)


@pytest.mark.parametrize(
    "line",
    [
        "Some **bold** and *italic* and ***both*** and _under_ and __strong__ text",
        "snake_case_name stays, _this_ goes, ~~struck~~ too",
        "A [link](https://example.org) and ![an image](x.png) and [ref][1] and <https://eu.eu>",
        "Cited as [[SP 800-90Ar1]](#SP800-90Ar1) and [[SP 800-63C]][2], not [[x]] or ![[y]](z)",
        "Tags <b>go</b>, comments <!-- hidden --> too; 3 < 4 and a<b stay",
        r"Escaped \*stars\* and \_underscores\_ stay",
        "** not bold ** and * not italic *",
    ],
)
def test_markdown_inline_examples_match_the_old_regular_expressions(line: str) -> None:
    assert _md_inline(line) == reference_md_inline(line)


# ---------------------------------------------------------------------------- hyphen joining

_WORD_FORMS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_LAST_WORD = re.compile(r"[^\W\d_]+$")
_FIRST_WORD = re.compile(r"[^\W\d_]+")


def reference_join(lines: list[str], source: str) -> str:
    """The reflow `_SectionBuilder._join` did before it became linear (quadratic)."""
    forms = {w.lower() for w in _WORD_FORMS.findall(source) if w}

    def drop(left: str, right: str) -> bool:
        left_match, right_match = _LAST_WORD.search(left), _FIRST_WORD.match(right)
        if left_match is None or right_match is None or left_match.end() != len(left):
            return False
        head, tail = left_match.group(), right_match.group()
        if f"{head}-{tail}".lower() in forms:
            return False
        if f"{head}{tail}".lower() in forms:
            return True
        return head[-1].islower() and tail[0].islower()

    out = lines[0]
    for nxt in lines[1:]:
        if len(out) > 1 and out[-1] == "-" and out[-2].isalnum() and nxt[0].isalnum():
            out = out[:-1] + nxt if drop(out[:-1], nxt) else out + nxt
        else:
            out = f"{out} {nxt}"
    return out


_LINE = st.lists(st.sampled_from(["secu", "rity", "EU", "wide", "Cyber", "x", "19", "-", " ", "é"]))


@settings(max_examples=500, deadline=None)
@given(st.lists(_LINE.map("".join).map(str.strip).filter(bool), min_size=1, max_size=12))
def test_hyphen_joining_matches_the_old_reflow(lines: list[str]) -> None:
    from bot.documents.plain import _SectionBuilder

    lines = [" ".join(line.split()) for line in lines]
    source = "\n".join(lines) + "\nsecurity cyber-attacks EU-wide"
    assert _SectionBuilder(source)._join(lines) == reference_join(lines, source)


# ---------------------------------------------------------------------------- binary rule


@FUZZ
@given(data=st.binary(min_size=1, max_size=2000))
def test_uploads_and_the_corpus_reader_agree_on_binary(tmp_path: Path, data: bytes) -> None:
    from bot import uploads

    refused_upload = False
    try:
        uploads.check_content("f.txt", b"x" + data)
    except uploads.UploadRefused as exc:
        refused_upload = "binary" in str(exc)
    path = write(tmp_path, ".txt", b"x" + data)
    try:
        read_document(path, path.name)
        refused_read = False
    except CorpusFileError as exc:
        refused_read = "binary" in str(exc)
    assert refused_upload == refused_read


_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_TABLE_RULE = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(list("# \ta-|:x")), max_size=16).map("".join))
def test_heading_and_table_rule_scanners_match_the_old_regular_expressions(line: str) -> None:
    from bot.documents.markdown import _md_atx, _md_table_rule

    match = _ATX.match(line)
    assert _md_atx(line) == ((len(match.group(1)), match.group(2) or "") if match else None)
    assert _md_table_rule(line) == bool(_TABLE_RULE.match(line))


# The line patterns before they were made possessive: same matches, no backtracking stack.
_OLD_LINE_PATTERNS = {
    "_MD_SETEXT": re.compile(r" {0,3}(=+|-+)[ \t]*$"),
    "_MD_RULE": re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$"),
    "_MD_LIST": re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?"),
    "_MD_QUOTE": re.compile(r" {0,3}(?:>[ \t]?)+"),
}
_OLD_REF_DEF = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S+")
_OLD_WORD_FORMS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_OLD_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(list(" \t=-*_+1.)[]xX>:ab\"')A!?é")), max_size=14).map("".join))
def test_possessive_patterns_match_the_old_ones(line: str) -> None:
    from bot import passages
    from bot.documents import markdown, plain

    for name, old in _OLD_LINE_PATTERNS.items():
        before, after = old.match(line), getattr(markdown, name).match(line)
        assert (before and (before.span(), before.groups())) == (
            after and (after.span(), after.groups())
        )
    assert bool(_OLD_REF_DEF.match(line)) == bool(markdown._MD_REF_DEF.match(line))
    assert _OLD_WORD_FORMS.findall(line) == plain._WORD_FORMS.findall(line)
    spans = [m.span() for m in passages._SENTENCE_END.finditer(line)]
    assert [m.span() for m in _OLD_SENTENCE_END.finditer(line)] == spans
