"""HTML into line events: headings, blocks, list items and table cells."""

from __future__ import annotations

from html.parser import HTMLParser

from bot.documents.base import _collapse, normalize_text
from bot.documents.markdown import _MD_TAG_STOP, _NextFinder
from bot.documents.plain import _BREAK, _BULLET, _HEADING, _LINE, _Event

# ---------------------------------------------------------------------------- HTML

_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math"})
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HTML_BLOCKS = frozenset(
    {
        "p", "div", "br", "tr", "li", "ul", "ol", "dl", "dt", "dd", "table", "thead",
        "tbody", "tfoot", "caption", "section", "article", "header", "footer", "nav",
        "aside", "main", "blockquote", "pre", "hr", "figure", "figcaption", "form",
        "fieldset", "address", "details", "summary", "center", "body", "html", "head",
        "title",
    }
)  # fmt: skip
_HTML_CELLS = frozenset({"td", "th"})


def _html_closed_markup(text: str) -> str:
    """Escapes every "<" that starts no complete tag, and ends the text at an open comment.

    Python 3.11's `HTMLParser` rescans to the end of its buffer for each "<" that does
    not close: 40,000 characters of "<a " took 21 s, of "<!--" 1.4 s, and the time grows
    with the square of the length. A "<" whose next "<" or ">" is a "<" (or that has
    none) can start no tag, so it becomes "&lt;", which the parser reads as the text "<"
    as it did before. A comment that never closes runs to the end of the file, as HTML5
    says, so the rest is dropped. Linear: each character is looked at a bounded number
    of times. A quoted attribute value holding "<" ('<a title="a<b">') is the one
    well-formed case this changes: the tag's text then shows as text.
    """
    if "<" not in text:
        return text
    comment_end = _NextFinder(text, "-->")
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        if text.startswith("<!--", at):
            shut = comment_end.find(at + 4)
            if shut < 0:
                out.append(text[copied:at])
                return "".join(out)
            at = text.find("<", shut + 3)
            continue
        stop = _MD_TAG_STOP.search(text, at + 1)
        if stop is not None and stop.group() == ">":
            at = text.find("<", stop.end())
            continue
        out.extend((text[copied:at], "&lt;"))
        copied = at + 1
        at = stop.start() if stop is not None else -1
    out.append(text[copied:])
    return "".join(out)


class _HtmlEvents(HTMLParser):
    """Collects line events and the title from HTML; one instance per document.

    Whitespace in HTML source is not meaningful, so each block's text is collapsed into
    one unit: an HTML paragraph is never reflowed line by line, and its capitals are
    never taken for a heading (HTML marks its headings).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[_Event] = []
        self.title = ""
        self.first_h1 = ""
        self._buffer: list[str] = []
        self._skip = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: str | None = None  # the open h1-h6 tag
        self._bullet = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HTML_HEADINGS:
            self._flush()
            self._heading = tag
        elif tag == "li":
            self._flush()
            self._bullet = True
        elif tag in _HTML_BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre += 1
        elif tag in _HTML_CELLS:
            self._buffer.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
            self.title = self.title or _collapse(normalize_text("".join(self._title_parts)))
        elif tag in _HTML_HEADINGS or tag in _HTML_BLOCKS:
            self._flush()
            if tag == "li":
                self._bullet = False  # an empty item must not turn the next block into one
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in _HTML_CELLS:
            self._buffer.append(" ")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif self._skip:
            return
        elif self._pre and "\n" in data:
            # Preformatted text keeps its lines: each line is a unit.
            first, *rest = data.split("\n")
            self._buffer.append(first)
            for line in rest:
                self._flush()
                self._buffer.append(line)
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        text = _collapse(normalize_text("".join(self._buffer)))
        self._buffer = []
        if self._heading is not None:
            if text:
                self.events.append((_HEADING, text))
                if self._heading == "h1" and not self.first_h1:
                    self.first_h1 = text
            self._heading = None
        elif text:
            self.events.append((_BULLET if self._bullet else _LINE, text))
            self._bullet = False
        self.events.append((_BREAK, ""))
