"""What can go wrong with an index, as typed errors whose message says what to do.

Front ends catch `IndexProblem` at one edge (the command line turns it into an
"Error: ..." line and exit code 1) and show the message as it is.
"""

from __future__ import annotations

# The fix for any damaged or outdated index file, appended to every such message.
REBUILD = "Run: python -m bot build --full"


class IndexProblem(Exception):
    """Base of index problems; the message says what to do next."""


class IndexNotFound(IndexProblem):
    """There is no index yet."""


class IndexCorrupt(IndexProblem):
    """An index file is missing, truncated or of another format version."""


class BuildInProgress(IndexProblem):
    """Another process holds the build lock."""


class EmptyCorpus(IndexProblem):
    """The corpus folder holds no readable text."""
