"""Answers: from ranked passages to the reply a user reads, or an honest "I don't know".

The reply leads with the sentence(s) of the best passage that best match the question,
then names the source (document › section). An acronym question ("What does PESCO
stand for?") is answered with the long form the text defines. Greetings, thanks and
requests for help get a short human reply without any retrieval.

Whether to answer is decided by a model fitted on questions over several corpora
(`bot.model`, `python -m bot train`): features of the search and of the reply that keep
their meaning across corpora (normalised score, coverage, margin to the runner-up, how
rare the matched and missing words are, whether the reply holds the kind of thing the
question asks for) give the probability that the reply is right; the bot answers when
it reaches `Settings.min_confidence`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot import acronyms, analysis, vectors, wordlist
from bot.kinds import answers_the_kind, asked_for
from bot.model import AnswerModel
from bot.question import Question
from bot.retriever import RELATED_WEIGHT, Hit, Retriever, Search
from bot.sentences import (
    analysed,
    best_sentences,
    highlight_words,
    is_fragment,
    item_starts,
    stems_of,
    units,
)
from bot.suggestions import nearest_topics, shorten

# Small-talk replies name no command: each front end adds its own way to get help
# (console ":help", Telegram "/help"). "{example}" is a question from the corpus.
_REPLIES = {
    "greeting": "Hello! Ask me a question about the documents I know{example}.",
    "thanks": "You're welcome! Ask me anything else about the documents.",
    "help": "Ask a question in plain words{example}. I answer with the best-matching "
    "sentence and its source, or tell you when the documents do not cover it.",
}
# Documents a "What do you know?" reply names; a corpus of hundreds is summed up.
NAMED = 5
# A runner-up passage joins the answer when it scores at least this share of the best.
CLOSE = 0.8
_EMPTY = "Please type a question{example}."
_ABSTAIN = "I could not find this in the sources."


@dataclass(frozen=True)
class Quote:
    """Sentences quoted from one passage, and the hit they come from.

    An answer may quote two passages (see `supporting_hits`); each front end shows
    every quote followed by its own source, so no sentence is credited to the wrong
    document.
    """

    sentences: tuple[str, ...]
    hit: Hit


@dataclass(frozen=True)
class Answer:
    """The bot's reply to one question.

    Attributes:
        question: The question as asked.
        kind: "answer", "abstain", "smalltalk" or "empty".
        answered: True only when the reply gives an answer from the sources.
        text: The reply text a user sees (plain text).
        sentences: The best sentence(s) quoted from the top passage.
        hits: Ranked passages, best first, also when abstaining.
        corrections: (typed, corrected) words.
        highlight: Words of the question found in the reply, to emphasise.
        suggestions: Nearest topics (section headings) when abstaining.
        confidence: The calibrated probability that the reply is right (`bot.model`):
            for an abstention, that the best candidate reply would have been.
        quotes: The quoted sentences grouped by the passage they come from, best
            first; `sentences` is their concatenation.
        parts: For a message asking several questions (`bot.question.split`), the
            answer to each, in order; the fields above then join theirs (`joined`).
    """

    question: str
    kind: str
    answered: bool
    text: str
    sentences: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()
    highlight: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()
    confidence: float = 0.0
    quotes: tuple[Quote, ...] = ()
    parts: tuple[Answer, ...] = ()

    @property
    def shown(self) -> int:
        """How many of `hits`, from the first, the reply quotes: "more results" go on after.

        One for most answers; two when the answer quotes a second passage, or for a
        message of several questions each quoting its own (`joined` puts them first).
        """
        if not self.answered or not self.hits:
            return 0
        quoted = {quote.hit.passage.id for quote in self.quotes}
        leading = itertools.takewhile(lambda hit: hit.passage.id in quoted, self.hits)
        return max(1, sum(1 for _ in leading))

    def to_json(self) -> dict[str, Any]:
        """The `ask --json` object (the README's contract, plus a few extra fields)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.text,
            "kind": self.kind,
            "confidence": round(self.confidence, 4),
            "corrections": [{"typed": a, "corrected": b} for a, b in self.corrections],
            "sources": [
                {
                    "doc": h.passage.doc,
                    "section": h.passage.section,
                    "passage_id": h.passage.id,
                    "score": round(h.score, 4),
                    "text": h.passage.text,
                }
                for h in self.hits
            ],
            **({"parts": [part.to_json() for part in self.parts]} if self.parts else {}),
        }


