"""The strategies of ``core.selection``, run on any scoring backend through four primitives.

``Query`` holds one requery's state (the split's rows, what is already taken) and offers the
primitives every strategy and policy is composed of: ``nearest`` (top-k by score), ``boundary``
(top-k by smallest |score|), ``random`` and ``diverse``. Each call marks what it returned as taken,
so parts of a batch never repeat an item. Random and diverse sampling run here, on the driver, from
the same seen mask and generator as ``core.selection`` (diverse reads only the ~2,048 sampled vectors
from the backend), so they draw the same items whatever the backend.

Indices are positions within the split (``split_rows[i]`` is the row in the index), as in
``core.selection``.
"""

from __future__ import annotations

import numpy as np

from core.scale.backends import ScoringBackend
from core.selection import Diverse, Mixed, _check, _sample_unseen, get_strategy


class RowGather:
    """Looks like the split's (n, dim) matrix to ``Diverse``; reads only the rows it is asked for."""

    def __init__(self, backend: ScoringBackend, split_rows: np.ndarray) -> None:
        self.backend, self.split_rows = backend, split_rows
        self.shape = (len(split_rows), backend.dim)
        self.ndim = 2

    def __getitem__(self, positions) -> np.ndarray:
        return self.backend.vectors_at(self.split_rows[np.asarray(positions, dtype=np.int64)])


class Query:
    """One requery of ``w, b`` over one split on ``backend``; ``seen``: (len(split_rows),) bool."""

    def __init__(self, backend: ScoringBackend, w: np.ndarray, b: float, split_rows: np.ndarray,
                 split_code: int | None, seen: np.ndarray, rng: np.random.Generator) -> None:
        self.backend, self.w, self.b = backend, np.asarray(w, dtype=np.float32), float(b)
        self.split_rows, self.split_code, self.rng = split_rows, split_code, rng
        self.taken = np.asarray(seen, dtype=bool).copy()
        self.scores: dict[int, float] = {}  # float64 logits of picked positions (top-k primitives)

    @property
    def n_left(self) -> int:
        return int(self.taken.size - np.count_nonzero(self.taken))

    def _take(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        self.taken[positions] = True
        return positions

    def _top(self, k: int, by: str, take: bool = True) -> np.ndarray:
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        excluded = self.split_rows[self.taken]
        rows, scores = self.backend.top_k(self.w, self.b, k, by, self.split_code, excluded)
        positions = np.searchsorted(self.split_rows, rows)
        self.scores.update(zip(positions.tolist(), scores.tolist(), strict=True))
        return self._take(positions) if take else positions.astype(np.int64)

    def nearest(self, k: int) -> np.ndarray:
        """The k highest scores among what is not taken, best first (ties: lower row)."""
        return self._top(k, "score")

    def boundary(self, k: int) -> np.ndarray:
        """The k scores closest to 0 among what is not taken, closest first."""
        return self._top(k, "margin")

    def boundary_spread(self, k: int, band_factor: int) -> np.ndarray:
        """k items near the boundary and unlike each other: ``core.policy.spread_out`` over the
        ``band_factor * k`` untaken items nearest it (reads only their vectors from the backend)."""
        from core.policy import spread_out

        if k <= 0:
            return np.empty(0, dtype=np.int64)
        band = self._top(min(band_factor * k, self.n_left), "margin", take=False)
        logits = np.array([self.scores[int(p)] for p in band], dtype=np.float64)
        vectors = self.backend.vectors_at(self.split_rows[band])
        return self._take(band[spread_out(logits, vectors, k)])

    def random(self, k: int) -> np.ndarray:
        """k untaken items uniformly at random, in the order drawn."""
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        return self._take(_sample_unseen(self.taken, min(k, self.n_left), self.rng))

    def deep(self, k: int, factor: int) -> np.ndarray:
        """k untaken items drawn at random from the ``factor * k`` best-scored ones, best first
        (``core.policy``'s "deep" exploration: below the very top, still where positives are likely)."""
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        band = self._top(min(factor * k, self.n_left), "score", take=False)
        chosen = np.sort(self.rng.choice(len(band), size=min(k, len(band)), replace=False))
        return self._take(band[chosen])

    def diverse(self, k: int, sample_size: int = 2048) -> np.ndarray:
        """k spread-out untaken items (k-means++ seeding over a random sample; ``core.selection.Diverse``)."""
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        picked = Diverse(sample_size).select(None, min(k, self.n_left), self.taken, rng=self.rng,
                                             vectors=RowGather(self.backend, self.split_rows))
        return self._take(picked)


def run_strategy(name: str, query: Query, k: int) -> np.ndarray:
    """Positions picked by the named strategy, equal to ``get_strategy(name).select`` on exact scores."""
    strategy = get_strategy(name)
    _check(None, k, query.taken)  # PoolExhausted / bad k, as the in-process strategies raise them
    k = min(k, query.n_left)
    if isinstance(strategy, Mixed):
        n_near, n_bound, n_rand = strategy.counts(k)
        return np.concatenate([query.nearest(n_near), query.boundary(n_bound), query.random(n_rand)])
    if isinstance(strategy, Diverse):
        return query.diverse(k, strategy.sample_size)
    return {"nearest": query.nearest, "boundary": query.boundary, "random": query.random}[strategy.name](k)


def run_plan(plan, query: Query) -> np.ndarray:
    """Positions picked by a ``core.policy.Plan``: each part among what earlier parts left, in plan order,
    the same as ``core.policy.select_plan`` on exact scores."""
    from core.policy import BOUNDARY_BAND, DEEP_FACTOR

    k = sum(plan.counts.values())
    _check(None, max(k, 1), query.taken)
    picked: list[np.ndarray] = []
    for part in plan.parts:
        want = min(plan.counts[part], query.n_left)
        if want <= 0:
            continue
        if part == "deep":
            picked.append(query.deep(want, DEEP_FACTOR))
        elif part == "boundary":
            picked.append(query.boundary_spread(want, BOUNDARY_BAND))
        else:
            picked.append({"nearest": query.nearest, "diverse": query.diverse}[part](want))
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
