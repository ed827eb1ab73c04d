"""The engine: one loaded index, shared by every front end, swapped live.

Front ends hold one `Engine` and call `ask`. Before each question the engine checks the
index folder's CURRENT pointer (one small file read); when a build has replaced it, the
new index is loaded and swapped in under a lock. A question holds a reference to one
`Retriever` from start to end, so it is answered entirely from the old index or
entirely from the new one.

A front end that holds an engine rebuilds through `Engine.rebuild`, which builds with
the engine's settings (`bot.index.build_with`) and then swaps the new index in.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from bot import index as index_mod
from bot import model as model_mod
from bot import scoring, suggestions
from bot.answer import Answer, compose, draft, joined
from bot.config import Settings
from bot.index.errors import REBUILD
from bot.passages import Passage
from bot.question import Question, parse, split
from bot.retriever import Retriever

log = logging.getLogger(__name__)

EXAMPLES = 3  # questions a greeting, /start and /help may suggest


@dataclass(frozen=True)
class IndexInfo:
    """What a front end may say about the loaded index."""

    format_version: int
    passage_count: int
    build_time: str
    build_id: str
    documents: tuple[str, ...]
    sections: tuple[str, ...]
    titles: tuple[str, ...] = ()  # per document: its title, else its file name
    examples: tuple[str, ...] = ()  # questions the engine has asked itself and answered


def ensure_index(settings: Settings, say: Callable[[str], None] | None = None) -> None:
    """Builds the index when it is missing or stale, saying why through `say`.

    Waits for a build another process is running instead of failing, so that two
    commands started together both end up with a fresh index.
    """
    reason = index_mod.stale_reason(settings.corpus_dir, settings.index_dir)
    if reason is None:
        return
    if say:
        say(f"Building the index first ({reason})...")
    report = index_mod.build_with(settings, wait=True)
    if say:
        say(report.summary())


class Engine:
    """Answers questions from the current index; safe to share between threads.

    Attributes:
        check_interval: Seconds between size checks of the index in use (see
            `refresh`): a stat of each of its 10 mapped files cost 115 us a question
            under load, a fifth of a question on a small corpus, so it runs at most
            this often.
    """

    check_interval = 1.0

    def __init__(self, settings: Settings, retriever: Retriever) -> None:
        self.settings = settings
        self._retriever = retriever
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        # The CURRENT pointer's path, joined once: a Path join costs more than the stat
        # every question makes of it (2.6 against 1.8 us).
        self._current = os.fspath(settings.index_dir / index_mod.CURRENT)
        self._examples: tuple[str, tuple[str, ...]] | None = None  # (build id, questions)
        self._refused = ""  # a build that failed to load: not tried (nor logged) again
        self._damaged = ""  # the build in use, once found damaged on disk (logged once)
        self._checked_at = time.monotonic()  # loaded (and checked) just now
        self._answer_model: tuple[float, model_mod.AnswerModel, float] | None = None

    @classmethod
    def open(cls, settings: Settings, say: Callable[[str], None] | None = None) -> Engine:
        """Loads the index, building it first when it is missing or stale.

        Raises:
            bot.index.IndexProblem: The corpus or the index cannot be used; the message
                says what to do.
        """
        ensure_index(settings, say)
        return cls(settings, Retriever(index_mod.load(settings.index_dir)))

    @property
    def retriever(self) -> Retriever:
        """The retriever of the index in use now."""
        return self._retriever

    def rebuild(
        self,
        *,
        full: bool = False,
        wait: bool = False,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> index_mod.BuildReport:
        """Rebuilds the index from the corpus folder, then serves the new one.

        Blocks for the whole build: an async front end runs it in a worker thread.
        If the new index cannot be loaded, the old one keeps serving (see `refresh`);
        compare `info.build_id` with the report's `build` to tell.

        Args:
            full: Read every file instead of reusing the unchanged ones.
            wait: Wait for a build another process is running instead of failing.
            progress: Called after each file with (files done, files, percent of bytes).

        Raises:
            bot.index.BuildInProgress: Another build holds the lock and `wait` is False.
            bot.index.IndexProblem: Nothing to index; the message says what to do.
        """
        report = index_mod.build_with(self.settings, full=full, wait=wait, progress=progress)
        self.refresh()
        return report

    def refresh(self) -> bool:
        """Swaps in a newer index if a build has made one current. Returns True if so.

        A broken new index is logged once and ignored: the bot keeps serving the old
        one (loaded and checked before, its files still open) until a build replaces it.

        Raises:
            bot.index.IndexCorrupt: A file of the index in use has changed size on disk
                (emptied, truncated) and no build has replaced it: reading the memory-
                mapped file past its new end would kill the process (SIGBUS), so the
                question is refused instead, until a build replaces the index. Checked
                every `check_interval` seconds: damage done in between can still hit.
        """
        swapped = self._swap_if_newer()
        now = time.monotonic()
        if not swapped and now - self._checked_at >= self.check_interval:
            self._check_served()
            self._checked_at = now
        return swapped

    def _swap_if_newer(self) -> bool:
        # A build replaces CURRENT with os.replace, which gives it a new inode: one stat
        # tells whether anything changed, without opening the file on every question.
        try:
            st = os.stat(self._current)
        except OSError:
            return False
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return False
        try:
            current = index_mod.current_build(self.settings.index_dir).name
        except index_mod.IndexProblem:
            return False
        if current in (self._retriever.index.build_id, self._refused):
            self._stamp = stamp
            return False
        with self._lock:
            if current in (self._retriever.index.build_id, self._refused):
                return False
            try:
                fresh = index_mod.load(self.settings.index_dir)
            except index_mod.IndexProblem as exc:
                # Said once per build, not before every question: CURRENT is not
                # looked at again until a build replaces it.
                self._refused, self._stamp = current, stamp
                log.error(
                    "new index %s not loaded, still serving %s: %s",
                    current,
                    self._retriever.index.build_id,
                    exc,
                )
                return False
            self._retriever = Retriever(fresh)
            self._stamp = stamp
            log.info("now serving index %s", fresh.build_id)
            return True

    def damage(self) -> str | None:
        """Why the index in use cannot be read safely now, or None when it is intact.

        For a front end about to say "the previous index is still serving": true only
        if this returns None.
        """
        try:
            self._check_served()
        except index_mod.IndexCorrupt as exc:
            return str(exc)
        return None

    def _check_served(self) -> None:
        """Refuses to read an index in use whose files changed size on disk.

        One stat per memory-mapped file (10 files; see `_sizes`). A file deleted is
        no damage: a mapped file stays readable after it is unlinked (old builds are
        removed while a reader may still hold them).

        Raises:
            bot.index.IndexCorrupt: A file's size differs from what its build wrote.
        """
        index = self._retriever.index
        for name, size in _sizes(index):
            try:
                now = os.stat(index.path / name).st_size
            except FileNotFoundError:
                continue
            except OSError:
                now = -1
            if now != size:
                problem = (
                    f"{index.path / name} changed on disk while in use ({now} bytes, the "
                    f"build wrote {size}). {REBUILD}"
                )
                if self._damaged != index.build_id:
                    self._damaged = index.build_id
                    log.error("the index in use is damaged: %s", problem)
                raise index_mod.IndexCorrupt(problem)

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Answers a message with up to `k` sources (default `settings.top_k`).

        A message asking two or three questions (`bot.question.split`) gets each
        answered in turn (`bot.answer.joined`).
        """
        self.refresh()
        retriever = self._retriever  # one index for the whole message
        k = max(1, k or self.settings.top_k)
        asked = question[:2000]  # a question longer than a page is pasted text
        questions = split(asked)
        if len(questions) > 1:
            return joined(asked, [self._ask(retriever, parse(q), k) for q in questions])
        answer = self._ask(retriever, parse(questions[0]), k)
        return answer if questions[0] == asked else replace(answer, question=asked)

    def _ask(self, retriever: Retriever, parsed: Question, k: int) -> Answer:
        # A message of stop words alone ("who are you?", "what is this?", "how are
        # you") has nothing to search for: it gets the help reply, not "I could not
        # find this in the sources".
        if parsed.empty or parsed.small_talk is not None or not parsed.content:
            examples = self.examples(retriever)
            documents = _info(retriever.index).documents if parsed.small_talk == "sources" else ()
            return compose(parsed, None, None, *self._model(), examples, documents)
        return self._answer(retriever, parsed, k)

    def _model(self) -> tuple[model_mod.AnswerModel, float]:
        """The answer model and the confidence an answer needs.

        Looked up again (two stats of its file) at most every `check_interval` seconds,
        like the index's files: a model refitted by `python -m bot train` is picked up
        within a second, and a question does not pay the stats (up to 0.1 ms of 1.5).
        """
        now = time.monotonic()
        cached = self._answer_model
        if cached is not None and now - cached[0] < self.check_interval:
            return cached[1], cached[2]
        model = model_mod.for_index(self.settings.answer_model, self.settings.index_dir)
        threshold = self.settings.min_confidence
        needed = model.threshold if threshold is None else threshold
        self._answer_model = (now, model, needed)
        return model, needed

    def _answer(self, retriever: Retriever, question: Question, k: int) -> Answer:
        search = retriever.search(question, k)
        return compose(question, search, draft(retriever, question, search), *self._model())

    def examples(self, retriever: Retriever | None = None) -> tuple[str, ...]:
        """Up to `EXAMPLES` questions made from the headings that this engine answers.

        Each candidate is asked once per index (a few milliseconds each) and kept only
        if it is answered, so a greeting never suggests a question the bot declines.
        """
        retriever = retriever or self._retriever
        build = retriever.index.build_id
        if self._examples is None or self._examples[0] != build:
            if self.damage() is not None:  # reading a damaged mapped file could crash
                return ()
            k = self.settings.top_k
            kept: list[str] = []
            for phrasings in suggestions.candidate_questions(_info(retriever.index))[:15]:
                answered = (t for t in phrasings if self._answer(retriever, parse(t), k).answered)
                first = next(answered, None)
                if first is not None:
                    kept.append(first)
                if len(kept) == EXAMPLES:
                    break
            self._examples = (build, tuple(kept))
        return self._examples[1]

    @property
    def info(self) -> IndexInfo:
        """Facts about the index in use."""
        retriever = self._retriever
        return replace(_info(retriever.index), examples=self.examples(retriever))

    def passage(self, passage_id: str) -> Passage | None:
        """The passage with this id in the current index, if it still exists."""
        return self._retriever.passage_by_id(passage_id)

    def warm_up(self) -> threading.Thread | None:
        """Prepares what a large index's first questions would wait for, in the background.

        For long-running fronts: the compiled scoring loop (about a second), the typo
        repair tables (half a second at a million passages, see
        `Retriever.prepare_repair`) and the suggested questions (a few ms, asked by the
        first greeting). Only when the index is large enough for a question to need
        them: on a small corpus numpy answers every question and the second of loading
        is not worth it.
        """
        retriever = self._retriever
        if retriever.index.postings.nnz < scoring.WARM_POSTINGS:
            return None

        def warm() -> None:
            scoring.warm_up()
            retriever.prepare_repair()
            self.examples(retriever)

        thread = threading.Thread(target=warm, name="warm-up", daemon=True)
        thread.start()
        return thread


