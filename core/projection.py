"""A 2-D map of an index: a UMAP fit cached on disk, a PCA stand-in, and placing ``w`` on it.

Why this shape (DESIGN.md, measured on 2 cores): ``import umap`` costs ~11 s cold and the first fit in
a process another ~10-30 s of numba compilation, so the fit runs once per index content, in a
background job, and its positions are cached as plain arrays in
``<workspace>/projections/<index>/v<table version>.npz`` (loaded with ``allow_pickle=False``: no
pickled UMAP model a user could swap). A fingerprint of the ids and a sample of the vectors is stored
with the positions, so a table version bump that changed nothing (compaction) reuses the file, and a
rebuilt index whose version number happens to repeat does not.

New points never need the UMAP model: they are placed by kNN in the embedding space, at the
softmax(similarity / ``TEMPERATURE``)-weighted mean of the 2-D positions of their ``k`` most similar
fitted items. Above ``sample_threshold`` items UMAP is fitted on a random sample and every other item
is placed that way (a chunked matmul plus top-k; deterministic, no numba compile).

``w`` is a direction, not a data point, so it is placed where its top-scoring items are: the same
weighted mean over the ``DIRECTION_K`` items with the highest ``w . x``. That puts the marker in the
region the classifier currently ranks first, which is what a person inspecting the map wants to see
(placing ``w / |w|`` as if it were an item would compare it with items it is not similar to: the
cosine of a weight vector with data is typically small everywhere).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FewshotError
from core.projection_knn import EXACT_KNN_MAX, exact_knn
from core.storage import Location, as_location

DEFAULT_SAMPLE_THRESHOLD = 20_000
DEFAULT_EPOCHS = 200  # UMAP's own default below 10k rows is 500: 2.5x the time for a layout a person can't tell apart
PLACE_K = 10  # neighbours used to place an item that UMAP did not see
DIRECTION_K = 20  # top-scoring items used to place a weight vector
TEMPERATURE = 0.05  # softmax temperature over cosine similarities for the placement weights
PCA_FIT_ROWS = 20_000  # the PCA stand-in is fitted on at most this many rows, then applied to all
_CHUNK = 4096
FORMAT = 1

Progress = Callable[["FitProgress"], None]


@dataclass
class FitProgress:
    """Where a fit is: a stage name and the overall fraction done (0..1)."""

    stage: str
    fraction: float

    def describe(self) -> str:
        return f"{self.stage} ({self.fraction:.0%})"


@dataclass
class Projection:
    """2-D positions of every item of one index version.

    xy: (n, 2) float32, rows in the order of ``Store.vectors(index)``. method: "umap" or "pca".
    n_fitted: rows UMAP was fitted on (the rest were placed by kNN).
    """

    xy: np.ndarray
    method: str
    version: int
    fingerprint: str
    n_fitted: int
    fit_seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return int(self.xy.shape[0])


class FitCancelled(FewshotError):
    """The person cancelled the map fit; nothing was saved."""


# ----- cache on disk (a local folder or a bucket: core.storage.Location) ------------------------
def projection_folder(index: str, root: Any = None) -> Location:
    """One folder per index, so index names containing ``-`` cannot collide."""
    from core.store import validate_index_name

    return as_location(root).child("projections", validate_index_name(index))


def projection_location(index: str, version: int, root: Any = None) -> Location:
    return projection_folder(index, root).child(f"v{int(version)}.npz")


def projection_dir(index: str, root: Path | str | None = None) -> Path:
    """The cache folder of a local workspace (``projection_folder`` works for buckets too)."""
    return projection_folder(index, root).path


def projection_path(index: str, version: int, root: Path | str | None = None) -> Path:
    return projection_location(index, version, root).path


def fingerprint(ids: np.ndarray, matrix: np.ndarray) -> str:
    """Hash of the ids (in row order), the shape and ~256 evenly spaced vectors: cheap (~20 ms at 100k)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{matrix.shape[0]}x{matrix.shape[1]}".encode())
    digest.update("\n".join(map(str, ids)).encode("utf-8", "surrogatepass"))
    if len(matrix):
        rows = np.unique(np.linspace(0, len(matrix) - 1, min(256, len(matrix))).astype(np.int64))
        digest.update(np.ascontiguousarray(matrix[rows], dtype=np.float32).tobytes())
    return digest.hexdigest()


