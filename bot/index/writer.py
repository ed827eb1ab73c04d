"""Writing a build: its files, their checksums, fsync, and the switch of CURRENT."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.index.errors import IndexProblem
from bot.index.reader import current_build
from bot.index.store import (
    CURRENT,
    PASSAGE_DICTIONARY,
    PASSAGES,
    StringTable,
    _ends_hash,
    dictionary_sample,
    dump_json,
    train_on,
    write_lines,
)

if TYPE_CHECKING:  # scipy only at build time: importing scipy.sparse costs 0.1-0.35 s
    import scipy.sparse as sp

    from bot.index.weighting import Weights

# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Collection:
    """The whole corpus as one collection, ready to weight and write.

    Attributes:
        lines: The passages as JSON lines (`store.passage_line`), in corpus order; a
            passage's position is its line.
        counts: passage x term raw counts, CSR.
        terms: The term of each column, sorted.
        term_hashes: `term_hash` of each term.
        id_hashes: `term_hash` of each passage's id.
        words: Surface word counts of the whole corpus, sorted by word.
        file_words_lines: Each corpus file's line of filewords.zst, in manifest order.
    """

    lines: list[bytes]
    counts: sp.csr_matrix
    terms: list[str]
    term_hashes: np.ndarray
    id_hashes: np.ndarray
    words: Mapping[str, int]
    file_words_lines: list[bytes]


def write(
    index_dir: Path, manifest: dict[str, Any], collection: Collection, weighted: Weights
) -> Path:
    """Writes a build folder beside the live one, then points CURRENT at it atomically."""

    def fill(folder: Path) -> dict[str, Any]:
        _write_files(folder, collection, weighted)
        return manifest

    return publish(index_dir, fill)


def publish(index_dir: Path, fill: Callable[[Path], dict[str, Any]]) -> Path:
    """Has `fill` write a build's files into a fresh folder, then makes it the live build.

    `fill` writes every file but the manifest, and returns the manifest; it is written
    last, with every file's checksums. Every file is fsynced before CURRENT names the
    build, and the folders after each rename: after a power cut CURRENT names a complete
    build (the new one or the old), never one whose files the disk had not yet written.
    If `fill` fails, the folder is removed and the live build stays.
    """
    name = f"build-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        _seal(tmp, fill(tmp))
        final = index_dir / name
        os.replace(tmp, final)
        _fsync_folder(index_dir)
        try:
            previous = current_build(index_dir).name
        except IndexProblem:
            previous = ""
        pointer = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_folder(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The previous build stays: a reader may have read CURRENT just before the swap.
    _remove_old_builds(index_dir, keep={name, previous})
    return final


def _write_files(folder: Path, collection: Collection, weighted: Weights) -> None:
    """Writes every file of a build folder but the manifest."""
    dump_json(folder / "vocabulary.json.zst", collection.terms)
    table = StringTable.of_hashes(collection.term_hashes)
    if table is not None:
        table.save(folder / "vocabulary.hashes.npy", folder / "vocabulary.columns.npy")
    ids = StringTable.of_hashes(collection.id_hashes)
    if ids is not None:
        ids.save(folder / "passages.ids.hashes.npy", folder / "passages.ids.positions.npy")
    write_words(folder, collection.words)
    write_lines(
        folder / "filewords.zst", folder / "filewords.offsets.npy", collection.file_words_lines
    )
    np.save(folder / "idf.npy", weighted.idf)
    write_norms(folder, weighted.norms)
    postings = weighted.postings
    np.save(folder / "postings.data.npy", postings.data)
    np.save(folder / "postings.indices.npy", postings.indices.astype(np.int32, copy=False))
    np.save(folder / "postings.indptr.npy", postings.indptr.astype(np.int64, copy=False))
    # Trained here: 0.05 s with its parameters fixed (`store.train_on`); a forked
    # process to train it beside the rest cost more CPU than it saved.
    lines = collection.lines
    dictionary = train_on([lines[i] for i in dictionary_sample(len(lines))])
    (folder / PASSAGE_DICTIONARY).write_bytes(dictionary)
    write_lines(folder / PASSAGES, folder / "passages.offsets.npy", lines, dictionary)


def write_norms(folder: Path, norms: np.ndarray) -> None:
    """norms.npy, and norms.codes.npy and norms.table.npy: the same as `norm_codes`."""
    from bot.scoring import norm_codes

    codes, table = norm_codes(norms)
    np.save(folder / "norms.npy", norms)
    np.save(folder / "norms.codes.npy", codes)
    np.save(folder / "norms.table.npy", table)


def write_words(folder: Path, words: Mapping[str, int]) -> None:
    """words.txt and words.counts.npy: the corpus's surface words, sorted, and their counts."""
    # Split and zipped at load: a tenth of the time of parsing a JSON object of the
    # same words (0.8 s for the 737,215 words of a million passages).
    (folder / "words.txt").write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    np.save(folder / "words.counts.npy", np.fromiter(words.values(), np.int64, len(words)))


def _seal(folder: Path, manifest: dict[str, Any]) -> None:
    """Writes the manifest, with every other file's checksums, and fsyncs the folder."""
    # The manifest goes last: a folder without one is never taken for an index. It
    # holds every other file's checksums, taken as the files are fsynced.
    checksums = {path.name: _checksum(path) for path in sorted(folder.iterdir())}
    _dump_json(folder / "manifest.json", {**manifest, "checksums": checksums})
    _fsync(folder / "manifest.json")
    _fsync_folder(folder)


def _dump_json(path: Path, value: Any) -> None:
    # json.dumps, not json.dump: only the one-shot call uses the C encoder (10x faster).
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _checksum(path: Path) -> dict[str, Any]:
    """A build file's size, hash of its ends and hash of all of it; fsyncs it on the way.

    The file was just written, so reading it back comes from the page cache (about
    1 GB/s of SHA-256 here: a second for the files of a million-passage index).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
        os.fsync(handle.fileno())
        size = handle.tell()
        ends = _ends_hash(handle, size)
    return {"size": size, "ends": ends, "sha256": digest.hexdigest()}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Makes a folder's entries (a rename into it, a new file) durable."""
    _fsync(folder)


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    for path in index_dir.iterdir():
        if path.name.startswith(("build-", ".tmp-build-")) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
