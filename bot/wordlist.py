"""English word frequencies: a typo or a word the corpus lacks, and how specific a word is.

The counts are pyspellchecker's English dictionary (word frequencies from a large
general corpus), shipped inside that package: no word list is kept by hand here. They
are read once, lazily, by the first question answered (0.18 s, 160,572 words), and
serve two ends: a common word is not "repaired" into a different corpus word, and the
answer/abstain decision weighs the question's words by how specific they are in
general English (`specificity`), a measure that holds on any corpus.

The dictionary spells American English. A British spelling it lacks ("neighbouring",
"organisations", "defence") is looked up as its American one (`american`): read as it
was, it looked like a name, the most specific of words, to the decision, and as no
common word to the typo repair.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from functools import lru_cache
from importlib import resources

# A word at least this frequent in pyspellchecker's counts is "common": 26,157 English
# words, from "the" down to words like "latent" (2,029) and "psych" (10,249); misspellings
# it lists ("wether", 374) stay below it.
COMMON_COUNT = 500

# British and American spellings of one word: "defense" asked, "defence" written is a
# repair worth making even though "defense" is a common word.
_SPELLINGS = (
    (re.compile(r"ence$"), "ense"),
    (
        re.compile(r"our(s|ed|ing|ite|ites|hood|hoods|ful|able|ably|er|ers|less|ist|ists)?$"),
        r"or\1",
    ),
    (re.compile(r"is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"ys(e|ed|es|ing)$"), r"yz\1"),
    (re.compile(r"tre(s?)$"), r"ter\1"),
    (re.compile(r"ogue(s?)$"), r"og\1"),
    (re.compile(r"ll(ed|ing|er)$"), r"l\1"),
    (re.compile(r"mme(s?)$"), r"m\1"),
)


@lru_cache(maxsize=1)
def _counts() -> dict[str, int]:
    """The English word counts pyspellchecker ships (160,572 words), read once."""
    try:
        data = resources.files("spellchecker").joinpath("resources/en.json.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return {}  # without the package every unknown word may be a typo, as before
    counts: dict[str, int] = json.loads(gzip.decompress(data))
    return counts


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The common English words, read once from pyspellchecker's dictionary."""
    return frozenset(w for w, n in _counts().items() if n >= COMMON_COUNT)


@lru_cache(maxsize=1)
def _total() -> float:
    return float(sum(_counts().values()) or 1)


@lru_cache(maxsize=1 << 14)
def specificity(word: str) -> float:
    """How specific a lower-case word is in general English, in [0, 1].

    Its idf over pyspellchecker's counts, divided by the highest possible: "the" 0.14,
    "makes" 0.38, "treaties" 0.67; a word the dictionary lacks (a name, a number, an
    acronym: "pesco", "2022") 1.0. Unlike a corpus's idf it means the same on any
    corpus, also on a small one where every word is rare.
    """
    total = _total()
    if total <= 1:
        return 1.0
    return math.log(total / (_count(word) + 1)) / math.log(total)


def _count(word: str) -> int:
    """A word's count, under its American spelling if the dictionary lacks it as written."""
    counts = _counts()
    found = counts.get(word)
    return counts.get(american(word), 0) if found is None else found


def is_common(word: str) -> bool:
    """Whether a lower-case word is a common English word, in either spelling."""
    common = common_words()
    return word in common or (bool(word) and american(word) in common)


def american(word: str) -> str:
    """A word with its British spelling turned American ("defence" -> "defense")."""
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def same_word(a: str, b: str) -> bool:
    """Whether two words are spellings of one word (British and American)."""
    return american(a) == american(b)
