"""Selection strategies: exact against a NumPy brute force, seen exclusion, shares, errors."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import PoolExhausted
from core.selection import (
    Boundary,
    Diverse,
    Mixed,
    Nearest,
    Random,
    Strategy,
    get_strategy,
    score_all,
)
from core.vectors import top_k


def brute(key: np.ndarray, seen: np.ndarray, k: int, largest: bool) -> np.ndarray:
    """Reference: full stable sort, ties by index, seen items dropped."""
    idx = np.arange(key.size)
    order = np.lexsort((idx, -key if largest else key))
    order = order[~seen[order]]
    return order[:k]


def random_case(n: int, n_seen: int, seed: int, ties: bool = False):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(n).astype(np.float32)
    if ties:  # few distinct values: ties everywhere, including at the k-th place
        scores = np.round(scores * 2).astype(np.float32) / 2
    seen = np.zeros(n, bool)
    seen[rng.choice(n, n_seen, replace=False)] = True
    return scores, seen


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n,n_seen,k", [(1000, 0, 10), (5000, 500, 50), (300, 280, 10), (200, 150, 60)])
def test_nearest_and_boundary_match_brute_force(n, n_seen, k, ties):
    for seed in range(3):
        scores, seen = random_case(n, n_seen, seed, ties)
        got = Nearest().select(scores, k, seen)
        np.testing.assert_array_equal(got, brute(scores, seen, k, largest=True))
        got = Boundary().select(scores, k, seen)
        np.testing.assert_array_equal(got, brute(np.abs(scores), seen, k, largest=False))


def test_top_k_matches_stable_sort_with_ties():
    rng = np.random.default_rng(3)
    v = rng.integers(0, 5, 500).astype(np.float32)
    v[rng.choice(500, 20, replace=False)] = -np.inf
    for k in (1, 7, 100, 480, 500, 600):
        ref = np.lexsort((np.arange(500), -v))[:k]
        np.testing.assert_array_equal(top_k(v, k, largest=True), ref)
        ref_small = np.lexsort((np.arange(500), v))[:k]
        np.testing.assert_array_equal(top_k(v, k, largest=False), ref_small)
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([1.0, np.nan]), 1)


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        Nearest().select(np.array([0.1, np.nan], np.float32), 1, np.zeros(2, bool))


def test_select_does_not_modify_inputs():
    scores, seen = random_case(500, 50, 0)
    s0, seen0 = scores.copy(), seen.copy()
    for strat in (Nearest(), Boundary(), Mixed(), Random()):
        strat.select(scores, 20, seen, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(scores, s0)
    np.testing.assert_array_equal(seen, seen0)


@pytest.mark.parametrize("strategy", [Nearest(), Boundary(), Mixed(0.3, 0.3, 0.4), Random(), Diverse(64)])
def test_never_returns_seen_and_caps_k_at_unseen(strategy):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((120, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = score_all(vectors, rng.standard_normal(8).astype(np.float32), 0.1)
    seen = np.zeros(120, bool)
    seen[:113] = True  # 7 unseen
    got = strategy.select(scores, 50, seen, rng=np.random.default_rng(2), vectors=vectors)
    assert len(got) == 7
    assert len(set(got.tolist())) == 7
    assert not seen[got].any()
    assert got.dtype == np.int64


@pytest.mark.parametrize("name", ["nearest", "boundary", "mixed", "random", "diverse"])
def test_pool_exhausted(name):
    seen = np.ones(10, bool)
    with pytest.raises(PoolExhausted, match="reset seen items or switch split"):
        get_strategy(name).select(np.zeros(10, np.float32), 5, seen, vectors=np.eye(10, dtype=np.float32))


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_positive(k):
    with pytest.raises(ValueError, match="k must be"):
        Nearest().select(np.zeros(5, np.float32), k, np.zeros(5, bool))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        Nearest().select(np.zeros(5, np.float32), 2, np.zeros(6, bool))


def test_mixed_counts_sum_to_k():
    m = Mixed(nearest=0.5, boundary=0.5)
    assert m.counts(10) == [5, 5, 0]
    assert m.counts(1) == [1, 0, 0]  # tie on remainder: nearest first
    assert Mixed(1, 1, 1).counts(10) == [4, 3, 3]
    assert Mixed(0.25, 0.5, 0.25).counts(7) == [2, 3, 2]
    for k in range(1, 40):
        assert sum(Mixed(0.2, 0.7, 0.1).counts(k)) == k


def test_mixed_parts_are_exact_and_disjoint():
    scores, seen = random_case(2000, 300, 5)
    m = Mixed(nearest=0.4, boundary=0.4, random=0.2)
    parts = m.select_parts(scores, 20, seen, rng=np.random.default_rng(0))
    assert [len(parts[p]) for p in ("nearest", "boundary", "random")] == [8, 8, 4]
    np.testing.assert_array_equal(parts["nearest"], brute(scores, seen, 8, largest=True))
    taken = seen.copy()
    taken[parts["nearest"]] = True
    np.testing.assert_array_equal(parts["boundary"], brute(np.abs(scores), taken, 8, largest=False))
    taken[parts["boundary"]] = True
    assert not taken[parts["random"]].any()
    batch = m.select(scores, 20, seen, rng=np.random.default_rng(0))
    assert len(set(batch.tolist())) == 20
    np.testing.assert_array_equal(batch, np.concatenate([parts["nearest"], parts["boundary"], parts["random"]]))


def test_mixed_no_duplicates_when_nearest_and_boundary_overlap():
    # all scores negative: the highest score is also the one closest to the boundary
    scores = -np.linspace(0.1, 5, 100).astype(np.float32)
    got = Mixed().select(scores, 10, np.zeros(100, bool))
    np.testing.assert_array_equal(got, np.arange(10))


def test_random_is_seeded_uniform_and_unseen():
    scores, seen = random_case(1000, 100, 0)
    a = Random().select(scores, 30, seen, rng=np.random.default_rng(42))
    b = Random().select(scores, 30, seen, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 30 and not seen[a].any()
    # the dense path (most items seen) too
    seen2 = np.ones(1000, bool)
    seen2[::10] = False
    c = Random().select(scores, 50, seen2, rng=np.random.default_rng(1))
    assert len(set(c.tolist())) == 50 and not seen2[c].any()


def clustered(n_clusters=8, per=100, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_clusters), per)
    X = centres[labels] + 0.05 * rng.standard_normal((labels.size, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), labels


def test_diverse_spreads_over_clusters_and_is_deterministic():
    X, labels = clustered()
    seen = np.zeros(len(X), bool)
    got = Diverse(sample_size=400).select(None, 8, seen, rng=np.random.default_rng(0), vectors=X)
    again = Diverse(sample_size=400).select(None, 8, seen, rng=np.random.default_rng(0), vectors=X)
    np.testing.assert_array_equal(got, again)
    assert len(set(labels[got].tolist())) >= 7  # k-means++ on well-separated clusters
    # versus random picks, which repeat clusters far more often
    covered = [
        len(set(labels[Diverse(400).select(None, 8, seen, rng=np.random.default_rng(s), vectors=X)])) for s in range(5)
    ]
    assert np.mean(covered) >= 7


def test_diverse_needs_vectors():
    with pytest.raises(ValueError, match="vectors"):
        Diverse().select(None, 3, np.zeros(10, bool))


def test_get_strategy():
    assert isinstance(get_strategy("Nearest"), Nearest)
    assert isinstance(get_strategy("mixed", nearest=0.3, boundary=0.7), Mixed)
    assert isinstance(get_strategy("diverse", sample_size=10), Diverse)
    assert all(isinstance(get_strategy(n), Strategy) for n in ("boundary", "random"))
    with pytest.raises(ValueError, match="nearest, boundary, mixed, random, diverse"):
        get_strategy("uncertainty")


def test_score_all_matches_matmul_and_reuses_out():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 16)).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    out = np.empty(300, np.float32)
    res = score_all(X, w, 0.25, out=out)
    assert res is out
    np.testing.assert_allclose(res, X @ w + 0.25, rtol=1e-5, atol=1e-5)
    half = score_all(X.astype(np.float16), w, 0.25)
    np.testing.assert_allclose(half, X @ w + 0.25, atol=0.05)
    with pytest.raises(ValueError, match="w has shape"):
        score_all(X, w[:3])
