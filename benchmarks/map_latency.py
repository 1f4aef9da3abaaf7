"""Map page latency: UMAP fit (cold and warm), page load from the cached map, placing a new ``w``.

Synthetic data: 512-d unit vectors in 12 clusters, 10k and 100k items. Prints ``name=value`` lines::

    fit_cold_s_10k=...        # fresh interpreter: `import umap` + first fit (numba compiles) + caching
    umap_import_s_10k=...     # the import alone, inside the cold figure
    fit_warm_s_10k=...        # a second fit in the same process (compiled)
    fit_sampled_on_100k=...   # rows UMAP saw (the rest placed by kNN, sample threshold 20,000)
    page_load_ms_10k=...      # p50: load the cached .npz (+ fingerprint check), scores, hover texts,
                              #   trajectory of 10 rounds, the Plotly figure and its JSON (what Streamlit sends)
    figure_json_mb_10k=...
    place_w_ms_10k=...        # p50: one new w placed (matvec + top-20 + weighted mean)

Targets (DESIGN.md, 2 cores): page load from cache <= 2 s, placing a new w <= 100 ms. The fits run in
a child process (``--child``) so the cold figure really is cold. ``--quick`` runs 10k only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM, CLUSTERS, ROUNDS = 512, 12, 10


def synthetic(n: int, seed: int = 0) -> SimpleNamespace:
    """A VectorView-like object: ids, split, labels, matrix (n, 512) unit rows in clusters, version."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    labels = rng.integers(0, CLUSTERS, n)
    matrix = centers[labels] + rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(0.05)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return SimpleNamespace(
        ids=np.asarray([f"item-{i}" for i in range(n)], dtype=object),
        split=np.where(rng.random(n) < 0.2, "validation", "train").astype(object),
        labels=np.asarray([str(v) for v in labels], dtype=object),
        matrix=np.ascontiguousarray(matrix, dtype=np.float32), version=1, centers=centers,
    )


def child(n: int, root: str) -> None:
    """Cold fit (with the import), warm fit, and the cached projection under ``root``."""
    view = synthetic(n)
    started = time.perf_counter()
    import umap  # noqa: F401  (timed: the cold cost the app pays once per server)

    import_s = time.perf_counter() - started
    from core.projection import compute_projection, fit_umap

    projection = compute_projection("bench", view, root)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    fit_umap(view.matrix)
    warm_s = time.perf_counter() - started
    print("RESULT=" + json.dumps({"import_s": import_s, "cold_s": cold_s, "warm_s": warm_s,
                                  "n_fitted": projection.n_fitted}), flush=True)


def run_child(n: int, root: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(n), root], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT="))
    return json.loads(line[len("RESULT="):])


def page_load(view: SimpleNamespace, root: str, W: np.ndarray) -> tuple[float, float]:
    """Seconds and JSON megabytes for what the Map page does from the cached map."""
    import plotly.io as pio

    from app.map_figure import Trajectory, build_map_figure, draw_rows, hover_texts
    from core.projection import load_projection, place_directions
    from core.vectors import score_all

    started = time.perf_counter()
    projection = load_projection("bench", view, root)
    assert projection is not None
    scores = score_all(view.matrix, W[-1], 0.0)
    rows = draw_rows(len(view.ids))
    hover = hover_texts(rows, view.ids, view.labels, scores, None)
    xy = place_directions(W, view.matrix, projection.xy)
    path = Trajectory(xy, list(range(len(W))), [10 * i for i in range(len(W))], [None] * len(W))
    fig = build_map_figure(projection.xy, rows, hover, "Score", view.labels, scores, trajectory=path)
    spec = pio.to_json(fig.to_dict(), validate=False)  # what st.plotly_chart does with a Figure
    return time.perf_counter() - started, len(spec) / 1e6


def measure(n: int) -> dict[str, float]:
    from core.projection import place_directions

    name = f"{n // 1000}k"
    view = synthetic(n)
    rng = np.random.default_rng(1)
    target = view.centers[3]
    W = np.stack([target * (i / ROUNDS) + rng.standard_normal(DIM).astype(np.float32) * 0.05
                  for i in range(1, ROUNDS + 1)]).astype(np.float32)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as root:
        fit = run_child(n, root)
        out[f"fit_cold_s_{name}"] = round(fit["cold_s"], 1)
        out[f"umap_import_s_{name}"] = round(fit["import_s"], 1)
        out[f"fit_warm_s_{name}"] = round(fit["warm_s"], 1)
        out[f"fit_sampled_on_{name}"] = fit["n_fitted"]
        loads = [page_load(view, root, W) for _ in range(5)]
        out[f"page_load_ms_{name}"] = round(statistics.median(t for t, _ in loads) * 1000, 1)
        out[f"figure_json_mb_{name}"] = round(loads[0][1], 2)
        from core.projection import load_projection

        xy = load_projection("bench", view, root).xy
        place_directions(W[-1], view.matrix, xy)  # warm-up (torch import)
        times = []
        for i in range(20):
            started = time.perf_counter()
            place_directions(W[i % ROUNDS], view.matrix, xy)
            times.append(time.perf_counter() - started)
        out[f"place_w_ms_{name}"] = round(statistics.median(times) * 1000, 2)
        placed = place_directions(target, view.matrix, xy)[0]
        cluster = xy[view.labels == "3"].mean(axis=0)
        out[f"place_w_error_{name}"] = round(float(np.linalg.norm(placed - cluster) / np.ptp(xy, axis=0).max()), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k items only")
    parser.add_argument("--child", nargs=2, metavar=("N", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1])
        return
    for n in (10_000,) if args.quick else (10_000, 100_000):
        for key, value in measure(n).items():
            print(f"{key}={value}", flush=True)


if __name__ == "__main__":
    main()