def save_projection(index: str, projection: Projection, root: Any = None) -> Location:
    """Write atomically (temp file + rename locally, one PUT in a bucket) and drop this index's older files."""
    folder = projection_folder(index, root)
    target = projection_location(index, projection.version, root)
    meta = {
        "format": FORMAT, "method": projection.method, "version": int(projection.version),
        "fingerprint": projection.fingerprint, "n_fitted": int(projection.n_fitted),
        "fit_seconds": float(projection.fit_seconds), "params": projection.params,
    }
    buffer = io.BytesIO()
    np.savez(buffer, xy=projection.xy.astype(np.float32), meta=np.asarray(json.dumps(meta)))
    target.write_bytes(buffer.getvalue())
    keep = f"v{int(projection.version)}.npz"
    for name in folder.list_names():
        if name.startswith("v") and name.endswith(".npz") and name != keep:
            folder.child(name).delete()
    return target


def _read(where: Location | Path) -> Projection | None:
    try:
        data_bytes = where.read_bytes()
        if data_bytes is None:
            return None
        with np.load(io.BytesIO(data_bytes), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            xy = np.asarray(data["xy"], dtype=np.float32)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # damaged or foreign file: refit
    if meta.get("format") != FORMAT or xy.ndim != 2 or xy.shape[1] != 2:
        return None
    return Projection(xy=xy, method=meta["method"], version=int(meta["version"]), fingerprint=meta["fingerprint"],
                      n_fitted=int(meta["n_fitted"]), fit_seconds=float(meta["fit_seconds"]),
                      params=dict(meta.get("params") or {}))


def load_projection(index: str, view: Any, root: Any = None) -> Projection | None:
    """The cached map for ``view`` (a ``VectorView``), or None when the index changed since the fit.

    The fingerprint is checked even when the version matches: a deleted and rebuilt index restarts
    its version numbers.
    """
    folder = projection_folder(index, root)
    names = [n for n in folder.list_names() if n.startswith("v") and n.endswith(".npz")]
    if not names:
        return None
    current = fingerprint(view.ids, view.matrix)
    wanted = f"v{int(view.version)}.npz"
    for name in ([wanted] if wanted in names else []) + sorted(n for n in names if n != wanted):
        projection = _read(folder.child(name))
        if projection is None or projection.fingerprint != current or projection.n_items != len(view.ids):
            continue
        if name != wanted:  # same content under a new table version (e.g. after compaction)
            projection.version = int(view.version)
            save_projection(index, projection, root)
        return projection
    return None


# ----- placing points ---------------------------------------------------------------------------
def _topk_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, columns) of the k largest entries of each row; torch.topk is ~20x faster than argpartition."""
    k = min(k, sims.shape[1])
    try:
        import torch

        values, cols = torch.topk(torch.from_numpy(np.ascontiguousarray(sims)), k, dim=1)
        return values.numpy(), cols.numpy()
    except ImportError:  # pragma: no cover - torch is a runtime dependency
        cols = np.argpartition(sims, -k, axis=1)[:, -k:]
        return np.take_along_axis(sims, cols, axis=1), cols


def _weighted_positions(sims: np.ndarray, cols: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """softmax(sims / TEMPERATURE)-weighted mean of ``xy[cols]`` per row. sims, cols: (m, k)."""
    logits = (sims - sims.max(axis=1, keepdims=True)) / TEMPERATURE
    weights = np.exp(logits.astype(np.float64))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("mk,mkd->md", weights, xy[cols].astype(np.float64)).astype(np.float32)


def knn_place(
    queries: np.ndarray,
    reference: np.ndarray,
    reference_xy: np.ndarray,
    k: int = PLACE_K,
    should_cancel: Callable[[], bool] | None = None,
    on_chunk: Callable[[float], None] | None = None,
) -> np.ndarray:
    """2-D positions for ``queries`` (m, dim) from their ``k`` most similar ``reference`` rows (s, dim).

    reference_xy: (s, 2). Returns (m, 2) float32. Exact (chunked matmul), deterministic.
    """
    out = np.empty((len(queries), 2), dtype=np.float32)
    for start in range(0, len(queries), _CHUNK):
        if should_cancel is not None and should_cancel():
            raise FitCancelled("map fit cancelled")
        block = queries[start : start + _CHUNK]
        sims, cols = _topk_rows(block @ reference.T, k)
        out[start : start + len(block)] = _weighted_positions(sims, cols, reference_xy)
        if on_chunk is not None:
            on_chunk(min(1.0, (start + len(block)) / len(queries)))
    return out


def place_directions(W: np.ndarray, matrix: np.ndarray, xy: np.ndarray, k: int = DIRECTION_K) -> np.ndarray:
    """Map positions of weight vectors: each at the weighted mean of its ``k`` top-scoring items.

    W: (r, dim) or (dim,); matrix: (n, dim) unit rows; xy: (n, 2). Returns (r, 2) float32, NaN rows
    for zero vectors (no direction yet, e.g. round 0 of a concept started from a diverse sample).
    """
    W = np.atleast_2d(np.asarray(W, dtype=np.float32))
    norms = np.linalg.norm(W, axis=1)
    out = np.full((len(W), 2), np.nan, dtype=np.float32)
    live = np.flatnonzero(norms > 1e-12)
    if len(live) == 0 or len(matrix) == 0:
        return out
    sims = (matrix @ (W[live] / norms[live, None]).T).T  # (r, n) cosines: one matmul for the whole path
    values, cols = _topk_rows(sims, k)
    out[live] = _weighted_positions(values, cols, xy)
    return out


# ----- fitting ----------------------------------------------------------------------------------
def pca_view(matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """An instant 2-D stand-in (PCA, fitted on at most ``PCA_FIT_ROWS`` rows). Returns (n, 2) float32."""
    from sklearn.decomposition import PCA

    if len(matrix) < 3:
        return np.zeros((len(matrix), 2), dtype=np.float32)
    rng = np.random.default_rng(seed)
    fit_rows = matrix if len(matrix) <= PCA_FIT_ROWS else matrix[np.sort(rng.choice(len(matrix), PCA_FIT_ROWS,
                                                                                     replace=False))]
    pca = PCA(n_components=2, svd_solver="randomized", random_state=seed).fit(fit_rows)
    return pca.transform(matrix).astype(np.float32)


class _EpochFile:
    """A file-like for UMAP's tqdm bar (``bar_format='{n}/{total}'``): reports epochs, raises on cancel."""

    def __init__(self, report: Callable[[float], None], should_cancel: Callable[[], bool] | None) -> None:
        self.report, self.should_cancel = report, should_cancel

    def write(self, text: str) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise FitCancelled("map fit cancelled")
        done, _, total = text.strip().partition("/")
        if done.isdigit() and total.isdigit() and int(total):
            self.report(int(done) / int(total))

    def flush(self) -> None:
        pass


