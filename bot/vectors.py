"""Word vectors: how close in meaning the quoted sentences come to each question word.

A question put in other words than the text's ("How quickly are cyber threats
changing?", answered by "Cyber threats are evolving very fast") matches few of the
text's words, and to the answer/abstain decision it looked like a question the text does
not answer, which also matches few. What tells them apart is whether the words the
reply lacks are close in meaning to words it has ("quickly": "fast" 0.69, "changing":
"evolving" 0.75) or far from all of them ("names", "evaluated": nothing in a sentence
about projects comes near). The decision reads that (`answer.features`,
`sentence_closeness` and `unquoted_specific`); the search never does: closeness is not
sameness ("Albania" is close to "Balkans"), so it only informs a decision whose model
learned how far to trust it, and never makes a passage match.

The vectors are GloVe's (Pennington, Socher & Manning 2014, Stanford NLP Group:
`glove.6B.50d.txt`, trained on Wikipedia 2014 and Gigaword 5), under the Open Data
Commons Public Domain Dedication and License (`vectors-LICENSE.txt`): the `WORDS` most
frequent words made only of letters, each scaled to unit length and stored as 50 signed
bytes (`vectors.npz` beside this module, 1.7 MB). `python -m bot.vectors GLOVE_TXT` derives
it once; nothing is downloaded at run time. It is read on the first reply that lacks a
question word (about 30 ms) and never for a reply that quotes them all.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from bot import analysis

FILENAME = "vectors.npz"
# GloVe's words in frequency order; past the 40,000th they are rare names and
# misspellings ("nadeem", "thrifts"). 20,000 or 90,000 changed the cross-validated log
# loss by less than 0.0001.
WORDS = 40_000
# Below this cosine two words are no closer than unrelated words often are in 50
# dimensions ("decide": "declarations" 0.27); closeness counts from here (0.3 -> 0,
# 1.0 -> 1). Measured: a floor of 0.2, 0.3 or 0.4 gave the same log loss within 0.0002.
FLOOR = 0.3


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, dict[str, int]]:
    """The shipped table, read once; empty if it is missing (closeness is then 0)."""
    try:
        data = resources.files("bot").joinpath(FILENAME).read_bytes()
    except FileNotFoundError:
        return np.zeros((0, 1), dtype=np.float32), {}
    return load(data)


def load(data: bytes) -> tuple[np.ndarray, dict[str, int]]:
    """The vectors (unit length, float32) and each word's row, from `write`'s bytes."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        words = stored["words"].tobytes().decode("utf-8").split("\n")
        rows = stored["vectors"].astype(np.float32)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)
    return rows, {word: i for i, word in enumerate(words)}


def closeness(words: Sequence[str], sentences: Iterable[str]) -> list[float]:
    """For each word, how close in meaning the closest word of `sentences` is, in [0, 1].

    0 when the two have no vector (a name the table lacks is close to nothing) or are
    no closer than `FLOOR`; 1 for the same word. Takes about 10 µs for a few words and
    sentences (a sentence's words are looked up once: the top passages recur).
    """
    rows, index = _table()
    asked = [index.get(w.casefold()) for w in words]
    found = [i for i in asked if i is not None]
    said = list({i for sentence in sentences for i in _rows_in(sentence)})
    if not found or not said:
        return [0.0] * len(words)
    best = iter((rows[said] @ rows[found].T).max(axis=0).tolist())
    return [
        min(1.0, max(0.0, (next(best) - FLOOR) / (1.0 - FLOOR))) if i is not None else 0.0
        for i in asked
    ]


@lru_cache(maxsize=1 << 14)
def _rows_in(sentence: str) -> tuple[int, ...]:
    """The table's rows of a sentence's content words (memoised like `sentences.analysed`)."""
    index = _table()[1]
    return tuple(i for w in analysis.content_words(sentence) if (i := index.get(w)) is not None)


def derive(glove: Path, limit: int = WORDS) -> tuple[list[str], np.ndarray]:
    """The first `limit` words made of letters in a GloVe text file, with their vectors.

    Each line of the file is a word and its numbers, most frequent word first. A vector
    is scaled to unit length, then to signed bytes (cosines change by about 0.01).

    Raises:
        OSError: The file cannot be read.
        ValueError: A line holds no numbers, or not as many as the first line.
    """
    words: list[str] = []
    vectors: list[np.ndarray] = []
    with glove.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            word, _, numbers = line.rstrip("\n").partition(" ")
            if not (word.isascii() and word.isalpha() and word.islower()):
                continue
            try:
                vector = np.array(numbers.split(), dtype=np.float32)
            except ValueError:
                raise ValueError(f"line {number}: not a word and its numbers") from None
            if vector.size == 0 or (vectors and vector.size != vectors[0].size):
                raise ValueError(f"line {number}: {vector.size} numbers, not the first line's")
            words.append(word)
            vectors.append(vector / max(float(np.linalg.norm(vector)), 1e-9))
            if len(words) == limit:
                break
    if not words:
        raise ValueError("no word made of lower-case letters found")
    stacked = np.round(np.stack(vectors) * 127).astype(np.int8)
    return words, stacked


def write(words: list[str], vectors: np.ndarray, out: Path) -> None:
    """Writes what `load` reads: a zip of the words (as bytes) and the vectors.

    The zip holds no timestamps, so a rebuild gives the same bytes.
    """
    encoded = np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("words", encoded), ("vectors", vectors)):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    out.write_bytes(buffer.getvalue())


def main(argv: list[str]) -> int:
    """`python -m bot.vectors GLOVE_TXT [OUT]`: derives the shipped table."""
    if not argv:
        print("usage: python -m bot.vectors glove.6B.50d.txt [OUT]", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name(FILENAME)
    try:
        words, vectors = derive(Path(argv[0]))
        write(words, vectors, out)
    except OSError as exc:
        print(f"Error: {exc.filename or argv[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(
            f"Error: {argv[0]}: {exc} (give GloVe's text file, e.g. glove.6B.50d.txt)",
            file=sys.stderr,
        )
        return 1
    print(f"{len(words)} words, {vectors.shape[1]} numbers each -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
