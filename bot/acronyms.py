"""Acronyms and their long forms, found in the text itself.

Policy text defines its acronyms once, in one of two ways: "Permanent Structured
Cooperation (PESCO)" or "PESCO (Permanent Structured Cooperation)". The long form is
matched to the letters of the acronym with the algorithm of Schwartz & Hearst (2003,
"A simple algorithm for identifying abbreviation definitions in biomedical text"): each
letter of the acronym, from the last, must appear in the candidate long form in the
same order, and the acronym's first letter must begin a word. It needs no dictionary
and no training, so it works on any corpus.

The index is not changed: at question time the few passages holding the acronym are
read and their text searched for a definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# "Long Form (ABBR)": the acronym in brackets, 2-10 characters, two capitals at least.
_BRACKETED = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9&\-]{1,9})\s*\)")
# "ABBR (Long Form)": an acronym followed by a bracketed phrase of two words or more.
_LEADING = re.compile(r"\b([A-Z][A-Za-z0-9&\-]{1,9})\s*\(\s*([^()]{3,120}?)\s*\)")


@dataclass(frozen=True)
class Definition:
    """An acronym defined in the text.

    Attributes:
        acronym: As written ("PESCO").
        long_form: As written ("Permanent Structured Cooperation").
        start: Offset of the definition's first character in the text searched.
    """

    acronym: str
    long_form: str
    start: int


def is_acronym(token: str) -> bool:
    """Two capitals at least, no lower-case run longer than one letter ("PESCO", "CSIRTs")."""
    capitals = sum(c.isupper() for c in token)
    return capitals >= 2 and capitals >= len(token) - 2 and token[0].isalnum()


def match_long_form(acronym: str, candidate: str) -> str | None:
    """The shortest end of `candidate` whose letters spell the acronym, or None.

    Schwartz & Hearst's rule: walk the acronym's letters and digits from the last,
    finding each in the candidate from its end; the first must start a word. The
    long form may not have more words than min(len + 5, 2 x len) of the acronym.
    """
    letters = [c.lower() for c in acronym if c.isalnum()]
    text = candidate.lower()
    if len(letters) < 2 or not text:
        return None
    s, lf = len(letters) - 1, len(text) - 1
    while s >= 0:
        c = letters[s]
        while lf >= 0 and (text[lf] != c or (s == 0 and lf > 0 and text[lf - 1].isalnum())):
            lf -= 1
        if lf < 0:
            return None
        lf -= 1
        s -= 1
    start = text.rfind(" ", 0, lf + 1) + 1
    long_form = candidate[start:].strip(" ,;:-–")
    words = re.findall(r"[^\W_]+", long_form)  # "man-in-the-middle" is four words
    if len(words) < 2 or len(words) > min(len(letters) + 5, 2 * len(letters)):
        return None
    if any(w.casefold() == acronym.casefold() for w in words):
        return None  # "WHO" is not defined by "who said"
    return long_form


def definitions(text: str) -> list[Definition]:
    """Every acronym definition in a text, in text order."""
    found: list[Definition] = []
    for m in _BRACKETED.finditer(text):
        acronym = m.group(1)
        if not is_acronym(acronym):
            continue
        # The candidate long form: the words just before the bracket, in its sentence.
        before = text[max(0, m.start() - 200) : m.start()]
        before = re.split(r"[.;:!?()\n]\s", before)[-1]
        words = before.split()
        limit = min(len(acronym) + 5, 2 * len(acronym))
        candidate = " ".join(words[-limit:])
        long_form = match_long_form(acronym, candidate)
        if long_form:
            found.append(Definition(acronym, long_form, m.start() - len(long_form) - 1))
    for m in _LEADING.finditer(text):
        acronym, inside = m.group(1), m.group(2)
        if not is_acronym(acronym) or is_acronym(inside.strip()):
            continue
        long_form = match_long_form(acronym, inside)
        # The whole bracket must be the long form, not a remark that ends in one.
        if long_form and long_form.strip() == inside.strip():
            found.append(Definition(acronym, long_form, m.start()))
    return sorted(found, key=lambda d: d.start)


def long_form(acronym: str, texts: Iterable[str]) -> tuple[str, int] | None:
    """The long form of `acronym` defined in the first text that defines it, and its index.

    Case is ignored when comparing acronyms ("Pesco" asked, "PESCO" written); a plural
    "CSIRTs" defines "CSIRT" too.
    """
    wanted = acronym.casefold()
    for position, text in enumerate(texts):
        for definition in definitions(text):
            name = definition.acronym.casefold()
            if name == wanted or (name.endswith("s") and name[:-1] == wanted):
                return definition.long_form, position
    return None
