"""The default policy: cold start from a prompt takes its top items, a start with nothing explores."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import PoolExhausted
from core.policy import DRY_ROUNDS, EXPLOIT_RATINGS, TOP_MIN_ROUND, Evidence, Plan, plan_batch, select_plan


def _rare_concept(n: int = 5000, dim: int = 64, rate: float = 0.01, seed: int = 0):
    """Unit vectors with a rare positive cluster and a prompt at cosine ~0.5 to its centre."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dim)
    centre /= np.linalg.norm(centre)
    X = rng.standard_normal((n, dim))
    y = np.zeros(n, dtype=bool)
    y[: int(n * rate)] = True
    X[y] = centre * 3.0 + rng.standard_normal((int(y.sum()), dim)) * 0.5
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    noise = rng.standard_normal(dim)
    prompt = centre + noise / np.linalg.norm(noise)
    return X, y, (prompt / np.linalg.norm(prompt)).astype(np.float32)


def test_prompt_start_on_a_rare_concept_takes_the_prompts_top_items_first():
    X, y, prompt = _rare_concept()
    scores = X @ (5.0 * prompt)
    plan = plan_batch(Evidence(has_start=True), 10)
    assert plan.counts == {"nearest": 10} and "start ranks highest" in plan.reason
    batch = select_plan(plan, scores, np.zeros(len(X), dtype=bool), rng=np.random.default_rng(0), vectors=X)
    top10 = np.argsort(-scores, kind="stable")[:10]
    assert list(batch) == list(top10)
    assert y[batch].sum() >= 5  # the prompt's top 10 hold positives; a diverse sample of 10 at 1% would not
    spread = select_plan(plan_batch(Evidence(has_start=False), 10), scores, np.zeros(len(X), dtype=bool),
                         rng=np.random.default_rng(0), vectors=X)
    assert y[spread].sum() <= 1


def test_a_start_with_nothing_explores_with_a_spread_out_sample():
    X, _, _ = _rare_concept()
    plan = plan_batch(Evidence(has_start=False, round_positives=[0, 0], round_sizes=[10, 10]), 10)
    assert plan.counts == {"diverse": 10} and "spread-out" in plan.reason
    zeros = np.zeros(len(X), dtype=np.float32)  # w = 0: every score ties
    batch = select_plan(plan, zeros, np.zeros(len(X), dtype=bool), rng=np.random.default_rng(1), vectors=X)
    assert len(set(batch.tolist())) == 10
    assert not np.array_equal(np.sort(batch), np.arange(10))  # not "the first ten" of a tie
    cos = X[batch] @ X[batch].T
    assert cos[~np.eye(10, dtype=bool)].max() < 0.9  # no near-duplicates: spread over the data


def test_evidence_counts_positives_per_round_and_dry_rounds():
    ev = Evidence.from_ratings(True, np.array([1.0, -1.0, -0.5, 0.5, -1.0, -1.0, -1.0]),
                               np.array([1, 1, 2, 2, 3, 4, 4]))
    assert ev.round_positives == [1, 1, 0, 0] and ev.round_sizes == [2, 2, 1, 2]
    assert ev.n_positive == 2 and ev.n_ratings == 7 and ev.dry_rounds == 2
    assert Evidence(True).dry_rounds == 0


