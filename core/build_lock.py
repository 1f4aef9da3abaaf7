"""One build of an index at a time: a second one started while the first runs is refused, not run twice.

Two builds of the same index at once (two terminals, the app and the CLI) each saw the same ids as new
and appended every row twice; batches then showed items twice. A build holds an exclusive, non-blocking
``fcntl.flock`` on a file in the workspace; the kernel releases it when the process ends, even on SIGKILL,
so a crashed build never blocks the next one. Object storage has no such lock that survives a build of
hours (``core.storage``'s compare-and-set locks go stale after minutes), so a bucket workspace is not
guarded here (the README says so).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from core.errors import FewshotError
from core.teach_lock import workspace_lock_path

_HELD: set[str] = set()
_GUARD = threading.Lock()


class BuildInProgress(FewshotError):
    """Another build of the same index is running (this process or another)."""


def _refusal(name: str) -> BuildInProgress:
    return BuildInProgress(f"index {name!r} is being built by another process or tab right now; wait for it to "
                           "finish (run the build again afterwards to add anything new) or stop it first")


@contextlib.contextmanager
def build_lock(root: Path | str, name: str) -> Iterator[None]:
    """Hold index ``name``'s build lock for the block; ``BuildInProgress`` at once when it is held."""
    path = workspace_lock_path(root, "build", name)
    key = str(path) if path else f"{root}\0{name}"
    with _GUARD:
        if key in _HELD:  # another thread of this process (flock is per open file, not per thread)
            raise _refusal(name)
        _HELD.add(key)
    try:
        if path is None:
            yield
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: the in-process guard alone
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _refusal(name) from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        with _GUARD:
            _HELD.discard(key)


def refuse_if_building(root: Path | str, name: str) -> None:
    """``BuildInProgress`` now, before a model loads for a build that the lock would refuse anyway."""
    with build_lock(root, name):
        pass
