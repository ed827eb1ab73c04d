"""Speed benchmark: build, load and query at 10k / 100k / 1M passages, against bm25s.

Usage (from the repository root)::

    python bench/speed.py                       # 10k, 100k and 1M passages
    python bench/speed.py --sizes 10000,100000 --json speed.json
    python bench/speed.py --sizes 1M --keep /tmp/speed   # keep corpora and indexes

What it does, for each size:

1. Generates a corpus of passage-sized documents by sampling and recombining sentences
   of the test collections in bench/data/*/corpus.jsonl.gz (fixed seed), written as
   .jsonl files of 100,000 lines. One line is one passage in our index (2-6 sentences,
   about 40-120 words, well under the splitter's 150-word limit); the script checks
   that the passage count of our build equals the line count. See `Generator` for how
   the vocabulary is made to grow as real text does.
2. Draws 1,000 questions from the same text: a random 3-8 word span of a random
   passage; about 20% get a typo (two neighbouring letters swapped in a word of five
   or more letters).
3. Measures our bot through the product's code path, every step in a fresh subprocess
   so that one measurement's memory and caches do not leak into the next: full build
   (`bot.index.build`), index size on disk, load (`bot.index.load` + `Retriever`),
   resident memory after load, single-question latency of `Engine.ask` (the whole
   answer path: refresh check, analysis, typo repair, scoring, top-k, answer text),
   and the throughput of `python -m bot ask - --json`.
4. Measures bm25s on the same passages (title and text, as our index sees them), with
   its numpy backend (the default) and its numba backend (its fastest): index time
   including tokenisation, size on disk after `save`, load with `mmap=True`, memory,
   and the latency of a bare `retrieve(k=10)` one question at a time on queries
   tokenised beforehand (`return_ids=False`). The first call of each backend (numba
   compiles then) is a warm-up, reported apart and left out of the percentiles, for
   both systems alike. numba's index time leaves out the JIT compilation of its CSC
   builder, which it reports apart too.

It prints one table (size x metric x ours, bm25s-numpy, bm25s-numba, ratios ours/bm25s;
a ratio under 1 means we are faster or smaller, except for throughput) and `--json`
writes all figures. Page caches are warm (the files were just written): load times are
those of a restart, not of a cold boot.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from testdata import DATA, collection_folders, corpus_file, open_text

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = DATA
LINES_PER_FILE = 100_000
SYSTEMS = ("ours", "numpy", "numba")
WARMUP_QUESTION = "aerodinamic heating of a hypersonic wing"  # a typo: exercises repair

# ---------------------------------------------------------------------------- corpus

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PUNCT = " .,;:!?()[]\"'"
# Syllables of the invented names, see `Generator._name`.
_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
_STOP_TEXT = (
    "that this with from have were which their there these those been than then into "
    "also when where what they them such some other about more most only over under "
    "very will would could should shall must being does done each after before"
)
_STOP = frozenset(_STOP_TEXT.split())


class Generator:
    """Generates passage-sized documents and questions from a pool of real sentences.

    Recombining sentences alone would cap the vocabulary at the source collections'
    ~27,000 words, while real text keeps meeting new words (Heaps' law: about n^0.5 to
    n^0.7 distinct words in n tokens; a million passages of real text, ~80M tokens,
    hold several hundred thousand to a million distinct words, mostly names and rare
    terms). So one content word in ten (`RARE_RATE`; words of 4+ letters) is replaced
    by an invented name drawn from a Zipf distribution (`ZIPF_A`) over an unbounded
    set: a few names recur often, most are rare, and the number of distinct names grows
    as draws^(1/ZIPF_A). With the seed 13 the distinct lower-cased words come to about
    33k at 10k passages, 122k at 100k and ~650k at 1M: tokens^0.65 overall (the
    corpus line of the report prints the counts our index sees).

    Names rather than numeric suffixes ("wing17"): they are alphabetic, so they land in
    the typo-repair tables and length buckets the way real rare words do, go through
    the stemmer like words, and stay single tokens for both tokenisers (a numeric
    suffix would be skipped by our typo repair and so understate its cost).
    """

    RARE_RATE = 0.10
    ZIPF_A = 1.15

    def __init__(self, source: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self._zipf: list[int] = []
        # collections -> documents -> (title, sentences as word tuples)
        self.collections: list[list[tuple[str, list[tuple[str, ...]]]]] = []
        self.starts: list[tuple[int, int, int]] = []  # every sentence, as a start
        for folder in collection_folders(source):
            docs = []
            with open_text(corpus_file(folder)) as handle:
                for line in handle:
                    record = json.loads(line)
                    sentences = [
                        tuple(s.split())
                        for s in _SENTENCE.split(record.get("text", ""))
                        if 4 <= len(s.split()) <= 80
                    ]
                    if sentences:
                        docs.append((str(record.get("title") or "").strip(), sentences))
            c = len(self.collections)
            self.collections.append(docs)
            for d, (_, sentences) in enumerate(docs):
                self.starts.extend((c, d, s) for s in range(len(sentences)))
        if not self.starts:
            raise SystemExit(f"no sentences found in the corpora under {source}")

    def _name(self) -> str:
        """An invented name; the Zipf draw picks which, so names recur like real ones."""
        if not self._zipf:
            draws = self.np_rng.zipf(self.ZIPF_A, 1 << 20) % 50_000_000
            self._zipf = draws.tolist()
        z = self._zipf.pop() + len(_SYLLABLES) ** 2  # at least three syllables
        parts = []
        while z:
            z, r = divmod(z, len(_SYLLABLES))
            parts.append(_SYLLABLES[r])
        return "".join(parts).capitalize()

    def _vary(self, sentence: tuple[str, ...]) -> str:
        rate = self.RARE_RATE
        random_ = self.rng.random
        out = []
        for word in sentence:
            if len(word) >= 4 and random_() < rate and word.isalpha() and word not in _STOP:
                word = self._name()
            out.append(word)
        return " ".join(out)

    def passage(self) -> tuple[str, str]:
        """(title, text): 2-6 sentences, about 40-120 words, mostly from one document.

        Runs of neighbouring sentences of one source document, with a 30% chance at each
        step of jumping to a random sentence of the same collection.
        """
        rng = self.rng
        c, d, s = self.starts[rng.randrange(len(self.starts))]
        docs = self.collections[c]
        title = docs[d][0]
        want_sentences, want_words = rng.randint(2, 6), rng.randint(40, 120)
        chosen: list[tuple[str, ...]] = []
        words = 0
        for _ in range(40):
            sentence = docs[d][1][s]
            if words + len(sentence) <= 120:
                chosen.append(sentence)
                words += len(sentence)
            if len(chosen) >= 2 and (
                len(chosen) >= want_sentences and words >= 40 or words >= want_words
            ):
                break
            if len(chosen) == 6:
                break
            if rng.random() < 0.7 and s + 1 < len(docs[d][1]):
                s += 1
            else:
                d = rng.randrange(len(docs))
                s = rng.randrange(len(docs[d][1]))
        if not title:
            title = " ".join(chosen[0][:6]).strip(_PUNCT)
        return title, " ".join(self._vary(sentence) for sentence in chosen)

    def question(self, text: str) -> tuple[str, bool]:
        """A 3-8 word span of the text; about one in five gets a typo. (question, typo)"""
        rng = self.rng
        words = text.split()
        length = min(rng.randint(3, 8), len(words))
        start = rng.randrange(len(words) - length + 1)
        span = [w.strip(_PUNCT) for w in words[start : start + length]]
        span = [w for w in span if w]
        typo = False
        candidates = [i for i, w in enumerate(span) if len(w) >= 5 and w.isalpha()]
        if candidates and rng.random() < 0.2:
            i = rng.choice(candidates)
            word = span[i]
            spots = [j for j in range(1, len(word) - 1) if word[j] != word[j + 1]]
            if spots:
                j = rng.choice(spots)
                span[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
                typo = True
        return " ".join(span), typo


def generate(source: Path, seed: int, size: int, corpus_dir: Path, questions: int) -> dict:
    """Writes `size` passages as .jsonl files and returns stats and questions."""
    gen = Generator(source, seed)
    wanted = sorted(random.Random(seed + size).sample(range(size), min(questions, size)))
    order = random.Random(seed + 1).sample(range(len(wanted)), len(wanted))
    picked: dict[int, str] = {}
    corpus_dir.mkdir(parents=True, exist_ok=True)
    words = 0
    cursor = 0
    handle = None
    started = time.perf_counter()
    for n in range(size):
        if n % LINES_PER_FILE == 0:
            if handle:
                handle.close()
            handle = open(  # noqa: SIM115
                corpus_dir / f"part-{n // LINES_PER_FILE:03d}.jsonl", "w", encoding="utf-8"
            )
        title, text = gen.passage()
        words += text.count(" ") + 1
        handle.write(json.dumps({"id": f"g{n:07d}", "title": title, "text": text}) + "\n")
        if cursor < len(wanted) and wanted[cursor] == n:
            picked[n] = text
            cursor += 1
    if handle:
        handle.close()
    asked = []
    typos = 0
    for i in order:  # questions in random order, not corpus order
        n = wanted[i]
        question, typo = gen.question(picked[n])
        typos += typo
        asked.append({"question": question, "passage": f"g{n:07d}", "typo": typo})
    return {
        "lines": size,
        "words": words,
        "files": (size + LINES_PER_FILE - 1) // LINES_PER_FILE,
        "seconds": round(time.perf_counter() - started, 2),
        "typos": typos,
        "questions": asked,
    }


def read_texts(corpus_dir: Path) -> list[str]:
    """The passages as our index sees them: title, newline, text."""
    texts = []
    for path in sorted(corpus_dir.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts.append(f"{row['title']}\n{row['text']}")
    return texts


# ---------------------------------------------------------------------------- workers
# Each worker runs in its own process and prints one JSON object on its last line.


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


class _Profile:
    """Runs a block under cProfile when a path is given, and dumps the stats there."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.profiler: Any = None

    def __enter__(self) -> _Profile:
        if self.path:
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profiler:
            self.profiler.disable()
            self.profiler.dump_stats(self.path)


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def worker_ours_build(a: dict) -> dict:
    from bot import index as index_mod
    from bot.index import builder  # noqa: F401 - imported untimed, as bm25s's side is

    corpus, index = Path(a["corpus"]), Path(a["index"])
    started, cpu = time.perf_counter(), _cpu_s()
    with _Profile(a.get("profile")):
        report = index_mod.build(corpus, index, full=True)
    seconds = time.perf_counter() - started
    cpu = _cpu_s() - cpu
    build_dir = index_mod.current_build(index)
    manifest = index_mod.read_manifest(build_dir)
    words = len(index_mod.load(index).words)
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "passages": report.passages,
        "terms": report.terms,
        "words": words,
        "size_mb": _dir_mb(build_dir),
        "files": {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(build_dir.iterdir())},
        "manifest_passages": manifest["passages"],
    }


