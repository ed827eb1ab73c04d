"""Loading a build: the CURRENT pointer, the manifest, checks of every file, the arrays."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import zstandard

from bot.index.errors import REBUILD, IndexCorrupt, IndexNotFound
from bot.index.store import (
    CURRENT,
    FORMAT_VERSION,
    PASSAGE_DICTIONARY,
    PASSAGES,
    Index,
    PassageStore,
    SparseArrays,
    StringTable,
    _ends_hash,
    _load_array,
    _load_json,
    _load_text,
)

if TYPE_CHECKING:  # scipy only at build time: importing scipy.sparse costs 0.1-0.35 s
    pass

# ---------------------------------------------------------------------------- loading


def current_build(index_dir: Path) -> Path:
    """The live build folder named by CURRENT.

    Raises:
        IndexNotFound: No index has been built in `index_dir`.
    """
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFound(f"No index in {index_dir}/. Run: python -m bot build") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{index_dir / CURRENT} is unreadable ({exc}). {REBUILD}") from None
    if not name or "/" in name or not name.startswith("build-"):
        raise IndexCorrupt(f"{index_dir / CURRENT} does not name a build. {REBUILD}")
    return index_dir / name


def read_manifest(build_dir: Path) -> dict[str, Any]:
    """Reads and checks a build's manifest.

    Raises:
        IndexCorrupt: Missing, unparsable, or of another format version.
    """
    path = build_dir / "manifest.json"
    manifest: dict[str, Any] = _load_json(path, dict)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{path} has index format {version!r}, this program reads format {FORMAT_VERSION}. "
            f"{REBUILD}"
        )
    return manifest


def check_files(build_dir: Path, manifest: Mapping[str, Any], full: bool = False) -> bool:
    """Checks a build's files against the checksums its manifest records.

    Each file's size and the hash of its first and last 64 KiB are checked: that
    finds an emptied, truncated or extended file and a damaged .npy header (dtype,
    shape), reading 128 KiB a file. `full` also hashes every byte (a flipped byte
    anywhere): a build does that before it reuses anything from the previous index.

    Returns:
        False for a build written before checksums existed (format 2 all the same: it
        loads unchecked rather than demanding a rebuild); True once checked.

    Raises:
        IndexCorrupt: A file is missing or differs from what the build wrote; names it.
    """
    checksums = manifest.get("checksums")
    if checksums is None:
        return False
    if not isinstance(checksums, dict):
        raise IndexCorrupt(f"{build_dir / 'manifest.json'} is damaged. {REBUILD}")
    for name, expected in checksums.items():
        _check_file(build_dir, name, expected, full)
    return True


def _check_file(build_dir: Path, name: str, expected: Any, full: bool) -> None:
    path = build_dir / name
    if "/" in name or name.startswith(".") or not isinstance(expected, dict):
        raise IndexCorrupt(f"{build_dir / 'manifest.json'} is damaged. {REBUILD}")
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != expected.get("size"):
                raise IndexCorrupt(
                    f"{path} is damaged: {size} bytes, the build wrote {expected.get('size')}. "
                    f"{REBUILD}"
                )
            same = _ends_hash(handle, size) == expected.get("ends")
            if same and full:
                handle.seek(0)
                same = hashlib.file_digest(handle, "sha256").hexdigest() == expected.get("sha256")
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {REBUILD}") from None
    except OSError as exc:
        raise IndexCorrupt(f"{path} is unreadable ({exc.strerror or exc}). {REBUILD}") from None
    if not same:
        raise IndexCorrupt(f"{path} is damaged: its bytes changed after the build. {REBUILD}")


def load(index_dir: Path, full_check: bool = False) -> Index:
    """Loads the current index, memory-mapping its arrays and checking every file.

    Args:
        index_dir: The index folder.
        full_check: Hash every byte of every file, not only sizes and ends (see
            `check_files`).

    Raises:
        IndexNotFound: Nothing built yet.
        IndexCorrupt: A file is missing, truncated or inconsistent; names the file.
    """
    build_dir = current_build(index_dir)
    manifest = read_manifest(build_dir)
    checked = check_files(build_dir, manifest, full_check)
    try:
        index = _load_checked(build_dir, manifest)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # Files that match their checksums but not each other: a damaged manifest.
        raise IndexCorrupt(f"{build_dir} is inconsistent ({exc!r}). {REBUILD}") from None
    return dataclasses.replace(index, checked=checked)


def _load_checked(build_dir: Path, manifest: dict[str, Any]) -> Index:
    n, v = int(manifest["passages"]), int(manifest["terms"])
    _check_words(build_dir)
    idf = _load_array(build_dir / "idf.npy")
    offsets = _load_array(build_dir / "passages.offsets.npy")
    postings = _load_matrix(build_dir, "postings", "csc", (n, v))
    norms = _load_array(build_dir / "norms.npy")
    codes = _load_array(build_dir / "norms.codes.npy")
    table = _load_array(build_dir / "norms.table.npy")
    passages_path = build_dir / PASSAGES
    dictionary = _load_bytes(build_dir / PASSAGE_DICTIONARY)
    checks = [
        (idf.shape == (v,), "idf.npy"),
        (norms.shape == (n,) and norms.dtype == np.float32, "norms.npy"),
        (codes.shape == (n,) and codes.dtype in _CODE_TYPES, "norms.codes.npy"),
        (_table_fits(table, codes), "norms.table.npy"),
        (offsets.shape == (n + 1,), "passages.offsets.npy"),
        (
            passages_path.exists() and passages_path.stat().st_size == int(offsets[-1]),
            PASSAGES,
        ),
    ]
    for ok, name in checks:
        if not ok:
            raise IndexCorrupt(f"{build_dir / name} does not match the manifest. {REBUILD}")
    vocabulary = _load_vocabulary(build_dir, v)
    return Index(
        build_dir,
        manifest,
        vocabulary,
        idf,
        postings,
        norms,
        (codes, table),
        PassageStore(passages_path, offsets, dictionary),
        float(manifest["scoring"]["k1"]),
        _load_passage_ids(build_dir, n),
    )


_CODE_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32))


def _table_fits(table: np.ndarray, codes: np.ndarray) -> bool:
    """Whether every code reads inside the norms' table (`bot.scoring.norm_codes`).

    One- and two-byte codes (any built index) have a table of every value their type
    holds, so no code needs checking; four-byte ones are each checked.
    """
    if table.ndim != 1 or table.dtype != np.float32 or codes.dtype not in _CODE_TYPES:
        return False
    if codes.dtype.itemsize < 4:
        return table.size == np.iinfo(codes.dtype).max + 1
    return codes.size == 0 or int(codes.max()) < table.size


def _load_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing. {REBUILD}") from None
    except OSError as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {REBUILD}") from None


def _check_words(build_dir: Path) -> None:
    """Checks that words.txt holds a line per count in words.counts.npy (a few ms)."""
    path = build_dir / "words.txt"
    text = _load_bytes(path)
    counts = _load_array(build_dir / "words.counts.npy")
    if (text and not text.endswith(b"\n")) or counts.shape != (text.count(b"\n"),):
        raise IndexCorrupt(f"{path} does not match words.counts.npy. {REBUILD}")


def _load_words(build_dir: Path) -> dict[str, int]:
    """Surface word -> corpus count, from words.txt and words.counts.npy."""
    path = build_dir / "words.txt"
    names = _load_text(path).split("\n")
    counts = _load_array(build_dir / "words.counts.npy")
    if names.pop() != "" or counts.shape != (len(names),):
        raise IndexCorrupt(f"{path} does not match words.counts.npy. {REBUILD}")
    return dict(zip(names, counts.tolist(), strict=True))


def _load_terms(build_dir: Path, size: int) -> list[str]:
    """Column -> term, from vocabulary.json.zst (`store.dump_json`)."""
    path = build_dir / "vocabulary.json.zst"
    try:
        terms = json.loads(zstandard.ZstdDecompressor().decompress(_load_bytes(path)))
    except (ValueError, zstandard.ZstdError) as exc:
        raise IndexCorrupt(f"{path} is damaged ({exc}). {REBUILD}") from None
    if not isinstance(terms, list) or len(terms) != size:
        raise IndexCorrupt(f"{path} does not match the manifest. {REBUILD}")
    return terms


def _load_vocabulary(build_dir: Path, size: int) -> StringTable | dict[str, int]:
    """The memory-mapped term table, or a dict from the term list if there is none."""
    if not (build_dir / "vocabulary.hashes.npy").exists():
        return {term: column for column, term in enumerate(_load_terms(build_dir, size))}
    return StringTable.load(
        build_dir / "vocabulary.hashes.npy", build_dir / "vocabulary.columns.npy", size
    )


def _load_passage_ids(build_dir: Path, size: int) -> StringTable | None:
    """The passage-id table, or None for an index written without one (a collision)."""
    hashes_path = build_dir / "passages.ids.hashes.npy"
    if not hashes_path.exists():
        return None
    return StringTable.load(hashes_path, build_dir / "passages.ids.positions.npy", size)


def _load_matrix(
    build_dir: Path, prefix: str, layout: Literal["csc", "csr"], shape: tuple[int, int]
) -> SparseArrays:
    """A CSC or CSR matrix (`layout`) from its three .npy files, left memory-mapped.

    Only shapes and the last column pointer are checked here: a few pages, whatever
    the size. Checking every passage number (`indices.max()`) read every page of the
    largest file, 3.1 s and 7 GB of memory at ten million passages before the first
    question; a question checks the postings it reads instead (`bot.scoring`), so a
    damaged number still gets a message naming the file, not a crash.
    """
    data = _load_array(build_dir / f"{prefix}.data.npy")
    indices = _load_array(build_dir / f"{prefix}.indices.npy")
    indptr = _load_array(build_dir / f"{prefix}.indptr.npy")
    major = shape[1] if layout == "csc" else shape[0]
    valid = (
        indptr.shape == (major + 1,)
        and data.shape == indices.shape
        and int(indptr[0]) == 0
        and int(indptr[-1]) == data.shape[0]
    )
    if not valid:
        raise IndexCorrupt(f"{build_dir / prefix}.*.npy do not match the manifest. {REBUILD}")
    return SparseArrays(layout, data, indices, indptr, shape)
