"""The console: questions typed in a terminal, answers printed below.

On a terminal it behaves like Python's REPL: readline editing, history kept between
sessions (in the user's state folder, see `history_file`), Ctrl-C clears the line or
stops a question and leaves the console running, Ctrl-D leaves; answers are wrapped
at word boundaries to the terminal's width. When input or output is a pipe it prints
answers only, one block per question, with no prompt, tips or history, so it can be
scripted. End of input ends the session with status 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bot.answer import Answer, invites_tip, source_line
from bot.engine import Engine
from bot.index import IndexProblem
from bot.suggestions import example_questions

HELP = """Type a question and press Enter. Commands:
  :more      show the next results for the last question
  :sources   list the documents I answer from
  :help      this help
  :quit      leave (Ctrl-D works too)"""

TIP = "Type :help for the commands."  # after a greeting, a help request or an empty line
PAGE = 2  # further results shown per :more
HISTORY_LINES = 1000  # questions kept in the history file

log = logging.getLogger(__name__)


@contextlib.contextmanager
def threads_ignore_ctrl_c() -> Iterator[None]:
    """Starts threads that never receive Ctrl-C, so the kernel gives it to this thread.

    Threads started inside the block (OpenBLAS's, at numpy's import; the scoring
    warm-up) inherit the blocked mask. The console's main thread waits in readline's
    select(), which only a signal delivered to that thread interrupts: one delivered
    to another thread went unnoticed until the next key press (one pty test run in
    four on a loaded machine).
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def history_file() -> Path | None:
    """Where the console keeps its history: the user's state folder, as shells do.

    `BOT_HISTORY_FILE` overrides it; an empty value turns history off (None).
    """
    configured = os.environ.get("BOT_HISTORY_FILE")
    if configured is not None:
        return Path(configured) if configured else None
    import platformdirs

    return Path(platformdirs.user_state_dir("policy-qa-bot")) / "console_history"


def wrap(text: str, width: int) -> str:
    """Wraps each line at word boundaries to `width`, keeping its indent.

    Words longer than the width (a URL) are left whole rather than cut.
    """
    lines = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip())]
        lines.append(
            textwrap.fill(
                line,
                width=max(width, 20),
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            if line.strip()
            else line
        )
    return "\n".join(lines)


class Console:
    """A read-answer loop over an engine; holds only the last question for :more."""

    def __init__(self, engine: Engine, stdin: TextIO, stdout: TextIO) -> None:
        self.engine = engine
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty() and stdout.isatty()
        self._last: Answer | None = None
        self._shown = 0

    def run(self) -> int:
        """Reads questions until end of input or :quit. Returns the exit status."""
        if not self.interactive:
            return self._loop()
        history = self._load_history()
        info = self.engine.info
        docs = len(info.documents)
        self._print(
            f"Ask me about {docs} document{'s' if docs != 1 else ''} "
            f"({info.passage_count} passages). :help for commands, Ctrl-D to quit."
        )
        try:
            return self._loop()
        finally:
            self._save_history(history)

    def _loop(self) -> int:
        while True:
            try:
                line = self._read()
                if line is None:
                    if self.interactive:
                        self._print("")
                    return 0
                reply = self.handle(line)
            except KeyboardInterrupt:
                if not self.interactive:
                    raise
                # As Python's REPL: Ctrl-C drops the line being typed (or the question
                # being answered) and offers a fresh prompt; Ctrl-D leaves.
                self._print("")
                continue
            if reply is None:
                return 0
            if reply:
                self._print(reply)

    def _read(self) -> str | None:
        if self.interactive:
            try:
                return input("? ")
            except EOFError:
                return None
        line = self.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def _print(self, text: str) -> None:
        if self.interactive:
            text = wrap(text, shutil.get_terminal_size().columns - 1)
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _load_history(self) -> Path | None:
        """Turns on line editing and reads the saved history; the file, or None."""
        try:
            import readline
        except ImportError:  # not on every platform
            return None
        path = history_file()
        if path is None:
            return None
        readline.set_history_length(HISTORY_LINES)
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
        return path

    @staticmethod
    def _save_history(path: Path | None) -> None:
        if path is None:
            return
        import readline

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)
        except OSError as exc:  # a read-only home: the session still worked
            log.warning("console history not saved to %s: %s", path, exc)

    def handle(self, line: str) -> str | None:
        """Handles one input line; returns the text to print, or None to quit."""
        command = line.strip()
        if command in (":quit", ":q", ":exit"):
            return None
        if command == ":help":
            examples = example_questions(self.engine.info, 2)
            return HELP + "".join(f"\nFor example: {q}" for q in examples[:1])
        if command == ":sources":
            return "\n".join(self.engine.info.documents)
        if command == ":more":
            return self._more()
        if command.startswith(":"):
            return f"Unknown command {command}. {HELP}"
        if not command:
            return ""
        try:
            answer = self.engine.ask(line)
        except IndexProblem as exc:  # the index was damaged under us: say what to do
            return f"Error: {exc}"
        self._last, self._shown = answer, answer.shown
        if answer.answered and len(answer.hits) > answer.shown and self.interactive:
            return answer.text + "\n(:more for other results)"
        if invites_tip(answer) and self.interactive:
            return answer.text + " " + TIP
        return answer.text

    def _more(self) -> str:
        if self._last is None or not self._last.hits:
            return "Ask a question first; :more then shows further results."
        wanted = self._shown + PAGE
        hits = self.engine.ask(self._last.question, wanted).hits
        fresh = hits[self._shown : wanted]
        if not fresh:
            return "No more results."
        lines = []
        for rank, hit in enumerate(fresh, start=self._shown + 1):
            lines.append(
                f"{rank}. {source_line(hit)} (score {hit.score:.2f})\n   "
                + hit.passage.text.replace("\n", "\n   ")
            )
        self._shown = wanted
        return "\n".join(lines)
