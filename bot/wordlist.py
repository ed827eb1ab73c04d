"""Common English words, to tell a typo from a word the corpus simply lacks.

The list is pyspellchecker's English dictionary (word frequencies from a large general
corpus), shipped inside that package: no word list is kept by hand here. It is read
once, lazily, the first time a question holds a word the corpus lacks (0.2 s, 26,000
words kept), so questions the corpus knows every word of never pay for it.
"""

from __future__ import annotations

import gzip
import json
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
    (re.compile(r"our(s?)$"), r"or\1"),
    (re.compile(r"is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"ys(e|ed|es|ing)$"), r"yz\1"),
    (re.compile(r"tre(s?)$"), r"ter\1"),
    (re.compile(r"ogue(s?)$"), r"og\1"),
    (re.compile(r"ll(ed|ing|er)$"), r"l\1"),
    (re.compile(r"mme(s?)$"), r"m\1"),
)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The common English words, read once from pyspellchecker's dictionary."""
    try:
        data = resources.files("spellchecker").joinpath("resources/en.json.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return frozenset()  # without the package every unknown word may be a typo, as before
    counts = json.loads(gzip.decompress(data))
    return frozenset(w for w, n in counts.items() if n >= COMMON_COUNT)


def is_common(word: str) -> bool:
    """Whether a lower-case word is a common English word."""
    return word in common_words()


def american(word: str) -> str:
    """A word with its British spelling turned American ("defence" -> "defense")."""
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def same_word(a: str, b: str) -> bool:
    """Whether two words are spellings of one word (British and American)."""
    return american(a) == american(b)
