"""The test collections the benchmarks read, shipped in ``bench/data/``.

Each collection folder holds ``corpus.jsonl`` (one document a line), ``queries.jsonl``
and ``qrels.tsv``; see ``bench/data/README.md``. The shipped corpora are gzipped to keep
the repository small (7.5 MB of JSON Lines -> 2.2 MB), so every reader goes through
`corpus_file` and `open_text`, which accept either form: a user's own collection folder
can hold a plain ``corpus.jsonl``.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import IO

DATA = Path(__file__).resolve().parent / "data"


def collection_folders(root: Path = DATA) -> list[Path]:
    """Every collection folder under `root`, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir())


def corpus_file(folder: Path) -> Path:
    """The folder's corpus, plain or gzipped; a clear error when there is none."""
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"{folder} holds no corpus.jsonl or corpus.jsonl.gz")


def open_text(path: Path) -> IO[str]:
    """Opens a UTF-8 text file, decompressing it when its name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - the caller closes it


def copy_corpus(folder: Path, dest: Path) -> None:
    """Writes the folder's corpus as a plain ``.jsonl`` file the bot can index."""
    with open_text(corpus_file(folder)) as source, open(dest, "w", encoding="utf-8") as out:
        shutil.copyfileobj(source, out)
