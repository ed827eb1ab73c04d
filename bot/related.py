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
from dataclasses import dataclass
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
    synsets: dict[tuple[str, str], tuple[list[str], list[Pointer]]] = {}
    for pos in _POS:
        for synset in _synsets(wordnet / f"data.{pos}"):
            words = [w.lower() for w in synset.words]
            synsets[pos[0] if pos != "adv" else "r", synset.offset] = (words, synset.pointers)
    table: dict[str, set[str]] = defaultdict(set)
    for pos in _POS:
        key = pos[0] if pos != "adv" else "r"
        for fields in _records(wordnet / f"index.{pos}"):
            lemma = fields[0]
            if "_" in lemma:
                continue
            stem = analysis.stem(lemma)
            for offset in _senses(fields)[:SENSES]:
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
    synsets = {synset.offset: synset for synset in _synsets(wordnet / "data.noun")}
    instances: dict[str, list[str]] = defaultdict(list)  # class -> its instances
    kinds: dict[str, list[str]] = defaultdict(list)  # class -> its hyponyms
    for offset, synset in synsets.items():
        for symbol, target, *_ in synset.pointers:
            if symbol == "@i":
                instances[target].append(offset)
            elif symbol == "@":
                kinds[target].append(offset)
    country = next((f for f in _records(wordnet / "index.noun") if f[0] == "country"), None)
    senses = _senses(country) if country else []
    political = [o for o in senses if "state" in synsets[o].words]
    classes, todo = set(political), list(political)
    while todo:
        for kind in kinds[todo.pop()]:
            if kind not in classes:
                classes.add(kind)
                todo.append(kind)
    names = {
        word.replace("_", " ")
        for offset in {i for c in classes for i in instances[c]}
        if "collectively" not in synsets[offset].gloss
        for word in synsets[offset].words
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
    for synset in _synsets(wordnet / "data.noun"):
        words = synset.words
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


def _records(path: Path) -> Iterator[list[str]]:
    """The fields of a WordNet database file's lines, the licence header skipped."""
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if not line.startswith("  "):
                yield line.split("|", 1)[0].split()


# A pointer from a synset: its symbol ("@" hypernym, "@i" instance of, "+" derivation,
# ...), the target's offset and part of speech ("s" read as "a"), and the source and
# target word numbers (0 and 0 for a pointer between whole synsets).
Pointer = tuple[str, str, str, int, int]


@dataclass(frozen=True)
class Synset:
    """One line of a WordNet data file (`data.noun`, ...).

    Attributes:
        offset: Its offset, the key pointers use.
        words: Its words as written ("European_Union", "ASEAN"), an adjective's
            syntactic marker ("(a)") dropped.
        pointers: Its pointers (`Pointer`).
        gloss: Its definition and examples.
    """

    offset: str
    words: list[str]
    pointers: list[Pointer]
    gloss: str


def _synsets(path: Path) -> Iterator[Synset]:
    """The synsets of a WordNet data file, the licence header skipped."""
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition("|")
            fields = head.split()
            count = int(fields[3], 16)
            words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(count)]
            at = 4 + 2 * count
            pointers: list[Pointer] = []
            for _ in range(int(fields[at])):
                symbol, offset, target_pos, ends = fields[at + 1 : at + 5]
                at += 4
                target_pos = "a" if target_pos == "s" else target_pos
                pointers.append((symbol, offset, target_pos, int(ends[:2], 16), int(ends[2:], 16)))
            yield Synset(fields[0], words, pointers, gloss.strip())


def _senses(fields: list[str]) -> list[str]:
    """The synset offsets of an index file's lemma line, most frequent sense first."""
    return fields[4 + int(fields[3]) + 2 :]


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
