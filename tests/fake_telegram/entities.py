"""Telegram's text entities: HTML parsed as Telegram parses it, and typed-text entities.

`parse_html` accepts exactly the subset of HTML Telegram accepts and turns it into
plain text plus entities with UTF-16 offsets, or raises the `ApiError` Telegram would
answer. `typed_entities` gives the command and @mention entities a Telegram client
attaches to text a user types.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_telegram.errors import bad_request

_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entities(raw: str, base_offset: int) -> str:
    """Decodes &...; entities in a run of text, rejecting a bare '&' as Telegram does."""
    out: list[str] = []
    pos = 0
    while True:
        amp = raw.find("&", pos)
        if amp < 0:
            out.append(raw[pos:])
            return "".join(out)
        out.append(raw[pos:amp])
        match = _ENTITY_RE.match(raw, amp)
        if match is None:
            raise bad_request(
                f"can't parse entities: Character '&' at byte offset {base_offset + amp} "
                "does not start an entity; escape it as &amp;"
            )
        dec, hexa, name = match.groups()
        if name is not None:
            if name not in _NAMED_ENTITIES:
                raise bad_request(
                    f'can\'t parse entities: Unsupported HTML entity "&{name};" at byte offset '
                    f"{base_offset + amp}"
                )
            out.append(_NAMED_ENTITIES[name])
        else:
            codepoint = int(dec) if dec is not None else int(hexa, 16)
            if codepoint > 0x10FFFF or 0xD800 <= codepoint <= 0xDFFF:
                raise bad_request(f"can't parse entities: Bad character code at {amp}")
            out.append(chr(codepoint))
        pos = match.end()


def parse_html(html: str) -> tuple[str, list[dict[str, Any]]]:
    """Parses Telegram-flavoured HTML into (plain text, entities), or raises ApiError.

    Follows https://core.telegram.org/bots/api#html-style: only the supported tags,
    properly nested, every '<' and '&' in text escaped.
    """
    plain: list[str] = []
    length16 = 0
    stack: list[tuple[str, int, dict[str, str]]] = []  # (tag, utf16 start, attributes)
    entities: list[dict[str, Any]] = []
    pos = 0
    while pos < len(html):
        lt = html.find("<", pos)
        chunk = html[pos : lt if lt >= 0 else len(html)]
        if chunk:
            text = _decode_entities(chunk, pos)
            plain.append(text)
            length16 += utf16_len(text)
        if lt < 0:
            break
        gt = html.find(">", lt)
        if gt < 0:
            raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {lt}")
        inside = html[lt + 1 : gt]
        if inside.startswith("/"):
            name = inside[1:].strip().lower()
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {lt}")
            open_name, start, attrs = stack.pop()
            if name != open_name:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {lt}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            entity: dict[str, Any] = {
                "type": _TAG_ENTITY[open_name],
                "offset": start,
                "length": length16 - start,
            }
            if open_name == "a":
                entity["url"] = attrs.get("href", "")
            if open_name == "pre" and "language" in attrs:
                entity["language"] = attrs["language"]
            if entity["length"] > 0:
                entities.append(entity)
        else:
            match = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)", inside)
            name = match.group(1).lower() if match else ""
            if name not in _TAG_ENTITY:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {lt}'
                )
            attrs = {
                m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
                for m in _ATTR_RE.finditer(inside[len(name) :])
                if m.group(1)
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise bad_request(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
                    f"offset {lt}"
                )
            if name == "tg-emoji" and "emoji-id" not in attrs:
                raise bad_request(f'can\'t parse entities: Tag "tg-emoji" needs emoji-id at {lt}')
            if (
                stack
                and stack[-1][0] in ("code", "pre")
                and not (stack[-1][0] == "pre" and name == "code")
            ):
                raise bad_request(
                    f'can\'t parse entities: Can\'t nest "{name}" inside "{stack[-1][0]}" at '
                    f"byte offset {lt}"
                )
            if name == "code" and stack and stack[-1][0] == "pre":
                language = attrs.get("class", "").removeprefix("language-")
                if language:
                    stack[-1][2]["language"] = language
            stack.append((name, length16, attrs))
        pos = gt + 1
    if stack:
        name = stack[-1][0]
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{name}\""
        )
    return "".join(plain), entities


def typed_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach to typed text: commands and @mentions."""
    entities = []
    for match in re.finditer(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?", text):
        entities.append(("bot_command", match))
    for match in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{5,32}", text):
        if text[: match.start()].rstrip().endswith("/"):
            continue
        entities.append(("mention", match))
    out = []
    for kind, match in sorted(entities, key=lambda e: e[1].start()):
        if kind == "mention" and any(
            o["type"] == "bot_command"
            and o["_start"] <= match.start() < o["_start"] + len(o["_text"])
            for o in out
        ):
            continue
        out.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
                "_start": match.start(),
                "_text": match.group(),
            }
        )
    for entity in out:
        del entity["_start"], entity["_text"]
    return out