def fit_umap(
    matrix: np.ndarray,
    *,
    sample_threshold: int = DEFAULT_SAMPLE_THRESHOLD,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, int]:
    """UMAP (cosine) positions for every row of ``matrix`` (n, dim); returns (xy (n, 2) float32, n_fitted).

    Above ``sample_threshold`` rows UMAP sees a random sample and the rest are placed by ``knn_place``.
    ``seed`` None lets UMAP use both cores (a fixed seed forces one thread, ~2x slower when warm).
    """
    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(FitProgress(stage, float(min(max(fraction, 0.0), 1.0))))

    def check() -> None:
        if should_cancel is not None and should_cancel():
            raise FitCancelled("map fit cancelled")

    n = len(matrix)
    if n < 3:
        raise FewshotError(f"a map needs at least 3 items; this index has {n}")
    rng = np.random.default_rng(seed if seed is not None else 0)
    sampled = n > max(int(sample_threshold), n_neighbors + 2)
    fit_rows = np.sort(rng.choice(n, int(sample_threshold), replace=False)) if sampled else np.arange(n)
    layout_end = 0.8 if sampled else 1.0
    report("loading UMAP (the first time takes a while)", 0.0)
    import umap  # lazy: ~11 s cold, never at app start

    check()
    knn = (None, None, None)
    if len(fit_rows) <= EXACT_KNN_MAX:  # exact neighbours from one blocked matmul: no pynndescent search
        k = min(n_neighbors, len(fit_rows) - 1)
        stage = f"finding neighbours of {len(fit_rows):,} items (exact)"
        idx, dist = exact_knn(matrix[fit_rows], k, lambda f: (report(stage, 0.1 + 0.15 * f), check()))
        knn = (idx, dist, None)
    else:
        report(f"finding neighbours of {len(fit_rows):,} items", 0.1)
    epochs_file = _EpochFile(lambda f: report("optimising the layout", 0.3 + (layout_end - 0.3) * f), should_cancel)
    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, len(fit_rows) - 1), min_dist=min_dist, metric="cosine",
        n_epochs=n_epochs or DEFAULT_EPOCHS,
        random_state=seed, n_jobs=1 if seed is not None else -1, low_memory=True, precomputed_knn=knn,
        tqdm_kwds={"disable": False, "file": epochs_file, "bar_format": "{n}/{total}", "mininterval": 0.25},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs/random_state and spectral-init notices
        fitted_xy = reducer.fit_transform(matrix[fit_rows]).astype(np.float32)
    check()
    if not sampled:
        return fitted_xy, n
    xy = np.empty((n, 2), dtype=np.float32)
    xy[fit_rows] = fitted_xy
    rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    report(f"placing the other {len(rest):,} items", layout_end)
    xy[rest] = knn_place(matrix[rest], matrix[fit_rows], fitted_xy, should_cancel=should_cancel,
                         on_chunk=lambda f: report(f"placing the other {len(rest):,} items",
                                                   layout_end + (1 - layout_end) * f))
    return xy, len(fit_rows)