def worker_ours_query(a: dict) -> dict:
    started = time.perf_counter()
    from bot import index as index_mod
    from bot.config import Settings
    from bot.engine import Engine
    from bot.retriever import Retriever

    imports = time.perf_counter() - started
    rss_start = _rss_mb()
    started = time.perf_counter()
    index = index_mod.load(Path(a["index"]))
    retriever = Retriever(index)
    load = time.perf_counter() - started
    rss_load = _rss_mb()
    result: dict[str, Any] = {"imports_s": imports, "load_s": load, "rss_load_mb": rss_load}
    result["rss_before_load_mb"] = rss_start
    if not a.get("questions"):
        return result
    settings = Settings(corpus_dir=Path(a["corpus"]), index_dir=Path(a["index"]))
    engine = Engine(settings, retriever)
    k = a["k"]
    started = time.perf_counter()
    # As the console and the Telegram bot do at start (bm25s-numba's first retrieve
    # compiles its loop, also left out of the percentiles): a large index's compiled
    # loop is loaded before the first question, and counted in that question's time.
    warming = engine.warm_up()
    if warming is not None:
        warming.join()
    engine.ask(WARMUP_QUESTION, k)
    result["first_ms"] = (time.perf_counter() - started) * 1000
    times = []
    answered = corrected = 0
    with _Profile(a.get("profile")):
        for question in a["questions"]:
            started = time.perf_counter()
            answer = engine.ask(question, k)
            times.append(time.perf_counter() - started)
            answered += answer.answered
            corrected += bool(answer.corrections)
    result.update(_percentiles(times))
    result.update(answered=answered, corrected=corrected, rss_after_mb=_rss_mb())
    return result


