"""Cold start: a one-shot `python -m bot ask`, timed from process start to exit.

Usage (from the repository root)::

    python bench/coldstart.py                      # shipped corpus, then 200k passages
    python bench/coldstart.py --sizes ""           # the shipped corpus only
    python bench/coldstart.py --keep /tmp/cold     # keep (and reuse) corpus and indexes
    git worktree add /tmp/old HEAD~3 && python bench/coldstart.py --against /tmp/old

What a shell user, a script or a cron job pays for one question: start Python, import,
load the index, answer, exit. Each figure is the wall time of a fresh process, measured
here around `subprocess.run`, `--runs` times (default 10); the median and the minimum
are printed, and the median CPU time (user + system) of the process. The commands being
compared are run in turns (A, B, C, A, B, C, ...), so that a burst of load from other
processes on a shared machine falls on all of them alike: compare the ratios of one
run, not absolute figures of different runs. The load average is printed before and
after; CPU time varies far less with it than wall time does.

1. **Shipped corpus** (`corpus/`, 9 passages): the index is built first into a
   temporary folder, then `python -m bot ask "What is PESCO?"` is timed; beside it, as
   floors, Python printing a line (the interpreter alone), and importing numpy (with
   one OpenBLAS thread, as the bot starts it).
2. **Generated corpora** (`--sizes`, default 200,000 passages; the generator of
   `bench/speed.py`, same seed, so the same passages): our index and bm25s's (numpy
   backend, `save`d) are built first. Then each round asks one of the generated
   questions (a span of a passage, some with a typo) both ways: `python -m bot ask Q -k
   10`, and a fresh Python that imports bm25s, loads its index with `mmap=True`,
   tokenises the question as `bench/speed.py` does (English stop words, Snowball
   stemmer) and prints the ids and scores of a bare `retrieve(k=10)`. bm25s prints no
   text (its index keeps none); ours prints the answer and its source.

`--against DIR` adds another checkout of the bot (an older commit, say) to the same
rounds, so a change is measured before and after under the same load.

Before timing, every command runs once untimed: that writes the bytecode caches
(`__pycache__`) a user's second run would find, and puts the index files in the page
cache, as a user's previous question would have. The children run without
PYTHONDONTWRITEBYTECODE for the same reason. Page caches are warm throughout: these are
the times of a repeated command, not of the first one after boot.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import speed

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_QUESTION = "What is PESCO?"

# A one-shot bm25s question: the same tokeniser settings as speed._bm25s_tokenize.
BM25S_ASK = """
import sys
import bm25s
import Stemmer

retriever = bm25s.BM25.load(sys.argv[1], mmap=True, show_progress=False)
tokens = bm25s.tokenize(
    [sys.argv[2]], stopwords="en", stemmer=Stemmer.Stemmer("english"),
    return_ids=False, show_progress=False,
)
ids, scores = retriever.retrieve(tokens, k=int(sys.argv[3]), show_progress=False)
for i, s in zip(ids[0].tolist(), scores[0].tolist()):
    print(i, round(s, 4))
"""


def _env(root: Path = ROOT) -> dict[str, str]:
    """The children's environment: the checkout `root` first on the path, bytecode cached."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env


class Timed(NamedTuple):
    """One run of a command: wall and CPU seconds, and what it printed."""

    wall: float
    cpu: float
    done: subprocess.CompletedProcess[str]


def _run(command: list[str], cwd: Path) -> Timed:
    """Runs a command in `cwd`, a checkout of the bot (`python -m bot` imports that one).

    CPU time (user + system, all threads) barely depends on what else the machine runs,
    so it tells a change from noise where the wall time of a shared machine cannot.
    """
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_env(cwd), capture_output=True, text=True)
    return Timed(time.perf_counter() - started, _children_cpu() - cpu, done)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # of the children waited for
    return usage.ru_utime + usage.ru_stime


def _check(name: str, done: subprocess.CompletedProcess[str]) -> None:
    """A timed command must answer quietly: an error or a rebuild would skew the time."""
    if done.returncode != 0 or not done.stdout.strip() or done.stderr.strip():
        raise SystemExit(
            f"{name} failed (exit {done.returncode}):\n{done.stdout[-500:]}{done.stderr[-2000:]}"
        )


Commands = dict[str, tuple[Path, list[list[str]]]]


