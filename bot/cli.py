"""Command line: `python -m bot build | ask | console | telegram | eval | train`.

Heavy modules (NumPy, SciPy, the Telegram library) are imported inside the branch that
needs them, so `--help` answers at once. Errors from the core arrive as typed
exceptions and leave here as one "Error: ..." line on stderr and an exit code:

    0  success            1  error (corpus, index, input)       2  usage
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine import Engine

# After a greeting or an empty question (`ask` only: `ask -` prints answers only).
ASK_TIP = '\nUsage: python -m bot ask "your question" (python -m bot ask --help for more)'
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130  # argparse itself exits 2 on usage errors


# The settings each subcommand reads (names of `Settings` fields); its --help lists
# their environment variables and defaults, taken from bot.config, never retyped here.
# A new setting is listed by every command but `build` unless it is named below.
_BUILD_READS = ("corpus_dir", "index_dir", "k1", "b")
_TELEGRAM_ONLY = (
    "telegram_token",
    "telegram_api_url",
    "admin_ids",
    "rate_limit_per_minute",
    "telegram_send_rate",
    "telegram_webhook_secret",
    "max_upload_bytes",
)
# Defaults that are not a value: what happens when the variable is unset.
_UNSET = {
    "telegram_token": "required",
    "telegram_webhook_secret": "random",
    "min_confidence": "the model's",
}


def _reads(command: str, name: str) -> bool:
    if command == "build":
        return name in _BUILD_READS
    if command == "eval" and name == "top_k":  # eval has its own -k
        return False
    return command == "telegram" or name not in _TELEGRAM_ONLY


def environment_defaults(command: str) -> list[tuple[str, str]]:
    """(variable, default as text) for each setting `command` reads, from bot.config."""
    from bot.config import _ENV, Settings  # light: no numpy

    defaults = Settings()
    shown = []
    for name, variable, _ in _ENV:
        if not _reads(command, name):
            continue
        value = getattr(defaults, name)
        if name in _UNSET:
            text = _UNSET[name]
        elif value is None:
            text = "unset"
        elif isinstance(value, frozenset) and not value:
            text = "none"
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value)
        shown.append((variable, text))
    return shown


def _epilog(command: str) -> str:
    rows = environment_defaults(command)
    width = max(len(variable) for variable, _ in rows)
    lines = [f"  {variable:<{width}}  {default}" for variable, default in rows]
    return (
        "environment variables and their defaults (options win over variables; the\n"
        "README's Configuration section says what each one means):\n" + "\n".join(lines)
    )


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="folder of text files (default ./corpus, or $BOT_CORPUS_DIR)",
    )
    common.add_argument(
        "--index",
        type=Path,
        metavar="DIR",
        help="index folder (default ./index, or $BOT_INDEX_DIR)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log more detail")

    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Answers questions about the text in a corpus folder, with sources.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def _help_of(command: str) -> dict[str, Any]:
        return {
            "epilog": _epilog(command),
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        }

    p = sub.add_parser(
        "build", parents=[common], help="build or refresh the index", **_help_of("build")
    )
    p.add_argument("--full", action="store_true", help="rebuild from scratch")
    p.add_argument("--watch", action="store_true", help="rebuild on every change until Ctrl-C")

    p = sub.add_parser(
        "ask", parents=[common], help="answer one question (or - for stdin)", **_help_of("ask")
    )
    p.add_argument("question", nargs="+", help="the question, or - to read one per line")
    p.add_argument("--json", action="store_true", help="print JSON (JSON Lines with -)")
    p.add_argument("-k", type=int, default=None, metavar="N", help="number of sources")

    sub.add_parser(
        "console",
        parents=[common],
        help="interactive questions in the terminal",
        **_help_of("console"),
    )

    p = sub.add_parser(
        "telegram", parents=[common], help="run the Telegram bot", **_help_of("telegram")
    )
    p.add_argument("--webhook-url", help="public HTTPS URL for webhook mode (default: polling)")
    p.add_argument(
        "--listen", default="127.0.0.1", help="webhook listen address (default %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8443, help="webhook listen port (default %(default)s)"
    )
    p.add_argument("--secret-token", help="webhook secret (or $TELEGRAM_WEBHOOK_SECRET)")

    p = sub.add_parser(
        "eval", parents=[common], help="score a question file (JSON Lines)", **_help_of("eval")
    )
    p.add_argument("file", type=Path, help='questions: {"question", "expected": [...]}')
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("-k", type=int, default=3, metavar="N", help="sources per question")

    p = sub.add_parser(
        "train",
        parents=[common],
        help="refit the answer/abstain model on question files (and feedback)",
        description="Refits the answer/abstain model. Each question line may name its "
        'corpus folder ("corpus": a path, or a name under corpora/ beside the file); '
        "lines without one are about --corpus.",
    )
    p.add_argument("files", type=Path, nargs="*", help='questions: {"question", "expected"}')
    p.add_argument(
        "--feedback",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a Telegram feedback log (index/feedback.jsonl) to learn from; repeatable",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the model (default INDEX/answerability.json, which the bot then uses)",
    )
    p.add_argument("--folds", type=int, default=5, metavar="N", help="cross-validation folds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one subcommand and returns its exit code."""
    args = _parser().parse_args(argv)
    # Warnings (a skipped corpus file, a rebuilt index) go to stderr, answers to stdout.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_log = logging.getLogger("bot")
    package_log.addHandler(handler)
    package_log.setLevel(logging.INFO if args.verbose else logging.WARNING)
    # Before numpy is first imported: OpenBLAS starts a thread per CPU when it loads,
    # which cost 50-80 ms of a one-shot `ask` (a third of it) on a 2-core machine, and
    # the bot does no dense linear algebra for the threads to help with. A value the
    # user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from bot.config import ConfigError, Settings
    from bot.index import IndexProblem

    # Text that cannot be encoded for this terminal (a lone surrogate from a bad
    # argument, a locale that is not UTF-8) is shown as "?" instead of raising.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # not when a test swapped it for a StringIO
            stream.reconfigure(errors="replace")
    try:
        settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index)
        if getattr(args, "k", None) is not None and args.k < 1:
            raise ConfigError("-k must be at least 1")
        if settings.index_dir.exists() and not settings.index_dir.is_dir():
            raise ConfigError(
                f"index path {settings.index_dir} is a file; --index names a folder "
                "(it is created if missing)"
            )
        return _COMMANDS[args.command](args, settings)
    except (ConfigError, IndexProblem) as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, as Unix tools do. Python
        # would report the pipe again when it flushes stdout at exit, so point stdout
        # at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        package_log.removeHandler(handler)


