"""The question, read once: words, topic words, what kind of answer it asks for.

Retrieval, the answer/abstain decision and the reply all read the same `Question`
record, so a question is split into words once and every layer agrees on what it asks:
its topic words (the words retrieval searches for), the words that only give it its
form ("where is X located", "what does X stand for"), the kind of answer it wants
(a date, a number, a person, a place, the long form of an acronym), and whether it is
small talk rather than a question at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from bot import analysis, wordlist

# Words of greetings, thanks, help requests and questions about what the bot knows. A
# message made only of these (and stop words) is small talk; "hi, what is PESCO?" still
# has a topic and gets an answer. "What do you know?" and "what are your sources?" are
# often a user's first message: searched, they were declined ("None of the documents
# mention “sources”"); they get the list of documents.
_SMALL_TALK = {
    kind: frozenset(words.split())
    for kind, words in {
        "greeting": "hi hello hey hiya howdy morning afternoon evening good greetings yo "
        "bonjour hallo hola start anyone anybody someone",
        "thanks": "thanks thank thx ty cheers great ok okay cool nice perfect awesome bye "
        "goodbye much lot",
        "sources": "know sources source documents document docs files topics subjects "
        "database cover covers",
        "help": "help usage instructions commands work use ask bot question questions anything can",
    }.items()
}
_CHAT_WORDS = frozenset().union(*_SMALL_TALK.values())

# Verb phrases that give a question its form, not its topic: in "What does PESCO stand
# for?" the passage that says "The EU stands for a global, open ... cyberspace" matched
# "stand" and outranked the one defining PESCO. Their verbs are dropped from the words
# retrieval searches for (issue 10: they must not outweigh the subject).
_FORM_PHRASE = re.compile(
    r"\b(?:stand|stands|stood|standing)\s+for\b"
    r"|\b(?:make|makes|made|making)\s+up\b"
    r"|\b(?:consist|consists|consisted|consisting)\s+of\b"
    r"|\b(?:deal|deals|dealt|dealing)\s+with\b"
    r"|\bused\s+for\b"
    r"|\b(?:short|abbreviation|acronym)\s+for\b"
    r"|\b(?:full\s+form|long\s+form|abbreviation|acronym)\s+of\b",
    re.I,
)
_FORM_VERBS = frozenset(
    [
        "stand",
        "stands",
        "stood",
        "standing",
        "make",
        "makes",
        "made",
        "making",
        "consist",
        "consists",
        "consisted",
        "consisting",
        "deal",
        "deals",
        "dealt",
        "dealing",
        "used",
        "short",
        "abbreviation",
        "acronym",
        "full",
        "form",
        "long",
    ]
)

# An acronym is written in capitals (2-10 of them, digits and "&" allowed after the first):
# "PESCO", "EU", "CSDP", "G7". The question must ask what it stands for or means.
_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9&]{1,9}s?)\b")
_ASKS_EXPANSION = re.compile(
    r"\b(?:stand|stands|stood)\s+for\b|\bshort\s+for\b|\b(?:full|long)\s+(?:form|name)\b"
    r"|\b(?:abbreviation|acronym)\b|\bmeaning\s+of\b|^\W*\w+\s+meaning\W*$"
    r"|\bwhat\s+(?:does|do|did)\s+(?:the\s+)?\w+\s+mean\b",
    re.I,
)
# Where the subject of an expansion question stands when it is typed in lower case
# ("what does pesco stand for"); "what does X mean" needs capitals, as "what does the
# strategy mean for partners" asks no acronym.
_SUBJECT = re.compile(
    r"(\w+)\s+(?:stand|stands|stood)\s+for\b|(\w+)\s+(?:is\s+)?short\s+for\b"
    r"|\b(?:form|name|meaning|abbreviation|acronym)\s+(?:of\s+|for\s+)?(?:the\s+)?(\w+)"
    r"|^\W*(\w+)\s+meaning\W*$",
    re.I,
)

# "What is PSTN?", "what's the PBKDF2", "what is pesco??": a question about an acronym
# alone. Typed in lower case, the word must be no common English word ("what is love").
_WHAT_IS = re.compile(
    r"^\s*(?i:what\s+is|what's|whats|what\s+are)\s+(?i:an?\s+|the\s+)?[^\w\s]*\s*"
    r"([A-Za-z][A-Za-z0-9&]{1,9})(?:[^\w'&]|'(?!\w))*$"
)
_ACRONYM_ALONE = re.compile(r"([A-Z][A-Z0-9&]{1,9}|[A-Z][a-z][A-Z][A-Za-z]{0,6})s?")

# "What does 'technological sovereignty' mean?", "What is meant by cyber resilience?",
# "How does the factsheet define X?", "How is X defined?", "define rules-based order":
# a question that asks what a term means is not answered by a sentence that merely uses
# the term, as one asking what an acronym stands for is not (kind "definition";
# `kinds.definition`). "What does the strategy mean for partners?" asks something else:
# "mean" must end the question.
# Matched against the question with its spaces made single and at most `_TERM_CHARS`
# long: with "\s+" on both sides of a lazy group, a run of spaces took cubic time (800
# spaces: 6 s).
_DEFINITION = re.compile(
    r"^\W*(?:what (?:does|do) (.+?) (?:actually |really |exactly )?mean"
    r"|what is (?:meant by|the (?:meaning|definition) of) (.+?)"
    r"|how (?:does|do) (?:the |this |it |they )?(?:\w+ )?define (.+?)"
    r"|how (?:is|are) (.+?) defined"
    r"|define (.+?))\W*$",
    re.I,
)
_TERM_CHARS = 200


def _about(text: str) -> str | None:
    """The acronym a "what is X" question is about, or None (see `_WHAT_IS`)."""
    m = _WHAT_IS.match(text)
    if m is None:
        return None
    word = m.group(1)
    shaped = _ACRONYM_ALONE.fullmatch(word)
    if shaped:
        return shaped.group(1)
    if not word.islower() or word in analysis.STOP_WORDS or wordlist.is_common(word):
        return None
    return word.upper()


# Contractions typed without the apostrophe, as on a phone ("whats", "im", "dont"):
# read as the words they stand for, so that "wheres" asks "where" and "im" is not taken
# for a word the corpus lacks. Words that are also real words ("ill", "id", "its",
# "lets", "well", "were", "shed") are left alone, and so is an acronym in capitals ("IM").
_CONTRACTIONS = {
    **{w + "s": w + " is" for w in ("what", "where", "who", "how", "when", "why", "that")},
    "theres": "there is",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "cant": "can not",
    "wont": "will not",
    **{w + "nt": w + " not" for w in ("do", "does", "did", "is", "are", "was", "could")},
    **{w + "nt": w + " not" for w in ("should", "would", "has", "have", "had", "must")},
}
_CONTRACTION = re.compile(r"\b(?i:" + "|".join(_CONTRACTIONS) + r")\b")


def _spelled_out(text: str) -> str:
    """The question as its words are read: case, dotted acronyms and contractions.

    Formatting tags pasted with it ("<i>What</i> is ...") are no words. A message typed
    all in capitals ("WHAT DOES PESCO STAND FOR") is read in lower case: read as typed,
    every word was an acronym and "FOR" the one it asked about. A dotted acronym is read
    as its letters ("P.E.S.C.O." is "PESCO"; single letters are no words, so "stand
    for" was all that was left to search). Apostrophe-less contractions are spelled out
    (`_CONTRACTIONS`).
    """
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), _TAG.sub("", text))
    if not any(ch.islower() for ch in text):
        text = text.lower()

    def spell(match: re.Match[str]) -> str:
        word = match.group(0)
        return word if word.isupper() else _CONTRACTIONS[word.casefold()]

    # With the apostrophe too: "What's the budget?" asks what "what is the budget" does.
    return _CONTRACTION.sub(spell, _IS.sub(r"\1 is", text))


_IS = re.compile(r"\b(what|who|where|when|how|which)['’]s\b", re.I)


# An HTML formatting tag pasted with a question: "<i>", "</b>", "<br/>" (not "<PESCO>").
_TAG = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|code|pre|tt|br|p|span|div|sub|sup|del|ins|script)\b[^<>]*>",
    re.I,
)
# Two letters or more, each followed by a dot: "P.E.S.C.O.", "U.N." (not "e.g.", which is
# a stop word either way, nor "Mr.").
_DOTTED = re.compile(r"(?<![\w.])(?:[A-Z]\.){2,}(?![\w])")


# What people type around a question in a chat, which is neither its topic nor its form:
# a greeting or "ok so" before it, "can you tell me" or "do you know" wrapped around it,
# "pls" or "thanks" after it. Left in, "hi, what is PESCO?" was read as a question of no
# kind about "hi" (a word no passage holds) and declined, and "can you tell me when ..."
# as a yes/no question. They are taken off the edges only, so a question about a word
# such as "hello" in the middle still searches it.
_OPENER = re.compile(
    r"^\W*(?:(?:hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|ok|okay|so|well|um+|uh+|erm?|hmm+|sorry|excuse\s+me|quick\s+question|btw"
    r"|and|also|but|oh)(?:\s+(?:there|all|everyone|team|bot))?(?=[\s,.:;!]|$)[\s,.:;!]*)+",
    re.I,
)
_WRAPPER = re.compile(
    r"^\W*(?:(?:please|pls|plz|kindly)\s+)?(?:(?:can|could|would|will)\s+(?:you|u|someone|anyone)"
    r"\s+(?:please\s+|pls\s+)?(?:tell|show|explain(?:\s+to)?|let)\s+me(?:\s+know)?"
    r"|(?:do|does)\s+(?:you|u|anyone|anybody|someone)\s+know|any\s+idea"
    r"|i(?:'d|\s+would)\s+like\s+to\s+know|i\s+(?:want|wanted|need)\s+to\s+know"
    r"|i(?:'m|\s+am)?\s+wondering|i\s+was\s+wondering|i\s+wonder"
    r"|(?:please\s+|pls\s+|plz\s+)?(?:tell|show)\s+me|let\s+me\s+know)\b[\s,:]*",
    re.I,
)
_CLOSINGS: tuple[str, ...] = (
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thx",
    "ty",
    "tia",
    "cheers",
)
_CLOSINGS += ("thanks in advance", "in advance")
_CLOSER = re.compile(
    r"(?:[\s,.!-]*\b(?:"
    + "|".join(c.replace(" ", r"\s+") for c in _CLOSINGS)
    + r")\b[\s.!]*)+\W*$",
    re.I,
)
_CLOSER_ENDS = tuple(sorted({c.split()[-1] for c in _CLOSINGS}))  # a closing's last word
_CLOSER_MARKS = " \t\n.,!?:;)(-"
_WHETHER = re.compile(r"^(?:if|whether)\b\s*", re.I)  # "tell me if ...": a yes/no question


def _without_closer(text: str) -> str:
    """The text without its closing courtesy (`_CLOSER`).

    Its last word is looked at first (the pattern is tried only when it ends a closing):
    `re` tries an end-anchored pattern at every position, which cost more than the rest
    of reading the question.
    """
    if not text.rstrip(_CLOSER_MARKS).casefold().endswith(_CLOSER_ENDS):
        return text
    return _CLOSER.sub("", text)


def _unwrapped(text: str) -> tuple[str, bool]:
    """The question without the chat around it (`_OPENER`, `_WRAPPER`, `_CLOSER`).

    Returns:
        The question itself, and whether it was asked as "... if/whether ..." (a yes/no
        question once unwrapped). The text is returned unchanged when nothing but chat
        would be left ("hi", "thanks!"): that message is small talk.
    """
    inner = _without_closer(_OPENER.sub("", text))
    inner = _WRAPPER.sub("", inner)
    whether = _WHETHER.match(inner) is not None
    inner = _WHETHER.sub("", inner)
    if inner != text and not analysis.words(inner):
        return text, False
    return inner, whether


# A question word mistyped on a phone ("wat is", "wher is", "wen does"): read as the
# question word when it opens the question, is one edit or swap away from exactly one
# question word (or is the start of one of two), and is either no English word or
# followed by the verb or word a question puts next ("wat is", "hoe do", "wat time").
# Left as typed, it was searched as a word no passage holds and the question lost its
# kind.
_QUESTION_WORDS = ("what", "when", "where", "which", "who", "whose", "why", "how")
# The verbs that open a yes/no question ("Is ...", "Can ...", "Must ...").
_AUXILIARIES: tuple[str, ...] = (
    "is",
    "are",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
)
_AUXILIARIES += ("would", "should", "has", "have", "had", "may", "must")
# The verbs a question puts after its question word, and the words of "what time",
# "how many", "what kind".
_AFTER_QUESTION_WORD = frozenset(
    [*_AUXILIARIES, "shall"]
    + ["time", "year", "date", "day", "month", "kind", "sort", "type", "many", "much"]
    + ["long", "often", "far", "old"]
)
_OPENING_WORD = re.compile(r"^(\W*)([A-Za-z]+)\b\s*(\w*)")


def _question_word_repaired(text: str) -> str:
    """The text with a mistyped opening question word written right (see above)."""
    m = _OPENING_WORD.match(text)
    if m is None:
        return text
    word, following = m.group(2).casefold(), m.group(3).casefold()
    if word in analysis.STOP_WORDS or len(word) < 2:
        return text
    close = [q for q in _QUESTION_WORDS if OSA.distance(word, q, score_cutoff=1) <= 1]
    if len(close) > 1:  # "wher": "where" cut short rather than "when" mistyped
        close = [q for q in close if q.startswith(word)]
    if len(close) != 1 or (wordlist.is_common(word) and following not in _AFTER_QUESTION_WORD):
        return text
    return text[: m.start(2)] + close[0] + text[m.end(2) :]


# The kind of answer a question asks for, from its first words. Order matters: "how many"
# before "how", "what year" before "what". "Which regions ..." asks for places as
# "which region ..." does: the plurals count. "What is the total budget of ...?" asks
# for money and "What is the population of ...?" for a number, as "how much" and "how
# many" do (with the years rule in `bot.kinds`: the out-of-scope "What is the total
# budget of the around 20 projects?" went from answered at 0.89 to declined). "Which
# country/countries/nations/member states" asks for countries by name, which a region
# or a place does not give (`bot.kinds.need`).
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "when",
        re.compile(
            r"^\s*when\b|\b(?:what|which)\s+(?:year|date|day|month|time)s?\b"
            r"|\b(?:deadline|due\s+date|closing\s+date|cut-?off\s+date)s?\b",
            re.I,
        ),
    ),
    (
        "how_many",
        re.compile(
            r"\bhow\s+many\b|\bwhat\s+(?:number|percentage|share)\b"
            r"|\bwhat\s+(?:is|was|are|were)\s+(?:the\s+)?(?:\w+\s+)?(?:population|headcount)\b",
            re.I,
        ),
    ),
    (
        "money",
        re.compile(
            r"\bhow\s+much\b.*\b(?:money|cost|costs|price|spend|spent|budget|pay|paid|funding"
            r"|fee|fees|salary|worth|charge)\b|\bwhat\s+(?:is\s+|are\s+|was\s+|were\s+)?(?:the\s+)?"
            r"(?:(?:total|annual|yearly|overall|exact|current)\s+)?(?:price|cost|budget|salary|fee)s?\b",
            re.I,
        ),
    ),
    (
        "how_much",
        re.compile(r"\bhow\s+(?:much|long|old|big|large|far|tall|high)\b|\bwhat\s+amount\b", re.I),
    ),
    (
        "who",
        re.compile(
            r"^\s*(?:who|whom|whose)\b|\b(?:which|what)\s+(?:persons?|people|organi[sz]ations?"
            r"|agency|agencies|body|bodies|company|companies)\b",
            re.I,
        ),
    ),
    (
        "country",
        re.compile(
            r"\b(?:what|which)\s+(?:(?!(?:" + "|".join(_AUXILIARIES) + r")\b)\w+\s+){0,2}"
            r"(?:countr\w*|nations?|member\s+states)\b",
            re.I,
        ),
    ),
    (
        "where",
        re.compile(
            r"^\s*where\b|\b(?:what|which)\s+(?:country|countries|city|cities|places?|regions?)\b",
            re.I,
        ),
    ),
    ("why", re.compile(r"^\s*why\b", re.I)),
    (
        "yes_no",
        re.compile(
            r"^\s*(?:" + "|".join(_AUXILIARIES) + r")\b",
            re.I,
        ),
    ),
    ("how", re.compile(r"^\s*how\b", re.I)),
    ("what", re.compile(r"^\s*(?:what|which)\b", re.I)),
)
KINDS = ("acronym", "definition", *(name for name, _ in _KINDS), "other")


@dataclass(frozen=True)
class Question:
    """One question, read once.

    Attributes:
        text: The question as asked.
        words: Its word tokens, normalised (`analysis.words`).
        content: The words retrieval searches for: content words without the verbs of
            form phrases such as "stand for" or "deal with".
        form: Content words that only give the question its form ("located",
            "include", see `analysis.QUESTION_FORM_WORDS`); they match passages that
            use them but a passage lacking them is not missing anything asked.
        kind: The kind of answer asked for: one of `KINDS` ("when", "how_many",
            "how_much", "money", "who", "country", "where", "why", "yes_no", "how", "what",
            "acronym", "definition", "other").
        acronym: The acronym whose long form is asked ("What does PESCO stand for?",
            kind "acronym") or that the question is about ("What is PESCO?": the
            long form, when the text defines it, is a fine first line), or None.
        small_talk: "greeting", "thanks", "help" or "sources" when the message has no topic,
            else None.
        term: The term whose meaning is asked ("What does technological sovereignty
            mean?", kind "definition"), or None.
    """

    text: str
    words: tuple[str, ...]
    content: tuple[str, ...]
    form: frozenset[str]
    kind: str
    acronym: str | None
    small_talk: str | None
    term: str | None = None

    @property
    def empty(self) -> bool:
        """Whether the message holds no word at all (only spaces, punctuation, emoji)."""
        return not self.words


def parse(text: str) -> Question:
    """Reads a question once into the record every layer uses.

    What follows the last question mark with no letter in it ("What is PESCO? 37", a
    stray count or key press) is not part of the question and is not searched.
    """
    typed, text = text, _spelled_out(text)
    asked, mark, tail = text.rpartition("?")
    noise = bool(mark) and not any(ch.isalpha() for ch in tail)
    whole = asked if noise else text
    message = analysis.words(whole)
    text, whether = _unwrapped(whole)
    text = _question_word_repaired(text)
    words = message if text == whole else analysis.words(text)
    acronym = _acronym(text)
    about = None if acronym else _about(text)
    term = None if acronym else _term(text)
    form_verbs = {
        w for m in _FORM_PHRASE.finditer(text) for w in analysis.words(m.group(0))
    } & _FORM_VERBS
    content = tuple(
        w for w in words if w not in analysis.STOP_WORDS and w not in form_verbs
    ) or tuple(w for w in words if w not in analysis.STOP_WORDS)
    form = frozenset(w for w in content if w in analysis.QUESTION_FORM_WORDS)
    return Question(
        typed,
        tuple(words),
        content,
        form,
        "acronym" if acronym else "definition" if term else "yes_no" if whether else _kind(text),
        acronym or about,
        _small_talk(message),
        term,
    )


def _term(text: str) -> str | None:
    """The term a question asks the meaning of (`_DEFINITION`), quotes and article off."""
    flat = " ".join(text.split())
    m = _DEFINITION.match(flat) if len(flat) <= _TERM_CHARS else None
    term = next((g for g in m.groups() if g), "") if m else ""
    term = re.sub(r"^(?:the|a|an)\s+", "", term.strip(" \"'“”‘’"), flags=re.I)
    return term if analysis.content_words(term) else None


def _kind(text: str) -> str:
    for name, pattern in _KINDS:
        if pattern.search(text):
            return name
    return "other"


def _acronym(text: str) -> str | None:
    """The acronym a question asks the long form of ("What does PESCO stand for?")."""
    if not _ASKS_EXPANSION.search(text):
        return None
    found = [
        m.group(1) for m in _ACRONYM.finditer(text) if sum(c.isupper() for c in m.group(1)) >= 2
    ]
    if not found:
        subject = _SUBJECT.search(text)
        word = next((g for g in subject.groups() if g), "") if subject else ""
        if not 2 <= len(word) <= 10 or word.casefold() in analysis.STOP_WORDS:
            return None
        if wordlist.is_common(word.casefold()):
            return None  # "the meaning of life" asks no acronym
        found = [word.upper()]
    acronym = found[-1]
    # A plural written "NGOs" asks about "NGO".
    return acronym[:-1] if acronym.endswith("s") else acronym


def _small_talk(words: list[str]) -> str | None:
    """The kind of small talk a message is, or None when it has a topic."""
    if not words or len(words) > 6:
        return None
    topical = [w for w in words if w not in analysis.STOP_WORDS]
    if not all(w in _CHAT_WORDS for w in topical):
        return None
    for kind in ("sources", "help", "thanks", "greeting"):
        if any(w in _SMALL_TALK[kind] for w in words):
            return kind
    return None


# Where one message asks two things: "What is PESCO? When did Russia invade Ukraine?",
# "what is PESCO and when did Russia invade Ukraine". Answered as one question, such a
# message got the reply to whichever half matched better and the other was dropped. A
# question mark with words after it ends a question. "And", "also", "but", a comma or a
# semicolon ends one when a question word follows that opens a question of its own:
# not one followed by a pronoun or article ("what it holds", "how the fund works" are
# part of the question before them), and only after a question of three words or more
# that opens with a question word or verb ("Which tools and which partners ..." is one).
_MARK = re.compile(r"(?<=\?)\s+(?=\W*[^\W\d_])")
_WH = "|".join((*_QUESTION_WORDS, "whom"))
_JOIN = re.compile(
    r"(?:[,;]\s*(?:and\s+|also\s+|but\s+)?|\s(?:and|also|but)\s+)"
    r"(?=(?:" + _WH + r")\s+"
    r"(?!(?:it|its|they|their|he|his|she|her|we|our|you|your|i|my|the|a|an|this|that|these"
    r"|those)\b)\w)",
    re.I,
)
_ASKS = re.compile(r"^\W*(?:" + _WH + "|" + "|".join(_AUXILIARIES) + r")\b", re.I)
# A piece that names its topic by a pronoun ("... and when does it apply", "What is
# PESCO? When was it set up?") is not a question of its own: alone, "it" finds nothing.
_ANAPHOR = frozenset(
    ["it", "its", "they", "them", "their", "he", "him", "his", "she", "her", "this"]
    + ["these", "those", "there"]
)
MAX_QUESTIONS = 3  # a longer message is pasted text more often than a list of questions


def split(text: str) -> tuple[str, ...]:
    """The questions a message asks, in order: one for most messages, at most three.

    A piece is a question of its own when it has a topic word and is not chat. A piece of
    chat alone ("Hello? Is anyone there? What is PESCO?") is left out; a piece with no
    topic ("What is PESCO? Why?") stays with the question before it (or after it, when
    first). Without a question of three or fewer, the message is one question.
    """
    pieces: list[tuple[str, str]] = []  # (what joined it to the piece before, piece)
    for sentence in _MARK.split(text):
        joined = _joined_questions(sentence)
        pieces.extend([(" ", joined[0][1]), *joined[1:]] if pieces else joined)
    if len(pieces) < 2:
        return (text,)
    questions: list[str] = []
    carried = ""
    for joint, piece in pieces:
        asked = parse(piece)
        if questions and (not _asks_itself(piece) or _ANAPHOR & set(asked.words)):
            questions[-1] += joint + piece  # "... ? got it while ...", "when was it ..."
            continue
        if asked.small_talk is not None or asked.empty:
            continue
        if not asked.content:
            if questions:
                questions[-1] += joint + piece
            else:
                carried += piece + " "
            continue
        questions.append(carried + piece)
        carried = ""
    if not questions or len(questions) > MAX_QUESTIONS:
        return (text,)
    if len(questions) == 1:
        return (questions[0],)
    # Each heads its own reply: "hi, what is PESCO" and "and when did ..." read as asked.
    return tuple(_OPENER.sub("", q) or q for q in questions)


def _asks_itself(piece: str) -> bool:
    """Whether a piece reads as a question: a question word or verb first, or a "?" last."""
    inner, _ = _unwrapped(piece)
    return bool(_ASKS.match(inner)) or piece.rstrip().endswith("?")


def _joined_questions(sentence: str) -> list[tuple[str, str]]:
    """A sentence split where "and"/"," joins two questions (see `_JOIN`).

    Returns:
        (joint, piece) pairs: each piece with the words that joined it to the one
        before ("" for the first), to put back if the two are read as one.
    """
    pieces: list[tuple[str, str]] = []
    joint, start = "", 0
    for m in _JOIN.finditer(sentence):
        head = sentence[start : m.start()]
        inner, _ = _unwrapped(head)
        if len(analysis.tokens(inner)) >= 3 and _ASKS.match(inner):
            pieces.append((joint, head))
            joint, start = m.group(0), m.end()
    return [*pieces, (joint, sentence[start:])]
