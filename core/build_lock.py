"""One build of an index at a time: a second one started while the first runs is refused, not run twice.

Two builds of the same index at once (two terminals, the app and the CLI) each saw the same ids as new
and appended every row twice; batches then showed items twice. A build holds an exclusive, non-blocking
``fcntl.flock`` on a file in the workspace; the kernel releases it when the process ends, even on SIGKILL,
so a crashed build never blocks the next one. Object storage has no such lock that survives a build of
hours, so there a build holds a renewed lease (``_bucket_lease``).
"""

from __future__ import annotations

import contextlib
import threading
import time
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
        if path is None and getattr(root, "is_local", True) is False:  # a bucket (core.storage.Location)
            with _bucket_lease(root, name):
                yield
            return
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


#: A bucket lease is renewed this often; one not renewed for ``STALE_LEASE_S`` belongs to a build that died.
RENEW_LEASE_S = 20.0
STALE_LEASE_S = 90.0


@contextlib.contextmanager
def _bucket_lease(root, name: str) -> Iterator[None]:
    """Object storage has no lock a build can hold for hours, so a build takes a lease: a Lance dataset created
    with ``mode="create"`` (exactly one creator wins, a compare-and-set), holding the time it was last renewed.
    A thread renews it while the build runs; a second build finds it fresh and is refused at once; one not
    renewed for ``STALE_LEASE_S`` (a killed build) is broken. Two builds of one bucket index at once used to
    store every item twice and call the index complete (an outside tester)."""
    import hashlib

    import lance
    import pyarrow as pa

    from core.storage import drop_dataset

    where = root.child(f"_build_{hashlib.sha256(name.encode()).hexdigest()[:24]}.lance")
    options = where.storage_options or None

    def stamp(mode: str) -> None:
        lance.write_dataset(pa.table({"renewed": [time.time()]}), where.uri, mode=mode, storage_options=options)

    for _attempt in range(3):
        try:
            stamp("create")
            break
        except OSError as exc:
            if "already exists" not in str(exc).lower():
                raise
        try:
            renewed = float(lance.dataset(where.uri, storage_options=options).to_table()["renewed"][-1].as_py())
        except Exception:  # noqa: BLE001 - released while we looked: try again
            continue
        if time.time() - renewed <= STALE_LEASE_S:
            raise _refusal(name)
        drop_dataset(where)  # its build died without releasing it
    else:
        raise _refusal(name)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_LEASE_S):
            with contextlib.suppress(Exception):  # a missed renewal is retried; 4 in a row make it stale
                stamp("overwrite")

    renewer = threading.Thread(target=renew, name=f"build-lease-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        drop_dataset(where)


def refuse_if_building(root: Path | str, name: str) -> None:
    """``BuildInProgress`` now, before a model loads for a build that the lock would refuse anyway."""
    with build_lock(root, name):
        pass
