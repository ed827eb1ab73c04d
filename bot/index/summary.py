"""What a build records and reports: the manifest it writes, the summary it prints.

`build_manifest` makes the manifest.json of a build (format, analyzer, scoring, the
files with their passages, what was skipped, counts, time); `BuildReport` is what
`bot.index.build` returns, with the one-line summary front ends print.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bot.index.stale import FileInfo
from bot.index.store import ANALYZER, FORMAT_VERSION


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the one-line summary.

    `skipped` names every file left out; `timed_out` those of them left out because
    reading them took longer than `budget` seconds (BOT_FILE_TIMEOUT) rather than
    because they are unreadable.
    """

    files: int
    passages: int
    terms: int
    seconds: float
    skipped: tuple[str, ...]
    timed_out: tuple[str, ...] = ()
    budget: float | None = None
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    previous_passages: int = 0
    reused: int = 0
    build: str = ""

    def summary(self) -> str:
        """One line for the terminal, e.g. "Indexed 23 passages from 1 file in 0.04 s".

        After a previous build it also says what changed: "(1 changed: a.txt, 0 added,
        0 removed; 23 -> 25 passages; 1 reused)", naming up to three files of each kind.
        """
        files = f"{self.files} file" + ("" if self.files == 1 else "s")
        line = f"Indexed {self.passages} passages from {files} in {self.seconds:.2f} s"
        notes = []
        if self.previous_passages:
            kinds = (("changed", self.changed), ("added", self.added), ("removed", self.removed))
            notes.append(
                ", ".join(f"{len(names)} {kind}{_names(names)}" for kind, names in kinds)
                + f"; {self.previous_passages} -> {self.passages} passages; {self.reused} reused"
            )
        unreadable = [name for name in self.skipped if name not in self.timed_out]
        if unreadable:
            notes.append(f"skipped {len(unreadable)} unreadable: {', '.join(unreadable)}")
        if self.timed_out:
            notes.append(
                f"skipped {len(self.timed_out)} over the {self.budget or 0:g} s time budget: "
                + ", ".join(self.timed_out)
            )
        return line + (f" ({'; '.join(notes)})" if notes else "")


def _names(names: tuple[str, ...], most: int = 10) -> str:
    """The names of changed files for the one-line summary; past `most`, how many more."""
    if not names:
        return ""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f": {', '.join(names[:most])}{more}"


def build_manifest(
    files: list[tuple[FileInfo, int]],
    skipped: list[FileInfo],
    timed_out: tuple[str, ...],
    budget: float | None,
    passages: int,
    terms: int,
    k1: float,
    b: float,
) -> dict[str, Any]:
    """The manifest.json of a build: format, analyzer, scoring, files, counts, time.

    `files` are the indexed files with their passage counts, in corpus order.
    """
    entries = []
    position = 0
    for info, count in files:
        entries.append({**vars(info), "passages": [position, position + count]})
        position += count
    skipped_entries = [vars(info) for info in skipped]
    for entry in skipped_entries:
        if entry["path"] in timed_out:
            entry["timed_out"] = budget  # not read again until it changes
    return {
        "format_version": FORMAT_VERSION,
        "analyzer": ANALYZER,
        "scoring": {"k1": k1, "b": b},
        "libraries": _library_versions(),
        "files": entries,
        "skipped": skipped_entries,
        "passages": passages,
        "terms": terms,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "PyStemmer", "rapidfuzz"):
        versions[package] = metadata.version(package)
    return versions
