"""The console on a real terminal (a pseudo-terminal), as a user types into it."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import sys
import time

from tests.conftest import ROOT, run_bot

WIDTH = 50


class Terminal:
    """`python -m bot console` with a pseudo-terminal as its controlling terminal."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the console
            # An ignored SIGINT survives exec (an earlier test in this process may have
            # set one); a user's shell starts the console with Ctrl-C working.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            os.execve(sys.executable, [sys.executable, "-m", "bot", *args], env)
        self.screen = ""

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def press_ctrl_c(self, timeout: float = 60) -> None:
        """Ctrl-C once the console waits for a key, as after a person's pause.

        CPython's readline notices SIGINT only while it waits in select(): one that
        lands while it is still handling the previous key waits for the next key press.
        A person never presses keys microseconds apart; a test does, on a busy machine.
        """
        deadline = time.monotonic() + timeout
        wchan = f"/proc/{self.pid}/wchan"
        while os.path.exists(wchan) and time.monotonic() < deadline:
            with open(wchan) as state:  # the main thread's kernel wait, e.g. in select()
                waiting_in = state.read()
            if "poll" in waiting_in or "select" in waiting_in:
                break
            time.sleep(0.01)
        self.type("\x03")

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """Reads the screen until `pattern` shows after what was read before."""
        start = len(self.screen)
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen[start:]):
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} never appeared; screen:\n{self.screen}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.screen += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:  # the console closed the terminal
                    break
        return self.screen[start:]

    def exit_code(self, timeout: float = 30) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):  # the console closed the terminal
                    self.screen += os.read(self.fd, 4096).decode(errors="replace")
        os.kill(self.pid, 9)
        return None


def test_ctrl_c_clears_the_line_wraps_answers_and_history_survives(tmp_path, shipped_corpus):
    assert run_bot("build", cwd=tmp_path).returncode == 0
    history = tmp_path / "state" / "history"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), BOT_HISTORY_FILE=str(history), COLUMNS=str(WIDTH))
    env.update(TERM="dumb")
    args = ["console", "--corpus", str(shipped_corpus), "--index", str(tmp_path / "index")]

    console = Terminal(args, env)
    console.wait_for(r"\? $")
    console.type("What is PES")
    console.wait_for("What is PES")
    console.press_ctrl_c()  # Ctrl-C: the half-typed line is dropped, the console goes on
    console.wait_for(r"\? $")
    console.type("What is PESCO?\r")
    answer = console.wait_for(r"\n\? $")
    assert "Permanent Structured" in answer
    assert "What is PESWhat" not in answer
    lines = answer.replace("\r", "").split("\n")[1:-1]  # after the typed line, before "? "
    assert max(len(line) for line in lines) < WIDTH
    # Cut at spaces only: the same words as the unwrapped answer `ask` prints.
    plain = run_bot("ask", "What is PESCO?", cwd=tmp_path, env={"BOT_CORPUS_DIR": args[2]})
    assert " ".join(lines).split() == plain.stdout.split() + ["(:more", "for", "other", "results)"]
    console.type("\x04")  # Ctrl-D leaves
    assert console.exit_code() == 0
    assert history.read_text().splitlines()[-1] == "What is PESCO?"

    console = Terminal(args, env)  # a new session finds the last question with Up
    console.wait_for(r"\? $")
    console.type("\x1b[A")
    console.wait_for("What is PESCO\\?")
    console.press_ctrl_c()
    console.wait_for(r"\? $")
    console.type("\x04")
    assert console.exit_code() == 0
