"""Answer or abstain: the bot's decision on question sets, side by side with bm25s top-1.

For each set (a question file in the `eval` format and the corpus folder it asks about)
this builds the bot's index in a temporary folder, asks every question through the
product's code path (`Engine.ask`) and prints:

- answer triggering as WikiQA measures it (Yang, Yih & Meek 2015): precision =
  questions answered with a reply holding the answer / questions answered; recall =
  the same / questions that have an answer; F1;
- hit@1 (answered, and the reply or its top source holds the answer, as `bot eval`),
  abstention precision and recall;
- the same for bm25s top-1 over the corpus's sentences (it never abstains: its reply is
  the best-scoring sentence);
- "held out": the learned decision refitted without the set (on every other set given)
  and judged on it: how the decision does on a corpus it has never seen;
- `eval/heldout/factsheet.jsonl` and `factsheet-2.jsonl` to `factsheet-10.jsonl`,
  questions about the shipped factsheet written blind (without running the bot) and
  never trained on: the shipped model's figure on them is an honest one for new
  questions about a corpus it was calibrated on;
- for WikiQA, the paper's best answer-triggering result (CNN-Cnt + all features: P 28.34,
  R 35.80, F1 31.64, on the test split, each question seeing only its own page; here
  all pages are searched at once).

Usage::

    python bench/answers.py [--wikiqa DIR] [--json PATH]

DIR is WikiQA's dev folder (`questions.jsonl` and `corpus/`); it is read from there and
never copied. Without it only the project's own sets are measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import Stemmer  # noqa: E402

from bot.answer import FEATURES  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluate import Item, fold, read_questions  # noqa: E402
from bot.model_train import examples, fit, triggering  # noqa: E402
from bot.passages import split_sentences  # noqa: E402

PAPER = {"precision": 0.2834, "recall": 0.3580, "f1": 0.3164}


@dataclass(frozen=True)
class QuestionSet:
    """Questions and the corpus folder they ask about."""

    name: str
    files: tuple[Path, ...]
    corpus: Path
    held_out: bool = False  # measured only: never part of a fit (eval/heldout/)


def project_sets() -> list[QuestionSet]:
    """The project's own sets in eval/ (see eval/README.md)."""
    eval_dir = ROOT / "eval"
    return [
        QuestionSet(
            "factsheet",
            (
                *(eval_dir / f for f in ("seed_dev.jsonl", "dev_questions.jsonl")),
                *(eval_dir / "factsheet.jsonl", eval_dir / "blind" / "factsheet.jsonl"),
                *(eval_dir / "blind" / f"factsheet-{n}.jsonl" for n in (2, 3, 4)),
            ),
            ROOT / "corpus",
        ),
        QuestionSet(
            "hr",
            (
                eval_dir / "hr.jsonl",
                eval_dir / "blind" / "hr.jsonl",
                eval_dir / "blind" / "hr-2.jsonl",
            ),
            eval_dir / "corpora" / "hr" / "text",
        ),
        QuestionSet(
            "us-constitution",
            (eval_dir / "us-constitution.jsonl", eval_dir / "blind" / "us-constitution.jsonl"),
            eval_dir / "corpora" / "us-constitution" / "text",
        ),
        QuestionSet(
            "nist-800-63b",
            (
                eval_dir / "nist-800-63b.jsonl",
                eval_dir / "blind" / "nist-800-63b.jsonl",
                eval_dir / "blind" / "nist-800-63b-2.jsonl",
            ),
            eval_dir / "corpora" / "nist-800-63b" / "text",
        ),
        *(
            QuestionSet(
                f"factsheet, held out {n}",
                (eval_dir / "heldout" / name,),
                ROOT / "corpus",
                held_out=True,
            )
            for n, name in (
                (1, "factsheet.jsonl"),
                (2, "factsheet-2.jsonl"),
                (3, "factsheet-3.jsonl"),
                (4, "factsheet-4.jsonl"),
                (5, "factsheet-5.jsonl"),
                (6, "factsheet-6.jsonl"),
                (7, "factsheet-7.jsonl"),
                (8, "factsheet-8.jsonl"),
                (9, "factsheet-9.jsonl"),
                (10, "factsheet-10.jsonl"),
            )
        ),
    ]


def _holds(text: str, expected: tuple[str, ...]) -> bool:
    folded = fold(text)
    return any(fold(e) and fold(e) in folded for e in expected)