def joined(question: str, answers: Sequence[Answer]) -> Answer:
    """One reply to a message asking several questions: each answer under its question.

    It is an answer when any part is answered. Its confidence is the least of the
    answered parts' (each must be right for the reply to be), or with none answered the
    most that any abstained part's best candidate had. Sources list the passages quoted
    first (see `Answer.shown`).
    """
    answered = [a for a in answers if a.answered]
    text = "\n\n".join(f"“{a.question.strip()}”\n{a.text}" for a in answers)
    hits: dict[str, Hit] = {}  # the quoted passages first, then the others
    for hit in [q.hit for a in answered for q in a.quotes] + [h for a in answers for h in a.hits]:
        hits.setdefault(hit.passage.id, hit)
    return Answer(
        question,
        "answer" if answered else "abstain",
        bool(answered),
        text,
        tuple(s for a in answered for s in a.sentences),
        tuple(hits.values()),
        tuple(dict.fromkeys(c for a in answers for c in a.corrections)),
        tuple(dict.fromkeys(w for a in answered for w in a.highlight)),
        tuple(dict.fromkeys(t for a in answers if not a.answered for t in a.suggestions))[:3],
        min(a.confidence for a in answered) if answered else max(a.confidence for a in answers),
        tuple(q for a in answered for q in a.quotes),
        tuple(answers),
    )


def corrected_words(corrections: Sequence[tuple[str, str]], hits: Sequence[Hit]) -> str:
    """The repaired words for "Did you mean ...?", each as the passages write it.

    A repair is a corpus word in the index's lower case; "Did you mean “ukraine”?"
    looked careless beside a reply that says "Ukraine". The top passages give its
    spelling: in lower case if they ever write it so (a common noun capitalised in a
    title, "the EU Cybersecurity Strategy", stays "cybersecurity"), else capitalised
    ("Ukraine") rather than in a heading's capitals; "PESCO" stays. A word they lack
    stays as it is.
    """
    texts = [h.passage.text for h in hits[:3]]
    written = []
    for _, word in corrections:
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        found = [m.group(0) for t in texts for m in pattern.finditer(t)]
        # The lower-case form first, then any not all in capitals, then any at all.
        spelt = min(found, key=lambda w: (not w.islower(), w.isupper()), default=word)
        written.append(f"“{spelt}”")
    return ", ".join(written)


def source_line(hit: Hit) -> str:
    """Where a hit comes from, as "document › section"."""
    return hit.passage.source


def quoted_text(quotes: tuple[Quote, ...]) -> str:
    """The plain-text reply for quotes: each quote's sentences, then its own source line.

    Two quotes read as four lines: sentence, "— doc › section", sentence, "— doc ›
    section", so no sentence is credited to the other passage's document.
    """
    return "\n".join(f"{quote_body(q)}\n— {source_line(q.hit)}" for q in quotes)


def quote_body(quote: Quote) -> str:
    """A quote's sentences as the reply shows them: list items one a line.

    Run together, bullets read as one sentence ("... areas: PROTECTION OF HUMAN RIGHTS
    GLOBAL CYBER RESILIENCE ...", or two bullets with no full stop between them), so
    when a quote holds more than one item, each item starts a line with "• "; a lead-in
    before them stays as it is.
    """
    items = item_starts(quote.hit.passage.text)
    listed = sum(1 for s in quote.sentences if s in items) > 1 or (
        len(quote.sentences) > 1 and quote.sentences[0].rstrip().endswith(":")
    )
    text = ""
    for sentence in quote.sentences:
        if listed and sentence in items:
            text += ("\n" if text else "") + f"• {sentence}"
        else:
            text += (" " if text else "") + sentence
    return text


def small_talk_reply(kind: str, examples: Sequence[str] = (), documents: Sequence[str] = ()) -> str:
    """The reply to small talk ("greeting", "thanks", "help", "sources"; "empty").

    Args:
        kind: What the message was ("empty" for no question).
        examples: Questions the loaded corpus can answer; the first is suggested.
        documents: The documents' names, for "sources" ("What do you know?").
    """
    example = f", for example “{examples[0]}”" if examples else ""
    if kind == "sources":  # the documents' names, then how to ask
        named = _sources(documents) + " " if documents else ""
        return named + _REPLIES["help"].format(example=example)
    template = _EMPTY if kind == "empty" else _REPLIES[kind]
    return template.format(example=example)


def _sources(documents: Sequence[str]) -> str:
    """The documents a reply names ("I answer from 2 documents: ..."), `NAMED` at most."""
    count = f"{len(documents)} document{'s' if len(documents) != 1 else ''}"
    named = ", ".join(f"“{d}”" for d in documents[:NAMED])
    more = len(documents) - NAMED
    return f"I answer from {count}: {named}" + (f" and {more} more." if more > 0 else ".")


