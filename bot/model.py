"""The answer/abstain model: a logistic regression stored as plain JSON.

`python -m bot train` fits it with scikit-learn (`bot.model_train`); answering only
reads the JSON and computes one dot product, so the bot never imports scikit-learn.
The probability it gives is calibrated (a logistic regression fits log-loss, and the
training command reports the cross-validated calibration): among replies given 0.7,
about 70% are right.

Which model is used, first found wins: `BOT_ANSWER_MODEL`; `answerability.json` in the
index folder (where `train` writes by default, so a team's own calibration survives
rebuilds); the model shipped in the package (`bot/answerability.json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

FILENAME = "answerability.json"
FORMAT = 1


class ModelError(ValueError):
    """The model file cannot be used; the message names it and says how to fix it."""


@dataclass(frozen=True)
class AnswerModel:
    """A fitted logistic regression over named, standardised features.

    Attributes:
        features: Feature names, in the order of the other lists.
        mean: Each feature's mean in the training data (subtracted first).
        scale: Each feature's standard deviation there (divided by next).
        coef: The coefficient of each standardised feature.
        intercept: The bias term.
        threshold: The probability the trainer suggests answering from.
        about: What it was trained on, and its cross-validated figures (for people).
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5
    about: Mapping[str, Any] | None = None

    def probability(self, values: Mapping[str, float]) -> float:
        """The probability that the reply with these feature values is right.

        A feature the model does not know is ignored; one it knows but `values` lacks
        counts at its training mean (no effect), so old models keep working.
        """
        z = self.intercept
        for name, mean, scale, coef in zip(
            self.features, self.mean, self.scale, self.coef, strict=True
        ):
            z += coef * (values.get(name, mean) - mean) / scale
        if z < -30:
            return math.exp(z)
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict[str, Any]:
        """The JSON object `load` reads."""
        return {
            "format": FORMAT,
            "kind": "logistic_regression",
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "about": dict(self.about or {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> AnswerModel:
        """Reads the object `to_json` writes.

        Raises:
            ModelError: The object is not a model of this format.
        """
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            names = tuple(str(n) for n in data["features"])
            mean, scale, coef = (
                tuple(float(v) for v in data[key]) for key in ("mean", "scale", "coef")
            )
            if any(len(c) != len(names) for c in (mean, scale, coef)) or min(scale) <= 0:
                raise ValueError("mean, scale and coef must match the features; scale > 0")
            return cls(
                names,
                mean,
                scale,
                coef,
                float(data["intercept"]),
                float(data.get("threshold", 0.5)),
                data.get("about") or {},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(
                f"{where} is not an answer model ({exc}); delete it or refit it with "
                "`python -m bot train`"
            ) from None


def load(path: Path) -> AnswerModel:
    """Reads a model file.

    Raises:
        ModelError: The file is missing, not JSON or not a model.
    """
    stat = _stat(path)
    return _load_cached(str(path), stat)


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot read the answer model {path}: {exc.strerror}") from None
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _load_cached(path: str, stamp: tuple[int, int]) -> AnswerModel:
    """One parse per file version: a refit model is picked up without a restart."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(
            f"cannot read the answer model {path}: {exc}; delete it or refit it with "
            "`python -m bot train`"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not an answer model; refit it with `python -m bot train`")
    return AnswerModel.from_json(data, path)


@lru_cache(maxsize=1)
def shipped() -> AnswerModel:
    """The model shipped in the package, fitted on the project's sets and WikiQA's dev."""
    text = resources.files("bot").joinpath(FILENAME).read_text(encoding="utf-8")
    return AnswerModel.from_json(json.loads(text), f"bot/{FILENAME}")


def for_index(explicit: Path | None, index_dir: Path) -> AnswerModel:
    """The model to use: `explicit`, else the index folder's, else the shipped one."""
    if explicit is not None:
        return load(explicit)
    local = index_dir / FILENAME
    if local.is_file():
        return load(local)
    return shipped()