def time_rounds(commands: Commands, runs: int) -> dict[str, list[Timed]]:
    """Runs each named command `runs` times, in turns; returns the runs by name.

    `commands` maps a name to the checkout it runs in and its command of each round (a
    round may ask another question); every command runs once untimed first.
    """
    for name, (cwd, rounds) in commands.items():
        for command in rounds:
            _check(name, _run(command, cwd).done)
    times: dict[str, list[Timed]] = {name: [] for name in commands}
    for i in range(runs):
        for name, (cwd, rounds) in commands.items():
            timed = _run(rounds[i % len(rounds)], cwd)
            _check(name, timed.done)
            times[name].append(timed)
    return times


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(title: str, times: dict[str, list[Timed]], baseline: str | None) -> list[str]:
    """Median and minimum wall time of each command, median CPU time, ratios of medians."""
    lines = [title]
    base = statistics.median(t.wall for t in times[baseline]) if baseline else None
    width = max(len(name) for name in times)
    for name, runs in times.items():
        median = statistics.median(t.wall for t in runs)
        cpu = statistics.median(t.cpu for t in runs)
        line = (
            f"  {name.ljust(width)}  median {median:.3f} s  min {min(t.wall for t in runs):.3f} s"
        )
        line += f"  cpu {cpu:.3f} s"
        if base and name != baseline:
            line += f"  ({median / base:.2f}x {baseline})"
        lines.append(line)
    return lines


def bench_shipped(opts: argparse.Namespace, work: Path) -> list[str]:
    python = sys.executable
    index = work / "shipped-index"
    shutil.rmtree(index, ignore_errors=True)
    build = [python, "-m", "bot", "build", "--corpus", str(ROOT / "corpus"), "--index", str(index)]
    subprocess.run(build, cwd=ROOT, env=_env(), check=True, capture_output=True)
    ask = [python, "-m", "bot", "ask", SHIPPED_QUESTION]
    ask += ["--corpus", str(ROOT / "corpus"), "--index", str(index)]
    commands: Commands = {f'bot ask "{SHIPPED_QUESTION}"': (ROOT, [ask])}
    if opts.against:  # its own index: another version may write another format
        other = work / "against-index"
        shutil.rmtree(other, ignore_errors=True)
        build_other = [*build[:-1], str(other)]
        subprocess.run(
            build_other, cwd=opts.against, env=_env(opts.against), check=True, capture_output=True
        )
        commands["the same, --against checkout"] = (opts.against, [[*ask[:-1], str(other)]])
    commands["python (print only)"] = (ROOT, [[python, "-c", "print(1)"]])
    # With one OpenBLAS thread, as the bot's command line starts numpy (bot/cli.py).
    numpy = "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); import numpy; print(1)"
    commands["python (import numpy)"] = (ROOT, [[python, "-c", numpy]])
    before = _load()
    times = time_rounds(commands, opts.runs)
    title = f"shipped corpus, {opts.runs} runs each ({before}; after: {_load()})"
    return report(title, times, None)


def bench_generated(size: int, opts: argparse.Namespace, base: Path) -> list[str]:
    python = sys.executable
    work = base / str(size)
    stats = speed.prepare_corpus(work, opts.source, opts.seed, size, opts.runs)
    corpus, index, saved = work / "corpus", work / "index", work / "bm25s"
    if not (index / "CURRENT").exists():
        speed._log(f"[{size:,}] ours: build...")
        speed.run_worker("ours_build", {"corpus": str(corpus), "index": str(index)})
    if not (saved / "params.index.json").exists():
        speed._log(f"[{size:,}] bm25s-numpy: index...")
        speed.run_worker(
            "bm25s_index", {"corpus": str(corpus), "backend": "numpy", "save": str(saved)}
        )
    questions = [q["question"] for q in stats["questions"]]
    k = str(opts.k)
    ours = [
        [python, "-m", "bot", "ask", q, "-k", k, "--corpus", str(corpus), "--index", str(index)]
        for q in questions
    ]
    bm25s = [[python, "-c", BM25S_ASK, str(saved), q, k] for q in questions]
    commands: Commands = {"bot ask Q": (ROOT, ours), "bm25s numpy, mmap": (ROOT, bm25s)}
    if opts.against:
        commands["bot ask Q, --against checkout"] = (opts.against, ours)
    speed._log(f"[{size:,}] timing {opts.runs} rounds...")
    before = _load()
    times = time_rounds(commands, opts.runs)
    title = (
        f"{size:,} generated passages, {opts.runs} questions, one process each "
        f"({before}; after: {_load()})"
    )
    return report(title, times, "bm25s numpy, mmap")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command")
    parser.add_argument("--sizes", default="200000", help="generated passage counts, or ''")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep corpora and indexes")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("-k", type=int, default=10, help="results per question, both sides")
    parser.add_argument("--source", type=Path, default=speed.DEFAULT_SOURCE)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="another checkout of the bot (git worktree add DIR REV) timed in the same rounds",
    )
    opts = parser.parse_args(argv)
    base = opts.keep or Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    base.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    try:
        lines += bench_shipped(opts, base)
        print("\n".join(lines), flush=True)
        for size in (speed._size(s) for s in opts.sizes.split(",") if s.strip()):
            section = bench_generated(size, opts, base)
            print("\n".join(section), flush=True)
            lines += section
    finally:
        if not opts.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
