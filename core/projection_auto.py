"""UMAP without asking: a detached fit starts when an index is built (or its map is first opened).

Why detached, with a status file: the fit must outlive the call that started it (the CLI's
``index`` command returns, the page reruns, the server restarts) and anybody (the page, the CLI)
must see its progress. The child (``python -m core.projection_fit --status-file ...``) writes
``<workspace>/projections/<index>/fit.json`` as it goes: state, pid, stage, fraction, and the
fingerprint of the content it fits, so a rebuilt index starts a new fit by itself.

The status file, its lock and the fit's log name a local process and use a file lock, so they stay on
this machine: beside the map cache for a local workspace, and under ``FEWSHOT_LOCAL_DIR`` (``map-fits/
<hash of the workspace URI>/<index>``) for a workspace in a bucket. The map itself (``v<N>.npz``) is
written to the workspace in both cases (``core.projection.save_projection``).

``FEWSHOT_AUTO_MAP=0`` turns the automatic start off (the test suite does, so that it does not spawn
fits on 2 shared cores; the tests of this feature turn it back on).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import FewshotError
from core.files import write_atomic
from core.projection import DEFAULT_SAMPLE_THRESHOLD, fingerprint, load_projection, projection_dir
from core.storage import as_location

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
IMPORT_S = 12.0  # cold `import umap` + numba on 2 cores (DESIGN.md), before any progress is known
SECONDS_PER_10K = 25.0  # measured fit time per 10k fitted rows with the exact neighbour search, 2 cores


@dataclass
class FitStatus:
    """What the background fit of one index is doing (``fit.json``)."""

    state: str
    pid: int
    fingerprint: str
    n_items: int
    n_fit: int
    started: float
    stage: str = "starting"
    fraction: float = 0.0
    error: str | None = None
    updated: float = 0.0

    @property
    def alive(self) -> bool:
        """The fit's process still runs (a killed server or a crash leaves a stale RUNNING file)."""
        if self.state != RUNNING:
            return False
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return not _is_zombie(self.pid)

    def seconds_left(self, now: float | None = None) -> float:
        """Time left: from the pace so far once the layout runs, else from a measured prior."""
        elapsed = (now or time.time()) - self.started
        prior = IMPORT_S + SECONDS_PER_10K * self.n_fit / 10_000 + 2.0 * max(self.n_items - self.n_fit, 0) / 100_000
        if self.fraction >= 0.1:  # the pace so far (the layout's epochs are evenly paced)
            return max(1.0, elapsed * (1 - self.fraction) / self.fraction)
        return max(prior - elapsed, 0.5 * prior)  # a slow machine: never "ready in 1 s" for minutes


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def fit_dir(index: str, root: Path | str) -> Path:
    """The local folder of ``index``'s background fit (status, lock, log): see the module docstring."""
    location = as_location(root)
    if location.is_local:
        return projection_dir(index, location)
    from core.config import workspace
    from core.store import validate_index_name

    key = hashlib.blake2b(location.uri.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return workspace() / "map-fits" / key / validate_index_name(index)


def status_path(index: str, root: Path | str) -> Path:
    return fit_dir(index, root) / "fit.json"


def read_status(index: str, root: Path | str) -> FitStatus | None:
    """The last written status of ``index``'s fit, or None (never started, or an unreadable file)."""
    try:
        data = json.loads(status_path(index, root).read_text())
        return FitStatus(**{k: data[k] for k in FitStatus.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_status(index: str, root: Path | str, status: FitStatus) -> None:
    status.updated = time.time()
    write_atomic(status_path(index, root), json.dumps(asdict(status)).encode())


def auto_enabled() -> bool:
    return os.environ.get("FEWSHOT_AUTO_MAP", "1").strip().lower() not in ("0", "false", "no", "off")


def start_background_fit(root: Path | str, index: str, view=None, *, sample_threshold: int = DEFAULT_SAMPLE_THRESHOLD,
                         n_epochs: int | None = None, force: bool = False) -> FitStatus | None:
    """Start the detached fit of ``index`` unless its map exists or a fit for this content runs or failed.

    ``force`` refits even when a map or a failed attempt exists (the page's Recompute / Retry). Returns
    the running fit's status, or None when nothing needs to run. One start at a time (a file lock):
    two tabs opening a fresh index start one fit.
    """
    from core.store import Store

    view = view if view is not None else Store(root).vectors(index)
    if len(view.ids) < 3:
        return None
    folder = fit_dir(index, root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".fit.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_status(index, root)
        content = fingerprint(view.ids, view.matrix)
        if current is not None and current.alive:
            return current
        if not force:
            if load_projection(index, view, root) is not None:
                return None
            if current is not None and current.fingerprint == content and current.state in (FAILED, CANCELLED):
                return None  # a person decides whether to retry
        command = [sys.executable, "-m", "core.projection_fit", "--root", str(root), "--index", index,
                   "--sample-threshold", str(int(sample_threshold)), "--status-file", str(status_path(index, root))]
        if n_epochs:
            command += ["--epochs", str(int(n_epochs))]
        log = open(folder / "fit.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        status = FitStatus(RUNNING, process.pid, content, len(view.ids), min(len(view.ids), int(sample_threshold)),
                           time.time())
        write_status(index, root, status)
        _children.append(process)
        return status


_children: list[subprocess.Popen] = []  # reaped by ``reap`` so finished fits leave no zombies


def reap() -> None:
    for process in list(_children):
        if process.poll() is not None:
            _children.remove(process)


def cancel_background_fit(root: Path | str, index: str) -> bool:
    """Stop the running fit (nothing is saved). Returns whether one was running."""
    status = read_status(index, root)
    if status is None or not status.alive:
        return False
    try:
        os.killpg(status.pid, 15)
    except (ProcessLookupError, PermissionError):
        os.kill(status.pid, 15)
    status.state, status.stage = CANCELLED, "cancelled"
    write_status(index, root, status)
    reap()
    return True


def after_index_built(root: Path | str, index: str) -> FitStatus | None:
    """Called by ``core.indexing.build_index`` when an index is complete: start its map (best effort)."""
    if not auto_enabled():
        return None
    try:
        return start_background_fit(root, index)
    except (OSError, FewshotError) as exc:  # a map is a convenience: never fail an index build for it
        print(f"note: the map of {index!r} was not started ({' '.join(str(exc).split())}); "
              "the Map page computes it when opened", file=sys.stderr)
        return None
