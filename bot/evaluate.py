"""Evaluation: how often the bot answers right, and abstains when it should.

A question file holds one JSON object a line: {"question": str, "expected": [str, ...]}.
An answer is right when its reply text or its top source contains one of `expected`,
ignoring case and punctuation; `"expected": []` means the right reply is to abstain.

Figures, over the answerable questions unless said otherwise:
  hit@1   the bot answered (did not abstain) and reply or top source holds the answer
  hit@3   one of the top 3 sources holds it (a retrieval figure: abstaining is ignored)
  MRR     mean of 1/rank of the first source holding it
  abstention precision  of the questions the bot abstained on, the share it should have
  abstention recall     of the questions it should abstain on, the share it did

Answer triggering, over all questions (WikiQA's measure, Yang et al. 2015), where a reply
is right only when its text holds the answer (the quoted sentence, not just its source):
  precision  questions answered right / questions answered
  recall     questions answered right / answerable questions
  F1         their harmonic mean

A line may also name the corpus it is about ("corpus": a folder, see `bot.model_train`);
`eval` ignores it, `train` reads it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine import Engine


class EvalError(ValueError):
    """The question file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    """One question and its accepted answers ([] = should abstain)."""

    question: str
    expected: tuple[str, ...]
    corpus: str | None = None


def fold(text: str) -> str:
    """Case- and punctuation-blind form for containment checks."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def read_questions(path: Path) -> list[Item]:
    """Reads a question file, failing with the line number of the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, expected = row["question"], row["expected"]
            corpus = row.get("corpus")
            if (
                not isinstance(question, str)
                or not isinstance(expected, list)
                or not all(isinstance(e, str) for e in expected)
                or not isinstance(corpus, str | None)
            ):
                raise TypeError("question must be a string and expected a list of strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{number}: not a question line ({exc})") from None
        items.append(Item(question, tuple(expected), corpus))
    if not items:
        raise EvalError(f"{path} holds no questions")
    return items


def _holds(text: str, expected: tuple[str, ...]) -> bool:
    folded = fold(text)
    return any(fold(e) in folded for e in expected)


def evaluate(engine: Engine, items: list[Item], k: int = 3) -> dict[str, Any]:
    """Asks every question and computes the figures; also lists each question's outcome."""
    answerable = [i for i in items if i.expected]
    negatives = [i for i in items if not i.expected]
    hit1 = hit3 = quoted = answered = 0
    rr = 0.0
    abstained_right = abstained = 0
    rows = []
    for item in items:
        answer = engine.ask(item.question, max(k, 3))
        ranks = [
            r for r, h in enumerate(answer.hits, start=1) if _holds(h.passage.text, item.expected)
        ]
        answered += answer.answered
        if not answer.answered:
            abstained += 1
            abstained_right += not item.expected
        right = None
        if item.expected:
            right = answer.answered and (
                _holds(answer.text, item.expected) or (bool(ranks) and ranks[0] == 1)
            )
            hit1 += right
            quoted += answer.answered and _holds(answer.text, item.expected)
            hit3 += bool(ranks) and ranks[0] <= 3
            rr += 1.0 / ranks[0] if ranks else 0.0
        else:
            right = not answer.answered
        rows.append(
            {
                "question": item.question,
                "answered": answer.answered,
                "right": right,
                "answer": answer.text,
            }
        )
    n = len(answerable) or 1
    precision = quoted / answered if answered else 0.0
    recall = quoted / len(answerable) if answerable else 0.0
    return {
        "questions": len(items),
        "answerable": len(answerable),
        "unanswerable": len(negatives),
        "hit@1": hit1 / n,
        "hit@3": hit3 / n,
        "mrr": rr / n,
        "abstention_precision": abstained_right / abstained if abstained else 1.0,
        "abstention_recall": (
            sum(1 for r, i in zip(rows, items, strict=True) if not i.expected and not r["answered"])
            / len(negatives)
            if negatives
            else 1.0
        ),
        "triggering_precision": precision,
        "triggering_recall": recall,
        "triggering_f1": 2 * precision * recall / (precision + recall) if quoted else 0.0,
        "results": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    """The figures as a few lines of text, then each question that went wrong."""
    lines = [
        f"questions: {report['questions']} ({report['answerable']} answerable, "
        f"{report['unanswerable']} to abstain on)",
        f"hit@1: {report['hit@1']:.3f}  hit@3: {report['hit@3']:.3f}  MRR: {report['mrr']:.3f}",
        f"abstention precision: {report['abstention_precision']:.3f}  "
        f"recall: {report['abstention_recall']:.3f}",
        f"answer triggering: precision {report['triggering_precision']:.3f}  "
        f"recall {report['triggering_recall']:.3f}  F1 {report['triggering_f1']:.3f}",
    ]
    wrong = [r for r in report["results"] if not r["right"]]
    for row in wrong:
        lines.append(f"  wrong: {row['question']!r} -> {row['answer'][:120]!r}")
    return "\n".join(lines)
