"""Related words: "trust" asked, "confidence" written; "react" asked, "respond" written.

A question in words the text does not use finds nothing to match, however plainly the
text answers it. For a question word the corpus lacks, the search also looks for the
word's synonyms and derived forms in WordNet 3.0 (Princeton University), taken from the
word's three most frequent senses: "internet" -> cyberspace, "independent" ->
sovereign/sovereignty, "quickly" -> rapid. They score at `RELATED_WEIGHT` of a word (a
synonym of one sense is weaker evidence than the word itself), and the answer/abstain
model sees how much of the question was matched only this way.

The table (`related.tsv.gz` beside this module, 0.5 MB, 37,753 words; stem, then related
stems) is derived once from WordNet's database files by `python -m bot.related WORDNET_DIR`
(e.g. Debian's `wordnet-base` package installs them in /usr/share/wordnet) and ships
with the package under WordNet's licence (`related-LICENSE.txt`), so nothing is
downloaded at run time. It is read on the first question that has a word the corpus
lacks (about 25 ms), never for a question in the corpus's own words.

Well-known acronyms are related words of their own kind: "UN" asked, "United Nations"
written; "AI", "artificial intelligence". WordNet puts an acronym and its long form in
one synset; the pairs whose long form's initials spell the acronym are kept in
`acronyms.tsv.gz` (an acronym, then its long forms, most frequent sense first), derived
by the same command. The retriever searches a long form's words in place of an acronym
the corpus lacks (`long_forms`).

Country names are a third table (`countries.txt.gz`, the same command): the names of
WordNet's instances of "country" ("Ukraine", "Ukrayina", "United States"). "Which
countries take part in the ASEAN Regional Forum?" is not answered by a sentence that
names only the forum, nor "Which Western Balkan countries ...?" by "the Western
Balkans" (`bot.kinds`).
"""

from __future__ import annotations

import gzip
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bot import acronyms, analysis

FILENAME = "related.tsv.gz"
ACRONYMS = "acronyms.tsv.gz"
COUNTRIES = "countries.txt.gz"
# Senses per word whose synonyms count: WordNet lists a word's senses most frequent
# first, and past the third they drift ("help" -> "portion", "serving").
SENSES = 3
_POS = ("noun", "verb", "adj", "adv")
# Pointers followed from a synset's words: derivationally related form, pertainym
# ("rapidly" -> "rapid"). Hypernyms ("university" -> "establishment") drift too far.
_LINKS = ("+", "\\")


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """The shipped table, read once; empty if it is missing (the search then does without).

    Each entry stays one string until it is asked for: splitting all 37,753 on load
    would double the time a first unknown word waits.
    """
    return dict(line.split("\t", 1) for line in _shipped_lines(FILENAME))


def _shipped_lines(name: str) -> list[str]:
    """The lines of a gzipped table shipped beside this module; none if it is missing."""
    try:
        data = resources.files("bot").joinpath(name).read_bytes()
    except FileNotFoundError:
        return []
    return gzip.decompress(data).decode("utf-8").splitlines()


def related(stem: str) -> tuple[str, ...]:
    """Stems of words related to a stemmed word (synonyms and derived forms), maybe none."""
    return tuple(_table().get(stem, "").split())


@lru_cache(maxsize=1)
def _acronyms() -> dict[str, tuple[str, ...]]:
    """The shipped acronym table, read once; empty if it is missing."""
    lines = _shipped_lines(ACRONYMS)
    return {acronym: tuple(forms) for acronym, *forms in (line.split("\t") for line in lines)}


def long_forms(acronym: str) -> tuple[str, ...]:
    """The long forms of a well-known acronym (lower case, "un"), most frequent first."""
    return _acronyms().get(acronym, ())


@lru_cache(maxsize=1)
def countries() -> tuple[str, ...]:
    """Country names as written ("Ukraine", "United States"), read once; none if missing."""
    return tuple(_shipped_lines(COUNTRIES))


def derive(wordnet: Path) -> dict[str, set[str]]:
    """Builds the table from WordNet's database files (`data.noun`, `index.noun`, ...).

    Raises:
        OSError: A database file cannot be read.
    """
    synsets: dict[tuple[str, str], tuple[list[str], list[tuple[str, str, str, int, int]]]] = {}
    for pos in _POS:
        for fields in _records(wordnet / f"data.{pos}"):
            count = int(fields[3], 16)
            words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
            at = 4 + 2 * count
            pointers = []
            for _ in range(int(fields[at])):
                symbol, offset, target_pos, ends = fields[at + 1 : at + 5]
                at += 4
                target_pos = "a" if target_pos == "s" else target_pos
                pointers.append((symbol, offset, target_pos, int(ends[:2], 16), int(ends[2:], 16)))
            synsets[pos[0] if pos != "adv" else "r", fields[0]] = (words, pointers)
    table: dict[str, set[str]] = defaultdict(set)
    for pos in _POS:
        key = pos[0] if pos != "adv" else "r"
        for fields in _records(wordnet / f"index.{pos}"):
            lemma = fields[0]
            if "_" in lemma:
                continue
            offsets = fields[4 + int(fields[3]) + 2 :]
            stem = analysis.stem(lemma)
            for offset in offsets[:SENSES]:
                words, pointers = synsets[key, offset]
                found = set(words)
                for symbol, target, target_pos, source, goal in pointers:
                    if symbol in _LINKS and goal and (not source or words[source - 1] in found):
                        found.add(synsets[target_pos, target][0][goal - 1])
                table[stem].update(
                    analysis.stem(w)
                    for w in found
                    if "_" not in w and w.isalpha() and w not in analysis.STOP_WORDS
                )
                table[stem].discard(stem)
    return {stem: found for stem, found in table.items() if found}


