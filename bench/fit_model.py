"""Refits the shipped answer model (`bot/answerability.json`) from the project's sets.

The training sets are `bench/answers.py`'s (every set in `eval/` but the held-out ones
in `eval/heldout/`, which are only ever measured), plus WikiQA's dev split when its
folder is given: its questions name no corpus, so they are copied, each with its
folder's `corpus/`, to a temporary file (WikiQA is read from where it lies and never
copied into the repository). The fit itself is `python -m bot train`, so the shipped
model is exactly what a team's own refit would produce.

Usage::

    python bench/fit_model.py [--wikiqa DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from answers import ROOT, project_sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wikiqa", type=Path, help="WikiQA dev folder (questions.jsonl, corpus/)")
    parser.add_argument("--out", type=Path, default=ROOT / "bot" / "answerability.json")
    args = parser.parse_args()
    files = [str(f) for qs in project_sets() if not qs.held_out for f in qs.files]
    with tempfile.TemporaryDirectory(prefix="fit-model-") as scratch:
        if args.wikiqa:
            corpus = str((args.wikiqa / "corpus").resolve())
            lines = (args.wikiqa / "questions.jsonl").read_text(encoding="utf-8").splitlines()
            wikiqa = Path(scratch) / "wikiqa-dev.jsonl"
            wikiqa.write_text(
                "".join(json.dumps({**json.loads(x), "corpus": corpus}) + "\n" for x in lines),
                encoding="utf-8",
            )
            files.append(str(wikiqa))
        command = [sys.executable, "-m", "bot", "train", *files, "--out", str(args.out)]
        return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
