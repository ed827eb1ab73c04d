"""The search index: building it, saving it atomically, loading and validating it.

One job a module:

=============  ==============================================================
``errors``     `IndexProblem` and its kinds; every message says what to do
``store``      the on-disk format: the folder layout, `write` and `load` side by side
``weighting``  counting terms and BM25 weights, one small function per choice
``parts``      one corpus file's share of the index: read anew or reused
``builder``    `build`: plan, read, assemble into a `Collection`, weight, write;
               `build_with(settings)`, the way front ends call it
``lock``       one build of an index folder at a time
``stale``      does the index still match the corpus?
=============  ==============================================================

Callers import from here (``from bot import index``); the names below are the
package's public surface.
"""

from bot.index.builder import BuildReport, build, build_with
from bot.index.errors import BuildInProgress, EmptyCorpus, IndexCorrupt, IndexNotFound, IndexProblem
from bot.index.lock import build_lock
from bot.index.stale import scan_corpus, stale_reason
from bot.index.store import (
    CURRENT,
    FORMAT_VERSION,
    Index,
    StringTable,
    current_build,
    load,
    read_manifest,
)
from bot.index.weighting import analyze_passages, bm25_weights

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
