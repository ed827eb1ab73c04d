"""Load benchmark: the real bot process answering many users through the fake Bot API.

Starts `tests/fake_telegram.FakeTelegram` (flood control off) and `python -m bot
telegram` as a subprocess pointed at it, then plays 100 simulated users who each ask
10 questions, one at a time: a user's next question is pushed the moment the reply
to the previous one reaches the fake server (a closed loop, like people chatting).
It reports throughput and p50/p99 reply latency (question pushed -> reply received
by the server), and checks that every question was answered exactly once.

Telegram caps a bot at about 30 messages a second; the bot should handle ten times
that. The bot's own AIORateLimiter keeps it within Telegram's cap in production, so
the benchmark turns that limit off (BOT_TELEGRAM_SEND_RATE=0) to measure the bot.

    python bench/telegram_load.py [--questions 1000] [--users 100] [--json]

This is a benchmark, not a test: it is not part of `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The fake server lives with the tests; a benchmark run as `python bench/...` has only
# bench/ on its path, so the project root is added (a script, not a library).
sys.path.insert(0, str(ROOT))

from tests.fake_telegram import Call, FakeTelegram  # noqa: E402

CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "dev_questions.jsonl"


def load_questions() -> list[str]:
    """The dev questions (answerable and not): realistic retrieval work per reply."""
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


class Load:
    """The closed loop: one outstanding question per user, the next sent on each reply."""

    def __init__(self, fake: FakeTelegram, users: int, per_user: int, questions: list[str]):
        self.fake = fake
        self.per_user = per_user
        self.questions = questions
        self.users = [10_000 + n for n in range(users)]
        self.lock = threading.Lock()
        self.asked: dict[int, int] = dict.fromkeys(self.users, 0)
        self.replies: dict[int, int] = dict.fromkeys(self.users, 0)
        self.pushed_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.unexpected: list[str] = []
        self.done = 0

    def start(self) -> None:
        self.fake.add_listener(self.on_call)
        for user in self.users:
            self.push_next(user)

    def push_next(self, user: int) -> None:
        with self.lock:
            n = self.asked[user]
            if n >= self.per_user:
                return
            self.asked[user] = n + 1
            self.pushed_at[user] = time.perf_counter()
        question = self.questions[(user + n) % len(self.questions)]
        self.fake.push_text(user, question)

    def on_call(self, call: Call) -> None:
        if call.method != "sendMessage":
            return
        if not call.ok:
            self.unexpected.append(f"{call.status} {call.response.get('description')}")
            return
        user = call.result["chat"]["id"]
        now = time.perf_counter()
        with self.lock:
            if user not in self.replies:
                self.unexpected.append(f"reply to unknown chat {user}")
                return
            self.replies[user] += 1
            if self.replies[user] > self.asked[user]:
                self.unexpected.append(f"user {user}: more replies than questions")
                return
            self.latencies.append(now - self.pushed_at[user])
            self.done += 1
        self.push_next(user)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_bot(
    fake: FakeTelegram, workdir: Path, log: Any, send_rate: float = 0
) -> subprocess.Popen[str]:
    """Starts `python -m bot telegram` against the fake server, with no send cap (or
    `send_rate` messages a second, Telegram's 30 for a realistic drain on stop).

    The corpus is copied into `workdir` the first time; a restart (bench/restart.py)
    finds it there, with the index and the bot's update journal beside it.
    """
    corpus = workdir / "corpus"
    if not corpus.exists():
        shutil.copytree(CORPUS, corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BOT_CORPUS_DIR": str(corpus),
            "BOT_INDEX_DIR": str(workdir / "index"),
            "TELEGRAM_API_URL": fake.api_url,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "BOT_TELEGRAM_SEND_RATE": str(send_rate),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file, not a pipe: a chatty bot must never block on a full pipe
        text=True,
    )


def wait_until_polling(fake: FakeTelegram, bot: subprocess.Popen[str], timeout: float) -> bool:
    """Waits until the bot long-polls the fake (True) or exits first (False)."""
    fake.wait_for(lambda f: f.waiting_polls > 0 or bot.poll() is not None, timeout)
    return bot.poll() is None


def stop_bot(bot: subprocess.Popen[str], grace: float = 30.0) -> float:
    """SIGTERM, then SIGKILL after `grace` seconds (systemd's and Docker's way); returns
    the seconds the bot took to exit."""
    started = time.perf_counter()
    bot.send_signal(signal.SIGTERM)
    try:
        bot.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.wait()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=1000, help="questions in all")
    parser.add_argument("--users", type=int, default=100, help="simulated users")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before giving up")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    per_user = max(1, args.questions // args.users)
    total = per_user * args.users

    with (
        tempfile.TemporaryDirectory(prefix="telegram-load-") as tmp,
        FakeTelegram(max_messages_per_second=None) as fake,
    ):
        log_path = Path(tmp) / "bot.log"
        with log_path.open("w", encoding="utf-8") as log:
            bot = start_bot(fake, Path(tmp), log)
            try:
                if not wait_until_polling(fake, bot, 120):
                    print(f"the bot exited early:\n{log_path.read_text()}", file=sys.stderr)
                    return 1
                load = Load(fake, args.users, per_user, load_questions())
                cpu_before = process_cpu(bot.pid)
                started = time.perf_counter()
                load.start()
                fake.wait_for(lambda f: load.done >= total or load.unexpected, args.timeout)
                elapsed = time.perf_counter() - started
                cpu_during = process_cpu(bot.pid) - cpu_before
                # Let stragglers show themselves: any extra reply within a second is a bug.
                with contextlib.suppress(TimeoutError):
                    fake.wait_for(lambda f: len(f.calls("sendMessage")) > total, 1.0)
            finally:
                stop_bot(bot)
        stderr = log_path.read_text(encoding="utf-8")
        sent = len(fake.calls("sendMessage"))
        typing = len(fake.calls("sendChatAction"))
        polls = len(fake.calls("getUpdates", ok=None))
        failed = len(fake.calls("sendMessage", ok=False))
    exactly_once = (
        load.done == total
        and sent == total
        and not load.unexpected
        and all(load.replies[u] == per_user for u in load.users)
    )
    own_cpu = resource.getrusage(resource.RUSAGE_SELF)
    figures: dict[str, Any] = {
        "questions": total,
        "users": args.users,
        "answered": load.done,
        "messages_sent": sent,
        "failed_sends": failed,
        "typing_actions": typing,
        "get_updates_calls": polls,
        "answered_exactly_once": exactly_once,
        "seconds": round(elapsed, 3),
        "replies_per_second": round(load.done / elapsed, 1) if elapsed else None,
        "latency_ms": {
            "p50": round(1000 * statistics.median(load.latencies), 1) if load.latencies else None,
            # numpy's percentile, as bench/speed.py reports its latencies
            "p99": round(1000 * float(np.percentile(load.latencies, 99)), 1)
            if load.latencies
            else None,
            "max": round(1000 * max(load.latencies), 1) if load.latencies else None,
        },
        "bot_cpu_ms_per_reply": round(1000 * cpu_during / load.done, 2) if load.done else None,
        "fake_server_cpu_seconds": round(own_cpu.ru_utime + own_cpu.ru_stime, 2),
        "bot_exit_status": bot.returncode,
        "problems": load.unexpected[:10],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['answered']}/{total} questions from {args.users} users answered in "
            f"{figures['seconds']} s: {figures['replies_per_second']} replies/s, "
            f"p50 {figures['latency_ms']['p50']} ms, p99 {figures['latency_ms']['p99']} ms, "
            f"bot CPU {figures['bot_cpu_ms_per_reply']} ms/reply; "
            f"exactly once: {'yes' if exactly_once else 'NO'}; bot exit status "
            f"{bot.returncode}"
        )
        if stderr.strip() and bot.returncode != 0:
            print(stderr, file=sys.stderr)
    return 0 if exactly_once and bot.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
