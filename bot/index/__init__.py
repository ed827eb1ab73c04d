"""The search index: building it, saving it atomically, loading and validating it.

One job a module:

=============  ==============================================================
``errors``     `IndexProblem` and its kinds; every message says what to do
``store``      the on-disk format: the folder layout, `write` and `load` side by side
``weighting``  counting terms and BM25 weights, one small function per choice
``parts``      one corpus file's share of the index: read anew or reused
``builder``    `build`: plan, read, assemble into a `Collection`, weight, write;
               `build_with(settings)`, the way front ends call it
``summary``    a build's manifest and its `BuildReport` (the one-line summary)
``stream``     a build of more text than fits in memory: parts spilled and merged
``lock``       one build of an index folder at a time
``stale``      does the index still match the corpus?
=============  ==============================================================

Callers import from here (``from bot import index``); the names below are the
package's public surface. The build's names (``builder``, ``weighting``) are imported
on first use: they bring scipy, the file readers and the build's workers, which
loading an index and answering from it never need (a third of a one-shot ``ask``).
"""

from typing import TYPE_CHECKING, Any

from bot.index.errors import BuildInProgress, EmptyCorpus, IndexCorrupt, IndexNotFound, IndexProblem
from bot.index.lock import build_lock
from bot.index.reader import current_build, load, read_manifest
from bot.index.stale import scan_corpus, stale_reason
from bot.index.store import CURRENT, FORMAT_VERSION, Index, SparseArrays, StringTable

if TYPE_CHECKING:
    from bot.index.builder import build, build_with
    from bot.index.summary import BuildReport
    from bot.index.weighting import analyze_passages, bm25_weights

# Name -> module, for the names imported on first use.
_LAZY = {
    "BuildReport": "bot.index.summary",
    "build": "bot.index.builder",
    "build_with": "bot.index.builder",
    "analyze_passages": "bot.index.weighting",
    "bm25_weights": "bot.index.weighting",
}


def __getattr__(name: str) -> Any:
    """Imports a build-time name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CURRENT",
    "FORMAT_VERSION",
    "BuildInProgress",
    "BuildReport",
    "EmptyCorpus",
    "Index",
    "IndexCorrupt",
    "IndexNotFound",
    "IndexProblem",
    "SparseArrays",
    "StringTable",
    "analyze_passages",
    "bm25_weights",
    "build",
    "build_with",
    "build_lock",
    "current_build",
    "load",
    "read_manifest",
    "scan_corpus",
    "stale_reason",
]