def _bm25s_tokenize(texts: list[str], return_ids: bool) -> Any:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    return bm25s.tokenize(
        texts, stopwords="en", stemmer=stemmer, return_ids=return_ids, show_progress=False
    )


def worker_bm25s_index(a: dict) -> dict:
    import bm25s

    texts = read_texts(Path(a["corpus"]))
    result: dict[str, Any] = {"docs": len(texts)}
    if a["backend"] == "numba":
        retriever = bm25s.BM25(backend="numba")
        # bm25s 0.3.16's constructor means to compile its numba CSC builder but does not
        # (its NUMBA_DISABLE_JIT test is inverted), so switch it on here: its fastest.
        retriever.activate_numba_csc()
        started = time.perf_counter()
        retriever.warmup_numba_csc()  # JIT compilation, reported apart
        result["compile_s"] = time.perf_counter() - started
    else:
        retriever = bm25s.BM25()
    started, cpu = time.perf_counter(), _cpu_s()
    with _Profile(a.get("profile")):
        tokens = _bm25s_tokenize(texts, return_ids=True)
        result["tokenize_s"] = time.perf_counter() - started
        retriever.index(tokens, show_progress=False)
    result["seconds"] = time.perf_counter() - started
    result["cpu_s"] = _cpu_s() - cpu
    result["vocab"] = len(retriever.vocab_dict)
    if a.get("save"):
        started, cpu = time.perf_counter(), _cpu_s()
        retriever.save(a["save"], show_progress=False)
        result["save_s"] = time.perf_counter() - started
        result["save_cpu_s"] = _cpu_s() - cpu
        result["size_mb"] = _dir_mb(Path(a["save"]))
    return result


