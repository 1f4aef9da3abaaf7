"""Scale-out figures: Ray indexing throughput, sharded exact requery at millions of rows, memory per actor.

Prints ``name=value`` lines::

    index_local_items_per_s=...          # core.indexing on a synthetic folder of tiny PNGs, pixels embedder
    index_ray_1_actors_items_per_s=...   # --engine ray, local Ray with 2 CPUs, 1 and 2 embedding actors
    index_ray_2_actors_items_per_s=...
    requery_rows=...                     # rows x 384, float16, synthetic (--rows; capped to fit free memory)
    requery_p50_ms_in_process=...        # exact top-20 (candidates + float64 rescoring), one process
    requery_p50_ms_ray_2_actors=...      # the same over 2 Ray actors holding half each
    actor_matrix_mb=... actor_rss_mb=... # memory per actor
    exact=true                           # both returned the same rows every time

Run: ``python benchmarks/scale_out.py [--rows 10000000] [--index-items 4000] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIM = 384
K = 20


def make_folder(root: Path, n: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")
    return root


def index_figures(n_items: int) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.scale.ray_index import build_index_ray
    from core.sources import parse_source
    from core.store import Store

    with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
        folder = make_folder(Path(tmp) / "images", n_items)
        start = time.perf_counter()
        build_index("bench", parse_source(f"folder:{folder}"), load_embedder("pixels"), store=Store(Path(tmp) / "l"))
        print(f"index_local_items_per_s={n_items / (time.perf_counter() - start):.0f}", flush=True)
        for actors in (1, 2):
            start = time.perf_counter()
            build_index_ray("bench", parse_source(f"folder:{folder}"), "pixels", Store(Path(tmp) / f"r{actors}"),
                            actors=actors)
            print(f"index_ray_{actors}_actors_items_per_s={n_items / (time.perf_counter() - start):.0f}", flush=True)


def fit_rows(wanted: int) -> int:
    """The largest row count whose float16 matrix fits twice (in-process, then the actors) in a third of
    the memory free now (divided by 2.5), so other work on the machine keeps running."""
    import psutil

    per_row = DIM * 2 * 1.3  # matrix + scratch
    budget = psutil.virtual_memory().available / 2.5
    return int(min(wanted, budget // per_row) // 100_000 * 100_000)


def requery_figures(rows: int, queries: int) -> None:
    from core.scale.exact import exact_top
    from core.scale.ray_shards import BLOCK_ROWS, RayShardBackend, ShardSpec, _Shard, connect_ray

    print(f"requery_rows={rows}", flush=True)
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal(DIM).astype(np.float32) * 3 for _ in range(queries)]
    excluded = np.sort(rng.choice(rows, 500, replace=False))

    local = _Shard(ShardSpec(offset=0, count=rows, dim=DIM, seed=7))
    times, expected = [], []
    for w in ws:
        start = time.perf_counter()
        cand, vecs = local.candidates(w, 0.1, K, "score", None, excluded)
        expected.append(exact_top(cand, vecs, w, 0.1, K, "score")[0])
        times.append(time.perf_counter() - start)
    print(f"requery_p50_ms_in_process={1000 * float(np.median(times)):.1f}", flush=True)
    print(f"in_process_matrix_mb={local.matrix.nbytes / 2**20:.0f}", flush=True)
    del local

    ray = connect_ray(None, num_cpus=2)
    half = rows // 2 // BLOCK_ROWS * BLOCK_ROWS  # synthetic shards start on block boundaries: same rows
    specs = [ShardSpec(offset=0, count=half, dim=DIM, seed=7),
             ShardSpec(offset=half, count=rows - half, dim=DIM, seed=7)]
    backend = RayShardBackend(specs, num_cpus=1)
    times, same = [], True
    for w, rows_expected in zip(ws, expected, strict=True):
        start = time.perf_counter()
        rows_got = backend.top_k(w, 0.1, K, "score", None, excluded)[0]
        times.append(time.perf_counter() - start)
        same = same and np.array_equal(rows_got, rows_expected)
    print(f"requery_p50_ms_ray_2_actors={1000 * float(np.median(times)):.1f}", flush=True)
    for info in backend.infos:
        print(f"actor_matrix_mb={info['bytes'] / 2**20:.0f} actor_rss_mb={info['rss'] / 2**20:.0f}", flush=True)
    print(f"exact={'true' if same else 'false'}", flush=True)
    backend.close()
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--index-items", type=int, default=4000)
    parser.add_argument("--queries", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1M rows, 1,000 items")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.index_items = min(args.rows, 1_000_000), min(args.index_items, 1000)
    from core.scale.ray_shards import connect_ray

    connect_ray(None, num_cpus=2)
    index_figures(args.index_items)
    import ray

    ray.shutdown()
    rows = fit_rows(args.rows)
    if rows < args.rows:
        print(f"requery_rows_wanted={args.rows} (capped to fit the memory free now)", flush=True)
    requery_figures(rows, args.queries)


if __name__ == "__main__":
    main()
