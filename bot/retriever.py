"""Retrieval: a question in, ranked passages out.

The question goes through the same analyzer as the passages. Words the index has never
seen are first repaired against the corpus's own words with rapidfuzz ("Ukriane" ->
"ukraine", "defense" -> "defence"), and the repairs are reported so the reply can say
"did you mean". A common English word is not a typo: "latest" is not repaired into the
corpus's "latent" (`bot.wordlist`). Scoring reads only the matrix columns of the
question's terms (the matrix is stored column-major: an inverted index), so its cost
grows with the postings of those terms, not with the size of the corpus.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from bot import acronyms, analysis, related, scoring, wordlist
from bot.index import Index
from bot.index.errors import REBUILD, IndexCorrupt
from bot.passages import Passage
from bot.question import Question, parse

# A question's bigrams count this much of a word: enough to prefer a passage with the
# phrase, not so much that two words in a row outweigh the words themselves. Measured
# on the public test collections (bench/quality.py): at full weight bigrams cost 3-8%
# nDCG@10; at 0.3 they gain on every collection.
BIGRAM_WEIGHT = 0.3
# A related word (`bot.related`) standing in for a question word the corpus lacks
# counts this much of a word in the score.
RELATED_WEIGHT = 0.5
# At most this many related words stand in for one question word (see `_stand_ins`).
STAND_INS = 4
# Typo buckets larger than this are filtered in numpy before rapidfuzz measures them.
_FILTER_FROM = 64
# Passages read to see whether the corpus writes an acronym's long form (`_writes`).
_PHRASE_LOOKS = 50
# The question's words as typed, capitals kept (`Retriever.long_form`).
_TOKENS = re.compile(r"[A-Za-z0-9&]+")


@dataclass(frozen=True)
class Hit:
    """A ranked passage.

    Attributes:
        passage: The passage.
        score: Its BM25 score divided by the best score any passage could reach for this
            question: 1.0 means every question term at full strength, whatever the corpus.
        coverage: Share of the question's information (idf mass of its content words)
            found in the passage.
        matched: The question's content stems found in the passage.
        related: Question stems the corpus lacks whose related words (`bot.related`)
            the passage holds; not part of `matched` or `coverage`.
    """

    passage: Passage
    score: float
    coverage: float
    matched: frozenset[str] = frozenset()
    related: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Search:
    """The outcome of one search.

    Attributes:
        hits: Best first; equal scores in corpus order.
        corrections: (typed, corrected) word pairs applied to the question.
        stems: The question's content stems after repair (for highlighting).
        unknown: Content words that neither match nor could be repaired (some may
            still be searched through related words, see `related`).
        info: Information (idf) of each content stem; unknown words get the most.
        form: Stems of question-form words ("located", "include"), see
            `analysis.QUESTION_FORM_WORDS`.
        related: For a question stem the corpus lacks, the corpus stems of its
            related words (`bot.related`) that were searched in its place.
    """

    hits: tuple[Hit, ...]
    corrections: tuple[tuple[str, str], ...]
    stems: tuple[str, ...]
    unknown: tuple[str, ...]
    info: dict[str, float] = field(default_factory=dict)
    form: frozenset[str] = frozenset()
    related: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def expanded(self) -> dict[str, str]:
        """Every stem that stands for a question stem: its own, and its related words'."""
        found = {s: s for s in self.stems}
        for stem, others in self.related.items():
            for other in others:
                found.setdefault(other, stem)
        return found

    def coverage(self, matched: Iterable[str]) -> float:
        """Share of the question's information that a set of matched stems holds.

        Form words count only where they match: a passage without "located" is not
        missing anything "Where is X located?" asked about.
        """
        found = matched if isinstance(matched, frozenset | set) else set(matched)
        held = asked = 0.0  # one pass (the answer asks this of every hit and sentence)
        for stem, value in self.info.items():
            if stem in found:
                held += value
                asked += value
            elif stem not in self.form:
                asked += value
        return held / asked if asked else 0.0