def test_plan_follows_the_ratings():
    k = 10
    # a start is followed for the first EXPLOIT_RATINGS ratings, dry or not: exactly what nearest takes
    assert plan_batch(Evidence(True, [0] * DRY_ROUNDS, [10] * DRY_ROUNDS), k).counts == {"nearest": 10}
    assert plan_batch(Evidence(True, [4, 0], [10, 10]), k).counts == {"nearest": 10}
    dry = plan_batch(Evidence(True, [0] * 3, [10] * 3), k)
    assert dry.counts["nearest"] == 5 and dry.counts.get("deep", 0) + dry.counts.get("diverse", 0) == 5
    # without a start, positives found by exploring are followed only while they keep coming
    assert plan_batch(Evidence(False, [2, 0], [10, 10]), k).counts == {"nearest": 5, "boundary": 5}
    yielding = plan_batch(Evidence(True, [3, 4], [10, 10]), k)
    assert yielding.counts == {"nearest": 10}
    learning = plan_batch(Evidence(True, [3, 4, 5], [10, 10, EXPLOIT_RATINGS - 20]), k)
    assert learning.counts == {"nearest": 5, "boundary": 5} and "boundary" in learning.reason
    ran_dry = plan_batch(Evidence(True, [3, 4, 5, 0, 0], [10] * 5), k)
    assert ran_dry.counts == {"nearest": 3, "boundary": 4, "deep": 3}
    assert sum(plan_batch(Evidence(True, [0, 0, 0], [10, 10, 10]), 7).counts.values()) == 7


def test_the_top_is_read_from_the_latest_round_under_the_checkpoint_that_chose_it():
    # rounds 1-3 (20 items) then round 4 (10): only round 4 counts; its top 3 by the chooser's scores are
    # items 0, 1 and 2 (scores 9, 8, 7), whatever order they were rated in
    rounds = np.array([1] * 10 + [2] * 10 + [3] * 10 + [4] * 10)
    scores = np.zeros(40)
    scores[30:] = [1, 9, 2, 8, 3, 7, 0, -1, -2, -3]  # round 4's top 3: positions 31, 33, 35
    ratings = -np.ones(40)
    ratings[:30] = 1.0  # earlier rounds all positive: not read
    ratings[[31, 33]] = [1.0, 0.25]  # graded: any rating > 0 is a positive
    ev = Evidence.from_ratings(True, ratings, rounds, scores)
    assert (ev.top_positive, ev.top_size) == (2, 3) and ev.top_yields
    ratings[33] = -0.25
    ev = Evidence.from_ratings(True, ratings, rounds, scores)
    assert (ev.top_positive, ev.top_size) == (1, 3) and not ev.top_yields
    ratings[[36, 37, 38, 39]] = 1.0  # positives below the top do not count
    assert not Evidence.from_ratings(True, ratings, rounds, scores).top_yields
    # without the chooser's scores, or from a round of a few hand-added ratings, the top is not known
    assert Evidence.from_ratings(True, ratings, rounds).top_size == 0
    few = np.array([1] * 30 + [2] * (TOP_MIN_ROUND - 1))
    assert Evidence.from_ratings(True, np.ones(len(few)), few, np.ones(len(few))).top_size == 0
    assert Evidence.from_ratings(True, np.zeros(0), np.zeros(0, dtype=int), np.zeros(0)).top_size == 0


def test_the_top_leaves_out_items_the_round_did_not_pick_and_ties():
    rounds = np.array([1] * 30 + [2] * 13)
    ratings = -np.ones(43)
    ratings[:3] = 1.0
    scores = np.zeros(43)
    scores[30:] = np.arange(13)[::-1]  # round 2's own picks, best first: all rated negative
    # three old positives rated again by hand land in round 2: they are not its picks (NaN), whatever they score
    rounds = np.concatenate([rounds, [2, 2, 2]])
    ratings = np.concatenate([ratings, [1.0, 1.0, 1.0]])
    scores = np.concatenate([scores, [np.nan] * 3])
    ev = Evidence.from_ratings(True, ratings, rounds, scores)
    assert (ev.top_positive, ev.top_size) == (0, 4) and not ev.top_yields  # 30% of 13 picks, half up: 4
    scored_as_picks = Evidence.from_ratings(True, ratings, rounds, np.concatenate([scores[:43], [99.0] * 3]))
    assert scored_as_picks.top_yields  # what counting them would have said
    # a round chosen while every score tied (a start with nothing, w = 0) has no top: order must not decide
    tied = Evidence.from_ratings(False, ratings, rounds, np.where(np.isnan(scores), np.nan, 0.0))
    assert tied.top_size == 0
    # shares round half up: 5 picks -> 2 (1.5), 15 -> 5 (4.5), 25 -> 8 (7.5)
    for n, want in ((5, 2), (15, 5), (25, 8)):
        one = np.ones(n)
        assert Evidence.from_ratings(True, one, one.astype(int), np.arange(n, dtype=float)).top_size == want


