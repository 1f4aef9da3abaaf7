"""Drift numbers on hand-made rounds where every flip is known in advance."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.drift import (
    compare_rounds,
    cosine,
    count_flips,
    drift_by_round,
    round_scores,
    score_quantiles,
    weights,
)

# Four items on the axes of a 2-d space; three rounds of a head.
ITEMS = np.asarray([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.float32)
CHECKPOINTS = [
    SimpleNamespace(round=0, w=np.zeros(2, np.float32), bias=0.0, metrics={"n_ratings": 0}),
    SimpleNamespace(round=1, w=np.asarray([1.0, 0.0], np.float32), bias=0.0, metrics={"n_ratings": 10, "ap": 0.5}),
    SimpleNamespace(round=2, w=np.asarray([0.0, 2.0], np.float32), bias=-0.5, metrics={"n_ratings": 20, "ap": 0.7}),
]
# scores: round 0 [0 0 0 0]; round 1 [1 0 -1 0]; round 2 [-0.5 1.5 -0.5 -2.5]
# predicted (> 0): round 0 none; round 1 item 0; round 2 item 1


def _scores():
    W, b, rounds = weights(CHECKPOINTS)
    return W, b, rounds, round_scores(ITEMS, W, b)


def test_round_scores_are_w_dot_x_plus_b():
    W, b, rounds, scores = _scores()
    assert rounds == [0, 1, 2]
    np.testing.assert_allclose(scores, [[0, 0, 0, 0], [1, 0, -1, 0], [-0.5, 1.5, -0.5, -2.5]])


def test_flips_and_cosines_by_round():
    W, _, rounds, scores = _scores()
    drift = drift_by_round(scores, W, rounds, [c.metrics for c in CHECKPOINTS])
    # round 0 has no rating: it ranks and decides nothing, so no predicted positives and no flips away from it
    assert [d.flips for d in drift] == [None, None, 2]  # round 2: item 0 down, item 1 up
    assert [d.flips_to_positive for d in drift] == [None, None, 1]
    assert [d.flips_to_negative for d in drift] == [None, None, 1]
    assert [d.n_predicted_positive for d in drift] == [None, 1, 1]
    unrated_start = drift_by_round(scores, W, rounds)  # without metrics every round decides
    assert [d.flips for d in unrated_start] == [None, 1, 2]  # round 1: item 0 up
    assert drift[0].cosine_to_previous is None
    assert drift[1].cosine_to_previous is None  # the previous w is zero: no direction
    assert drift[2].cosine_to_previous == pytest.approx(0.0)  # orthogonal
    assert [d.ap for d in drift] == [None, 0.5, 0.7]
    assert [d.n_ratings for d in drift] == [0, 10, 20]


def test_threshold_moves_the_predictions():
    W, _, rounds, scores = _scores()
    drift = drift_by_round(scores, W, rounds, threshold=-0.75)
    # > -0.75: round 0 all four; round 1 items 0, 1, 3; round 2 items 0, 1, 2
    assert [d.n_predicted_positive for d in drift] == [4, 3, 3]
    assert [d.flips for d in drift] == [None, 1, 2]
    assert count_flips(scores[1], scores[2], -0.75) == (1, 1)


def test_compare_two_rounds():
    _, _, _, scores = _scores()
    c = compare_rounds(scores[1], scores[2], 1, 2)
    assert (c.both_positive, c.only_a, c.only_b, c.both_negative) == (0, 1, 1, 2)
    assert c.both_positive + c.only_a + c.only_b + c.both_negative == len(ITEMS)
    assert sorted(c.flipped.tolist()) == [0, 1]
    assert c.flipped.tolist() == [0, 1]  # |change| 1.5 for both: stable order
    same = compare_rounds(scores[2], scores[2], 2, 2)
    assert len(same.flipped) == 0 and same.only_a == same.only_b == 0


def test_flipped_items_sorted_by_score_change():
    a = np.asarray([0.1, -0.2, 3.0, -1.0], np.float32)
    b = np.asarray([-0.1, 2.0, -4.0, -2.0], np.float32)
    assert compare_rounds(a, b, 0, 1).flipped.tolist() == [2, 1, 0]


def test_cosine_and_quantiles():
    assert cosine(np.asarray([1.0, 1.0]), np.asarray([2.0, 2.0])) == pytest.approx(1.0)
    assert cosine(np.asarray([1.0, 0.0]), np.asarray([-3.0, 0.0])) == pytest.approx(-1.0)
    assert cosine(np.zeros(2), np.ones(2)) is None
    scores = np.tile(np.arange(101, dtype=np.float32), (2, 1))
    np.testing.assert_allclose(score_quantiles(scores), [[5, 25, 50, 75, 95]] * 2)
    assert weights([])[2] == []
    assert round_scores(ITEMS, np.zeros((0, 2), np.float32), np.zeros(0, np.float32)).shape == (0, 4)


def test_the_drift_boxes_name_the_start_which_ranks_and_does_not_decide():
    """A re-tester: round 0's scores sat under "score (logit)", wholly above the threshold line, as if decided."""
    from app.map_drift import distribution_figure

    W, b, rounds, scores = _scores()
    drift = drift_by_round(scores, W, rounds, [c.metrics for c in CHECKPOINTS])
    starts = {d.round for d in drift if d.n_predicted_positive is None}
    fig = distribution_figure(rounds, scores, 0.0, starts)
    assert list(fig.data[0].x) == ["0 (start)", "1", "2"]
