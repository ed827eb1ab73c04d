"""Settings: every knob of the bot in one frozen record.

Values come from, in order of precedence: command-line options (passed as overrides),
environment variables, then the defaults below. Nothing else reads the environment,
so a test can build any configuration by calling `Settings.from_env({...})`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.telegram.org/bot"
# The two hand-set thresholds the learned answer model replaced (issue 10): still
# recognised, so a deployment that sets them is told what to set instead.
_GONE = ("BOT_MIN_SCORE", "BOT_MIN_COVERAGE")
log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Configuration of every front end and of the core.

    Attributes:
        corpus_dir: Folder of text files to answer from (BOT_CORPUS_DIR).
        index_dir: Folder where the index is built (BOT_INDEX_DIR).
        top_k: How many sources a reply lists (BOT_TOP_K).
        min_confidence: Answer only when the answer model's probability that the reply
            is right reaches this (BOT_MIN_CONFIDENCE, 0 to 1); None uses the threshold
            the model was trained with (it maximised cross-validated F1 of answer
            triggering). It replaces BOT_MIN_SCORE and BOT_MIN_COVERAGE, which are gone.
        answer_model: The answer model's JSON file (BOT_ANSWER_MODEL); None uses the
            index folder's `answerability.json` if `train` wrote one, else the shipped one.
        k1: BM25 term-frequency saturation (BOT_K1).
        b: BM25 length normalisation (BOT_B).
        telegram_token: Bot token (TELEGRAM_BOT_TOKEN); never logged.
        telegram_api_url: Bot API base URL (TELEGRAM_API_URL).
        admin_ids: Telegram user ids allowed to use admin commands (TELEGRAM_ADMIN_IDS).
        rate_limit_per_minute: Questions one Telegram user may ask a minute (BOT_RATE_LIMIT).
        telegram_send_rate: Messages a second the bot sends across all chats
            (BOT_TELEGRAM_SEND_RATE): Telegram's own limit is about 30; 0 turns the cap off,
            for a self-hosted Bot API server or a load test.
        telegram_webhook_secret: Secret Telegram sends back with webhook updates
            (TELEGRAM_WEBHOOK_SECRET); a random one is made when unset.
        max_upload_bytes: Largest document an admin may add through Telegram
            (BOT_MAX_UPLOAD_BYTES).
        file_timeout: Seconds a build may spend reading, splitting and analysing one
            file (BOT_FILE_TIMEOUT); a file that takes longer is skipped with a warning
            and the build goes on, so no file can stall a build or a /reload. 0 turns
            the limit off.
    """

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    top_k: int = 3
    min_confidence: float | None = None
    answer_model: Path | None = None
    k1: float = 1.2
    b: float = 0.75
    telegram_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = DEFAULT_API_URL
    admin_ids: frozenset[int] = frozenset()
    rate_limit_per_minute: int = 20
    telegram_send_rate: float = 30.0
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 10 * 1024 * 1024
    file_timeout: float = 60.0

    @property
    def feedback_path(self) -> Path:
        """Where Telegram 👍/👎 feedback is appended, as JSON Lines, for curators."""
        return self.index_dir / "feedback.jsonl"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Builds settings from environment variables, then applies non-None overrides.

        Args:
            environ: The environment to read; `os.environ` when None.
            **overrides: Field values from the command line; None means "not given".

        Raises:
            ConfigError: A variable holds a value of the wrong kind.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var, kind in _ENV:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(var, raw.strip(), kind)
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        gone = [var for var in _GONE if (env.get(var) or "").strip()]
        if gone:
            log.warning(
                "%s no longer exist: a learned model decides when to answer; set "
                "BOT_MIN_CONFIDENCE (0-1, the probability that a reply is right) instead",
                " and ".join(gone),
            )
        for name in ("corpus_dir", "index_dir", "answer_model"):
            if name in values:
                values[name] = Path(values[name])
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Checks ranges, so a typo in a variable fails at start-up, not mid-answer."""
        if self.top_k < 1:
            raise ConfigError("BOT_TOP_K must be at least 1")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(
                f"BOT_MIN_CONFIDENCE must be between 0 and 1, not {self.min_confidence}"
            )
        if self.k1 < 0 or not 0.0 <= self.b <= 1.0:
            raise ConfigError("BOT_K1 must be >= 0 and BOT_B between 0 and 1")
        if self.rate_limit_per_minute < 1:
            raise ConfigError("BOT_RATE_LIMIT must be at least 1")
        if self.telegram_send_rate < 0:
            raise ConfigError("BOT_TELEGRAM_SEND_RATE must be 0 (no cap) or more")
        if self.max_upload_bytes < 1:
            raise ConfigError("BOT_MAX_UPLOAD_BYTES must be at least 1")
        if not self.file_timeout >= 0:  # also refuses nan
            raise ConfigError("BOT_FILE_TIMEOUT must be 0 (no limit) or more seconds")


def _parse(var: str, raw: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "ids":
            return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        expected = {"int": "a whole number", "float": "a number", "ids": "comma-separated user ids"}
        raise ConfigError(f"{var}={raw!r} is not {expected[kind]}") from None
    return raw


_ENV: tuple[tuple[str, str, str], ...] = (
    ("corpus_dir", "BOT_CORPUS_DIR", "str"),
    ("index_dir", "BOT_INDEX_DIR", "str"),
    ("top_k", "BOT_TOP_K", "int"),
    ("min_confidence", "BOT_MIN_CONFIDENCE", "float"),
    ("answer_model", "BOT_ANSWER_MODEL", "str"),
    ("k1", "BOT_K1", "float"),
    ("b", "BOT_B", "float"),
    ("telegram_token", "TELEGRAM_BOT_TOKEN", "str"),
    ("telegram_api_url", "TELEGRAM_API_URL", "str"),
    ("admin_ids", "TELEGRAM_ADMIN_IDS", "ids"),
    ("rate_limit_per_minute", "BOT_RATE_LIMIT", "int"),
    ("telegram_send_rate", "BOT_TELEGRAM_SEND_RATE", "float"),
    ("telegram_webhook_secret", "TELEGRAM_WEBHOOK_SECRET", "str"),
    ("max_upload_bytes", "BOT_MAX_UPLOAD_BYTES", "int"),
    ("file_timeout", "BOT_FILE_TIMEOUT", "float"),
)
