"""The text analyzer shared by the index and the questions.

One code path turns any text into index terms, so a question and a passage can only
match when they mean the same words: Unicode normalisation (NFKC), casefolding, accent
removal, word tokens, stop words, Snowball stemming (PyStemmer, the C build of the
Snowball English stemmer), then unigrams plus adjacent-word bigrams.

Bigrams are built from the stemmed content words that stand next to each other once
stop words are removed, so "cyber defence policy" also yields "cyber defenc" and
"defenc polici"; a phrase match then outranks the same words scattered.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# NLTK's English stop-word list plus question and chat words, without "won": NLTK lists it
# for what is left of "won't" (spelled out in `normalize`), and "Who won the 2022 world
# cup?" asks about winning. Questions are full of
# "what/which/how/does/tell me", which carry no topic; policy words such as "system",
# "computer" or "against" are NOT here (scikit-learn's list drops those, which hurts).
_STOP_WORDS_TEXT = """
    a about above after again all am an and any are aren as at be because been before being
    below between both but by can couldn could d did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just ll m ma me mightn
    more most mustn my myself needn no nor not now o of off on once only or other our ours
    ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under until
    up ve very was wasn we were weren what when where which while who whom why will with
    wouldn y you your yours yourself yourselves also would shall may might must tell give
    show explain describe please know let like say said says get got e g eg ie etc
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())

# Words that give a question its form rather than its topic ("where is X located",
# "what does X include", "what kind of X"). They still match passages that use them, but
# when a passage lacks them it is not missing anything the question asked about, so the
# answer layer leaves them out of its coverage figure. So do the words a user names the
# text by ("according to the factsheet", "does the document mention"): a passage that
# never calls itself a factsheet still answers "What does the factsheet say about X?".
_QUESTION_FORM_WORDS_TEXT = """
    located locate location happen happened happens include includes including included run
    runs involve involves involved kind kinds sort type types example examples many much
    want wants wanted need needs mean means meant called call name named role main aim aims
    purpose goal goals exactly specifically currently actually really thing things way ways
    factsheet document documents text texts source sources mention mentions mentioned according
"""
QUESTION_FORM_WORDS: frozenset[str] = frozenset(_QUESTION_FORM_WORDS_TEXT.split())

_TOKEN = re.compile(r"\w+")
TOKEN_PATTERN = _TOKEN  # what `tokens` finds in normalised text (the index runs it in bulk)
# A comma between digits that groups thousands: "5,000", "1,250,000" (not "1,5" or "3,14").
# Written to start with the comma, so the search skips to each comma: with the digit
# looked behind for first, it tried every position (0.42 s against 0.03 s per 100,000
# passages).
_THOUSANDS = re.compile(r",(?<=\d,)(?=\d{3}(?!\d))")
# Curly quotes and the like that NFKC leaves alone but users type interchangeably.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


def normalize(text: str) -> str:
    """Folds text to the form both sides are compared in: NFKC, casefold, no accents.

    A number's thousands separators go too: "EUR 5,000" and "above 5000" hold one
    number, not "5" and "000" against "5000".
    """
    if text.isascii():
        text = text.lower()  # the same result, without three passes over the text
    else:
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if "won't" in text:
        text = text.replace("won't", "will not")
    return _THOUSANDS.sub("", text) if "," in text else text


def tokens(text: str) -> list[str]:
    """All word tokens of normalised text, before any filtering (see `words`)."""
    return _TOKEN.findall(normalize(text).replace("_", " "))


def is_word(token: str) -> bool:
    """Whether a token is a word: single letters are not, single digits are.

    Single letters are initials, list markers, the "s" of "EU's"; a single digit stays
    because "5 policy areas" is a fact a user may ask about.
    """
    return len(token) > 1 or token.isdigit()


def is_content_word(token: str) -> bool:
    """Whether a token is a word that is not a stop word (see `content_words`)."""
    return is_word(token) and token not in STOP_WORDS


def words(text: str) -> list[str]:
    """Splits normalised text into word tokens (`tokens` that pass `is_word`)."""
    return [t for t in tokens(text) if is_word(t)]


def content_words(text: str) -> list[str]:
    """Word tokens without stop words: the words that carry a question's topic.

    `words` without its stop words, in one pass with the tests inlined: a reply stems
    the sentences of each passage it reads the first time (`sentences.stems_of`), and
    two passes with a call per token cost a fifth more (16 against 12.6 us a sentence).
    """
    stop = STOP_WORDS
    return [t for t in tokens(text) if t not in stop and (len(t) > 1 or t.isdigit())]


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


# A number written in words has its digits' stem: "after ten years" answers "after 10
# years?", "five working days" "5 days". Not "one" (as often "which one", "no one") nor
# "hundred" ("two hundred" is not "2 100"). Keyed by Snowball stem ("twelv", "twenti").
_DIGITS_OF_STEM = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelv": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16",
    "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenti": "20", "thirti": "30",
    "forti": "40", "fifti": "50", "sixti": "60", "seventi": "70", "eighti": "80",
    "nineti": "90",
}  # fmt: skip
_NUMBER_STEMS = frozenset(_DIGITS_OF_STEM)


def stem(word: str) -> str:
    """Snowball (Porter 2) English stem of one normalised word; number words as digits."""
    found = str(_stemmer().stemWord(word))
    return _DIGITS_OF_STEM.get(found, found)


def stems(tokens: list[str]) -> list[str]:
    """Stems a list of words in one call (the C stemmer is fastest in batches).

    The number words are looked up only when there are some: the lookup of every
    stem took as long as stemming them (7.7 against 4.7 us for 35 words).
    """
    found: list[str] = _stemmer().stemWords(tokens)
    if _NUMBER_STEMS.isdisjoint(found):
        return found
    digits = _DIGITS_OF_STEM
    return [digits.get(s, s) for s in found]


@lru_cache(maxsize=1)
def _uncached_stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english", 0)


def stems_of_distinct(words: list[str]) -> list[str]:
    """`stems` of words that are all different (an index's vocabulary), without a cache.

    The same Snowball stemmer: PyStemmer's cache of recent words only costs time when
    no word comes twice (3x: it keeps evicting to stay under its 10,000 words).
    """
    digits = _DIGITS_OF_STEM
    return [digits.get(s, s) for s in map(str, _uncached_stemmer().stemWords(words))]


def terms_from_stems(stemmed: list[str], bigrams: bool = True) -> list[str]:
    """Index terms from a sequence of stems: the stems, then "a b" bigrams of neighbours."""
    if not bigrams or len(stemmed) < 2:
        return list(stemmed)
    return stemmed + [f"{a} {b}" for a, b in zip(stemmed, stemmed[1:], strict=False)]


def analyze(text: str, bigrams: bool = True) -> list[str]:
    """Turns text into index terms: content words, stems, then bigrams.

    Both sides run exactly these steps: the index calls them one by one to count the
    surface words on the way, and a question's words may be repaired between
    `content_words` and `stems`. tests/test_index.py checks the two sides agree.

    Args:
        text: Any string; empty, emoji-only or stop-word-only text gives an empty list.
        bigrams: Add bigrams of adjacent content words.

    Returns:
        Terms in text order (unigrams, then bigrams), with repeats, for counting.
    """
    return terms_from_stems(stems(content_words(text)), bigrams)