def invites_tip(answer: Answer) -> bool:
    """Whether a front end adds its own help tip: a greeting, a help request, no question.

    Tips name commands, which differ by front end (console ":help", Telegram "/help"),
    so the core's replies leave them out.
    """
    # Read from the reply, not the question, so it holds however small talk is detected.
    return answer.kind == "empty" or (
        answer.kind == "smalltalk" and answer.text != small_talk_reply("thanks")
    )


def supporting_hits(search: Search) -> list[Hit]:
    """The passage(s) an answer quotes.

    The best one, plus the runner-up when it is nearly as good (within `CLOSE`) and
    holds question words the best one lacks, as when the two halves of a question are
    answered by two neighbouring bullets.
    """
    top, *rest = search.hits
    support = [top]
    if rest and rest[0].score >= CLOSE * top.score and rest[0].matched - top.matched:
        support.append(rest[0])
    return support


@dataclass(frozen=True)
class Draft:
    """The reply the bot would give if it answers, and the features of that decision.

    Attributes:
        sentences: The sentences quoted (for an acronym, the long form first).
        quotes: The same sentences grouped by passage, each with its source.
        hits: The ranked passages, the quoted one first.
        features: Named features of the decision (`FEATURES`), each in a fixed range.
    """

    sentences: tuple[str, ...]
    quotes: tuple[Quote, ...]
    hits: tuple[Hit, ...]
    features: dict[str, float]

    @property
    def text(self) -> str:
        """The reply's text: each quote's sentences, then its source line."""
        return quoted_text(self.quotes)


def draft(retriever: Retriever, question: Question, search: Search) -> Draft | None:
    """The reply the search supports, with the features the decision reads; None if no hit.

    An acronym question is first looked up among the passages holding the acronym (its
    postings are few): a definition found there is the reply.
    """
    if question.acronym:
        # A mistyped acronym ("pecso") is looked up as the search repaired it.
        repaired = dict(search.corrections).get(question.acronym.casefold())
        acronym = repaired.upper() if repaired else question.acronym
        defined = _definition(retriever, acronym)
        if defined is not None:
            return _acronym_draft(acronym, bool(repaired), search, *defined)
    if not any(h.matched for h in search.hits):
        # Related words alone (`bot.related`) are too weak to quote a passage on: some
        # word of the question itself must be in the text.
        return None
    support = supporting_hits(search)
    # A question stem the corpus lacks is looked for through its related words.
    stands_for = search.expanded()
    weights = {
        t: search.info.get(q, 0.0) * (1.0 if t == q else RELATED_WEIGHT)
        for t, q in stands_for.items()
    }
    needed, asked = asked_for(question)
    quotes: list[Quote] = []
    sentences: tuple[str, ...] = ()
    for hit in support:
        said = _asked_in(sentences, stands_for)
        wanted = {t for t, q in stands_for.items() if q not in said}
        limit = 2 if hit is support[0] else 1
        chosen = best_sentences(hit.passage.text, wanted, limit, needed, weights, asked)
        sentences += chosen
        quotes.append(Quote(chosen, hit))
    found = frozenset().union(*(h.matched for h in support))
    # The features count exact matches; `related` says how much stand-ins added.
    exact = _asked_in(sentences, {s: s for s in search.stems})
    values = features(retriever, question, search, found, exact, sentences)
    if question.kind == "acronym":
        # It asks what the letters stand for and the text never spells them out: a
        # sentence that merely uses the acronym does not answer that.
        values["kind_unmet"] = 1.0
    return Draft(sentences, tuple(quotes), search.hits, values)


def _definition(retriever: Retriever, acronym: str) -> tuple[str, Hit] | None:
    """The long form of an acronym and the passage defining it, if the text defines it."""
    hits = retriever.search(acronym, k=20).hits
    found = acronyms.long_form(acronym, (h.passage.text for h in hits))
    if found is None:
        return None
    long_form, position = found
    return long_form, hits[position]