def derive_countries(wordnet: Path) -> list[str]:
    """The names of WordNet's countries: instances of the noun "country" or a kind of it.

    The senses of "country" whose synset also holds "state" are the political ones
    (not "area, country", whose instances are cities); their kinds are "European
    country", "African country" and so on. A group of countries ("Balkans: the Balkan
    countries collectively") is left out: it names a region, not a country.

    Raises:
        OSError: A database file cannot be read.
    """
    synsets: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    groups = set()
    for fields in _records(wordnet / "data.noun", gloss=True):
        count = int(fields[3], 16)
        words = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
        at = 4 + 2 * count
        pointers = [
            (fields[at + 1 + 4 * i], fields[at + 2 + 4 * i]) for i in range(int(fields[at]))
        ]
        synsets[fields[0]] = (words, pointers)
        if "collectively" in fields[-1]:
            groups.add(fields[0])
    instances: dict[str, list[str]] = defaultdict(list)  # class -> its instances
    kinds: dict[str, list[str]] = defaultdict(list)  # class -> its hyponyms
    for offset, (_, pointers) in synsets.items():
        for symbol, target in pointers:
            if symbol == "@i":
                instances[target].append(offset)
            elif symbol == "@":
                kinds[target].append(offset)
    senses = next((f for f in _records(wordnet / "index.noun") if f[0] == "country"), [])
    political = [o for o in senses[4 + int(senses[3]) + 2 :] if "state" in synsets[o][0]]
    classes, todo = set(political), list(political)
    while todo:
        for kind in kinds[todo.pop()]:
            if kind not in classes:
                classes.add(kind)
                todo.append(kind)
    names = {
        word
        for offset in {i for c in classes for i in instances[c]} - groups
        for word in synsets[offset][0]
    }
    return sorted(names)


def derive_acronyms(wordnet: Path) -> dict[str, list[str]]:
    """Acronyms and their long forms from WordNet's nouns ("UN": "United Nations").

    A synset's word in capitals (`acronyms.is_acronym`) is paired with each of its
    words of several words whose initials spell it, small words aside (`_initials`):
    "EU" gets "European Union" but not "Common Market", "CEO" "chief executive
    officer" but not "chief operating officer" (in the same synset).

    Raises:
        OSError: A database file cannot be read.
    """
    found: dict[str, list[str]] = defaultdict(list)
    for fields in _records(wordnet / "data.noun"):
        words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(int(fields[3], 16))]
        for acronym in (w for w in words if w.isalnum() and acronyms.is_acronym(w)):
            for long_form in (w.replace("_", " ") for w in words if "_" in w):
                forms = found[acronym.lower()]
                if _initials(long_form) == acronym.lower() and long_form not in forms:
                    forms.append(long_form)
    return {acronym: forms for acronym, forms in found.items() if forms}


_SMALL_WORDS = frozenset(("of", "and", "the", "for", "on", "in", "to", "a", "an", "&"))


def _initials(long_form: str) -> str:
    """The first letters of a long form's words, small words aside.

    "United States of America" -> "usa"; "angiotensin-converting enzyme" -> "ace".
    """
    words = re.split(r"[\s-]+", long_form)
    return "".join(w[0].lower() for w in words if w and w.lower() not in _SMALL_WORDS)


def _records(path: Path, gloss: bool = False) -> Iterator[list[str]]:
    """The fields of a WordNet database file's lines, the licence header skipped.

    With `gloss`, the line's gloss (the text after "|") is the last field.
    """
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if not line.startswith("  "):
                fields, _, text = line.partition("|")
                yield [*fields.split(), text.strip()] if gloss else fields.split()


def write(table: dict[str, set[str]], out: Path) -> None:
    """Writes the table as gzipped TSV, sorted, so a rebuild gives the same bytes."""
    _write_gzipped(
        "".join(f"{stem}\t{' '.join(sorted(table[stem]))}\n" for stem in sorted(table)), out
    )


def write_acronyms(table: dict[str, list[str]], out: Path) -> None:
    """Writes the acronym table as gzipped TSV, acronyms sorted, long forms in order."""
    _write_gzipped("".join("\t".join((a, *table[a])) + "\n" for a in sorted(table)), out)


def write_countries(names: list[str], out: Path) -> None:
    """Writes the country names as gzipped lines, sorted."""
    _write_gzipped("".join(f"{name}\n" for name in sorted(names)), out)


def _write_gzipped(text: str, out: Path) -> None:
    """Writes text gzipped without a timestamp, so a rebuild gives the same bytes."""
    out.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def main(argv: list[str]) -> int:
    """`python -m bot.related WORDNET_DIR [OUT]`: derives the shipped tables.

    The acronym and country tables are written beside OUT (`ACRONYMS`, `COUNTRIES`).
    """
    if not argv:
        print("usage: python -m bot.related WORDNET_DIR [OUT]", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name(FILENAME)
    try:
        table = derive(Path(argv[0]))
        known = derive_acronyms(Path(argv[0]))
        names = derive_countries(Path(argv[0]))
        write(table, out)
        write_acronyms(known, out.with_name(ACRONYMS))
        write_countries(names, out.with_name(COUNTRIES))
    except OSError as exc:
        print(
            f"Error: {exc.filename or argv[0]}: {exc.strerror} (give the folder holding "
            "WordNet's data.noun, index.noun, ...)",
            file=sys.stderr,
        )
        return 1
    print(f"{len(table)} words, {sum(map(len, table.values()))} links -> {out}")
    print(f"{len(known)} acronyms -> {out.with_name(ACRONYMS)}")
    print(f"{len(names)} country names -> {out.with_name(COUNTRIES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