class Retriever:
    """Ranks an index's passages for questions. Stateless apart from lookup tables."""

    def __init__(self, index: Index) -> None:
        self.index = index
        # Term -> column or None. A question looks each of its terms up several times
        # (scoring, the score ceiling, coverage, which terms a hit holds), and the
        # compound and prefix fallbacks probe many substrings; each probe of the
        # memory-mapped table hashes the term and binary-searches. Questions repeat
        # words, so a bounded memo serves most lookups.
        self.column = lru_cache(maxsize=1 << 16)(index.vocabulary.get)
        # A large typo bucket's words as code points, one row each (see `_one_edit_from`).
        self._bucket_codes: dict[tuple[str, int, str], np.ndarray] = {}

    @cached_property
    def _typo_buckets(self) -> dict[tuple[str, int, str], list[str]]:
        """Corpus words by (end, length, first or last two letters).

        A typo that needs repair is one or two edits from its word, so the word's length
        is within two letters and, unless the edits touch both ends of a short word, its
        first two or its last two letters are intact. Comparing against those buckets
        only keeps a repair in the microseconds on a vocabulary of a million words,
        where scanning every word of the right length would take a tenth of a second.
        Each bucket lists its words alphabetically (the index stores them sorted), so
        `repair` compares them in a fixed order without sorting anything per question.
        """
        buckets: dict[tuple[str, int, str], list[str]] = defaultdict(list)
        for word in self.index.words:
            buckets["head", len(word), word[:2]].append(word)
            buckets["tail", len(word), word[-2:]].append(word)
        return buckets

    def repair(self, word: str) -> str | None:
        """The corpus word a mistyped word most likely meant, or None.

        Conservative on purpose, because a wrong repair turns an honest "I don't know"
        into a wrong answer: words under 4 letters and numbers are never repaired; one
        edit (insert, delete, substitute, or swap neighbours) is allowed up to 8 letters,
        two from 9 ("company" must not become "compass"); a repair with two edits must
        keep the first letter. Among equally close words the most frequent wins, then
        the alphabetically first.
        """
        if len(word) < 4 or not word.isalpha():
            return None
        common = wordlist.is_common(word)
        # One edit first: any such word beats every two-edit one, and most typos are
        # one edit, so the wider two-edit search (more lengths, more candidates) is
        # only needed when the first finds nothing.
        for limit in (1, 2) if len(word) > 8 else (1,):
            best: tuple[int, int, str] | None = None
            for length in range(len(word) - limit, len(word) + limit + 1):
                for key in (("head", length, word[:2]), ("tail", length, word[-2:])):
                    candidates = self._typo_buckets.get(key)
                    if not candidates:
                        continue
                    if limit == 1 and len(candidates) > _FILTER_FROM:
                        candidates = self._one_edit_from(word, key, candidates)
                    for candidate, distance, _ in process.extract(
                        word, candidates, scorer=OSA.distance, score_cutoff=limit, limit=20
                    ):
                        if distance > 1 and candidate[0] != word[0]:
                            continue
                        if common and not wordlist.same_word(word, candidate):
                            continue
                        rank = (int(distance), -self.index.words[candidate], candidate)
                        if best is None or rank < best:
                            best = rank
            if best is not None:
                return best[2]
        return None

    def prepare_repair(self) -> None:
        """Makes the typo buckets and the large ones' letter tables now, not at a typo.

        For a long-running front end's warm-up (`Engine.warm_up`): at a million passages
        the first typo would otherwise wait half a second, and each large bucket's
        first typo a millisecond or more. Also reads the English word list (70 ms), the
        related words (25 ms) and the acronyms, which the first unknown word would.
        """
        wordlist.is_common("")
        related.related("")
        related.long_forms("")
        for key, words in self._typo_buckets.items():
            if len(words) > _FILTER_FROM:
                self._codes(key, words)

    def _codes(self, key: tuple[str, int, str], words: list[str]) -> np.ndarray:
        """A bucket's words as code points, a row per place (see `_one_edit_from`)."""
        codes = self._bucket_codes.get(key)
        if codes is None:  # a row per place: each comparison reads one row in order
            table = np.array(words, dtype=f"<U{key[1]}").view(np.uint32)
            codes = self._bucket_codes[key] = table.reshape(len(words), -1).T.copy()
        return codes

    def _one_edit_from(self, word: str, key: tuple[str, int, str], words: list[str]) -> list[str]:
        """The words of a large bucket that may be one edit from `word`, in bucket order.

        rapidfuzz compares about ten thousand words a millisecond, and at a million
        passages a bucket can hold tens of thousands (invented names share their first
        or last two letters), so a typo cost milliseconds. A test on the letters in
        place, vectorised, passes every word one edit away and few others: one
        substitution or swap leaves at most two places different; one letter inserted
        or deleted leaves each place of the shorter word equal to the longer's at the
        same place or the next. rapidfuzz then measures the few that pass, as before.
        """
        codes = self._codes(key, words)
        typed = np.array([word]).view(np.uint32)[:, None]  # a row per place, like codes
        size = len(typed)
        # All places in one operation each: a place at a time cost 15 us per bucket
        # however small (numpy's overhead, 4 calls a place), a typo 0.1-0.15 ms.
        if len(codes) == size:
            possible = (codes != typed).sum(axis=0, dtype=np.uint8) <= 2
        elif len(codes) == size + 1:
            # Shorter and longer: the bucket's word, or the typed one, missing a letter.
            possible = ((codes[:size] == typed) | (codes[1:] == typed)).all(axis=0)
        else:
            head = codes[: size - 1]
            possible = ((head == typed[:-1]) | (head == typed[1:])).all(axis=0)
        return [words[i] for i in np.flatnonzero(possible).tolist()]

    @cached_property
    def _surface_of_stem(self) -> dict[str, str]:
        """The most frequent corpus word for each stem, to name a repair in the reply."""
        best: dict[str, tuple[int, str]] = {}
        words = list(self.index.words)
        for word, stem in zip(words, analysis.stems(words), strict=True):
            count = self.index.words[word]
            if stem not in best or count > best[stem][0]:
                best[stem] = (count, word)
        return {stem: word for stem, (_, word) in best.items()}

    def passage_by_id(self, passage_id: str) -> Passage | None:
        """The passage with this id, or None if the current index no longer has it."""
        position = self.index.position_of(passage_id)
        return None if position is None else self.index.passages[position]

    def stem_prefix(self, stem: str) -> str | None:
        """The longest corpus stem of 6+ letters that begins the given stem, or None.

        A fallback for derived words the stemmer keeps apart: "cybercriminals" asked,
        "cybercrimes" written (stems "cybercrimin" and "cybercrim"). `search` asks it
        only for a word that is no common English word, like any other repair (issue 10:
        a common word "simply does not match"): it made "director" "direct" and
        "Did you mean “ukraine”?" of "Ukrainian". With that, over the project's question
        sets: cross-validated log loss 0.4994 -> 0.4981; F1 fitted without each set:
        factsheet +2.4, HR +0.7, US Constitution -0.3, NIST -0.2, WikiQA -0.1.
        """
        for end in range(len(stem) - 1, 5, -1):
            if self.column(stem[:end]) is not None:
                return stem[:end]
        return None

    def spelling_variant(self, stem: str) -> str | None:
        """The corpus's spelling of a stem it lacks, written another way, or None.

        British and American spellings ("defense" asked, "defence" written;
        "organization", "organisation") are the same word: WordNet lists both in one
        sense, so a related word (`bot.related`) one spelling change away from the stem
        (`_respelt`) is taken as the word itself, at full weight and without a "did you
        mean". Stems under 4 letters are left alone (one letter is too much of them).
        """
        if len(stem) < 4:
            return None
        close = [
            r for r in related.related(stem) if _respelt(stem, r) and self.column(r) is not None
        ]
        return min(close, key=lambda r: (self._idf(r), r)) if close else None

    def long_form(self, word: str, text: str) -> list[str] | None:
        """The stems of a well-known acronym's long form, when the corpus writes it out.

        "Does the EU work with the UN?" over a text that says "United Nations": the
        long form's words are searched in the acronym's place, at full weight, and their
        pair as a phrase (`related.long_forms`, from WordNet). Of several long forms
        ("AI": artificial insemination, artificial intelligence) the first the corpus
        writes as a phrase (`_writes`) is taken, so the text decides, also when it holds
        the words of another ("artificial", "insemination") apart. Only a word written in
        capitals in the question ("AI", "NGOs"; not in a message all in capitals), or one
        that is no common English word ("nato"), is read as an acronym: "add" and "aids"
        are words.
        """
        forms = related.long_forms(word)
        if not forms and word.endswith("s"):
            word = word[:-1]
            forms = related.long_forms(word)
        if not forms:
            return None
        shouted = not any(ch.islower() for ch in text)
        if wordlist.is_common(word) and (
            shouted
            or not any(
                acronyms.is_acronym(token) and token.lower().rstrip("s") == word.rstrip("s")
                for token in _TOKENS.findall(text)
            )
        ):
            return None
        for form in forms:
            found = [analysis.stem(w) for w in analysis.content_words(form)]
            if found and self._writes(form, found):
                return found
        return None

    def _writes(self, phrase: str, stems: list[str]) -> bool:
        """Whether the corpus writes a phrase, its words in a row (any case, any spacing).

        Looked for in the first `_PHRASE_LOOKS` passages holding its rarest word: a
        phrase seen in one passage is not indexed as a pair (see `prune_bigrams`).
        """
        columns = [c for s in stems if (c := self.column(s)) is not None]
        if len(columns) < len(stems):
            return False
        indptr, indices = self.index.postings.indptr, self.index.postings.indices
        rarest = min(columns, key=lambda c: int(indptr[c + 1]) - int(indptr[c]))
        start = int(indptr[rarest])
        end = min(int(indptr[rarest + 1]), start + _PHRASE_LOOKS)
        pattern = re.compile(
            r"\b" + r"[\s-]+".join(re.escape(w) for w in phrase.split()) + r"\b", re.I
        )
        return any(pattern.search(self.index.passages[int(p)].text) for p in indices[start:end])

    def split_compound(self, word: str) -> tuple[str, str] | None:
        """Splits a closed compound the corpus writes apart ("cyberthreats" -> cyber, threats).

        Both parts must be corpus words of at least three letters; the split with the
        longest first part wins.
        """
        known = self.column
        for cut in range(len(word) - 3, 2, -1):
            head, tail = word[:cut], word[cut:]
            if known(analysis.stem(head)) is not None and known(analysis.stem(tail)) is not None:
                return head, tail
        return None

    def search(self, question: Question | str, k: int = 3) -> Search:
        """Ranks passages for a question.

        Args:
            question: The parsed question (`bot.question.parse`), or any text; empty or
                stop-word-only questions give no hits.
            k: How many hits to return (capped at the number of passages).
        """
        if isinstance(question, str):
            question = parse(question)
        known = self.column
        corrections: list[tuple[str, str]] = []
        unknown: list[str] = []
        stems: list[str] = []
        instead: dict[str, tuple[str, ...]] = {}
        for word in question.content:
            stem = analysis.stem(word)
            if known(stem) is not None:
                stems.append(stem)
            elif variant := self.spelling_variant(stem):
                stems.append(variant)
            elif (
                len(word) > 2
                and word.endswith("s")
                and known(bare := analysis.stem(word[:-1])) is not None
            ):
                # A possessive or plural typed without its apostrophe that the stemmer
                # keeps ("EUs" is stemmed "eus"): the word itself.
                stems.append(bare)
            elif long := self.long_form(word, question.text):
                stems.extend(long)
            elif parts := self.split_compound(word):
                stems.extend(analysis.stem(part) for part in parts)
            elif fixed := self.repair(word):
                if not wordlist.same_word(word, fixed):
                    # "Did you mean" is for typos, not for "incentivize" / "incentivise".
                    corrections.append((word, fixed))
                stems.append(analysis.stem(fixed))
            elif not wordlist.is_common(word) and (prefix := self.stem_prefix(stem)):
                # Not for a common English word: "director" is no "direct", and
                # "Ukrainian" reaches "Ukraine" through its related words (below).
                corrections.append((word, self._surface_of_stem.get(prefix, prefix)))
                stems.append(prefix)
            else:
                # Still unknown (the corpus lacks the word), but searched through its
                # related words, if the corpus has any.
                unknown.append(word)
                stems.append(stem)
                if others := self._stand_ins(stem):
                    instead[stem] = others
        terms = analysis.terms_from_stems(stems)
        # The other way round: "cyber attacks" asked, "cyberattacks" written. The
        # stemmer may cut the joined word differently from its parts ("cyber crime"
        # asked: "cyber" + "crime", but "cybercrimes" is stemmed "cybercrim").
        words = question.content
        written_whole = {
            (analysis.stem(x), analysis.stem(y)): analysis.stem(x + y)
            for x, y in zip(words, words[1:], strict=False)
        }
        compounds = {
            joined: (a, b)
            for a, b in zip(stems, stems[1:], strict=False)
            for joined in (a + b, written_whole.get((a, b), ""))
            if joined and known(joined) is not None
        }
        terms += list(compounds)
        form = frozenset(analysis.stem(w) for w in question.form)
        search = Search(
            (),
            tuple(dict.fromkeys(corrections)),
            tuple(stems),
            tuple(unknown),
            {s: self._idf(s) for s in stems},
            form,
            instead,
        )
        for others in instead.values():
            terms += [r for r in others if r not in terms]
        if not terms:
            return search
        return replace(search, hits=tuple(self._rank(search, terms, compounds, k)))

    def _stand_ins(self, stem: str) -> tuple[str, ...]:
        """The corpus's related words for a stem it lacks: the `STAND_INS` rarest.

        The rarest say the most, and a common one ("activity" for "fight") would add
        the postings of a tenth of a large corpus to the question for little.
        """
        found = [r for r in related.related(stem) if self.column(r) is not None]
        return tuple(sorted(found, key=lambda r: (-self._idf(r), r))[:STAND_INS])

    @staticmethod
    def _weight(term: str, search: Search) -> float:
        """How much a search term counts: a word 1, a bigram or a stand-in less."""
        if " " in term:
            return BIGRAM_WEIGHT
        if _stands_in(term, search):
            return RELATED_WEIGHT
        return 1.0

    def _idf(self, term: str) -> float:
        """A term's idf; a term the corpus lacks gets the highest."""
        column = self.column(term)
        return float(self.index.idf[column]) if column is not None else self.index.max_idf

    def _ceiling(self, terms: list[str], search: Search) -> float:
        """The highest score a passage could reach: every term at saturated tf.

        Unknown words count at the highest idf (the question asks for something the
        corpus lacks); bigrams the corpus lacks do not count (a question's word pairs
        are mostly not phrases, and their absence says nothing); nor do related words
        standing in for an unknown one (it already counts in full).
        """
        total = sum(
            self._idf(t) * (BIGRAM_WEIGHT if " " in t else 1.0)
            for t in terms
            if (" " not in t or self.column(t) is not None) and not _stands_in(t, search)
        )
        return total * (self.index.k1 + 1.0) or 1.0

    def _rank(
        self, search: Search, terms: list[str], compounds: dict[str, tuple[str, str]], k: int
    ) -> list[Hit]:
        index = self.index
        column_of = {t: c for t in dict.fromkeys(terms) if (c := self.column(t)) is not None}
        counts = Counter(t for t in terms if t in column_of)
        if not counts:
            return []
        columns = np.fromiter((column_of[t] for t in counts), dtype=np.int64)
        # The question's weight of each term times the term's idf and (k1 + 1): with
        # the count and the passage's norm, a posting's BM25 weight (`bot.scoring`).
        strength = index.k1 + 1.0
        weights = np.fromiter(
            (
                n * self._weight(t, search) * float(index.idf[column_of[t]]) * strength
                for t, n in counts.items()
            ),
            dtype=np.float32,
            count=len(counts),
        )
        postings = index.postings
        try:
            candidates, scores = scoring.top_candidates(
                postings, index.norms, columns, weights, k, index.coded_norms
            )
        except scoring.DamagedPostings as exc:
            name = index.path / f"postings.{exc.array}.npy"
            raise IndexCorrupt(f"{name} is damaged ({exc}). {REBUILD}") from None
        # Every passage tying the k-th best is among the candidates, so ties at the cut
        # are settled here, by corpus position, not by the selection's whims.
        best = np.lexsort((candidates, -scores))[:k]
        top, top_scores = candidates[best], scores[best]
        ceiling = self._ceiling(terms, search)
        # Which of the question's terms each hit holds: a binary search of each term's
        # postings (sorted by passage) for all the hits at once.
        names = list(counts)  # in the order of `columns`
        listed = scoring.listed(postings, columns, top).T.tolist()  # per hit, per term
        # Hits holding the same terms match the same words with the same coverage:
        # worked out once per distinct set (the ten hits of a question mostly hold the
        # same words; per hit it was a third of `_rank`'s own time).
        seen: dict[tuple[bool, ...], tuple[frozenset[str], frozenset[str], float]] = {}
        hits = []
        for holds, position, score in zip(listed, top.tolist(), top_scores.tolist(), strict=True):
            key = tuple(holds)
            known = seen.get(key)
            if known is None:
                held = {name for name, has in zip(names, holds, strict=True) if has}
                for compound, parts in compounds.items():
                    if compound in held:
                        held.update(parts)
                matched = frozenset(s for s in search.info if s in held)
                through = frozenset(s for s, r in search.related.items() if not held.isdisjoint(r))
                known = seen[key] = (matched, through, search.coverage(matched))
            matched, through, coverage = known
            passage = index.passages[position]
            hits.append(Hit(passage, score / ceiling, coverage, matched, through))
        return hits


# The one-letter changes that tell British from American spelling: organisation /
# organization, defence / defense, behaviour / behavior, dialogue / dialog, centre /
# center, travelled / traveled, programme / program. Any other one-letter change
# between related words is another word ("defend" for "defense").
_RESPELLINGS = frozenset({("s", "z"), ("z", "s"), ("c", "s"), ("s", "c")})
_RESPELT_LETTERS = frozenset("uelm")


def _respelt(stem: str, other: str) -> bool:
    """Whether two stems differ by one British/American spelling change."""
    if Levenshtein.distance(stem, other, score_cutoff=1) != 1:
        return False
    (edit,) = Levenshtein.editops(stem, other)
    op, at, to = edit.tag, edit.src_pos, edit.dest_pos
    if op == "replace":
        return (stem[at], other[to]) in _RESPELLINGS
    added = stem[at] if op == "delete" else other[to]
    return added in _RESPELT_LETTERS


def _stands_in(term: str, search: Search) -> bool:
    """Whether a search term is only a related word standing in for a question word."""
    return term not in search.info and any(term in r for r in search.related.values())
