"""The quality bar of the answering core, on the shipped corpus.

Every answerable question must be answered right at hit@1 and every unanswerable one
declined. A question of the project's own set may carry "known_limitation" with
the reason lexical retrieval cannot answer it; it still counts in the figures. The
question files are the seed set and the project's own set in eval/ (facts, typos, word
forms, and out-of-scope questions sharing words with the corpus).
"""

import json
from pathlib import Path

import pytest

from bot.evaluate import evaluate, read_questions
from tests.conftest import ROOT

SEED = ROOT / "eval" / "seed_dev.jsonl"
FILES = [ROOT / "eval" / "dev_questions.jsonl", SEED]


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_every_question_right_or_honestly_declined(shipped_engine, path):
    report = evaluate(shipped_engine, read_questions(path))
    limits = known_limitations(path)
    wrong = [
        (r["question"], r["answer"])
        for r in report["results"]
        if not r["right"] and r["question"] not in limits
    ]
    assert wrong == []
    assert report["abstention_recall"] == 1.0
    assert report["abstention_precision"] == 1.0
    assert report["hit@1"] >= 1.0 - len(limits) / report["answerable"]


def known_limitations(path: Path) -> set[str]:
    """Questions the file itself marks as beyond lexical retrieval, with the reason."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {row["question"] for row in rows if row.get("known_limitation")}


def test_seed_questions_carry_no_known_limitations():
    assert known_limitations(SEED) == set()
