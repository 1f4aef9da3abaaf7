"""One writer at a time per concept, across processes: the lock that keeps round numbers distinct.

``TeachSession.submit`` and ``undo`` read the concept's latest round and write the next one; two processes
doing that at the same instant would both pick the same number (and an undo would delete both rounds).
An exclusive ``fcntl.flock`` on a small file in the workspace serialises them. The kernel releases a
flock when its process dies, so a crash (even SIGKILL) never leaves the concept locked.

Object storage (a ``s3://`` workspace) has no file locks: there the lock is a compare-and-set on the
store (``core.storage.Location.lock``: a Lance dataset created with ``mode="create"``, which exactly one
writer wins; one left by a killed process is broken after ``core.storage.STALE_LOCK_S``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def _thread_lock(name: str) -> threading.Lock:
    with _LOCAL_GUARD:
        return _LOCAL.setdefault(name, threading.Lock())


def lock_path(root: Path | str, index: str, concept: str) -> Path | None:
    """The lock file for (index, concept) under a local workspace ``root``; None for object storage."""
    return workspace_lock_path(root, "teach", f"{index}\0{concept}")


def workspace_lock_path(root: Path | str, kind: str, key: str) -> Path | None:
    """``<root>/locks/<kind>-<digest of key>.lock`` for a local workspace; None for object storage."""
    text = str(root)
    if "://" in text:
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]  # names are hostile: never a path
    return Path(text) / "locks" / f"{kind}-{digest}.lock"


@contextmanager
def concept_lock(root: Path | str, index: str, concept: str) -> Iterator[None]:
    """Hold the concept's write lock (threads of this process, then other processes) while the block runs."""
    path = lock_path(root, index, concept)
    with _thread_lock(str(path) if path else f"{root}\0{index}\0{concept}"):
        if path is None and hasattr(root, "lock"):  # a bucket (core.storage.Location): Lance compare-and-set
            digest = hashlib.sha256(f"{index}\0{concept}".encode()).hexdigest()[:24]
            with root.lock(f"teach-{digest}"):
                yield
            return
        if path is None:
            yield
            return
        from core.storage import file_lock

        with file_lock(path):
            yield