def worker_bm25s_query(a: dict) -> dict:
    import bm25s

    started = time.perf_counter()
    if a["backend"] == "numba":
        retriever = bm25s.BM25.load(a["index"], mmap=True, backend="numba", show_progress=False)
        retriever.activate_numba_scorer()
    else:
        retriever = bm25s.BM25.load(a["index"], mmap=True, show_progress=False)
    result: dict[str, Any] = {"load_s": time.perf_counter() - started, "rss_load_mb": _rss_mb()}
    if not a.get("questions"):
        return result
    k = a["k"]
    vocab = retriever.vocab_dict
    queries = _bm25s_tokenize([WARMUP_QUESTION, *a["questions"]], return_ids=False)
    # bm25s cannot score a query without any indexed token (its numpy path raises, and
    # the "" token it adds to the vocabulary has no column): such questions (a span of
    # stop words, say) are left out of its percentiles and counted.
    known = [q for q in queries if any(t in vocab for t in q)]
    result["skipped"] = len(queries) - len(known)
    queries = known
    started = time.perf_counter()
    retriever.retrieve([queries[0]], k=k, show_progress=False)
    result["first_ms"] = (time.perf_counter() - started) * 1000
    times = []
    with _Profile(a.get("profile")):
        for query in queries[1:]:
            started = time.perf_counter()
            retriever.retrieve([query], k=k, show_progress=False)
            times.append(time.perf_counter() - started)
    result.update(_percentiles(times))
    result["rss_after_mb"] = _rss_mb()
    return result


