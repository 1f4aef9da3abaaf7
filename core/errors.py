"""Typed errors whose messages are written for the person using the app or the CLI.

The UI shows ``str(error)`` as-is, so every message says what is wrong and what to do.
"""

from __future__ import annotations


class FewshotError(Exception):
    """Base of every error a user can cause; pages show these as messages, not tracebacks."""


class SourceError(FewshotError):
    """A data source cannot be read: bad path, missing column, offline hub, bad encoding..."""


class EmptySourceError(SourceError):
    """A source that yielded nothing usable."""


class UnreadableItem(FewshotError):
    """One item (image or text) that cannot be used; indexing skips it and records the reason."""


class EmbedderError(FewshotError):
    """An embedder that cannot be loaded or cannot embed this kind of data."""


class EmbedderMismatch(FewshotError):
    """A vector or classifier from another embedder or dimension than the index's."""


class IndexNotFound(FewshotError):
    """No index of that name in the workspace."""


class IndexingCancelled(FewshotError):
    """Indexing stopped at the user's request; what was written stays and a rerun resumes."""


class InvalidRating(FewshotError):
    """Ratings outside [-1, 1], NaN, unknown ids or an empty batch; nothing is written."""


class PoolExhausted(FewshotError):
    """Every item of the split has been seen for this concept."""


class ClassifierFileError(FewshotError):
    """A classifier file that is not ours, is damaged, or was built for another index."""


class NothingChanged(FewshotError):
    """A submission whose every item is already seen with exactly that rating (the same `teach submit` run twice):
    no round is written, so history, AP by round and undo do not fill with empty rounds."""


class StaleBatch(FewshotError):
    """A submission or undo for a round that is no longer the concept's latest (a double Enter, a second tab,
    another process, a stale page); nothing is written, and what was committed before stays."""
