"""HTML into line events: the page's main content, its headings, blocks, lists and tables.

A saved web page is mostly not its article: navigation bars ("Home | Policies |
Contact"), cookie banners, sidebars and footers ("(c) 2024 ... Cookie settings"). The
main content is found by trafilatura (`main_content`), which scores the page's blocks
by text and link density and returns the article as simplified HTML; measured on
trafilatura's own 884-page evaluation set against readability-lxml, it kept more of
the article text and less of the rest. `_HtmlEvents`, a small `html.parser` reader,
turns the page into line events (headings become sections, list items bullets, table
rows one line each), and `html_events` keeps those trafilatura found to be content,
or the whole page when it finds nothing (short pages and fragments, such as a FAQ
answer saved on its own).

trafilatura and lxml are imported on the first HTML file a build reads, never when a
question is answered: the index holds the text already.
"""

from __future__ import annotations

import bisect
import logging
from html.parser import HTMLParser
from typing import Any

from bot.documents.base import CorpusFileError, _collapse, normalize_text
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


def main_content(text: str) -> str | None:
    """The page's main content as simplified HTML, as trafilatura finds it; None if none.

    `favor_recall` keeps the question headings of short FAQ pages, which the default
    merges into their answers or drops. Anything trafilatura or lxml raise on a broken
    page means "nothing found": the caller reads the whole page instead.
    """
    trafilatura = _trafilatura()
    try:
        html = trafilatura.extract(
            text,
            output_format="html",
            include_formatting=True,
            include_tables=True,
            include_comments=False,
            include_images=False,
            include_links=False,
            favor_recall=True,
        )
    except Exception as exc:  # noqa: BLE001 - lxml and trafilatura raise many types
        logging.getLogger(__name__).debug("no main content found: %r", exc)
        return None
    return html or None


def _trafilatura() -> Any:
    """trafilatura, imported on first use, its own log quietened.

    Its warnings ("discarding data: None", "empty HTML tree") speak of URLs and
    downloads; here they only mean that the page is read whole, which is no news.
    """
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    return trafilatura


def html_events(text: str, doc: str) -> tuple[list[_Event], str]:
    """Line events of a page's main content, and its title ("" if it names none).

    The whole page is read by `_HtmlEvents`, and so is trafilatura's main content; the
    page's own units and headings are kept where the main content holds them, in order
    (`_kept`). So the structure is always this reader's (trafilatura splits or merges
    some blocks differently), and trafilatura only decides what is content. The page's
    first <h1> is kept when what follows it is: trafilatura leaves the article's title
    out. When trafilatura finds nothing, or less than half its text is found in the
    page's units (on short pages its last resort flattens the whole page into one
    paragraph), the whole page is kept: a short page has little to strip, and losing
    its headings would lose its questions. The title is the page's <title>, else its
    first <h1>.

    Raises:
        CorpusFileError: `html.parser` failed on badly broken markup.
    """
    events, parser = _parse(text, doc)
    title = parser.title or parser.first_h1
    main = main_content(text)
    if main is None:
        return events, title
    units = [unit.replace(" ", "") for kind, unit in _parse(main, doc)[0] if kind != _BREAK]
    kept, matched = _kept(events, units, parser.first_h1)
    if matched * 2 < sum(map(len, units)):
        return events, title
    return kept, title


# Units are compared without their spaces: trafilatura sets inline code and the like
# apart ("remove `raise`." comes back as "remove raise ."). A unit of _LONG_UNIT
# characters or more is looked for in the main content's text; one found pins where
# the units around it may be found. A shorter unit must be a whole unit of the main
# content between those pins, so that a navigation link ("Students") is not found in
# an article's sentence or ahead of the article. A long unit is looked for at most _FAR
# characters past the last one found: a unit not found costs a bounded `str.find`.
_LONG_UNIT = 40
_FAR = 64 * 1024


def _kept(events: list[_Event], units: list[str], first_h1: str) -> tuple[list[_Event], int]:
    """The events found in the main content's `units` (spaces removed), in order.

    Returns:
        The events kept (breaks all kept) and how many of the units' characters they
        account for.
    """
    flat = "".join(units)
    starts: dict[str, list[int]] = {}  # a unit -> where it starts in `flat`, ascending
    at = 0
    for unit in units:
        starts.setdefault(unit, []).append(at)
        at += len(unit)
    keys = [unit.replace(" ", "") if kind != _BREAK else "" for kind, unit in events]
    spans: list[tuple[int, int] | None] = [None] * len(events)
    at = 0
    for i, key in enumerate(keys):  # first the long units, which pin the others
        if len(key) >= _LONG_UNIT:
            found = flat.find(key, at, at + len(key) + _FAR)
            if found >= 0:
                spans[i] = (found, found + len(key))
                at = found + len(key)
    bound = [len(flat)] * (len(events) + 1)  # where the next pinned unit starts
    for i in range(len(events) - 1, -1, -1):
        span = spans[i]
        bound[i] = span[0] if span is not None else bound[i + 1]
    at = 0
    for i, key in enumerate(keys):  # then the short ones, between the pins
        span = spans[i]
        if span is not None:
            at = span[1]
        elif key and len(key) < _LONG_UNIT:
            places = starts.get(key, [])
            place = bisect.bisect_left(places, at)
            if place < len(places) and places[place] + len(key) <= bound[i + 1]:
                spans[i] = (places[place], places[place] + len(key))
                at = places[place] + len(key)
    kept: list[_Event] = []
    matched = 0
    pending: _Event | None = None  # the first <h1>, kept if the unit after it is
    for (kind, unit), span in zip(events, spans, strict=True):
        if kind == _BREAK:
            kept.append((kind, unit))
        elif span is not None:
            if pending is not None:
                kept.append(pending)
            kept.append((kind, unit))
            matched += span[1] - span[0]
            pending = None
        else:
            pending = (kind, unit) if kind == _HEADING and unit == first_h1 else None
    return kept, matched


def _parse(text: str, doc: str) -> tuple[list[_Event], _HtmlEvents]:
    parser = _HtmlEvents()
    try:
        parser.feed(_html_closed_markup(text))
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser on badly broken markup
        raise CorpusFileError(f"cannot read HTML {doc}: {exc}") from exc
    return parser.events, parser


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
        self._cells: list[int] = []  # where each cell of the open table row starts in _buffer

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
            self._cells.append(len(self._buffer))

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
        if self._cells:  # a table row: its cells joined with " | ", as markdown tables are
            cuts = [0, *self._cells, len(self._buffer)]
            cells = (
                _collapse(normalize_text("".join(self._buffer[a:b])))
                for a, b in zip(cuts, cuts[1:], strict=False)
            )
            text = " | ".join(cell for cell in cells if cell)
            self._cells = []
        else:
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
