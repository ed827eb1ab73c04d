"""The console: questions typed in a terminal, answers printed below.

On a terminal it offers readline editing and history and a prompt; when input or output
is a pipe it prints answers only, one block per question, so it can be scripted. End
of input (Ctrl-D or a closed stdin) ends the session with status 0.
"""

from __future__ import annotations

import contextlib
from typing import TextIO

from bot.answer import Answer, source_line
from bot.engine import Engine

HELP = """Type a question and press Enter. Commands:
  :more      show the next results for the last question
  :sources   list the documents I answer from
  :help      this help
  :quit      leave (Ctrl-D works too)"""

PAGE = 2  # further results shown per :more


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
        self.engine.warm_up()
        if self.interactive:
            with contextlib.suppress(ImportError):  # not on every platform
                import readline  # noqa: F401  (importing it turns on line editing for input())
            info = self.engine.info
            docs = len(info.documents)
            self._print(
                f"Ask me about {docs} document{'s' if docs != 1 else ''} "
                f"({info.passage_count} passages). :help for commands, Ctrl-D to quit."
            )
        while True:
            line = self._read()
            if line is None:
                if self.interactive:
                    self._print("")
                return 0
            reply = self.handle(line)
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
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def handle(self, line: str) -> str | None:
        """Handles one input line; returns the text to print, or None to quit."""
        command = line.strip()
        if command in (":quit", ":q", ":exit"):
            return None
        if command == ":help":
            return HELP
        if command == ":sources":
            return "\n".join(self.engine.info.documents)
        if command == ":more":
            return self._more()
        if command.startswith(":"):
            return f"Unknown command {command}. {HELP}"
        if not command:
            return ""
        answer = self.engine.ask(line)
        self._last, self._shown = answer, (1 if answer.answered else 0)
        if answer.answered and len(answer.hits) > 1:
            return answer.text + "\n(:more for other results)"
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
