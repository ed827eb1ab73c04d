"""Rebuild benchmark: incremental against full, and questions answered during swaps.

1. Generates a corpus of FILES text files (default 2,000 files of 100 passages each,
   about 200,000 passages) from the sentences of the public collections in
   bench/data (fixed seed), builds it in full, changes one file and rebuilds
   incrementally, and prints both times and their ratio (the bar: at most 10%).
2. Asks QUESTIONS questions back to back in one process (an `Engine`, as the console
   and the Telegram bot use it) while another thread rebuilds and swaps the index
   three times, and counts failed questions (the bar: zero).

Usage::

    python bench/rebuild.py [--files 2000] [--passages-per-file 100] [--questions 1000]
                            [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path

from testdata import collection_folders, corpus_file, open_text

from bot import index as index_mod
from bot.config import Settings
from bot.engine import Engine


def sentences(seed: int) -> list[str]:
    """Sentences of every collection's documents, shuffled with a fixed seed."""
    out: list[str] = []
    for folder in collection_folders():
        with open_text(corpus_file(folder)) as handle:
            lines = handle.read().splitlines()
        for line in lines:
            text = json.loads(line)["text"]
            out.extend(s.strip() + "." for s in text.split(" . ") if len(s.split()) > 5)
    random.Random(seed).shuffle(out)
    return out


def write_corpus(folder: Path, files: int, per_file: int, pool: list[str], seed: int) -> None:
    """Writes `files` text files, each with `per_file` headed sections of 2-4 sentences."""
    rng = random.Random(seed)
    for f in range(files):
        sections = []
        for p in range(per_file):
            body = " ".join(rng.choice(pool) for _ in range(rng.randint(2, 4)))
            sections.append(f"SECTION {f} {p}\n\n{body}\n")
        (folder / f"doc-{f:05d}.txt").write_text("\n".join(sections), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--passages-per-file", type=int, default=100)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    pool = sentences(args.seed)
    results: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        write_corpus(corpus, args.files, args.passages_per_file, pool, args.seed)

        full = index_mod.build(corpus, index_dir, full=True)
        print(full.summary(), flush=True)
        victim = corpus / "doc-00007.txt"
        victim.write_text(victim.read_text() + "\nNEW SECTION\n\nA brand new fact.\n")
        incremental = index_mod.build(corpus, index_dir)
        print(incremental.summary(), flush=True)
        results.update(
            passages=full.passages,
            full_build_s=full.seconds,
            incremental_build_s=incremental.seconds,
            incremental_over_full=incremental.seconds / full.seconds,
        )

        rng = random.Random(args.seed + 1)
        questions = [" ".join(rng.choice(pool).split()[:6]) for _ in range(args.questions)]
        engine = Engine.open(Settings.from_env({}, corpus_dir=corpus, index_dir=index_dir))
        failures: list[str] = []
        swaps: list[str] = []
        done = threading.Event()

        def rebuild_three_times() -> None:
            for i in range(3):
                (corpus / f"extra-{i}.txt").write_text(f"EXTRA {i}\n\nExtra fact number {i}.\n")
                swaps.append(index_mod.build(corpus, index_dir, wait=True).build)
            done.set()

        builder = threading.Thread(target=rebuild_three_times)
        started = time.perf_counter()
        builder.start()
        asked = 0
        while asked < len(questions) or not done.is_set():
            question = questions[asked % len(questions)]
            try:
                answer = engine.ask(question)
                if not answer.hits:
                    failures.append(f"no hits: {question}")
            except Exception as exc:  # noqa: BLE001 - counting every kind of failure
                failures.append(f"{type(exc).__name__}: {exc}")
            asked += 1
        builder.join()
        results.update(
            questions_asked=asked,
            questions_failed=len(failures),
            index_swaps=len(swaps),
            served_final_index=int(engine.retriever.index.build_id == swaps[-1]),
            seconds=time.perf_counter() - started,
        )
        for failure in failures[:5]:
            print("failed:", failure)

    width = max(map(len, results))
    for name, value in results.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