WORKERS = {
    "ours_build": worker_ours_build,
    "ours_query": worker_ours_query,
    "bm25s_index": worker_bm25s_index,
    "bm25s_query": worker_bm25s_query,
}


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_worker(kind: str, args: dict) -> dict:
    """Runs one worker in a fresh process; adds its wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp) / "args.json", Path(tmp) / "out.json"
        spec.write_text(json.dumps(args), encoding="utf-8")
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(spec)]
        result = _run(command, out)
        if result["returncode"] != 0:
            raise SystemExit(f"worker {kind} failed (exit {result['returncode']})")
        lines = out.read_text(encoding="utf-8").strip().splitlines()
        figures = {
            **json.loads(lines[-1]),
            "wall_s": result["wall_s"],
            "peak_mb": result["peak_mb"],
        }
    shown = {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}
    _log(f"    {kind} {args.get('backend', '')}: {json.dumps(shown)}")
    return figures


def _run(command: list[str], out: Path, stdin: str | None = None) -> dict:
    """Runs a command; returns its wall time and the peak RSS of that process alone.

    os.wait4 gives the rusage of the one child waited for (RUSAGE_CHILDREN would be the
    maximum over every child so far).
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with open(out, "wb") as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=stdout, env=env
        )
        if stdin:
            assert process.stdin is not None
            process.stdin.write(stdin.encode("utf-8"))
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": process.returncode, "wall_s": wall, "peak_mb": usage.ru_maxrss / 1024}


# ---------------------------------------------------------------------------- one size


def prepare_corpus(work: Path, source: Path, seed: int, size: int, questions: int) -> dict:
    """The generated corpus in work/corpus and its stats and questions (see `generate`).

    Generated once per (seed, size, questions): a folder kept with --keep is reused, and
    anything else in `work` (indexes of an older corpus) is removed with it.
    """
    stamp = work / "generated.json"
    key = {"seed": seed, "size": size, "questions": questions}
    stats = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else None
    if stats is None or stats.get("key") != key:
        shutil.rmtree(work, ignore_errors=True)
        _log(f"[{size:,}] generating the corpus...")
        stats = {"key": key, **generate(source, seed, size, work / "corpus", questions)}
        stamp.write_text(json.dumps(stats), encoding="utf-8")
    return stats


