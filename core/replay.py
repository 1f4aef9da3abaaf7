"""Replay a concept's rounds on the map: every round's scores, predictions, flips and ``w`` position.

Why one object: the Map page and the offline report draw the same replay, and the browser steps
through it without asking the server (all rounds travel once, as typed arrays). Everything is one
matmul over the drawn rows for all rounds at once, so it stays cheap at 1M points (~0.1 s).

``w`` is placed where its top-scoring items are (``core.projection.place_directions``) and then
nudged *beside* them, away from the map's centre, so its marker never hides the cluster it points at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.drift import round_scores, weights
from core.projection import place_directions

BESIDE = 0.05  # how far (fraction of the map's extent) ``w`` sits beside its nearest items
COLOR_LEVELS = 255  # scores travel as uint8 colour codes: 1 byte per point and round
MIN_SPAN = 1e-3  # the narrowest colour span (logits): all-equal scores still map to a scale, never 0 wide


@dataclass
class Replay:
    """Per-round state of one concept over the drawn rows.

    rows: (m,) drawn row numbers of the index; xy: (m, 2) their positions; scores: (r, m) logits;
    w_xy: (r, 2) where each round's ``w`` is drawn (NaN: zero ``w``, nothing to place);
    anchor_xy: (r, 2) the centre of its top-scoring items; positive/flipped: per round, positions
    into ``rows`` predicted positive at ``threshold`` / whose prediction changed since the round before.
    """

    rounds: list[int]
    rows: np.ndarray
    xy: np.ndarray
    scores: np.ndarray
    w_xy: np.ndarray
    anchor_xy: np.ndarray
    ap: list[float | None]
    n_ratings: list[int | None]
    threshold: float
    positive: list[np.ndarray]
    flipped: list[np.ndarray]
    #: per round: fitted to ratings, so a threshold means a decision. The start (round 0: a prompt's or
    #: examples' direction, no rating yet) only ranks: it called 14,695 of 15,000 items positive and the
    #: first round "flipped" 14,680 (an outside auditor), so it predicts nothing and flips nothing here.
    decided: list[bool] = field(default_factory=list)

    def index_of(self, round_: int) -> int:
        """Position of ``round_`` in ``rounds`` (the latest round when it is gone, e.g. after undo)."""
        return self.rounds.index(round_) if round_ in self.rounds else len(self.rounds) - 1

    def span(self, i: int) -> float:
        """The logit range ``[-span, +span]`` the colours of round position ``i`` cover: the 99th percentile of
        |score| over that round's drawn rows (a few extreme items do not wash out the rest), never below
        ``MIN_SPAN``. Per round, symmetric about 0 (orange below, blue above, grey at 0 keep their meaning):
        one span over every round let the most extreme round set it, and a calmer later round showed as
        one flat colour."""
        if self.scores.size == 0:
            return 1.0
        row = self.scores[i, :: max(1, self.scores.shape[1] // 50_000)]
        finite = np.abs(row[np.isfinite(row)])
        return float(max(np.quantile(finite, 0.99), MIN_SPAN)) if finite.size else 1.0

    def spans(self) -> list[float]:
        """``span(i)`` of every round position."""
        return [self.span(i) for i in range(len(self.rounds))]

    def color_codes(self, i: int, span: float | None = None) -> np.ndarray:
        """Round ``i``'s scores as uint8 codes 0..255 over [-span, +span] (127.5 is a score of 0; ``span``
        defaults to that round's own, ``span(i)``)."""
        span = span or self.span(i)
        z = (np.clip(self.scores[i] / span, -1.0, 1.0) + 1.0) * (COLOR_LEVELS / 2)
        return np.rint(z).astype(np.uint8)

    def threshold_code(self, i: int, span: float | None = None) -> float:
        """The threshold on round ``i``'s colour-code scale: codes above it are predicted positive."""
        span = span or self.span(i)
        return float((np.clip(self.threshold / span, -1.0, 1.0) + 1.0) * (COLOR_LEVELS / 2))


