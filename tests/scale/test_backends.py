"""The in-process backends (NumPy, torch fp32, torch fp16 storage) return exactly the brute-force batches."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import PoolExhausted
from core.scale.backends import NumpyBackend, TorchBackend
from core.scale.exact import exact_scores
from core.scale.select import Query, run_strategy
from core.selection import get_strategy


def _data(n: int = 6000, dim: int = 48, seed: int = 0):
    """Unit rows with exact duplicates (ties) and near-duplicates (differences below float16 precision)."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    m[100:140] = m[7]  # exact ties
    m[200:240] = m[9] + rng.standard_normal((40, dim)).astype(np.float32) * 1e-5  # near-ties
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    codes = (rng.random(n) < 0.2).astype(np.uint8)  # 0 train, 1 validation
    return m, codes


def _oracle(matrix, w, b, k, by, eligible):
    scores = exact_scores(matrix, w, b)
    key = scores if by == "score" else -np.abs(scores)
    key = np.where(eligible, key, -np.inf)
    order = np.lexsort((np.arange(len(key)), -key))
    return order[:k]


@pytest.mark.parametrize("make", [
    lambda m, c: NumpyBackend(m, c),
    lambda m, c: TorchBackend(m, c, device="cpu"),
    lambda m, c: TorchBackend(m, c, device="cpu", dtype="float16"),
], ids=["numpy", "torch", "torch-fp16"])
@pytest.mark.parametrize("by", ["score", "margin"])
def test_top_k_equals_brute_force_in_float64(make, by):
    matrix, codes = _data()
    backend = make(matrix, codes)
    rng = np.random.default_rng(1)
    for trial in range(6):
        w = (rng.standard_normal(matrix.shape[1]) * (1 + 3 * trial)).astype(np.float32)
        if trial == 0:
            w = matrix[7] * 4  # the tied rows score highest
        b = float(rng.normal())
        excluded = np.sort(rng.choice(len(matrix), 300, replace=False))
        eligible = codes == 0
        eligible[excluded] = False
        rows, scores = backend.top_k(w, b, 25, by, 0, excluded)
        np.testing.assert_array_equal(rows, _oracle(matrix, w, b, 25, by, eligible))
        np.testing.assert_array_equal(scores, exact_scores(matrix[rows], w, b))


def test_every_strategy_gives_identical_batches_on_every_backend():
    matrix, codes = _data(seed=3)
    backends = [NumpyBackend(matrix, codes), TorchBackend(matrix, codes, device="cpu"),
                TorchBackend(matrix, codes, device="cpu", dtype="float16")]
    split_rows = np.flatnonzero(codes == 0)
    seen = np.zeros(len(split_rows), dtype=bool)
    seen[::7] = True
    w, b = (matrix[7] * 3 + matrix[11]).astype(np.float32), -0.5
    for name in ("nearest", "boundary", "mixed", "random", "diverse"):
        batches = [run_strategy(name, Query(be, w, b, split_rows, 0, seen, np.random.default_rng(5)), 20).tolist()
                   for be in backends]
        assert batches[0] == batches[1] == batches[2], name
        assert len(set(batches[0])) == 20 and not seen[batches[0]].any()
        legacy = get_strategy(name).select(
            exact_scores(matrix[split_rows], w, b).astype(np.float32), 20, seen, rng=np.random.default_rng(5),
            vectors=matrix[split_rows])
        if name in ("random", "diverse"):  # same draws as the in-process strategy, from the same generator
            assert batches[0] == legacy.tolist(), name


def test_mixed_parts_never_repeat_and_exhaustion_is_reported():
    matrix, codes = _data(n=300)
    backend = NumpyBackend(matrix, codes)
    split_rows = np.arange(300)
    seen = np.zeros(300, dtype=bool)
    seen[:290] = True
    picked = run_strategy("mixed", Query(backend, matrix[0], 0.0, split_rows, None, seen,
                                         np.random.default_rng(0)), 50)
    assert sorted(picked.tolist()) == list(range(290, 300))
    with pytest.raises(PoolExhausted):
        run_strategy("nearest", Query(backend, matrix[0], 0.0, split_rows, None, np.ones(300, bool),
                                      np.random.default_rng(0)), 5)


def test_a_float16_shard_in_process_finds_the_exact_top_k():
    """The Ray actor's body without Ray: float16 rows scored by torch in float16, candidates rescored in float64."""
    from core.scale.exact import exact_top
    from core.scale.ray_shards import BLOCK_ROWS, ShardSpec, _Shard

    shards = [_Shard(ShardSpec(offset=0, count=BLOCK_ROWS, dim=24, seed=3)),
              _Shard(ShardSpec(offset=BLOCK_ROWS, count=3000, dim=24, seed=3))]
    matrix = np.concatenate([s.matrix for s in shards]).astype(np.float32)  # the float16 rows are the data
    rng = np.random.default_rng(2)
    for scale in (1.0, 30.0, 1e5):  # 1e5: scores beyond float16's range take the widened path
        w = (rng.standard_normal(24) * scale).astype(np.float32)
        excluded = np.sort(rng.choice(len(matrix), 100, replace=False))
        for by in ("score", "margin"):
            parts = [s.candidates(w, 0.25, 15, by, None, excluded[(excluded >= s.offset) &
                                                                    (excluded < s.offset + s.count)])
                     for s in shards]
            rows, _ = exact_top(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                w, 0.25, 15, by)
            eligible = np.ones(len(matrix), dtype=bool)
            eligible[excluded] = False
            np.testing.assert_array_equal(rows, _oracle(matrix, w, 0.25, 15, by, eligible))


def test_the_default_policy_plan_gives_identical_batches_on_every_backend():
    """``auto``'s plans (top-ranked, boundary, deep, diverse parts) run on the backends' primitives exactly as
    ``core.policy.select_plan`` runs them in process."""
    from core.policy import Plan, select_plan
    from core.scale.select import run_plan

    matrix, codes = _data(seed=4)
    backends = [NumpyBackend(matrix, codes), TorchBackend(matrix, codes, device="cpu"),
                TorchBackend(matrix, codes, device="cpu", dtype="float16")]
    split_rows = np.flatnonzero(codes == 0)
    seen = np.zeros(len(split_rows), dtype=bool)
    seen[::5] = True
    w, b = (matrix[7] * 3 + matrix[11]).astype(np.float32), -0.5
    exact = exact_scores(matrix[split_rows], w, b)
    for counts in ({"nearest": 10}, {"nearest": 5, "boundary": 5}, {"nearest": 3, "boundary": 7},
                   {"nearest": 3, "boundary": 4, "deep": 3},
                   {"nearest": 5, "deep": 3, "diverse": 2}):
        plan = Plan(counts, "test")
        batches = [run_plan(plan, Query(be, w, b, split_rows, 0, seen, np.random.default_rng(9))).tolist()
                   for be in backends]
        assert batches[0] == batches[1] == batches[2], counts
        assert len(set(batches[0])) == sum(counts.values()) and not seen[batches[0]].any()
        legacy = select_plan(plan, exact, seen, rng=np.random.default_rng(9), vectors=matrix[split_rows])
        assert batches[0] == legacy.tolist(), counts