def bench_size(size: int, opts: argparse.Namespace, base: Path) -> dict:
    """All measurements for one corpus size; returns {corpus, ours, numpy, numba}."""
    work = base / str(size)
    corpus, index, saved = work / "corpus", work / "index", work / "bm25s"
    stats = prepare_corpus(work, opts.source, opts.seed, size, opts.questions)
    questions = [q["question"] for q in stats["questions"]]
    ours_questions = questions[: opts.ours_questions] if opts.ours_questions else questions
    _log(f"[{size:,}] corpus: {stats['lines']:,} passages, {stats['words']:,} words")
    profile = opts.profile
    out: dict[str, Any] = {"corpus": {k: v for k, v in stats.items() if k != "questions"}}
    out["corpus"]["ours_questions"] = len(ours_questions)
    k = opts.k

    def prof(name: str) -> str | None:
        return str(profile / f"{size}-{name}.prof") if profile else None

    if "ours" in opts.systems:
        ours: dict[str, Any] = {}
        shutil.rmtree(index, ignore_errors=True)
        _log(f"[{size:,}] ours: build...")
        build = run_worker(
            "ours_build", {"corpus": str(corpus), "index": str(index), "profile": prof("build")}
        )
        ours["build"] = build
        if build["passages"] != stats["lines"]:
            _log(f"WARNING: {build['passages']:,} passages indexed from {stats['lines']:,} lines")
        _log(f"[{size:,}] ours: load...")
        ours["load"] = run_worker("ours_query", {"corpus": str(corpus), "index": str(index)})
        _log(f"[{size:,}] ours: {len(ours_questions)} questions...")
        ours["query"] = run_worker(
            "ours_query",
            {
                "corpus": str(corpus),
                "index": str(index),
                "questions": ours_questions,
                "k": k,
                "profile": prof("query"),
            },
        )
        _log(f"[{size:,}] ours: ask - ...")
        command = [sys.executable, "-m", "bot", "ask", "-", "--json", "-k", str(k)]
        command += ["--corpus", str(corpus), "--index", str(index)]
        with tempfile.TemporaryDirectory() as tmp:
            answers = Path(tmp) / "answers.jsonl"
            batch = _run(command, answers, "\n".join(ours_questions) + "\n")
            lines = len(answers.read_text(encoding="utf-8").splitlines())
        if batch["returncode"] != 0 or lines != len(ours_questions):
            raise SystemExit(f"ask - failed: exit {batch['returncode']}, {lines} answers")
        batch["qps"] = len(ours_questions) / batch["wall_s"]
        ours["batch"] = batch
        out["ours"] = ours
        if not opts.keep:
            shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(saved, ignore_errors=True)
    for backend in ("numpy", "numba"):
        if backend not in opts.systems:
            continue
        result: dict[str, Any] = {}
        first = not saved.exists()
        _log(f"[{size:,}] bm25s-{backend}: index...")
        result["index"] = run_worker(
            "bm25s_index",
            {
                "corpus": str(corpus),
                "backend": backend,
                "save": str(saved) if first else None,
                "profile": prof(f"{backend}-index"),
            },
        )
        result["index"].setdefault("size_mb", _dir_mb(saved))
        _log(f"[{size:,}] bm25s-{backend}: load...")
        result["load"] = run_worker("bm25s_query", {"index": str(saved), "backend": backend})
        _log(f"[{size:,}] bm25s-{backend}: {len(questions)} questions...")
        result["query"] = run_worker(
            "bm25s_query",
            {
                "index": str(saved),
                "backend": backend,
                "questions": questions,
                "k": k,
                "profile": prof(f"{backend}-query"),
            },
        )
        out[backend] = result
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------- report

# (label, getter for ours, getter for bm25s)
METRICS: list[tuple[str, Any, Any]] = [
    ("build / index time (s)", lambda r: r["build"]["seconds"], lambda r: r["index"]["seconds"]),
    (
        "build / index + save (s)",  # the bar of issue 12: bm25s's tokenise + index + save
        lambda r: r["build"]["seconds"],
        lambda r: r["index"]["seconds"] + r["index"]["save_s"],
    ),
    (
        "build CPU, all processes (s)",  # what the build costs when other jobs hold the CPUs
        lambda r: r["build"]["cpu_s"],
        lambda r: r["index"]["cpu_s"] + r["index"]["save_cpu_s"],
    ),
    ("build peak RSS (MB)", lambda r: r["build"]["peak_mb"], lambda r: r["index"]["peak_mb"]),
    ("index size on disk (MB)", lambda r: r["build"]["size_mb"], lambda r: r["index"]["size_mb"]),
    ("load time (s)", lambda r: r["load"]["load_s"], lambda r: r["load"]["load_s"]),
    ("RSS after load (MB)", lambda r: r["load"]["rss_load_mb"], lambda r: r["load"]["rss_load_mb"]),
    ("first question (ms)", lambda r: r["query"]["first_ms"], lambda r: r["query"]["first_ms"]),
    ("query p50 (ms)", lambda r: r["query"]["p50_ms"], lambda r: r["query"]["p50_ms"]),
    ("query p99 (ms)", lambda r: r["query"]["p99_ms"], lambda r: r["query"]["p99_ms"]),
    (
        "RSS after queries (MB)",
        lambda r: r["query"]["rss_after_mb"],
        lambda r: r["query"]["rss_after_mb"],
    ),
    ("ask - throughput (q/s)", lambda r: r["batch"]["qps"], None),
]