def draw_rows(n: int, keep: np.ndarray | None = None, max_points: int = 200_000, seed: int = 0) -> np.ndarray:
    """Rows to draw: all when n <= max_points, else a fixed random sample that always holds ``keep``."""
    if n <= max_points:
        return np.arange(n)
    keep = np.unique(np.asarray(keep if keep is not None else [], dtype=np.int64))[:max_points]
    pool = np.setdiff1d(np.arange(n), keep, assume_unique=True)
    extra = np.random.default_rng(seed).choice(pool, max_points - len(keep), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def map_positions(index: str, view: Any, root: Any = None) -> tuple[np.ndarray, str]:
    """(xy (n, 2), description): the cached UMAP map of ``view``, else the PCA view (say which)."""
    from core.projection import load_projection, pca_view

    projection = load_projection(index, view, root)
    if projection is not None:
        return projection.xy, "UMAP (cosine)"
    return pca_view(view.matrix), "PCA (the UMAP map was not computed yet)"


def beside(anchor: np.ndarray, xy: np.ndarray, distance: float = BESIDE) -> np.ndarray:
    """Positions ``distance`` x the map's extent away from ``anchor`` (r, 2), pointing away from the centre."""
    if len(xy) == 0:
        return anchor.copy()
    centre = np.median(xy, axis=0)
    extent = float(np.ptp(xy, axis=0).max()) or 1.0
    direction = anchor - centre
    norm = np.linalg.norm(direction, axis=1, keepdims=True)
    direction = np.where(norm > 1e-9, direction / np.maximum(norm, 1e-9), np.array([[0.0, 1.0]]))
    return (anchor + direction * distance * extent).astype(np.float32)


def build_replay(matrix: np.ndarray, xy: np.ndarray, history: Sequence[Any], rows: np.ndarray,
                 threshold: float = 0.0) -> Replay:
    """The replay of ``history`` (checkpoints with w, bias, round, metrics) over ``rows`` of ``matrix`` (n, dim)."""
    rows = np.asarray(rows, dtype=np.int64)
    W, b, rounds = weights(list(history))
    scores = round_scores(matrix[rows], W, b) if len(W) else np.zeros((0, len(rows)), np.float32)
    anchor = place_directions(W, matrix, xy) if len(W) else np.zeros((0, 2), np.float32)
    w_xy = beside(anchor, xy[rows]) if len(W) else anchor
    decided = [decides(c.metrics) for c in history]
    none = np.zeros(0, np.int64)
    positive = [np.flatnonzero(s > threshold) if decided[i] else none for i, s in enumerate(scores)]
    flipped = [none] + [
        np.flatnonzero((scores[i] > threshold) != (scores[i - 1] > threshold)) if decided[i - 1] and decided[i]
        else none for i in range(1, len(scores))
    ]
    return Replay(
        rounds=rounds, rows=rows, xy=xy[rows].astype(np.float32), scores=scores.astype(np.float32), w_xy=w_xy,
        anchor_xy=anchor, ap=[c.metrics.get("ap") for c in history],
        n_ratings=[c.metrics.get("n_ratings") for c in history], threshold=float(threshold),
        positive=positive, flipped=flipped, decided=decided,
    )


def decides(metrics: dict[str, Any]) -> bool:
    """Whether a round's classifier was fitted to ratings (so its threshold decides); the start was not."""
    return metrics.get("n_ratings") != 0


def flips_shown(replay: Replay, i: int) -> bool:
    """Whether round position ``i`` has a flip count: it and the round before it both decide."""
    decided = replay.decided or [True] * len(replay.rounds)
    return i > 0 and decided[i] and decided[i - 1]


def span_text(span: float) -> str:
    """A colour span as the legend and captions say it: ``±1.80`` (``±0.0004`` for a tiny one, never ``±0.00``)."""
    return f"±{span:.2f}" if span >= 0.01 else f"±{span:.1g}"


def round_caption(replay: Replay, i: int) -> str:
    """"Round 3 of 9 · 30 ratings · AP 0.812 · 42 predicted positive · 5 flipped · colours ±1.80 logit" for
    round position ``i`` (the colours' span is that round's own: ``Replay.span``)."""
    parts = [f"Round {replay.rounds[i]} of {replay.rounds[-1]}"]
    if replay.n_ratings[i] is not None:
        parts.append(f"{replay.n_ratings[i]} ratings")
    if replay.ap[i] is not None:
        parts.append(f"AP {replay.ap[i]:.3f}")
    n = len(replay.rows)
    if replay.decided and not replay.decided[i]:
        parts.append("the start: a ranking, no decision yet (predicted positives from the first rated round on)")
    else:
        parts.append(f"{len(replay.positive[i]):,} of {n:,} items predicted positive")
    if flips_shown(replay, i):
        parts.append(f"{len(replay.flipped[i]):,} flipped since round {replay.rounds[i - 1]}")
    parts.append(f"colours {span_text(replay.span(i))} logit")
    return " · ".join(parts)
