"""Building an index: plan, read, assemble, weight, write.

`build` is four steps, each a function below:

1. `plan_build`: list the corpus and cut every unchanged file's part out of the
   previous index (see `bot.index.parts`);
2. `_read`: read the other files, reporting progress per file;
3. `assemble`: join the parts into one `Collection` (one vocabulary, passages in
   corpus order); a part cut out of the previous index and one read anew give the
   same collection, so an incremental build equals a full one;
4. weight it (`bot.index.weighting`) and write it (`bot.index.writer.write`), under
   the build lock so that two builders never write at once.

(The module is `builder`, not `build`, so that `bot.index.build` names one thing: the
function.)
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.index.errors import REBUILD, EmptyCorpus, IndexNotFound, IndexProblem
from bot.index.lock import build_lock
from bot.index.parts import (
    FilePart,
    merge_vocabularies,
    paused_gc,
    read_parts,
    reuse_part,
    stack_counts,
)
from bot.index.reader import current_build, load, read_manifest
from bot.index.stale import FileInfo, file_info, scan_corpus, unchanged
from bot.index.store import ANALYZER, Index, StringTable, term_hashes
from bot.index.summary import BuildReport, build_manifest
from bot.index.weighting import bm25_weights
from bot.index.workers import ReadTimedOut
from bot.index.writer import Collection, publish, write

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, int], None]

# A full build of this much text or more streams (see `bot.index.stream`): 1M passages
# of benchmark text are 0.6 GB and took 6.5 GB in memory.
STREAM_BYTES = 1024 * 1024 * 1024


def build(
    corpus_dir: Path,
    index_dir: Path,
    k1: float = 1.2,
    b: float = 0.75,
    wait: bool = False,
    full: bool = False,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    budget: float | None = 60.0,
) -> BuildReport:
    """Builds the index of `corpus_dir` into `index_dir` and makes it current.

    Files whose size and mtime (or, failing that, sha256) match the previous index are
    not read again: their passages and term counts are taken from it. idf and weights
    are always recomputed over the whole collection, so the result is identical to a
    full build.

    Args:
        corpus_dir: The corpus folder.
        index_dir: The index folder.
        k1: BM25 tf saturation.
        b: BM25 length normalisation.
        wait: Wait for another build's lock instead of failing.
        full: Ignore the previous index and read every file.
        progress: Called after each file with (files done, files in all, percent of the
            corpus's bytes done), for a progress display.
        workers: Processes that read files (default: one per CPU; see `read_parts`).
        budget: Seconds one file may take to read, split and analyse before it is
            skipped (BOT_FILE_TIMEOUT, whose default this is); None for no limit.

    Raises:
        EmptyCorpus: No file in the corpus folder has any text.
        BuildInProgress: Another build holds the lock.
    """
    started = time.perf_counter()
    with build_lock(index_dir, wait=wait):
        before = _previous_manifest(index_dir)
        plan = plan_build(corpus_dir, index_dir, full)
        if _streams(plan):
            files, passages, terms, skipped, timed_out, build_dir = _build_streaming(
                plan, corpus_dir, index_dir, k1, b, progress, workers, budget
            )
        else:
            parts, skipped, timed_out = _read(plan, progress, workers, budget)
            with paused_gc():  # our own lists and arrays, no cycles (as in reading)
                collection = assemble(parts, plan.previous)
                _check_has_text(corpus_dir, collection, skipped)
                weighted = bm25_weights(collection.counts, collection.terms, k1, b)
                files = [(part.info, len(part.lines)) for part in parts]
                passages, terms = len(collection.lines), len(collection.terms)
                manifest = build_manifest(files, skipped, timed_out, budget, passages, terms, k1, b)
                build_dir = write(index_dir, manifest, collection, weighted)
    hashes = {info.path: info.sha256 for info, _ in files}
    old = {f["path"]: f["sha256"] for f in before.get("files", [])}
    return BuildReport(
        files=len(files),
        passages=passages,
        terms=terms,
        seconds=time.perf_counter() - started,
        skipped=tuple(f.path for f in skipped),
        timed_out=timed_out,
        budget=budget,
        added=tuple(sorted(set(hashes) - set(old))),
        changed=tuple(sorted(n for n in hashes if n in old and old[n] != hashes[n])),
        removed=tuple(sorted(set(old) - set(hashes))),
        previous_passages=int(before.get("passages", 0)),
        reused=len(plan.kept),
        build=build_dir.name,
    )


def _streams(plan: Plan) -> bool:
    """Whether to build streaming (`bot.index.stream`): for `STREAM_BYTES` of text or more.

    Below that an in-memory build is as fast and its peak memory small.
    """
    return sum(plan.sizes) >= STREAM_BYTES


def _build_streaming(
    plan: Plan,
    corpus_dir: Path,
    index_dir: Path,
    k1: float,
    b: float,
    progress: ProgressCallback | None,
    workers: int | None,
    budget: float | None,
) -> tuple[list[tuple[FileInfo, int]], int, int, list[FileInfo], tuple[str, ...], Path]:
    """Reads the corpus a file at a time into a `StreamWriter` and publishes the build."""
    from bot.index.stream import StreamWriter

    outcome: dict[str, Any] = {}

    def fill(folder: Path) -> dict[str, Any]:
        writer = StreamWriter(folder, plan.previous)
        try:
            _, skipped, timed_out = _read(plan, progress, workers, budget, sink=writer.add)
        except BaseException:
            writer.close()
            raise
        if not writer.passages:
            writer.close()
            raise _no_passages(corpus_dir, skipped)
        terms = writer.finish(k1, b)
        if not terms:
            raise _no_terms(corpus_dir)
        outcome.update(files=writer.files, passages=writer.passages, terms=terms)
        outcome.update(skipped=skipped, timed_out=timed_out)
        passages = writer.passages
        return build_manifest(writer.files, skipped, timed_out, budget, passages, terms, k1, b)

    build_dir = publish(index_dir, fill)
    return (
        outcome["files"],
        outcome["passages"],
        outcome["terms"],
        outcome["skipped"],
        outcome["timed_out"],
        build_dir,
    )


def build_with(
    settings: Settings,
    *,
    full: bool = False,
    wait: bool = False,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """`build` with the settings' corpus and index folders, k1 and b.

    The one way front ends rebuild: `python -m bot build` (also `--watch`),
    `bot.engine.ensure_index` and `Engine.rebuild`, which then serves the new index.

    Raises:
        EmptyCorpus: No file in the corpus folder has any text.
        BuildInProgress: Another build holds the lock and `wait` is False.
    """
    return build(
        settings.corpus_dir,
        settings.index_dir,
        settings.k1,
        settings.b,
        wait=wait,
        full=full,
        progress=progress,
        budget=settings.file_timeout or None,
    )


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """What a build will do, decided before any file is read.

    Attributes:
        files: The corpus files as (path, name inside the corpus folder), in corpus order.
        sizes: Their sizes in bytes (0 if unreadable), for progress and worker choice.
        previous: The index parts are reused from, or None for a full build.
        kept: File number -> its part cut out of `previous`, for every unchanged file,
            in corpus order.
    """

    files: list[tuple[Path, str]]
    sizes: list[int]
    previous: Index | None
    kept: dict[int, FilePart]

    @property
    def unread(self) -> list[int]:
        """Numbers of the files that must be read, in corpus order."""
        return [i for i in range(len(self.files)) if i not in self.kept]


def plan_build(corpus_dir: Path, index_dir: Path, full: bool = False) -> Plan:
    """Lists the corpus and reuses what the previous index holds of unchanged files.

    Raises:
        EmptyCorpus: The corpus folder is missing.
    """
    previous = None if full else _previous_index(index_dir)
    files = scan_corpus(corpus_dir, warn=True)
    sizes = [_size(path) for path, _ in files]
    kept: dict[int, FilePart] = {}
    if previous is not None:
        entries = {f["path"]: (i, f) for i, f in enumerate(previous.manifest["files"])}
        for i, (path, name) in enumerate(files):
            if name in entries:
                number, entry = entries[name]
                part = reuse_part(previous, entry, number, path)
                if part is not None:
                    kept[i] = part
    return Plan(files, sizes, previous, kept)


def _previous_manifest(index_dir: Path) -> dict[str, Any]:
    """The current index's manifest, or {} if there is none (for the report)."""
    try:
        return read_manifest(current_build(index_dir))
    except IndexProblem:
        return {}


def _previous_index(index_dir: Path) -> Index | None:
    """The current index if parts of it can be reused, else None (a full build).

    It must pass a full check first: a plain build that reused damaged passages or
    counts copied the damage into every later index, or crashed half-way on it. A
    damaged previous index is not an error here: this build reads every file and
    replaces it, and says so.
    """
    try:
        index = load(index_dir)
        if index.manifest.get("analyzer") != ANALYZER:
            return None
        if not index.checked:
            log.info("the previous index has no checksums (an older build): reading every file")
            return None
        index.check_rebuild_data()
    except IndexNotFound:
        return None
    except IndexProblem as exc:
        problem = str(exc).removesuffix(REBUILD).strip()
        log.warning("the previous index failed its checks (%s): reading every file", problem)
        return None
    return index


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------------- reading


def _read(
    plan: Plan,
    progress: ProgressCallback | None,
    workers: int | None,
    budget: float | None,
    sink: Callable[[FilePart], None] | None = None,
) -> tuple[list[FilePart], list[FileInfo], tuple[str, ...]]:
    """Reads the files the plan did not reuse.

    Returns:
        The parts (none if `sink` is given: each is handed to it in corpus order, and
        not kept), the skipped files, and the names of those skipped for overrunning
        the time budget.

    Progress counts files: the reused ones first (they are done already; with a
    `sink`, as their turn comes), then each file as it is read.
    """
    slow = _still_too_slow(plan, budget)
    unread = [i for i in plan.unread if i not in slow]
    reads = read_parts(
        [plan.files[i] for i in unread], sum(plan.sizes[i] for i in unread), workers, budget
    )
    fresh = zip(unread, reads, strict=True)
    if sink is None:
        outcomes = itertools.chain(plan.kept.items(), slow.items(), fresh)
    else:  # parts in corpus order, reused ones among those read
        kept = sorted(plan.kept.items(), key=lambda item: item[0])
        outcomes = itertools.chain(slow.items(), heapq.merge(kept, fresh, key=lambda x: x[0]))
    found: dict[int, FilePart] = {}
    skipped: list[FileInfo] = []
    timed_out: list[str] = []
    total, done = sum(plan.sizes) or 1, 0
    # Closed at once if the build stops half-way (Ctrl-C): that stops the workers.
    with contextlib.closing(reads):
        for n, (i, outcome) in enumerate(outcomes, 1):
            if isinstance(outcome, FilePart):
                if sink is None:
                    found[i] = outcome
                else:
                    sink(outcome)
            else:
                path, name = plan.files[i]
                log.warning("skipped %s: %s", name, outcome)
                skipped.append(_info_or_placeholder(path, name))
                if isinstance(outcome, ReadTimedOut):
                    timed_out.append(name)
            done += plan.sizes[i]
            if progress is not None:
                progress(n, len(plan.files), 100 * done // total)
    return [found[i] for i in sorted(found)], skipped, tuple(timed_out)


def _still_too_slow(plan: Plan, budget: float | None) -> dict[int, ReadTimedOut]:
    """Files that overran the budget at the previous build and have not changed since.

    They are skipped again without being read: otherwise every rebuild (`--watch`
    rebuilds on every save) would spend the whole budget on each of them again. A full
    build, or a larger budget, tries them again.
    """
    if plan.previous is None or budget is None:
        return {}
    entries = {
        entry["path"]: entry
        for entry in plan.previous.manifest.get("skipped", [])
        if entry.get("timed_out", 0) >= budget
    }
    slow: dict[int, ReadTimedOut] = {}
    for i in plan.unread:
        path, name = plan.files[i]
        if name not in entries:
            continue
        try:
            if unchanged(path, entries[name]) is not None:
                slow[i] = ReadTimedOut(name, budget, again=True)
        except OSError:
            continue  # read it: it fails at once with its own warning
    return slow


def _info_or_placeholder(path: Path, name: str) -> FileInfo:
    """A skipped file's identity, so it does not make the index look stale.

    A file that cannot be read at all (no permission) is stamped with its size and
    mtime and no hash: `unchanged` trusts size and mtime without reading, so the same
    unreadable file matches next time instead of making every command rebuild; a
    change to it does not. A file that cannot even be looked at gets -1s.
    """
    try:
        return file_info(path, name)
    except OSError:
        pass
    try:
        st = path.stat()
    except OSError:
        return FileInfo(name, -1, -1, "")
    return FileInfo(name, st.st_size, st.st_mtime_ns, "")


# ---------------------------------------------------------------------------- assembling

# The vocabulary key of every part reused from the previous index: they all share its
# vocabulary. A part read anew has its own, keyed by its number.
_PREVIOUS = -1


def assemble(parts: list[FilePart], previous: Index | None = None) -> Collection:
    """Joins file parts into one collection: passages in corpus order, one vocabulary.

    The vocabulary is the sorted union of the terms the parts use; each part's is
    sorted too, so remapping its columns keeps each row's order. Parts reused from the
    previous index share its vocabulary and are remapped with one array lookup; the
    word counts are the previous index's, less the files not reused, plus those read.
    """
    lines = [line for part in parts for line in part.lines]
    keys = [_PREVIOUS if part.reused else number for number, part in enumerate(parts)]
    groups: dict[int, tuple[list[str], np.ndarray, list[np.ndarray]]] = {}
    for key, part in zip(keys, parts, strict=True):
        if key not in groups:
            groups[key] = (part.terms, _hashes(part, previous), [])
        groups[key][2].append(part.counts.indices)
    terms, hashes, mapped = merge_vocabularies(list(groups.values()))
    mappings = dict(zip(groups, mapped, strict=True))
    counts = stack_counts(parts, [mappings[key] for key in keys], len(lines), len(terms))
    ids = np.concatenate([p.id_hashes for p in parts]) if parts else np.zeros(0, np.uint64)
    return Collection(
        lines=lines,
        counts=counts,
        terms=terms,
        term_hashes=hashes,
        id_hashes=ids.astype(np.uint64),
        words=_words(parts, previous),
        file_words_lines=[part.words_line for part in parts],
    )


def _words(parts: list[FilePart], previous: Index | None) -> Counter[str]:
    """Surface word counts of the whole corpus, sorted by word.

    After a previous build: its counts, less the files not reused, plus the files read
    anew. Sorted, so that a full and an incremental build write the same file.
    """
    words: Counter[str] = Counter()
    if previous is None:
        for part in parts:
            words.update(part.words)
    else:
        words.update(previous.words)
        reused = {part.info.path for part in parts if part.reused}
        for number, entry in enumerate(previous.manifest["files"]):
            if entry["path"] not in reused:
                words.subtract(previous.file_words_of(number))
        for part in parts:
            if not part.reused:
                words.update(part.words)
    return Counter({word: n for word, n in sorted(words.items()) if n > 0})


def _hashes(part: FilePart, previous: Index | None) -> np.ndarray:
    """`term_hash` of each of a part's terms.

    A part read anew was hashed as it was read. A reused part's terms are the
    previous index's, whose table holds their hashes: on a rebuild only new terms are
    hashed.
    """
    if part.term_hashes is not None:
        return part.term_hashes
    if part.reused and previous is not None and isinstance(previous.vocabulary, StringTable):
        return previous.vocabulary.hashes_by_number()
    return term_hashes(part.terms)


# ---------------------------------------------------------------------------- writing


def _check_has_text(corpus_dir: Path, collection: Collection, skipped: list[FileInfo]) -> None:
    """Refuses a collection with nothing to index, saying why.

    Raises:
        EmptyCorpus: No passages, or no index terms in them.
    """
    if not collection.lines:
        raise _no_passages(corpus_dir, skipped)
    if not collection.terms:
        raise _no_terms(corpus_dir)


def _no_passages(corpus_dir: Path, skipped: list[FileInfo]) -> EmptyCorpus:
    names = ", ".join(f.path for f in skipped)
    return EmptyCorpus(
        f"No text to index in {corpus_dir}: add .txt, .md, .html, .pdf or .jsonl files "
        "there" + (f" (skipped as unreadable: {names})" if skipped else "")
    )


def _no_terms(corpus_dir: Path) -> EmptyCorpus:
    return EmptyCorpus(
        f"No words to index in {corpus_dir}: its text holds only stop words, numbers or symbols"
    )