def table_rows(results: dict[int, dict]) -> list[dict]:
    rows = []
    for size, out in results.items():
        for label, get_ours, get_bm25s in METRICS:
            row: dict[str, Any] = {"size": size, "metric": label}
            for system in SYSTEMS:
                getter = get_ours if system == "ours" else get_bm25s
                try:
                    row[system] = float(getter(out[system])) if getter else None
                except KeyError:
                    row[system] = None
            for system in ("numpy", "numba"):
                ours, other = row["ours"], row[system]
                row[f"ours/{system}"] = ours / other if ours is not None and other else None
            rows.append(row)
    return rows


def _fmt(value: float | None, ratio: bool = False) -> str:
    if value is None:
        return "-"
    if ratio:
        return f"{value:.2f}x"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(rows: list[dict]) -> str:
    header = [
        "passages",
        "metric",
        "ours",
        "bm25s-numpy",
        "bm25s-numba",
        "ours/numpy",
        "ours/numba",
    ]
    body = [
        [
            f"{r['size']:,}",
            r["metric"],
            _fmt(r["ours"]),
            _fmt(r["numpy"]),
            _fmt(r["numba"]),
            _fmt(r["ours/numpy"], True),
            _fmt(r["ours/numba"], True),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in column) for column in zip(header, *body, strict=True)]
    lines = []
    for i, cells in enumerate([header, *body]):
        if i and i > 1 and body[i - 1][0] != body[i - 2][0]:
            lines.append("")
        lines.append(
            "  ".join(
                c.ljust(w) if j < 2 else c.rjust(w)
                for j, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    return "\n".join(lines)


def corpus_line(size: int, out: dict) -> str:
    c = out["corpus"]
    parts = [f"{size:,} passages: {c['words']:,} words in {c['files']} files"]
    if "ours" in out:
        b = out["ours"]["build"]
        parts.append(f"ours {b['passages']:,} passages, {b['words']:,} words, {b['terms']:,} terms")
        q = out["ours"]["query"]
        parts.append(
            f"{q['answered']} of {c.get('ours_questions', '?')} answered, "
            f"{q['corrected']} corrected"
        )
    for backend in ("numpy", "numba"):
        if backend in out:
            parts.append(f"bm25s vocabulary {out[backend]['index']['vocab']:,}")
            skipped = out[backend]["query"].get("skipped", 0)
            parts.append(f"bm25s skipped {skipped} questions without an indexed token")
            break
    parts.append(f"{c['typos']} questions with a typo")
    return "; ".join(parts)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="passage counts")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument(
        "--ours-questions",
        type=int,
        metavar="N",
        help="time our side on the first N questions only (for slow builds of the bot)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep corpora and indexes")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("-k", type=int, default=10, help="results per question, both sides")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="collections")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help="subset of ours,numpy,numba to run"
    )
    parser.add_argument("--profile", type=Path, metavar="DIR", help="write cProfile stats")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        kind, spec = opts.worker
        result = WORKERS[kind](json.loads(Path(spec).read_text(encoding="utf-8")))
        print(json.dumps(result))
        return 0
    opts.systems = {s.strip() for s in opts.systems.split(",") if s.strip()}
    if opts.profile:
        opts.profile.mkdir(parents=True, exist_ok=True)
    sizes = [_size(s) for s in opts.sizes.split(",") if s.strip()]
    base = opts.keep or Path(tempfile.mkdtemp(prefix="bench-speed-"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict] = {}
    try:
        for size in sizes:
            results[size] = bench_size(size, opts, base)
            _log(corpus_line(size, results[size]))
    finally:
        if not opts.keep:
            shutil.rmtree(base, ignore_errors=True)
    rows = table_rows(results)
    print("\n".join(corpus_line(size, out) for size, out in results.items()))
    print()
    print(format_table(rows))
    if opts.json:
        report = {
            "config": {
                "sizes": sizes,
                "questions": opts.questions,
                "seed": opts.seed,
                "k": opts.k,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "memory_gb": round(
                    os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
                ),
            },
            "table": rows,
            "results": {str(size): out for size, out in results.items()},
        }
        opts.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