# The files a question reads through a memory map (the rest serve rebuilds or are
# read whole at load); a size check of each costs a stat.
_MAPPED = ("idf.npy", "norms.", "postings.", "vocabulary.", "passages.")


@lru_cache(maxsize=4)
def _sizes(index: index_mod.Index) -> tuple[tuple[str, int], ...]:
    """Each memory-mapped file of an index and its size as built (none without checksums)."""
    checksums = index.manifest.get("checksums") or {}
    return tuple(
        (name, int(entry["size"]))
        for name, entry in checksums.items()
        if name.startswith(_MAPPED) and name != "vocabulary.json.zst"
    )


@lru_cache(maxsize=4)
def _info(index: index_mod.Index) -> IndexInfo:
    """Facts about an index, worked out once per loaded index.

    Its documents are the files that gave passages: an empty or unreadable file is in
    the manifest (so that it is not read again) but answers nothing.
    """
    answering = [f for f in index.manifest["files"] if _passage_count(f) > 0]
    sections: dict[str, None] = {}
    for passage in index.passages:
        if passage.section:
            sections.setdefault(passage.section, None)
        if len(sections) >= 50:
            break
    return IndexInfo(
        int(index.manifest["format_version"]),
        int(index.manifest["passages"]),
        str(index.manifest["built_at"]),
        index.build_id,
        tuple(f["path"] for f in answering),
        tuple(sections),
        tuple(_title(index, f) for f in answering),
    )


def _passage_count(entry: dict[str, Any]) -> int:
    start, end = entry.get("passages", (0, 0))
    return int(end) - int(start)


def _title(index: index_mod.Index, entry: dict[str, Any]) -> str:
    """A corpus file's title, from its first passage (see `suggestions.title_of`)."""
    start, end = entry.get("passages", (0, 0))
    if start >= end or entry["path"].endswith(".jsonl"):  # a .jsonl file holds many titles
        return str(entry["path"])
    return suggestions.title_of(entry["path"], index.passages[start].section)
