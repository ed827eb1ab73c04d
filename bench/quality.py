"""Retrieval quality on public test collections, side by side with bm25s.

For each collection folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``; see
``bench/data/README.md``) this builds our index from ``corpus.jsonl`` through the
product's own code path (``bot.index.build`` on a temporary corpus folder, then
``bot.retriever.Retriever.search``), runs every query, and does the same with bm25s
(its English stop words, PyStemmer's English stemmer, k1=1.5, b=0.75). Metrics follow
trec_eval's rules through ``ir_measures``.

Usage::

    python bench/quality.py [COLLECTION_DIR ...] [--json PATH] [--setting NAME=VALUE ...]

With no folder, every collection shipped in ``bench/data/`` is used.
``--setting`` overrides a field of ``bot.config.Settings`` (for experiments only: the bar
is measured with the defaults the bot ships with).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import ir_measures  # noqa: E402
import Stemmer  # noqa: E402
from ir_measures import AP, RR, P, R, nDCG  # noqa: E402
from testdata import collection_folders, copy_corpus, corpus_file, open_text  # noqa: E402

from bot import index as index_mod  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.retriever import Retriever  # noqa: E402

# Documents kept per query and system; the most passages ever asked of our retriever.
DEPTH = 100
PASSAGE_DEPTH_MAX = 100_000
BM25S_K1, BM25S_B = 1.5, 0.75

# (column name, ir_measures measure); trec_eval's rules via pytrec_eval.
METRICS: tuple[tuple[str, Any], ...] = (
    ("nDCG@10", nDCG @ 10),
    ("MAP@100", AP @ 100),
    ("R@100", R @ 100),
    ("P@1", P @ 1),
    ("MRR@10", RR @ 10),
)

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


@dataclass
class Collection:
    """One test collection read from its folder."""

    name: str
    path: Path
    docs: list[dict[str, str]]
    queries: dict[str, str]
    qrels: Qrels


@dataclass
class SystemResult:
    """One system's figures on one collection."""

    metrics: dict[str, float]
    build_seconds: float
    query_seconds: float
    empty_queries: int
    extra: dict[str, Any] = field(default_factory=dict)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open_text(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_collection(path: Path) -> Collection:
    docs = [
        {"id": str(d["id"]), "title": d.get("title") or "", "text": d.get("text") or ""}
        for d in read_jsonl(corpus_file(path))
    ]
    queries = {str(q["id"]): q["text"] for q in read_jsonl(path / "queries.jsonl")}
    qrels: Qrels = {}
    with open(path / "qrels.tsv", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    # Only judged queries count (the collections already hold only those).
    queries = {qid: text for qid, text in queries.items() if qid in qrels}
    return Collection(path.name, path, docs, queries, qrels)


def ranking_to_run(doc_ids: list[str]) -> dict[str, float]:
    """Scores that reproduce a system's own order.

    trec_eval sorts by score and breaks ties by document id, which would reorder a
    system's equal-score documents; strictly decreasing rank-based scores evaluate the
    ranking exactly as the system returned it.
    """
    n = len(doc_ids)
    return {doc: float(n - rank) for rank, doc in enumerate(doc_ids)}


# ---------------------------------------------------------------------------- our system


def run_ours(collection: Collection, settings: Settings) -> tuple[Run, SystemResult]:
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        corpus_dir, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus_dir.mkdir()
        copy_corpus(collection.path, corpus_dir / "corpus.jsonl")
        report = index_mod.build(corpus_dir, index_dir, k1=settings.k1, b=settings.b)
        retriever = Retriever(index_mod.load(index_dir))
        run: Run = {}
        empty = 0
        started = time.perf_counter()
        # Enough passages for DEPTH documents on average; doubled for a query that needs more.
        first_k = int(DEPTH * report.passages / max(len(collection.docs), 1)) + 20
        for qid, text in collection.queries.items():
            ranking = doc_ranking(retriever, text, first_k)
            if not ranking:
                empty += 1
            run[qid] = ranking_to_run(ranking)
        query_seconds = time.perf_counter() - started
    extra = {"passages": report.passages, "terms": report.terms}
    return run, SystemResult({}, report.seconds, query_seconds, empty, extra)


def doc_ranking(retriever: Retriever, text: str, k: int) -> list[str]:
    """The query's top DEPTH documents, each ranked by its best passage.

    Hits come best first, so a document's first passage is its best one. The top k hits
    are a prefix of the full ranking, so when they already name DEPTH documents, a
    larger k would give the same documents in the same order.
    """
    while True:
        hits = retriever.search(text, k=k).hits
        ranking = list(dict.fromkeys(hit.passage.doc for hit in hits))[:DEPTH]
        if len(ranking) >= DEPTH or len(hits) < k or k >= PASSAGE_DEPTH_MAX:
            return ranking
        k *= 2


# ---------------------------------------------------------------------------- bm25s


def run_bm25s(collection: Collection) -> tuple[Run, SystemResult]:
    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    # The same text our side indexes: the title (as a heading) plus the text.
    texts = [f"{d['title']} {d['text']}".strip() for d in collection.docs]
    corpus_tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25(k1=BM25S_K1, b=BM25S_B)
    model.index(corpus_tokens, show_progress=False)
    build_seconds = time.perf_counter() - started

    started = time.perf_counter()
    qids = list(collection.queries)
    query_tokens = bm25s.tokenize(
        [collection.queries[q] for q in qids],
        stopwords="en",
        stemmer=stemmer,
        return_ids=False,
        show_progress=False,
    )
    vocabulary = model.vocab_dict
    run: Run = {qid: {} for qid in qids}
    empty = 0
    k = min(DEPTH, len(collection.docs))
    for qid, tokens in zip(qids, query_tokens, strict=True):
        known = [t for t in tokens if t in vocabulary and t != ""]
        if not known:
            # Every token unknown (or a stop word): bm25s would rank arbitrary documents.
            empty += 1
            continue
        docs, scores = model.retrieve([known], k=k, show_progress=False, n_threads=1)
        ranking = [
            collection.docs[int(i)]["id"]
            for i, s in zip(docs[0], scores[0], strict=True)
            if s > 0  # documents sharing no term with the query are not retrieved
        ]
        run[qid] = ranking_to_run(ranking)
    query_seconds = time.perf_counter() - started
    return run, SystemResult({}, build_seconds, query_seconds, empty)


# ---------------------------------------------------------------------------- metrics


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean of each metric over every judged query (a query with an empty run scores 0)."""
    measures = [m for _, m in METRICS]
    per_query: dict[Any, dict[str, float]] = {m: {} for m in measures}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        per_query[metric.measure][metric.query_id] = metric.value
    out = {}
    for name, measure in METRICS:
        values = per_query[measure]
        out[name] = sum(values.get(qid, 0.0) for qid in qrels) / len(qrels)
    return out


def ratio(ours: float, theirs: float) -> float:
    if theirs == 0:
        return float("inf") if ours > 0 else 1.0
    return ours / theirs


# ---------------------------------------------------------------------------- report


def print_table(rows: list[dict[str, Any]]) -> None:
    names = [name for name, _ in METRICS]
    header = f"{'collection':<11} {'system':<7}" + "".join(f"{n:>9}" for n in names)
    header += f"{'build s':>9}{'query s':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        for system in ("ours", "bm25s"):
            result = row[system]
            line = f"{row['collection']:<11} {system:<7}"
            line += "".join(f"{result['metrics'][n]:>9.4f}" for n in names)
            line += f"{result['build_seconds']:>9.2f}{result['query_seconds']:>9.2f}"
            print(line)
        line = f"{'':<11} {'ratio':<7}" + "".join(f"{row['ratio'][n]:>9.3f}" for n in names)
        print(line)
        print()


def parse_settings(pairs: list[str]) -> Settings:
    kinds = {f.name: f.type for f in fields(Settings)}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in kinds:
            raise SystemExit(f"--setting {pair!r}: expected NAME=VALUE with a Settings field")
        kind = str(kinds[name])
        overrides[name] = (
            int(value) if kind == "int" else float(value) if kind == "float" else value
        )
    return Settings.from_env({}, **overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "collections",
        nargs="*",
        type=Path,
        help="collection folders (default: the four shipped in bench/data/)",
    )
    parser.add_argument("--json", type=Path, help="write the table as JSON to this path")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a bot Settings field (experiments only; the bar uses the defaults)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    settings = parse_settings(args.setting)
    folders = args.collections or collection_folders()
    rows: list[dict[str, Any]] = []
    for folder in folders:
        collection = load_collection(folder)
        ours_run, ours = run_ours(collection, settings)
        bm_run, bm = run_bm25s(collection)
        ours.metrics = evaluate(collection.qrels, ours_run)
        bm.metrics = evaluate(collection.qrels, bm_run)
        rows.append(
            {
                "collection": collection.name,
                "docs": len(collection.docs),
                "queries": len(collection.queries),
                "ours": vars(ours),
                "bm25s": vars(bm),
                "ratio": {n: ratio(ours.metrics[n], bm.metrics[n]) for n, _ in METRICS},
            }
        )
        print(
            f"{collection.name}: {len(collection.docs)} docs, {len(collection.queries)} queries,"
            f" {ours.extra['passages']} passages; empty runs ours {ours.empty_queries},"
            f" bm25s {bm.empty_queries}",
            file=sys.stderr,
        )

    print()
    print_table(rows)
    ratios = [row["ratio"]["nDCG@10"] for row in rows]
    summary = {
        "mean_ndcg10_ratio": statistics.fmean(ratios) if ratios else float("nan"),
        "min_ndcg10_ratio": min(ratios) if ratios else float("nan"),
        "bar_met": all(r >= 1.0 for r in ratios),
    }
    print(
        f"our/bm25s nDCG@10 ratio: mean {summary['mean_ndcg10_ratio']:.3f}, "
        f"min {summary['min_ndcg10_ratio']:.3f} "
        f"({'bar met' if summary['bar_met'] else 'bar NOT met'}: >= 1.0 on every collection)"
    )
    if args.json:
        table = {
            "settings": {"k1": settings.k1, "b": settings.b},
            "bm25s": {"k1": BM25S_K1, "b": BM25S_B, "version": bm25s.__version__},
            "metrics": [n for n, _ in METRICS],
            "collections": rows,
            "summary": summary,
        }
        args.json.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