def figures(outcomes: list[tuple[Item, bool, str, str]]) -> dict[str, float]:
    """Figures from (item, answered, reply text, top source text) per question."""
    answerable = [o for o in outcomes if o[0].expected]
    negatives = [o for o in outcomes if not o[0].expected]
    answered = [o for o in outcomes if o[1]]
    quoted = sum(
        1 for item, ok, reply, _ in answered if item.expected and _holds(reply, item.expected)
    )
    hit1 = sum(
        1
        for item, ok, reply, top in answerable
        if ok and (_holds(reply, item.expected) or _holds(top, item.expected))
    )
    abstained = [o for o in outcomes if not o[1]]
    precision = quoted / len(answered) if answered else 0.0
    recall = quoted / len(answerable) if answerable else 0.0
    result = {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if quoted else 0.0,
        "hit@1": hit1 / len(answerable) if answerable else 0.0,
        "abstention_precision": (
            sum(1 for o in abstained if not o[0].expected) / len(abstained) if abstained else 1.0
        ),
        "abstention_recall": (
            sum(1 for o in negatives if not o[1]) / len(negatives) if negatives else 1.0
        ),
    }
    if not abstained:
        del result["abstention_precision"]  # undefined: shown blank, not as 100%
    return result


def run_bot(engine: Engine, items: list[Item]) -> tuple[dict[str, float], float]:
    """The bot's figures on a set, and its median time per question in ms."""
    outcomes = []
    times = []
    for item in items:
        start = time.perf_counter()
        answer = engine.ask(item.question, 3)
        times.append(time.perf_counter() - start)
        top = answer.hits[0].passage.text if answer.hits else ""
        outcomes.append((item, answer.answered, answer.text, top))
    return figures(outcomes), statistics.median(times) * 1000


def run_bm25s(engine: Engine, items: list[Item]) -> dict[str, float]:
    """bm25s top-1 over the corpus's sentences: always answers with the best sentence."""
    sentences, owners = [], []
    for passage in engine.retriever.index.passages:
        for line in passage.text.split("\n"):
            for sentence in split_sentences(line.removeprefix("• ")):
                sentences.append(sentence)
                owners.append(passage.text)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index(
        bm25s.tokenize(sentences, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    outcomes = []
    for item in items:
        tokens = bm25s.tokenize(
            [item.question], stopwords="en", stemmer=stemmer, show_progress=False
        )
        if not tokens.vocab:
            outcomes.append((item, False, "", ""))
            continue
        ids, _ = retriever.retrieve(tokens, k=1, show_progress=False)
        best = int(ids[0][0])
        outcomes.append((item, True, sentences[best], owners[best]))
    return figures(outcomes)


def held_out(rows: dict[str, list[Any]], measured_only: set[str]) -> dict[str, dict[str, float]]:
    """Each set judged by a model fitted on the other sets only (never on `measured_only`)."""
    result = {}
    for name, test in rows.items():
        train = [r for other, rs in rows.items() if other not in {name, *measured_only} for r in rs]
        model, _ = fit(train)
        probabilities = [
            model.probability(dict(zip(FEATURES, r.values, strict=True))) for r in test
        ]
        result[name] = triggering(test, probabilities, model.threshold)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wikiqa", type=Path, help="WikiQA dev folder (questions.jsonl, corpus/)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    logging.getLogger("bot").setLevel(logging.ERROR)
    sets = project_sets()
    if args.wikiqa:
        sets.append(
            QuestionSet("wikiqa-dev", (args.wikiqa / "questions.jsonl",), args.wikiqa / "corpus")
        )
    report: dict[str, Any] = {}
    rows: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as scratch:
        for qs in sets:
            items = [i for f in qs.files for i in read_questions(f)]
            settings = Settings.from_env(
                {}, corpus_dir=qs.corpus, index_dir=Path(scratch) / qs.name
            )
            engine = Engine.open(replace(settings))
            ours, ms = run_bot(engine, items)
            rows[qs.name] = examples(engine, items, qs.name)
            report[qs.name] = {"bot": ours, "bm25s top-1": run_bm25s(engine, items), "ms": ms}
    for name, figures_ in held_out(rows, {qs.name for qs in sets if qs.held_out}).items():
        report[name]["held out"] = figures_
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")


def print_report(report: dict[str, Any]) -> None:
    columns = ("precision", "recall", "f1", "hit@1", "abstention_precision", "abstention_recall")
    heads = ("P", "R", "F1", "hit@1", "abst P", "abst R")
    for name, result in report.items():
        first = result["bot"]
        print(
            f"\n{name}: {first['questions']} questions, {first['answerable']} answerable; "
            f"bot median {result['ms']:.2f} ms a question"
        )
        print(f"  {'system':<34}" + "".join(f"{h:>8}" for h in heads))
        lines = [
            ("bot (shipped model)", result["bot"]),
            ("bot, model fitted without this set", result["held out"]),
            ("bm25s top-1 (never abstains)", result["bm25s top-1"]),
        ]
        if name == "wikiqa-dev":
            lines.append(("WikiQA paper, CNN-Cnt (test split)", PAPER))
        for label, values in lines:
            cells = "".join(
                f"{100 * values[c]:8.2f}" if c in values else f"{'':>8}" for c in columns
            )
            print(f"  {label:<34}{cells}")


if __name__ == "__main__":
    main()
