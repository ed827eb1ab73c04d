"""Markdown into line events, with inline markup removed by linear scanners."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.documents.base import _collapse
from bot.documents.plain import _BREAK, _BULLET, _HEADING, _LINE, _Event, _plain_line_event

# ---------------------------------------------------------------------------- markdown

# Line patterns: each is matched once, at the start of one line, and can only succeed
# or fail in one way; the possessive quantifiers (*+, ++) say so to the engine, which
# then keeps no backtracking stack ("> " 300,000 times grew it to 6x the linear time).
_MD_FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)\n", re.DOTALL)
_MD_SETEXT = re.compile(r" {0,3}(=++|-++)[ \t]*+$")
_MD_RULE = re.compile(r" {0,3}([-*_])(?:[ \t]*+\1){2,}+[ \t]*+$")
_MD_FENCE = re.compile(r" {0,3}(```|~~~)")
_MD_LIST = re.compile(r"[ \t]*+(?:[-*+]|\d{1,9}[.)])[ \t]++(?:\[[ xX]\][ \t]++)?")
_MD_QUOTE = re.compile(r" {0,3}(?:>[ \t]?+)++")
_MD_REF_DEF = re.compile(r" {0,3}\[[^\]]++\]:[ \t]*+\S")
_MD_TABLE_CELL = re.compile(r":?-+:?")

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_MD_AUTOLINK_SCHEME = re.compile(r"(?:https?|ftp|mailto):")
_MD_AUTOLINK_STOP = re.compile(r"[>\s]")
_MD_TAG_STOP = re.compile(r"[<>]")
_ESCAPE_BASE = 0xF0000  # private-use plane: escaped characters hide here meanwhile

# Inline markdown used to be stripped with regular expressions such as
# r"\[([^\]]*)\]\([^)]*\)" and r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1". They are right, but a
# failed match is retried at the next character and scans to the end of the line
# again: a line of 40,000 "[" took 19 s, 40,000 " *a" 10 s. The scanners below strip
# exactly what those expressions matched (the tests compare both on random lines), in
# time linear in the line: each one remembers where the next closing "]", ")", "-->"
# or emphasis marker is, so a failed opener costs no new scan.


class _NextFinder:
    """`str.find` of one needle for queries whose start never decreases: linear in total.

    The answer for a start is the first valid position at or after it; it stays the
    answer for every later start up to it, so the text between is never scanned twice.
    `valid` narrows what counts as an occurrence (an emphasis closer after a non-space).
    """

    def __init__(self, text: str, needle: str, valid: Callable[[int], bool] | None = None):
        self._text = text
        self._needle = needle
        self._valid = valid
        self._start = -1
        self._found = -1
        self._fresh = True

    def find(self, start: int) -> int:
        if not self._fresh and start >= self._start and (self._found < 0 or start <= self._found):
            return self._found
        found = self._text.find(self._needle, start)
        while found >= 0 and self._valid is not None and not self._valid(found):
            found = self._text.find(self._needle, found + 1)
        self._start, self._found, self._fresh = start, found, False
        return found


def _md_brackets(text: str, image: bool) -> str:
    r"""Replaces "[text](url)" and "[text][ref]" by their text, or drops "![alt](url)".

    What r"!?\[([^\]]*)\]\([^)]*\)|!?\[([^\]]+)\]\[[^\]]*\]" matched, and a link whose
    text is one bracketed word ("[[SP 800-90Ar1]](#ref)", a citation), in linear time:
    an opener whose first "]" leads nowhere fails, and so does every opener before that
    "]" (they share it), so scanning goes on after it.
    """
    opener = "![" if image else "["
    close, paren = _NextFinder(text, "]"), _NextFinder(text, ")")
    out: list[str] = []
    copied = 0
    at = text.find(opener)
    while at >= 0:
        inner = at + len(opener)
        shut = close.find(inner)
        if shut < 0:
            break
        after = text[shut + 1 : shut + 2]
        if after == "]" and not image and text.startswith("[", inner):
            # One bracketed word inside the link text, as in a citation:
            # "[[SP 800-90Ar1]](#SP800-90Ar1)" shows "[SP 800-90Ar1]".
            shut += 1
            after = text[shut + 1 : shut + 2]
        end = -1
        if after == "(":
            end = paren.find(shut + 2)
        if end < 0 and after == "[" and (image or shut > inner):
            end = close.find(shut + 2)
        if end < 0:
            at = text.find(opener, shut + 1)
            continue
        out.append(text[copied:at])
        if not image:
            out.append(text[inner:shut])
        copied = end + 1
        at = text.find(opener, copied)
    out.append(text[copied:])
    return "".join(out)


def _md_autolinks(text: str) -> str:
    r"""Replaces "<https://...>" by the address: r"<((?:https?|ftp|mailto):[^>\s]+)>"."""
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        scheme = _MD_AUTOLINK_SCHEME.match(text, at + 1)
        if scheme is None:
            at = text.find("<", at + 1)
            continue
        stop = _MD_AUTOLINK_STOP.search(text, scheme.end())
        end = stop.start() if stop else len(text)
        if end > scheme.end() and end < len(text) and text[end] == ">":
            out.extend((text[copied:at], text[at + 1 : end]))
            copied = end + 1
            at = text.find("<", copied)
        else:
            # Every "<" before `end` runs into the same stop: none can match either.
            at = text.find("<", max(end, at + 1))
    out.append(text[copied:])
    return "".join(out)


def _md_html(text: str) -> str:
    """Drops comments and tags: what r"<!--.*?-->|</?[A-Za-z][^<>]*>" matched."""
    comment_end = _NextFinder(text, "-->")
    out: list[str] = []
    copied = 0
    at = text.find("<")
    while at >= 0:
        end = -1
        if text.startswith("<!--", at):
            shut = comment_end.find(at + 4)
            end = shut + 3 if shut >= 0 else -1
        else:
            name = at + 2 if text.startswith("</", at) else at + 1
            if name < len(text) and text[name].isascii() and text[name].isalpha():
                stop = _MD_TAG_STOP.search(text, name + 1)
                if stop and stop.group() == ">":
                    end = stop.end()
        if end < 0:
            at = text.find("<", at + 1)
            continue
        out.append(text[copied:at])
        copied = end
        at = text.find("<", copied)
    out.append(text[copied:])
    return "".join(out)


def _is_word_char(ch: str) -> bool:
    r"""Whether `ch` is what \w matches: a letter, a digit or "_"."""
    return ch.isalnum() or ch == "_"


def _md_emphasis(text: str, mark: str, sizes: tuple[int, ...], word_bound: bool) -> str:
    r"""Unwraps emphasis: "*a*", "**a**", "***a***", "_a_"..., "~~a~~" become "a".

    What r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1" matched (for "_", also not inside a word:
    r"(?<!\w)(_{1,3})...\1(?!\w)"; for "~", only "~~"): the opener takes the longest
    run of marks it can, the text after it starts and ends with a non-space, and the
    closer is the first run of as many marks after it. One `_NextFinder` per size
    remembers the next valid closer, so an opener without one costs no new scan.

    Args:
        text: One line (no newline).
        mark: "*", "_" or "~".
        sizes: The opener lengths tried, longest first.
        word_bound: Whether opener and closer must not touch a letter or digit ("_").
    """
    n = len(text)

    def closer(size: int) -> _NextFinder:
        def valid(at: int) -> bool:
            if text[at - 1].isspace():
                return False
            return not (word_bound and at + size < n and _is_word_char(text[at + size]))

        return _NextFinder(text, mark * size, valid)

    closers = {size: closer(size) for size in sizes}
    out: list[str] = []
    copied = 0
    at = text.find(mark)
    while at >= 0:
        end = -1
        if not (word_bound and at > 0 and _is_word_char(text[at - 1])):
            for size in sizes:
                inner = at + size
                if text[at:inner] != mark * size or inner >= n or text[inner].isspace():
                    continue
                shut = closers[size].find(inner + 1)
                if shut >= 0:
                    out.extend((text[copied:at], text[inner:shut]))
                    end = copied = shut + size
                    break
        at = text.find(mark, end if end >= 0 else at + 1)
    out.append(text[copied:])
    return "".join(out)


def _md_inline(text: str) -> str:
    """Strips inline markdown from one line: emphasis, backticks, links to their text, images.

    Linear in the line's length (see `_md_brackets` and `_md_emphasis`).
    """
    if not any(ch in text for ch in "\\*_`[!<~"):
        return text
    text = _MD_ESCAPE.sub(lambda m: chr(_ESCAPE_BASE + ord(m.group(1))), text)
    if "[" in text:
        text = _md_brackets(_md_brackets(text, image=True), image=False)
    if "<" in text:
        text = _md_html(_md_autolinks(text))
    text = text.replace("`", "")
    if "*" in text:
        text = _md_emphasis(text, "*", (3, 2, 1), word_bound=False)
    if "_" in text:
        text = _md_emphasis(text, "_", (3, 2, 1), word_bound=True)
    if "~~" in text:
        text = _md_emphasis(text, "~", (2,), word_bound=False)
    return re.sub("[\U000f0000-\U000f00ff]", lambda m: chr(ord(m.group()) - _ESCAPE_BASE), text)


def _md_atx(line: str) -> tuple[int, str] | None:
    r"""An ATX heading's level and text: "## Text ##" -> (2, "Text"), or None.

    What r" {0,3}(#{1,6})(?:[ 	]+(.*?))?(?:[ 	]+#+)?[ 	]*$" matched, without its
    backtracking: with the lazy group, a heading line holding two long runs of spaces
    took 23 s for 40,000 characters. Linear: a few strips and one reverse scan.
    """
    body = line.lstrip(" ")
    if len(line) - len(body) > 3 or not body.startswith("#"):
        return None
    rest = body.lstrip("#")
    level = len(body) - len(rest)
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    hashes = text.rstrip("#")
    if hashes != text and hashes[-1:] in (" ", "\t"):
        text = hashes.rstrip(" \t")  # the closing "##", with the spaces before it
    return level, text


def _md_table_rule(line: str) -> bool:
    r"""Whether a line is a table's rule row ("|---|:-:|"), cells of dashes and colons.

    What r"[ 	]*\|?[ 	]*:?-+:?[ 	]*(?:\|[ 	]*:?-+:?[ 	]*)*\|?[ 	]*$" matched;
    that pattern took 9 s on "|" then 40,000 dashes and as many spaces. Linear.
    """
    row = line.strip(" \t")
    row = row.removeprefix("|")
    row = row[:-1] if row.endswith("|") else row
    return all(_MD_TABLE_CELL.fullmatch(cell.strip(" \t")) for cell in row.split("|"))


def _markdown_events(text: str) -> tuple[list[_Event], str]:
    """Line events of normalised markdown, and its title (the first "# " heading)."""
    text = _MD_FRONT_MATTER.sub("", text, count=1)
    caps_headings = not text.isupper()
    events: list[_Event] = []
    title = ""
    in_fence = False
    previous_blank = True  # whether the line before the current paragraph line was blank
    for raw in text.split("\n"):
        if _MD_FENCE.match(raw):
            in_fence = not in_fence
            events.append((_BREAK, ""))
            previous_blank = True
            continue
        if in_fence:
            # Code is kept as text, one line a unit, never read as headings or bullets.
            line = _collapse(raw)
            events.extend([(_LINE, line), (_BREAK, "")] if line else [(_BREAK, "")])
            continue
        line = _MD_QUOTE.sub("", raw, count=1) if raw.lstrip().startswith(">") else raw
        blank_before, previous_blank = previous_blank, not line.strip()
        if not line.strip():
            events.append((_BREAK, ""))
            continue
        setext = _MD_SETEXT.match(line)
        if (
            setext
            and not blank_before
            and events
            and events[-1][0] == _LINE
            and (len(events) == 1 or events[-2][0] == _BREAK)
        ):
            # "Title" / "=====": the underline makes the single line above a heading.
            heading = events.pop()[1]
            events.append((_HEADING, heading))
            if setext.group(1)[0] == "=" and not title:
                title = heading
            previous_blank = True
            continue
        if _MD_RULE.match(line):
            events.append((_BREAK, ""))
            previous_blank = True
            continue
        atx = _md_atx(line)
        if atx:
            heading = _collapse(_md_inline(atx[1]))
            if heading:
                events.append((_HEADING, heading))
                if atx[0] == 1 and not title:
                    title = heading
            else:
                events.append((_BREAK, ""))
            previous_blank = True
            continue
        if _MD_REF_DEF.match(line):
            continue  # "[1]: https://..." defines a link target; it is not text
        stripped = line.strip()
        if stripped.startswith("|") or (stripped.endswith("|") and "|" in stripped[:-1]):
            # A table row is one unit, cells separated by " | "; the rule row goes.
            if not _md_table_rule(line):
                cells = [_collapse(_md_inline(cell)) for cell in stripped.strip("|").split("|")]
                events.extend([(_LINE, " | ".join(c for c in cells if c)), (_BREAK, "")])
            previous_blank = True
            continue
        item = _MD_LIST.match(line)
        if item:
            body = _collapse(_md_inline(line[item.end() :]))
            marker = line[: item.end()].strip()
            numbered = marker[:1].isdigit()
            events.append((_BULLET, f"{marker.split()[0]} {body}".strip() if numbered else body))
            continue
        body = _collapse(_md_inline(line))
        if body:
            events.append(_plain_line_event(body, caps_headings))
    return events, title
