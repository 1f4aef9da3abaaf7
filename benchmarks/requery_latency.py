"""Requery latency: next batch for ``w`` over 100k and 1M x 512 unit vectors, exact, on CPU.

Prints one figure per line as ``name=value``::

    requery_p50_ms_1M_nearest_k10=...    # p50 / p95 per size, strategy and k (k=10 and k=50)
    retrain_ms_1000=...                  # p50 of LinearHead.fit on 1,000 ratings x 512 dims
    exact=true                           # every strategy checked once per size against brute force

Each timed call includes the scoring matvec (``score_all`` into a preallocated buffer) and the
strategy's ``select`` with 500 items already seen. Targets (DESIGN.md, 2 cores): p50 <= 100 ms at
1M and <= 20 ms at 100k for k = 10..50; retrain <= 50 ms. ``--quick`` runs 100k only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.classifier import LinearHead  # noqa: E402
from core.selection import Mixed, get_strategy, score_all  # noqa: E402

DIM = 512
N_SEEN = 500
KS = (10, 50)
STRATEGIES = ("nearest", "boundary", "mixed", "random", "diverse")


def unit_vectors(n: int, dim: int, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 unit vectors, generated in chunks so no float64 temporaries of n x dim."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = X[start : start + chunk]
        block[:] = rng.standard_normal(block.shape, dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return X


def brute_force(scores: np.ndarray, seen: np.ndarray, k: int, key: str) -> np.ndarray:
    """Reference top-k by full stable sort, ties by index, seen dropped."""
    vals = -scores.astype(np.float64) if key == "nearest" else np.abs(scores.astype(np.float64))
    order = np.lexsort((np.arange(scores.size), vals))
    return order[~seen[order]][:k]


def check_exact(name: str, X: np.ndarray, scores: np.ndarray, seen: np.ndarray, k: int) -> bool:
    """One comparison against brute force (or a determinism/validity check for sampled ones)."""
    strat = get_strategy(name)
    got = strat.select(scores, k, seen, rng=np.random.default_rng(7), vectors=X)
    valid = len(got) == k and len(set(got.tolist())) == k and not seen[got].any()
    if name in ("nearest", "boundary"):
        return valid and np.array_equal(got, brute_force(scores, seen, k, name))
    if name == "mixed":
        n_near, n_bound, _ = Mixed().counts(k)
        near = brute_force(scores, seen, n_near, "nearest")
        taken = seen.copy()
        taken[near] = True
        bound = brute_force(scores, taken, n_bound, "boundary")
        return valid and np.array_equal(got, np.concatenate([near, bound]))
    again = strat.select(scores, k, seen, rng=np.random.default_rng(7), vectors=X)
    return valid and np.array_equal(got, again)  # random, diverse: same seed, same batch


def time_requery(X, w, b, seen, name, k, repeats, out) -> list[float]:
    strat = get_strategy(name)
    rng = np.random.default_rng(0)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        scores = score_all(X, w, b, out=out)
        strat.select(scores, k, seen, rng=rng, vectors=X)
        if i >= 2:  # two warm-up calls
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k only")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    n_max = 100_000 if args.quick else 1_000_000
    t0 = time.perf_counter()
    X_all = unit_vectors(n_max, DIM)
    print(f"# generated {n_max} x {DIM} float32 unit vectors in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(1)
    w = rng.standard_normal(DIM).astype(np.float32)
    w *= 5.0 / np.linalg.norm(w)  # a trained head's norm
    b = -0.5
    exact = True
    for n, label in ((100_000, "100k"), (1_000_000, "1M")):
        if n > n_max:
            continue
        X = X_all[:n]  # a leading slice of a C-contiguous matrix is C-contiguous
        seen = np.zeros(n, dtype=bool)
        seen[rng.choice(n, N_SEEN, replace=False)] = True
        out = np.empty(n, dtype=np.float32)
        scores = score_all(X, w, b).copy()
        for name in STRATEGIES:
            ok = all(check_exact(name, X, scores, seen, k) for k in KS)
            exact &= ok
            if not ok:
                print(f"# NOT EXACT: {name} at {label}")
            for k in KS:
                times = time_requery(X, w, b, seen, name, k, args.repeats, out)
                print(f"requery_p50_ms_{label}_{name}_k{k}={np.percentile(times, 50):.1f}")
                print(f"requery_p95_ms_{label}_{name}_k{k}={np.percentile(times, 95):.1f}")
        times = []
        for _ in range(args.repeats):
            t1 = time.perf_counter()
            score_all(X, w, b, out=out)
            times.append((time.perf_counter() - t1) * 1000)
        print(f"score_all_p50_ms_{label}={np.percentile(times, 50):.1f}")

    # retrain on 1,000 ratings x 512 dims with the default TrainConfig
    Xr = unit_vectors(1000, DIM, seed=3)
    ratings = np.where(np.random.default_rng(4).random(1000) < 0.1, 1.0, -1.0)
    head = LinearHead.init_from_vector(Xr[0], DIM)
    head.fit(Xr, ratings)  # warm-up: torch import and first allocations
    times = []
    for _ in range(max(args.repeats, 10)):
        t1 = time.perf_counter()
        head.fit(Xr, ratings)
        times.append((time.perf_counter() - t1) * 1000)
    print(f"retrain_ms_1000={np.percentile(times, 50):.1f}")
    print(f"retrain_p95_ms_1000={np.percentile(times, 95):.1f}")

    # submit -> next batch at 100k: retrain on 1,000 ratings, score, select (mixed, k=20)
    X = X_all[:100_000]
    seen = np.zeros(len(X), dtype=bool)
    seen[:1000] = True
    out = np.empty(len(X), dtype=np.float32)
    mixed = get_strategy("mixed")
    times = []
    for _ in range(max(args.repeats, 10)):
        t1 = time.perf_counter()
        head.fit(Xr, ratings)
        mixed.select(score_all(X, head.w, head.b, out=out), 20, seen)
        times.append((time.perf_counter() - t1) * 1000)
    print(f"submit_to_next_batch_ms_100k={np.percentile(times, 50):.1f}")
    print(f"exact={'true' if exact else 'false'}")


if __name__ == "__main__":
    main()