def test_a_top_that_yields_freely_gives_most_of_the_batch_to_the_boundary():
    learning = Evidence(True, [3, 4, 5, 6], [10] * 4, top_positive=2, top_size=3)
    plan = plan_batch(learning, 10)
    assert plan.counts == {"nearest": 3, "boundary": 7} and "yields freely" in plan.reason
    assert "2 of the 3 highest-ranked picks of the last rated round" in plan.reason
    assert plan_batch(Evidence(True, [3, 4, 5, 6], [10] * 4, 1, 3), 10).counts == {"nearest": 5, "boundary": 5}
    # never in the first 30 ratings (they follow the start), nor once the top has run dry
    assert plan_batch(Evidence(True, [3, 4], [10, 10], 3, 3), 10).counts == {"nearest": 10}
    dry = plan_batch(Evidence(True, [3, 4, 5, 0, 0], [10] * 5, 3, 3), 10)
    assert dry.counts == {"nearest": 3, "boundary": 4, "deep": 3}
    assert sum(plan_batch(learning, 7).counts.values()) == 7


def test_select_plan_never_repeats_or_reuses_seen_items_and_reports_exhaustion():
    X, _, prompt = _rare_concept(n=40)
    scores = X @ prompt
    seen = np.zeros(40, dtype=bool)
    seen[:25] = True
    plan = Plan({"nearest": 4, "boundary": 4, "deep": 4, "diverse": 4}, "all parts")
    batch = select_plan(plan, scores, seen, rng=np.random.default_rng(0), vectors=X)
    assert len(batch) == 15 == len(set(batch.tolist())) and not seen[batch].any()
    with pytest.raises(PoolExhausted):
        select_plan(plan, scores, np.ones(40, dtype=bool))


def test_the_boundary_half_is_spread_out_over_near_identical_families():
    """Five items nearest the boundary that are one family (near-identical texts) teach what one of them would:
    the boundary part takes one of them and other items still near the boundary."""
    rng = np.random.default_rng(3)
    dim = 32
    family = rng.standard_normal(dim)
    X = rng.standard_normal((400, dim))
    X[:10] = family + rng.standard_normal((10, dim)) * 0.02  # ten near-duplicates...
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    scores = np.empty(400, dtype=np.float32)
    scores[:10] = np.linspace(-0.01, 0.01, 10)  # ...all nearest the boundary
    scores[10:] = np.linspace(0.05, 3.0, 390) * np.where(np.arange(390) % 2, 1, -1)  # the rest further out
    plan = Plan({"boundary": 5}, "test")
    plain = select_plan(plan, scores, np.zeros(400, dtype=bool), rng=np.random.default_rng(0))  # no vectors
    assert sorted(plain.tolist()) == [2, 3, 4, 5, 6]  # the five nearest: one family
    spread = select_plan(plan, scores, np.zeros(400, dtype=bool), rng=np.random.default_rng(0), vectors=X)
    assert int((spread < 10).sum()) == 1 and spread[0] < 10  # the nearest one, then other items
    assert np.abs(scores[spread]).max() < np.sort(np.abs(scores))[5 * 20]  # still within the band near it
    assert (X[spread] @ X[spread].T)[~np.eye(5, dtype=bool)].max() < 0.9
    assert "spread out" in plan_batch(Evidence(True, [3, 4, 2, 5], [10, 10, 10, 10]), 10).reason