def _error(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _open(settings: Settings) -> Engine:
    from bot.engine import Engine

    return Engine.open(settings, say=_say)


class Progress:
    """A one-line progress display on a terminal, shown once a build passes two seconds.

    Called per corpus file; the line is redrawn at most ten times a second and cleared
    at the end, so short builds print nothing but their summary.
    """

    def __init__(self, stream: Any, delay: float = 2.0, clock: Any = None) -> None:
        import time

        self._stream = stream
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._delay = delay
        self._last = -1.0

    def __call__(self, files_done: int, files: int, percent: int) -> None:
        """Redraws the line: files done of all, and the share of the corpus's bytes."""
        now = self._clock()
        if now - self._start < self._delay or (now - self._last < 0.1 and files_done < files):
            return
        self._last = now
        self._stream.write(f"\rReading files: {percent:3d}% ({files_done}/{files})")
        if files_done == files:
            self._stream.write("\r" + " " * 40 + "\r")
        self._stream.flush()


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    """Builds the index and prints a one-line summary; with --watch, keeps rebuilding."""
    import threading

    # bot.index, not Engine.rebuild: a build needs no loaded index, and bot.engine
    # would import numba (a second of start-up) for nothing.
    from bot.index import build_with
    from bot.watch import snapshot, watch

    def run(full: bool = False) -> Any:
        progress = Progress(sys.stderr) if sys.stderr.isatty() else None
        return build_with(settings, full=full, progress=progress)

    listing = snapshot(settings.corpus_dir)
    print(run(args.full).summary(), flush=True)
    if not args.watch:
        return EXIT_OK
    print(f"Watching {settings.corpus_dir}/ for changes; Ctrl-C to stop.", file=sys.stderr)
    try:
        watch(
            run,
            settings.corpus_dir,
            lambda line: print(line, flush=True),
            threading.Event(),
            since=listing,
        )
    except KeyboardInterrupt:
        print("Stopped watching.", file=sys.stderr)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answers the question, or every line of stdin with `-`."""
    from bot.answer import invites_tip

    engine = _open(settings)
    batch = args.question == ["-"]
    if batch:
        questions: Iterable[tuple[str, str | None]] = _stdin_questions(sys.stdin.buffer)
    else:
        # An argument that is not valid UTF-8 reaches Python with surrogates for its
        # bad bytes; they become U+FFFD like any other undecodable input.
        text = " ".join(os.fsencode(word).decode("utf-8", "replace") for word in args.question)
        questions = [(text, None)]
    for question, problem in questions:
        if problem is not None:
            _say(f"Warning: {problem}")
            if args.json:
                reply = {"question": question, "answered": False, "kind": "error"}
                reply |= {"answer": problem, "error": problem, "sources": []}
                print(json.dumps(reply, ensure_ascii=False), flush=True)
            else:
                print(f"Error: {problem}", flush=True)
            continue
        answer = engine.ask(question, args.k)
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        elif batch:
            print(answer.text.replace("\n", " "), flush=True)
        else:
            print(answer.text + (ASK_TIP if invites_tip(answer) else ""), flush=True)
    return EXIT_OK


def _stdin_questions(stream: BinaryIO) -> Iterator[tuple[str, str | None]]:
    """Each line of `stream` as a question, with the problem that stops it being asked.

    Lines are read as bytes, so one line that is not UTF-8 (whatever the locale says)
    is reported in its place, one output line per input line, and the batch goes on.
    """
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        try:
            yield raw.decode("utf-8"), None
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            yield text, f"line {number} is not valid UTF-8 text; it was not asked"


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the interactive console until end of input."""
    from bot.console import Console, threads_ignore_ctrl_c

    with threads_ignore_ctrl_c():
        engine = _open(settings)
        engine.warm_up()
    return Console(engine, sys.stdin, sys.stdout).run()


def cmd_telegram(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the Telegram bot until SIGINT or SIGTERM."""
    from bot.telegram import run

    return run(
        settings,
        webhook_url=args.webhook_url,
        listen=args.listen,
        port=args.port,
        secret_token=args.secret_token or settings.telegram_webhook_secret,
    )


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Scores a question file and prints hit@1, hit@3, MRR and abstention figures."""
    from bot.evaluate import EvalError, evaluate, format_report, read_questions

    try:
        items = read_questions(args.file)
    except EvalError as exc:
        _error(str(exc))
        return EXIT_ERROR
    report = evaluate(_open(settings), items, k=args.k)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Refits the answer model, prints its cross-validated figures and writes it."""
    import tempfile

    from bot.config import ConfigError
    from bot.evaluate import EvalError
    from bot.model import FILENAME
    from bot.model_train import TrainError, examples, feedback_examples, fit, question_sets

    if not args.files and not args.feedback:
        raise ConfigError("give question files (JSON Lines) and/or --feedback FILE to train on")
    try:
        grouped = question_sets(args.files, settings.corpus_dir)
        rows = []
        with tempfile.TemporaryDirectory(prefix="bot-train-") as scratch:
            for number, (corpus, items) in enumerate(grouped.items()):
                engine = _engine_for(settings, corpus, Path(scratch) / str(number))
                name = "corpus" if corpus == settings.corpus_dir.resolve() else _name(corpus)
                rows += examples(engine, items, name)
            if args.feedback:
                engine = _open(settings)
                for path in args.feedback:
                    rows += feedback_examples(engine, path, "corpus")
        model, report = fit(rows, args.folds)
    except (EvalError, TrainError) as exc:
        _error(str(exc))
        return EXIT_ERROR
    out = args.out or settings.index_dir / FILENAME
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(json.dumps(report, indent=1))
    print(f"Wrote {out}; the bot uses it from its next question.", file=sys.stderr)
    return EXIT_OK


def _name(corpus: Path) -> str:
    """A corpus's name in the training report: its folder's, or its parent's if generic."""
    generic = corpus.name in ("corpus", "text", "docs", "documents") and corpus.parent.name
    return corpus.parent.name if generic else corpus.name


def _engine_for(settings: Settings, corpus: Path, scratch: Path) -> Engine:
    """An engine over a training corpus.

    The configured corpus uses the configured index; any other gets a throw-away index
    built in `scratch`.
    """
    from dataclasses import replace

    from bot.engine import Engine

    if corpus == settings.corpus_dir.resolve():
        return _open(settings)
    return Engine.open(replace(settings, corpus_dir=corpus, index_dir=scratch))


_COMMANDS: dict[str, Any] = {
    "build": cmd_build,
    "ask": cmd_ask,
    "console": cmd_console,
    "telegram": cmd_telegram,
    "eval": cmd_eval,
    "train": cmd_train,
}
