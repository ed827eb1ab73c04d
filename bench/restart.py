"""Restart benchmark: questions lost or answered twice when the bot is stopped mid-load.

For SIGTERM and then SIGKILL, each in a fresh working folder with a fresh fake Bot API
(`tests/fake_telegram`): the real `python -m bot telegram` (started as
bench/telegram_load.py starts it, with no send cap) gets 2,000 questions from 200
users, 10 each, pushed at a steady rate. When `--signal-after` replies have reached the
fake, the bot gets the signal (SIGTERM: it may take up to 30 s to exit, then it is
killed, as systemd and `docker stop` do; SIGKILL: at once). Questions keep arriving
meanwhile, as they would at Telegram. The bot is then started again on the same folder
(index and update journal) and the run ends when every question has been answered, or
when nothing has been sent for `--quiet` seconds.

Each user asks in their own group with /ask, so every reply quotes (`reply_to_message`)
the question it answers and each reply can be matched to its question: "lost" are
questions never answered, "twice" questions answered more than once. "In flight at
the signal" are questions the fake had handed to the bot (by getUpdates, confirmed or
not) and not seen answered: the most a SIGKILL may lose, or answer twice, by the bar.

    python bench/restart.py [--questions 2000] [--users 200] [--rate 1000]
                            [--send-rate 30] [--signals TERM,KILL] [--json]

This is a benchmark, not a test: it is not part of `make test` (`make bench-restart`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from telegram_load import load_questions, start_bot, stop_bot, wait_until_polling

from tests.fake_telegram import Call, FakeTelegram

SORRY_START = "Sorry, something went wrong"


class Traffic:
    """Pushes the questions at a steady rate and matches every reply to its question."""

    def __init__(self, fake: FakeTelegram, users: int, per_user: int, rate: float) -> None:
        self.fake = fake
        self.rate = rate
        self.questions = load_questions()
        self.order = [(10_000 + u, n) for n in range(per_user) for u in range(users)]
        self.lock = threading.Lock()
        self.pushed: list[tuple[int, int]] = []  # (chat id, message id) of each question
        self.replies: Counter[tuple[int, int]] = Counter()
        self.sorry = 0
        self.last_reply = time.monotonic()
        self.thread = threading.Thread(target=self._push_all, name="push", daemon=True)

    def start(self) -> None:
        self.fake.add_listener(self.on_call)
        self.thread.start()

    def _push_all(self) -> None:
        started = time.perf_counter()
        for i, (user, n) in enumerate(self.order):
            delay = started + i / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            question = self.questions[(user + n) % len(self.questions)]
            chat = self.fake.group_chat(-user, title=f"Group of {user}")
            message = self.fake.push_text(user, f"/ask {question}", chat=chat)
            with self.lock:
                self.pushed.append((chat["id"], message["message_id"]))

    def on_call(self, call: Call) -> None:
        if call.method != "sendMessage" or not call.ok:
            return
        quoted = call.result.get("reply_to_message")
        with self.lock:
            self.last_reply = time.monotonic()
            if call.result["text"].startswith(SORRY_START):
                self.sorry += 1
            if quoted is not None:
                self.replies[(call.result["chat"]["id"], quoted["message_id"])] += 1

    def answered(self) -> int:
        with self.lock:
            return len(self.replies)

    def quiet_for(self) -> float:
        with self.lock:
            return time.monotonic() - self.last_reply


@dataclass(frozen=True)
class Outcome:
    """One stop-and-restart run."""

    signal: str
    questions: int
    answered_once: int
    lost: int
    answered_twice: int
    in_flight_at_signal: int
    answered_before_signal: int
    seconds_to_exit: float
    exit_status: int | None
    sorry_replies: int
    seconds: float


def run_once(sig: signal.Signals, args: argparse.Namespace) -> Outcome:
    """Runs the load, stops the bot with `sig` mid-way, restarts it, and counts."""
    per_user = max(1, args.questions // args.users)
    with tempfile.TemporaryDirectory(prefix="telegram-restart-") as tmp, FakeTelegram() as fake:
        workdir = Path(tmp)
        with (workdir / "bot.log").open("w", encoding="utf-8") as log:
            bot = start_bot(fake, workdir, log, args.send_rate)
            if not wait_until_polling(fake, bot, 180):
                raise SystemExit(f"the bot exited early:\n{(workdir / 'bot.log').read_text()}")
            traffic = Traffic(fake, args.users, per_user, args.rate)
            started = time.perf_counter()
            traffic.start()
            fake.wait_for(lambda f: traffic.answered() >= args.signal_after, args.timeout)
            given = fake.handed_out()
            with traffic.lock:
                answered_before = len(traffic.replies)
                in_flight = len(given - set(traffic.replies))
            if sig == signal.SIGTERM:
                to_exit = stop_bot(bot, grace=30.0)
            else:
                stop_started = time.perf_counter()
                bot.kill()
                bot.wait()
                to_exit = time.perf_counter() - stop_started
            status = bot.returncode
            bot = start_bot(fake, workdir, log, args.send_rate)
            try:
                wait_until_polling(fake, bot, 180)
                total = len(traffic.order)
                fake.wait_for(
                    lambda f: (
                        (traffic.answered() >= total and not traffic.thread.is_alive())
                        or traffic.quiet_for() > args.quiet
                    ),
                    args.timeout,
                )
                # Let late duplicates show themselves.
                fake.wait_for(lambda f: traffic.quiet_for() > 1.0, args.timeout)
                elapsed = time.perf_counter() - started
            finally:
                stop_bot(bot)
    with traffic.lock:
        counts = [traffic.replies.get(q, 0) for q in traffic.pushed]
    return Outcome(
        signal=sig.name,
        questions=len(traffic.pushed),
        answered_once=sum(1 for c in counts if c == 1),
        lost=sum(1 for c in counts if c == 0),
        answered_twice=sum(1 for c in counts if c > 1),
        in_flight_at_signal=in_flight,
        answered_before_signal=answered_before,
        seconds_to_exit=round(to_exit, 2),
        exit_status=status,
        sorry_replies=traffic.sorry,
        seconds=round(elapsed, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=2000, help="questions in all")
    parser.add_argument("--users", type=int, default=200, help="users, each in a group")
    parser.add_argument("--rate", type=float, default=1000, help="questions pushed a second")
    parser.add_argument("--signal-after", type=int, default=800, help="replies before the signal")
    parser.add_argument(
        "--send-rate",
        type=float,
        default=0,
        help="the bot's messages a second (0: no cap; 30: Telegram's, so a stop has a "
        "backlog to drain, as in production)",
    )
    parser.add_argument("--quiet", type=float, default=15, help="seconds of silence that end")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before giving up")
    parser.add_argument(
        "--signals", default="TERM,KILL", help="which stops to run, e.g. TERM or TERM,KILL"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    outcomes = [run_once(signal.Signals[f"SIG{name}"], args) for name in args.signals.split(",")]
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], indent=2))
    else:
        for o in outcomes:
            print(
                f"{o.signal}: {o.questions} questions, {o.answered_once} answered once, "
                f"{o.lost} lost, {o.answered_twice} answered twice; signal after "
                f"{o.answered_before_signal} replies with {o.in_flight_at_signal} in flight; "
                f"exit in {o.seconds_to_exit} s (status {o.exit_status}); "
                f"{o.sorry_replies} 'Sorry' replies; {o.seconds} s in all"
            )
    ok = all(
        o.lost == 0 and o.answered_twice == 0
        if o.signal == "SIGTERM"
        else max(o.lost, o.answered_twice) <= o.in_flight_at_signal
        for o in outcomes
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