def compute_projection(
    index: str,
    view: Any,
    root: Path | str | None = None,
    *,
    sample_threshold: int = DEFAULT_SAMPLE_THRESHOLD,
    n_epochs: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Projection:
    """Fit the UMAP map of ``view`` (a ``VectorView``) and cache it; what the app's fit job runs."""
    started = time.perf_counter()
    xy, n_fitted = fit_umap(view.matrix, sample_threshold=sample_threshold, n_epochs=n_epochs, seed=seed,
                            progress=progress, should_cancel=should_cancel)
    projection = Projection(
        xy=xy, method="umap", version=int(view.version), fingerprint=fingerprint(view.ids, view.matrix),
        n_fitted=n_fitted, fit_seconds=time.perf_counter() - started,
        params={"sample_threshold": int(sample_threshold), "n_epochs": n_epochs, "metric": "cosine",
                "place_k": PLACE_K, "temperature": TEMPERATURE,
                "knn": "exact" if n_fitted <= EXACT_KNN_MAX else "nndescent"},
    )
    save_projection(index, projection, root)
    if progress is not None:
        progress(FitProgress("done", 1.0))
    return projection


def get_projection(index: str, view: Any, root: Path | str | None = None, **fit_options: Any) -> Projection:
    """The cached map, fitting (and caching) it first when the index changed or none exists."""
    return load_projection(index, view, root) or compute_projection(index, view, root, **fit_options)
