"""Fit an index's map in a child process, reporting progress line by line; the app's fit job runs this.

Why a process and not the job's thread: measured in the Streamlit server, a digits fit that takes
~13 s in a fresh interpreter took 90-300 s in-process. numba compiles UMAP's kernels at first use,
which allocates heavily, and every cyclic garbage collection then walks the server's whole heap
(Streamlit, LanceDB, torch, plotly); numba's kernels also hold the GIL while they run, which stalls
the server. A child process has a small heap, its own GIL, and Cancel can simply terminate it.

Protocol (stdout, one line each): ``PROGRESS <fraction> <stage>``, then ``DONE <seconds>`` or
``ERROR <message>`` (exit status 1). The child writes the cached ``.npz`` itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import FewshotError
from core.projection import (
    DEFAULT_SAMPLE_THRESHOLD,
    FitCancelled,
    FitProgress,
    Projection,
    load_projection,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKGROUND_NICENESS = 10


def fit_in_subprocess(
    root: Path | str,
    index: str,
    view,
    *,
    sample_threshold: int = DEFAULT_SAMPLE_THRESHOLD,
    n_epochs: int | None = None,
    progress: Callable[[FitProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    poll_s: float = 0.25,
) -> Projection:
    """Run ``python -m core.projection_fit`` for ``index`` and return the map it cached for ``view``.

    Raises ``FitCancelled`` (the child is terminated) or ``FewshotError`` with the child's message.
    """
    command = [sys.executable, "-m", "core.projection_fit", "--root", str(root), "--index", index,
               "--sample-threshold", str(int(sample_threshold))]
    if n_epochs:
        command += ["--epochs", str(int(n_epochs))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True, bufsize=1)
    assert process.stdout is not None
    error = None
    try:
        while True:
            if should_cancel is not None and should_cancel():
                raise FitCancelled("map fit cancelled")
            ready, _, _ = select.select([process.stdout], [], [], poll_s)
            if not ready:
                continue
            line = process.stdout.readline()
            if not line:
                break  # the child closed its output: it has ended
            kind, _, rest = line.strip().partition(" ")
            if kind == "PROGRESS" and progress is not None:
                fraction, _, stage = rest.partition(" ")
                progress(FitProgress(stage, float(fraction)))
            elif kind == "ERROR":
                error = rest
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.returncode != 0 or error:
        raise FewshotError(error or f"the map fit process ended with status {process.returncode} (see the server log)")
    projection = load_projection(index, view, root)
    if projection is None:
        raise FewshotError("the index changed while its map was being computed: compute it again")
    return projection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--sample-threshold", type=int, default=DEFAULT_SAMPLE_THRESHOLD)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--status-file", default=None, help="write progress to this fit.json (detached fits)")
    args = parser.parse_args(argv)
    status = _StatusWriter(args.root, args.index) if args.status_file else None
    if status is not None:
        with contextlib.suppress(OSError):  # a background fit yields the CPU to the person labelling meanwhile
            os.nice(BACKGROUND_NICENESS)

    def report(p: FitProgress) -> None:
        print(f"PROGRESS {p.fraction:.4f} {p.stage}", flush=True)
        if status is not None:
            status.update(p.stage, p.fraction)

    try:
        from core.projection import compute_projection
        from core.store import Store

        view = Store(args.root).vectors(args.index)
        projection = compute_projection(args.index, view, args.root, sample_threshold=args.sample_threshold,
                                        n_epochs=args.epochs, progress=report)
    except FewshotError as exc:
        print(f"ERROR {' '.join(str(exc).split())}", flush=True)
        if status is not None:
            status.finish("failed", str(exc))
        return 1
    except Exception as exc:  # the page must hear about any failure, not wait on a dead fit
        if status is not None:
            status.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    if status is not None:
        status.finish("done")
    print(f"DONE {projection.fit_seconds:.2f}", flush=True)
    return 0


class _StatusWriter:
    """Progress into ``fit.json`` at most every 0.5 s (the page polls it)."""

    def __init__(self, root: str, index: str) -> None:
        from core.projection_auto import read_status

        self.root, self.index, self.last = root, index, 0.0
        self.status = read_status(index, root)
        if self.status is not None:
            self.status.pid = os.getpid()

    def update(self, stage: str, fraction: float, force: bool = False) -> None:
        import time

        from core.projection_auto import fit_dir, write_status

        if self.status is None or (not force and time.time() - self.last < 0.5):
            return
        if not fit_dir(self.index, self.root).is_dir():
            raise SystemExit("the workspace of this fit was deleted: nothing to fit for")
        self.status.stage, self.status.fraction, self.last = stage, fraction, time.time()
        write_status(self.index, self.root, self.status)

    def finish(self, state: str, error: str | None = None) -> None:
        if self.status is not None:
            self.status.state, self.status.error = state, error
            self.update(state, 1.0 if state == "done" else self.status.fraction, force=True)


if __name__ == "__main__":
    sys.exit(main())
