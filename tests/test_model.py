"""The answer model: plain JSON, read without scikit-learn, refitted by `train`."""

import json
import subprocess
import sys

import pytest

from bot import model as model_mod
from bot.answer import FEATURES
from bot.config import ConfigError, Settings
from bot.model import AnswerModel, ModelError
from tests.conftest import ROOT, run_bot, settings_for


def a_model(threshold=0.5):
    return AnswerModel(("score", "coverage"), (0.5, 0.5), (0.25, 0.25), (2.0, 1.0), 0.0, threshold)


def test_probability_is_a_logistic_of_the_standardised_features():
    model = a_model()
    assert model.probability({"score": 0.5, "coverage": 0.5}) == pytest.approx(0.5)
    high = model.probability({"score": 1.0, "coverage": 1.0})
    assert high == pytest.approx(1 / (1 + pytest.importorskip("math").exp(-6.0)))
    assert model.probability({"score": 0.0, "coverage": 0.0}) < 0.01


def test_a_feature_the_model_lacks_is_ignored_and_a_missing_one_counts_at_its_mean():
    model = a_model()
    assert model.probability({"score": 0.5, "coverage": 0.5, "new": 9.0}) == pytest.approx(0.5)
    assert model.probability({"coverage": 0.5}) == pytest.approx(0.5)


def test_json_round_trip(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(a_model(0.3).to_json()), encoding="utf-8")
    loaded = model_mod.load(path)
    assert loaded.features == ("score", "coverage")
    assert loaded.threshold == 0.3
    assert loaded.probability({"score": 0.9, "coverage": 0.2}) == pytest.approx(
        a_model().probability({"score": 0.9, "coverage": 0.2})
    )


@pytest.mark.parametrize("text", ["not json", "[]", '{"format": 1, "features": ["a"]}'])
def test_a_broken_model_file_says_how_to_fix_it(tmp_path, text):
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match="bot train|delete it"):
        model_mod.load(path)


def test_the_shipped_model_knows_every_feature_and_its_figures():
    shipped = model_mod.shipped()
    assert shipped.features == FEATURES
    assert 0.0 < shipped.threshold < 1.0
    assert set(shipped.about["trained_on"]) >= {"corpus", "hr", "us-constitution"}


def test_the_index_folders_model_wins_over_the_shipped_one(tmp_path):
    assert model_mod.for_index(None, tmp_path) is model_mod.shipped()
    (tmp_path / model_mod.FILENAME).write_text(json.dumps(a_model().to_json()), encoding="utf-8")
    assert model_mod.for_index(None, tmp_path).features == ("score", "coverage")


def test_answering_never_imports_scikit_learn(tmp_path, shipped_corpus):
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bot.config import Settings\n"
        "from bot.engine import Engine\n"
        f"s = Settings.from_env({{}}, corpus_dir=Path({str(shipped_corpus)!r}), "
        f"index_dir=Path({str(tmp_path / 'index')!r}))\n"
        "a = Engine.open(s).ask('What does PESCO stand for?')\n"
        "print(a.answered, 'sklearn' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["True", "False"]


def test_min_confidence_decides_and_confidence_is_a_probability(shipped_corpus):
    from bot.engine import Engine

    sure = Engine.open(settings_for(shipped_corpus, min_confidence=0.0))
    never = Engine.open(settings_for(shipped_corpus, min_confidence=1.0))
    question = "What does the EU Cybersecurity Strategy aim to build?"
    answer = sure.ask(question)
    assert answer.answered and 0.0 < answer.confidence < 1.0
    declined = never.ask(question)
    assert not declined.answered
    assert declined.confidence == pytest.approx(answer.confidence)


def test_the_old_thresholds_are_gone_with_a_warning(caplog):
    settings = Settings.from_env({"BOT_MIN_SCORE": "0.2", "BOT_MIN_COVERAGE": "0.4"})
    assert settings.min_confidence is None
    assert "BOT_MIN_SCORE and BOT_MIN_COVERAGE no longer exist" in caplog.text
    assert "BOT_MIN_CONFIDENCE" in caplog.text
    with pytest.raises(ConfigError, match="BOT_MIN_CONFIDENCE"):
        Settings.from_env({"BOT_MIN_CONFIDENCE": "1.5"})


def test_train_refits_the_model_the_bot_then_uses(tmp_path):
    """Questions naming their corpus, plus a feedback log, refit the index's model."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "energy.txt").write_text(
        "Solar panels convert sunlight into electricity.\n\nWind turbines turn wind into "
        "electricity.\n\nBatteries store electricity for the night.\n",
        encoding="utf-8",
    )
    questions = tmp_path / "q.jsonl"
    rows = [
        {"question": "What do solar panels convert?", "expected": ["sunlight"]},
        {"question": "What do wind turbines turn?", "expected": ["wind into"]},
        {"question": "What stores electricity?", "expected": ["Batteries"]},
        {"question": "What is the capital of Peru?", "expected": []},
        {"question": "Who painted the Mona Lisa?", "expected": []},
    ] * 5
    rows.append(
        {
            "question": "What does PESCO stand for?",
            "expected": ["Permanent"],
            "corpus": str(ROOT / "corpus"),
        }
    )
    questions.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    feedback = tmp_path / "feedback.jsonl"
    votes = [
        {"vote": "up", "question": "What is the capital of Peru?", "kind": "abstain"},
        # One vote on two replies says nothing of either: not learnt from.
        {"vote": "up", "question": "What is Peru's capital? Who was Inca?", "kind": "abstain"},
    ]
    feedback.write_text("".join(json.dumps(v) + "\n" for v in votes), encoding="utf-8")
    result = run_bot(
        "train", str(questions), "--feedback", str(feedback), "--folds", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["questions"] == 27
    assert report["corpora"]["corpus"] == 26  # the default corpus: 25 lines and the vote
    assert len(report["corpora"]) == 2
    written = json.loads((tmp_path / "index" / "answerability.json").read_text(encoding="utf-8"))
    assert written["features"] == list(FEATURES)
    assert "cv_triggering" in written["about"]
    answer = run_bot("ask", "--json", "What do solar panels convert?", cwd=tmp_path)
    assert json.loads(answer.stdout)["answered"] is True


def test_train_without_questions_says_what_to_give(tmp_path):
    result = run_bot("train", cwd=tmp_path)
    assert result.returncode == 1
    assert "give question files" in result.stderr