def _acronym_draft(acronym: str, repaired: bool, search: Search, long_form: str, hit: Hit) -> Draft:
    quoted = next(
        (
            u
            for u in units(hit.passage.text)
            if long_form in u and acronym.casefold() in u.casefold()
        ),
        long_form,
    )
    lead = f"{acronym} stands for {long_form}."
    sentences = (lead, quoted)
    others = (h for h in search.hits if h.passage.id != hit.passage.id)
    hits = (hit, *others)[: max(1, len(search.hits))]
    info = search.info
    values = dict.fromkeys(FEATURES, 0.0)
    values.update(
        score=1.0,
        coverage=1.0,
        sentence_coverage=1.0,
        sentence_closeness=1.0,
        quoted_specific=1.0,
        margin=1.0,
        matched_rarity=1.0 if info else 0.0,
        acronym=1.0,
        corrected=float(repaired),
        terms=math.log1p(len(info)),
        quoted_words=math.log1p(len(info)),
    )
    return Draft(sentences, (Quote(sentences, hit),), hits, values)


# The decision's features, in the order the model stores them. Each keeps its meaning
# on any corpus: scores are normalised by the best reachable one, word rarity by the
# corpus's highest idf.
FEATURES = (
    "score",  # the best passage's normalised BM25 score, in [0, 1]
    "coverage",  # share of the question's information (idf mass) the quoted passages hold
    "sentence_coverage",  # the same share for the quoted sentences alone
    "margin",  # (best - runner-up) / best: a clear winner or a tie
    "matched_rarity",  # mean idf of the matched words / the corpus's highest idf
    "missing_rarity",  # idf of the rarest question word the passages lack / highest idf
    "unknown",  # 1 when a question word is in no passage at all
    "corrected",  # 1 when a typo was repaired
    "kind_met",  # 1 when the question asks for a date/number/name/place and the reply has one
    "kind_unmet",  # 1 when it asks for one and the reply has none
    "fragment",  # 1 when the reply only leads in to something missing (ends in a colon)
    "acronym",  # 1 when the reply is an acronym's long form defined in the text
    "yes_no",  # 1 for a yes/no question (the bot quotes, it does not say yes or no)
    "why_how",  # 1 for "why" and "how" questions (explanations are harder to quote)
    "terms",  # log(1 + number of question words): short questions are vaguer
    "quoted_words",  # log(1 + number of question words in the quoted sentences)
    "lead",  # 1 when the reply quotes its passage's first sentence (often a definition)
    # How specific the question's words are in general English (`wordlist.specificity`),
    # which means the same on a corpus of 50 passages, where every word is "rare" to
    # idf, and on one of a million: "Who won the 2022 world cup?" asks about "cup"
    # (0.47), which the factsheet lacks; "What makes the EU ..." lacks only "makes" (0.38).
    "absent_specific",  # specificity of the most specific question word the corpus lacks
    "quoted_specific",  # share of the question's specificity the quoted sentences hold
    # The specificity of the most specific question word the quoted sentences lack,
    # less as much as they come close to it in meaning (`bot.vectors`).
    "unquoted_specific",
    "related",  # share of the question's information matched only through related words
    # The share of the question's information the quoted sentences hold, a word they
    # lack counted as much as they come close to it in meaning ("changing": "evolving").
    "sentence_closeness",
)


def features(
    retriever: Retriever,
    question: Question,
    search: Search,
    found: frozenset[str],
    quoted: frozenset[str],
    sentences: tuple[str, ...],
) -> dict[str, float]:
    """The decision's features for a reply quoting `sentences` from passages holding `found`."""
    hits = search.hits
    top = hits[0].score
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    most = retriever.index.max_idf or 1.0
    info = search.info
    matched = [v for s, v in info.items() if s in found]
    missing = [v for s, v in info.items() if s not in found and s not in search.form]
    met = answers_the_kind(question, " ".join(sentences))
    surface = _surface(question, search)
    specific = {
        s: wordlist.specificity(surface.get(s, s)) for s in search.info if s not in search.form
    }
    total = sum(specific.values()) or 1.0
    absent = {analysis.stem(w) for w in search.unknown}
    close = _closeness(specific, quoted, surface, sentences)
    mass = sum(info[s] for s in specific) or 1.0
    return {
        "score": top,
        "coverage": search.coverage(found),
        "sentence_coverage": search.coverage(quoted),
        "margin": (top - runner_up) / top if top > 0 else 0.0,
        "matched_rarity": (sum(matched) / len(matched) / most) if matched else 0.0,
        "missing_rarity": max(missing) / most if missing else 0.0,
        "unknown": float(bool(search.unknown)),
        "corrected": float(bool(search.corrections)),
        "kind_met": float(met is True),
        "kind_unmet": float(met is False),
        # A lead-in that holds what the question asks for ("covers 5 external policy
        # areas:" for "how many") answers it, though its list was lost.
        "fragment": float(is_fragment(sentences, search.expanded()) and met is not True),
        "acronym": 0.0,
        "yes_no": float(question.kind == "yes_no"),
        "why_how": float(question.kind in ("why", "how")),
        "terms": math.log1p(len(info)),
        "quoted_words": math.log1p(len(quoted)),
        "lead": float(bool(sentences) and analysed(hits[0].passage.text)[0][0] == sentences[0]),
        "absent_specific": max((v for s, v in specific.items() if s in absent), default=0.0),
        "quoted_specific": sum(v for s, v in specific.items() if s in quoted) / total,
        "unquoted_specific": max((v * (1.0 - close[s]) for s, v in specific.items()), default=0.0),
        "related": search.coverage(hits[0].related),
        "sentence_closeness": sum(info[s] * close[s] for s in specific) / mass,
    }


