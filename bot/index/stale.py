"""Does the index still match the corpus? Corpus files as a manifest records them.

A file is identified by size, mtime and sha256. Size and mtime as recorded are
trusted without reading the file; a file with the same size and another mtime is
hashed, so touching a file does not count as a change. The build uses the same test
(`unchanged`) to decide which files it can reuse.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.documents import SUPPORTED_SUFFIXES, CorpusFileError, corpus_files
from bot.index.errors import EmptyCorpus, IndexCorrupt, IndexNotFound
from bot.index.reader import current_build, read_manifest
from bot.index.store import ANALYZER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileInfo:
    """A corpus file as it was when indexed."""

    path: str
    size: int
    mtime_ns: int
    sha256: str


def scan_corpus(corpus_dir: Path, warn: bool = False) -> list[tuple[Path, str]]:
    """Lists corpus files as (path, name relative to the corpus folder).

    A symbolic link whose target lies outside the corpus folder is left out: the
    bot quotes what it indexes to anyone who asks, and a link such as
    `passwd.txt -> /etc/passwd` must not publish a file nobody put in the folder.
    There is no option to follow such links: copy the file in, or make the corpus
    folder itself a link (it is resolved first), which says what is published.
    Links to files inside the folder are kept.

    Args:
        corpus_dir: The corpus folder.
        warn: Log a warning for each link left out, and one line naming the files of
            types the bot cannot read (a build does; the frequent listings of
            staleness checks and `--watch` do not).
    """
    unsupported: list[str] = []
    try:
        paths = corpus_files(corpus_dir, unsupported)
    except CorpusFileError as exc:
        raise EmptyCorpus(str(exc)) from None
    if warn and unsupported:
        log.warning(
            "not indexed, of a type the bot cannot read (it reads %s): %s",
            ", ".join(SUPPORTED_SUFFIXES),
            ", ".join(sorted(unsupported)),
        )
    root = Path(os.path.realpath(corpus_dir))
    files = []
    for path in paths:
        name = path.relative_to(corpus_dir).as_posix()
        if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(root):
            if warn:
                log.warning(
                    "skipped %s: a link to %s, outside the corpus folder (copy the file in "
                    "to index it)",
                    name,
                    os.readlink(path),
                )
            continue
        files.append((path, name))
    return files


def file_info(path: Path, name: str) -> FileInfo:
    """Size, mtime and sha256 of one corpus file."""
    st = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return FileInfo(name, st.st_size, st.st_mtime_ns, digest)


def unchanged(path: Path, entry: Mapping[str, Any]) -> FileInfo | None:
    """The file as it is now, if its content is what a manifest entry recorded; else None.

    Size and mtime as recorded: trusted without reading. Same size, other mtime: the
    file is hashed, so touching a file does not count as a change (the returned info
    then carries the new mtime). Raises OSError when the file cannot be read.
    """
    st = path.stat()
    if st.st_size != entry["size"]:
        return None
    if st.st_mtime_ns == entry["mtime_ns"]:
        return FileInfo(entry["path"], entry["size"], entry["mtime_ns"], entry["sha256"])
    fresh = file_info(path, entry["path"])
    return fresh if fresh.sha256 == entry["sha256"] else None


def stale_reason(corpus_dir: Path, index_dir: Path) -> str | None:
    """Why the index needs a (re)build, or None when it matches the corpus.

    Cheap on the common path: files whose size and mtime match the manifest are
    trusted; only the others are hashed, so touching a file does not force a rebuild.
    """
    try:
        manifest = read_manifest(current_build(index_dir))
    except IndexNotFound:
        return "no index yet"
    except IndexCorrupt as exc:
        return f"the index is unusable ({exc})"
    if manifest.get("analyzer") != ANALYZER:
        return "the analyzer changed"
    indexed = {f["path"]: f for f in manifest.get("files", []) + manifest.get("skipped", [])}
    try:
        current = scan_corpus(corpus_dir)
    except EmptyCorpus:
        return None  # the build itself will report the missing folder
    names = {name for _, name in current}
    for path, name in current:
        old = indexed.get(name)
        if old is None:
            return f"{name} is new"
        try:
            if unchanged(path, old) is None:
                return f"{name} changed"
        except OSError:
            continue  # unreadable now: the build will skip it with a warning
    gone = set(indexed) - names
    if gone:
        return f"{sorted(gone)[0]} was removed"
    return None
