"""Classifier drift across rounds: how much the predictions and ``w`` moved between checkpoints.

A person who sees AP wobble wants to know *what* changed: how many validation items switched
side (and which), how far ``w`` turned, and how the whole score distribution shifted. Everything
here is plain NumPy over the checkpoints' weights, so it is exact and cheap (one matmul for every
round at once); a prediction is ``score > threshold``, as in ``core.evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def turn_degrees(cosine: float | None) -> float | None:
    """Degrees ``w`` turned from the previous round's, from their cosine (None before the first round or when
    undefined): what the Teach page and ``teach submit`` say as "w moved"."""
    if cosine is None or cosine != cosine:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, float(cosine)))))


@dataclass
class RoundDrift:
    """One round's movement relative to the previous round (None for the first round)."""

    round: int
    n_ratings: int | None
    ap: float | None
    cosine_to_previous: float | None
    flips: int | None
    flips_to_positive: int | None
    flips_to_negative: int | None
    n_predicted_positive: int | None  # None for the start (no rating yet: it ranks, it does not decide)


@dataclass
class Comparison:
    """Predictions of two rounds side by side. flipped: (m,) item positions whose prediction differs."""

    round_a: int
    round_b: int
    both_positive: int
    only_a: int
    only_b: int
    both_negative: int
    flipped: np.ndarray


def weights(checkpoints: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(W (r, dim) float32, biases (r,) float32, rounds) of checkpoints with ``w``, ``bias``, ``round``."""
    if not checkpoints:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.float32), []
    W = np.stack([np.asarray(c.w, dtype=np.float32) for c in checkpoints])
    b = np.asarray([float(c.bias) for c in checkpoints], dtype=np.float32)
    return W, b, [int(c.round) for c in checkpoints]


def round_scores(matrix: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logits of every item under every round's head: (r, n) float32 from matrix (n, dim), W (r, dim)."""
    if len(W) == 0:
        return np.zeros((0, len(matrix)), np.float32)
    return (matrix @ W.T).T + b[:, None]


def cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cosine between two weight vectors; None when either is zero (no direction)."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / denom if denom > 1e-12 else None


def count_flips(before: np.ndarray, after: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """(became positive, became negative) between two score vectors of the same items."""
    was, now = before > threshold, after > threshold
    return int((now & ~was).sum()), int((was & ~now).sum())


def drift_by_round(
    scores: np.ndarray,
    W: np.ndarray,
    rounds: Sequence[int],
    metrics: Sequence[dict[str, Any]] | None = None,
    threshold: float = 0.0,
) -> list[RoundDrift]:
    """Per round: flips vs the previous round, cosine to the previous ``w``, predicted positives.

    scores: (r, n) logits of the same n items per round (``round_scores``); W: (r, dim).
    metrics: the checkpoints' metric dicts (for ratings so far and AP), optional.
    """
    out: list[RoundDrift] = []
    # the start (round 0, no rating) only ranks: its "positives" (most items, for a prompt) and the first round's
    # "flips" away from them dwarfed every later bar of the drift chart
    decided = [(metrics[i] if metrics is not None else {}).get("n_ratings") != 0 for i in range(len(rounds))]
    for i, round_ in enumerate(rounds):
        m = metrics[i] if metrics is not None else {}
        up = down = None
        if i > 0 and decided[i - 1] and decided[i]:
            up, down = count_flips(scores[i - 1], scores[i], threshold)
        out.append(RoundDrift(
            round=int(round_),
            n_ratings=m.get("n_ratings"),
            ap=m.get("ap"),
            cosine_to_previous=cosine(W[i - 1], W[i]) if i > 0 else None,
            flips=None if up is None or down is None else up + down,
            flips_to_positive=up,
            flips_to_negative=down,
            n_predicted_positive=int((scores[i] > threshold).sum()) if decided[i] else None,
        ))
    return out


def compare_rounds(scores_a: np.ndarray, scores_b: np.ndarray, round_a: int, round_b: int,
                   threshold: float = 0.0) -> Comparison:
    """Counts of the 2x2 agreement table and the flipped items, largest score change first."""
    a, b = scores_a > threshold, scores_b > threshold
    flipped = np.flatnonzero(a != b)
    flipped = flipped[np.argsort(-np.abs(scores_b[flipped] - scores_a[flipped]), kind="stable")]
    return Comparison(
        round_a=int(round_a), round_b=int(round_b),
        both_positive=int((a & b).sum()), only_a=int((a & ~b).sum()), only_b=int((~a & b).sum()),
        both_negative=int((~a & ~b).sum()), flipped=flipped,
    )


def score_quantiles(scores: np.ndarray, qs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> np.ndarray:
    """Quantiles of each round's scores: (r, len(qs)); a box plot from these stays small at any n."""
    if scores.size == 0:
        return np.zeros((len(scores), len(qs)), np.float32)
    return np.quantile(scores, qs, axis=1).T.astype(np.float32)