def _surface(question: Question, search: Search) -> dict[str, str]:
    """Each asked stem's word as asked; a stem reached through a repair, its corrected word."""
    surface = {analysis.stem(w): w for w in question.content}
    surface.update({analysis.stem(fixed): fixed for _, fixed in search.corrections})
    return surface


def _closeness(
    asked: Collection[str],
    quoted: frozenset[str],
    surface: Mapping[str, str],
    sentences: tuple[str, ...],
) -> dict[str, float]:
    """How close in meaning the quoted sentences come to each asked stem: 1 if quoted.

    A stem with no word of its own (a compound's part) takes its stem for a word.
    """
    lacking = [s for s in asked if s not in quoted]
    near = vectors.closeness([surface.get(s, s) for s in lacking], sentences) if lacking else []
    return {**dict.fromkeys(asked, 1.0), **dict(zip(lacking, near, strict=True))}


def compose(
    question: Question,
    search: Search | None,
    reply: Draft | None,
    model: AnswerModel,
    min_confidence: float,
    examples: Sequence[str] = (),
    documents: Sequence[str] = (),
) -> Answer:
    """Turns a search and its draft reply into the answer, or an honest abstention.

    Args:
        question: The parsed question.
        search: The search result, or None when the question was not searched
            (empty or small talk).
        reply: The draft reply (`draft`), or None when the search found nothing.
        model: The answer/abstain model.
        min_confidence: Answer when the model's probability that the reply is right
            reaches this.
        examples: Questions the corpus can answer, suggested by small-talk replies.
        documents: The documents' names, for the reply to "What do you know?".
    """
    if question.empty:
        return Answer(question.text, "empty", False, small_talk_reply("empty", examples))
    if question.small_talk is not None or search is None:
        kind = question.small_talk or "help"
        text = small_talk_reply(kind, examples, documents)
        return Answer(question.text, "smalltalk", False, text)
    did_you_mean = ""
    if search.corrections:
        did_you_mean = f"(Did you mean {corrected_words(search.corrections, search.hits)}?)\n"
    if reply is None:
        return _abstain(question, search, did_you_mean, 0.0)
    confidence = model.probability(reply.features)
    # Two replies are never answers, whatever the model says: a bare lead-in that does
    # not hold what the question asks for, and a sentence that merely uses an acronym
    # when the question asks what it stands for.
    unexpanded = question.kind == "acronym" and reply.features.get("acronym") != 1.0
    fragment = reply.features.get("fragment") == 1.0
    if confidence < min_confidence or fragment or unexpanded:
        return _abstain(question, replace(search, hits=reply.hits), did_you_mean, confidence)
    return Answer(
        question.text,
        "answer",
        True,
        did_you_mean + reply.text,
        reply.sentences,
        reply.hits,
        search.corrections,
        highlight_words(reply.sentences, set(search.expanded())),
        (),
        confidence,
        reply.quotes,
    )


def _abstain(question: Question, search: Search, did_you_mean: str, confidence: float) -> Answer:
    """The honest "not in the sources" reply, naming the nearest topics if any."""
    hits = search.hits
    suggestions = nearest_topics([(h.passage.section, h.passage.doc) for h in hits])
    text = did_you_mean + _ABSTAIN
    if search.unknown and not hits:
        text += f" None of the documents mention “{shorten(search.unknown[0])}”."
    if suggestions:
        text += " Nearest topics: " + "; ".join(suggestions) + "."
    return Answer(
        question.text,
        "abstain",
        False,
        text,
        (),
        hits,
        search.corrections,
        (),
        suggestions,
        confidence,
    )


def _asked_in(sentences: tuple[str, ...], stands_for: Mapping[str, str]) -> frozenset[str]:
    """The question stems the sentences hold, themselves or through a related word."""
    return frozenset(stands_for[t] for s in sentences for t in stems_of(s) if t in stands_for)
