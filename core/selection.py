"""Strategies that pick the next items to rate, one small class each under ``Strategy``.

Every strategy is exact: it returns the true top-k under its own criterion among the unseen items,
ties broken by lower index, so results can be checked against a brute-force ``argsort``. Scores come
from :func:`core.vectors.score_all` (``X @ w + b`` over the whole split; ~30 ms at 1M x 512 on
2 cores), selection itself adds a few ms (``np.argpartition``; no full sort).

Measured with ``benchmarks/learner_choice.py`` (29 tasks, 10 rounds of 10 ratings, the default
learner): ``boundary`` and ``Mixed(0.5, 0.5)`` both met the label-efficiency targets on every task
(final AP 0.924 / 0.916); pure ``nearest`` reached 0.895 but AP dropped by up to 0.14 after
all-negative batches (24/29 tasks met the targets) and ``random`` stalled at 0.80 on the rare
concepts (17/29). ``nearest`` still shows a person what the classifier believes; ``mixed`` keeps
that half of the batch while the other half does the learning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from core.errors import PoolExhausted
from core.vectors import score_all, scratch, top_k

__all__ = [
    "Boundary",
    "Diverse",
    "Mixed",
    "Nearest",
    "Random",
    "STRATEGIES",
    "Strategy",
    "get_strategy",
    "score_all",
]

EXHAUSTED_MESSAGE = "Every item in this split has been seen for this concept; reset seen items or switch split."


def _check(scores: np.ndarray | None, k: int, seen: np.ndarray) -> tuple[np.ndarray, int]:
    """Validate the common arguments; return (seen as bool array, number of unseen items)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be at least 1, got {k}")
    seen = np.asarray(seen)
    if seen.ndim != 1 or seen.dtype != np.bool_:
        raise ValueError(f"seen must be a 1-D bool array, got {seen.dtype} with shape {seen.shape}")
    if scores is not None and np.shape(scores) != seen.shape:
        raise ValueError(f"scores has shape {np.shape(scores)} but seen has shape {seen.shape}")
    n_unseen = seen.size - int(np.count_nonzero(seen))
    if n_unseen == 0:
        raise PoolExhausted(EXHAUSTED_MESSAGE)
    return seen, n_unseen


def _need_scores(scores: np.ndarray | None, name: str) -> np.ndarray:
    if scores is None:
        raise ValueError(f"the {name!r} strategy needs scores (X @ w + b)")
    scores = np.asarray(scores)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; the classifier weights are not finite")
    return scores


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


class Strategy(ABC):
    """Picks the next k unseen items to show.

    ``select`` returns indices into the n items, length ``min(k, unseen)``, never a seen one, in
    display order (best first). Raises ``PoolExhausted`` when nothing is unseen and ``ValueError``
    for k <= 0.
    """

    name: str = ""

    @abstractmethod
    def select(
        self,
        scores: np.ndarray | None,
        k: int,
        seen: np.ndarray,
        rng: np.random.Generator | None = None,
        vectors: np.ndarray | None = None,
    ) -> np.ndarray:
        """Pick items.

        Parameters
        ----------
        scores : np.ndarray, shape (n,), float32
            Logits ``X @ w + b`` of every candidate item (unused by ``Random`` and ``Diverse``).
        k : int
            Batch size wanted.
        seen : np.ndarray, shape (n,), bool
            True for items already rated or skipped for this concept.
        rng : np.random.Generator, optional
            Source of randomness for strategies that sample; seed it for reproducible batches.
        vectors : np.ndarray, shape (n, dim), optional
            The item embeddings (only ``Diverse`` needs them).

        Returns
        -------
        np.ndarray, shape (min(k, n_unseen),), int64
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Nearest(Strategy):
    """Highest score first: query by ``w``, shows what the classifier believes is positive."""

    name = "nearest"

    def select(self, scores, k, seen, rng=None, vectors=None) -> np.ndarray:
        seen, n_unseen = _check(scores, k, seen)
        key = scratch(seen.size)
        np.copyto(key, _need_scores(scores, self.name), casting="same_kind")
        key[seen] = -np.inf
        return top_k(key, min(k, n_unseen), largest=True)


class Boundary(Strategy):
    """Smallest |score| first: closest to the decision boundary.

    For one binary head, least confidence, smallest margin (breaking ties) and maximum entropy all
    order items the same way, by |logit|.
    """

    name = "boundary"

    def select(self, scores, k, seen, rng=None, vectors=None) -> np.ndarray:
        seen, n_unseen = _check(scores, k, seen)
        key = np.abs(_need_scores(scores, self.name), out=scratch(seen.size), casting="same_kind")
        key[seen] = np.inf
        return top_k(key, min(k, n_unseen), largest=False)


class Random(Strategy):
    """Uniform over unseen items: the baseline every other strategy must beat."""

    name = "random"

    def select(self, scores, k, seen, rng=None, vectors=None) -> np.ndarray:
        seen, n_unseen = _check(scores, k, seen)
        return _sample_unseen(seen, min(k, n_unseen), _rng(rng))


def _sample_unseen(seen: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct unseen indices, uniformly, in the order drawn.

    When most items are unseen, rejection sampling avoids building the (n,) index array of unseen
    items (8 MB at 1M); otherwise sample from that array.
    """
    n = seen.size
    n_unseen = n - int(np.count_nonzero(seen))
    if n_unseen >= n // 2 and k <= n_unseen // 4:
        picked: list[int] = []
        chosen: set[int] = set()
        while len(picked) < k:
            for i in rng.integers(0, n, size=2 * (k - len(picked)) + 8).tolist():
                if not seen[i] and i not in chosen:
                    chosen.add(i)
                    picked.append(i)
                    if len(picked) == k:
                        break
        return np.asarray(picked, dtype=np.int64)
    unseen = np.flatnonzero(~seen)
    return rng.choice(unseen, size=k, replace=False).astype(np.int64)


class Mixed(Strategy):
    """Shares of nearest, boundary and random in one batch, without duplicates.

    Counts are rounded by largest remainder so they sum to exactly k (ties go to the part listed
    first: nearest, boundary, random). Parts are filled in that order, each excluding what earlier
    parts took, and concatenated in that order; ``select_parts`` returns them separately.
    """

    name = "mixed"

    def __init__(self, nearest: float = 0.5, boundary: float = 0.5, random: float = 0.0) -> None:
        shares = np.array([nearest, boundary, random], dtype=float)
        if not np.all(np.isfinite(shares)) or (shares < 0).any() or shares.sum() <= 0:
            raise ValueError(
                f"shares must be non-negative with a positive sum, got nearest={nearest}, "
                f"boundary={boundary}, random={random}"
            )
        self.shares = shares / shares.sum()

    def __repr__(self) -> str:
        n, b, r = self.shares.tolist()
        return f"Mixed(nearest={n:g}, boundary={b:g}, random={r:g})"

    def counts(self, k: int) -> list[int]:
        """How many of k items each part gets (nearest, boundary, random); sums to k."""
        raw = self.shares * k
        base = np.floor(raw).astype(int)
        remainder = raw - base
        order = sorted(range(3), key=lambda i: (-remainder[i], i))
        for i in order[: k - int(base.sum())]:
            base[i] += 1
        return base.tolist()

    def select_parts(
        self,
        scores: np.ndarray | None,
        k: int,
        seen: np.ndarray,
        rng: np.random.Generator | None = None,
        vectors: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The batch split by part: ``{"nearest": idx, "boundary": idx, "random": idx}``."""
        seen, n_unseen = _check(scores, k, seen)
        scores = _need_scores(scores, self.name)
        n_near, n_bound, n_rand = self.counts(min(k, n_unseen))
        taken = seen.copy()
        parts: dict[str, np.ndarray] = {}
        key = scratch(seen.size)
        if n_near:
            np.copyto(key, scores, casting="same_kind")
            key[taken] = -np.inf
            parts["nearest"] = top_k(key, n_near, largest=True)
            taken[parts["nearest"]] = True
        else:
            parts["nearest"] = np.empty(0, dtype=np.int64)
        if n_bound:
            np.abs(scores, out=key, casting="same_kind")
            key[taken] = np.inf
            parts["boundary"] = top_k(key, n_bound, largest=False)
            taken[parts["boundary"]] = True
        else:
            parts["boundary"] = np.empty(0, dtype=np.int64)
        if n_rand:
            parts["random"] = _sample_unseen(taken, n_rand, _rng(rng))
        else:
            parts["random"] = np.empty(0, dtype=np.int64)
        return parts

    def select(self, scores, k, seen, rng=None, vectors=None) -> np.ndarray:
        parts = self.select_parts(scores, k, seen, rng=rng, vectors=vectors)
        return np.concatenate([parts["nearest"], parts["boundary"], parts["random"]])


class Diverse(Strategy):
    """Cold start without a prompt: greedy k-means++ seeding over a random sample of unseen vectors.

    Each next item is drawn with probability proportional to its squared distance to the nearest
    item picked so far (the best of ``2 + ln k`` such draws, as scikit-learn's k-means++ does), so
    the batch spreads over the clusters of the data while, unlike pure farthest-point, rarely
    picking lone outliers. The first item is the one most similar to the sample mean (a typical
    item). Cost: one (sample_size x dim) @ (dim x trials) product per pick; no scores needed.
    """

    name = "diverse"

    def __init__(self, sample_size: int = 2048) -> None:
        if sample_size < 1:
            raise ValueError(f"sample_size must be at least 1, got {sample_size}")
        self.sample_size = int(sample_size)

    def __repr__(self) -> str:
        return f"Diverse(sample_size={self.sample_size})"

    def select(self, scores, k, seen, rng=None, vectors=None) -> np.ndarray:
        seen, n_unseen = _check(scores, k, seen)
        if vectors is None:
            raise ValueError("the 'diverse' strategy needs the item vectors")
        if vectors.ndim != 2 or vectors.shape[0] != seen.shape[0]:
            raise ValueError(f"vectors has shape {vectors.shape}, expected ({seen.shape[0]}, dim)")
        rng = _rng(rng)
        k = min(k, n_unseen)
        m = min(self.sample_size, n_unseen)
        sample = np.sort(_sample_unseen(seen, m, rng))  # sorted: gather rows in memory order
        S = np.asarray(vectors[sample], dtype=np.float32)
        first = int(np.argmax(S @ S.mean(axis=0)))
        picked = [first]
        # unit vectors: squared distance = 2 - 2 cos; d2 = distance to the nearest picked item
        d2 = np.maximum(2.0 - 2.0 * (S @ S[first]).astype(np.float64), 0.0)
        d2[first] = 0.0
        n_trials = 2 + int(np.log(k))
        while len(picked) < k:
            total = float(d2.sum())
            if total <= 1e-12:  # every remaining point duplicates a picked one
                rest = np.setdiff1d(np.arange(m), picked)
                picked.extend(rest[: k - len(picked)].tolist())
                break
            cands = rng.choice(m, size=n_trials, p=d2 / total)
            D = np.maximum(2.0 - 2.0 * (S @ S[cands].T).astype(np.float64), 0.0)  # (m, trials)
            np.minimum(D, d2[:, None], out=D)
            best = int(np.argmin(D.sum(axis=0)))  # the draw that lowers the k-means cost most
            picked.append(int(cands[best]))
            d2 = D[:, best].copy()
            d2[picked] = 0.0
        return sample[np.asarray(picked, dtype=np.int64)]


STRATEGIES: dict[str, type[Strategy]] = {
    "nearest": Nearest,
    "boundary": Boundary,
    "mixed": Mixed,
    "random": Random,
    "diverse": Diverse,
}


def get_strategy(name: str, **kw: Any) -> Strategy:
    """Build a strategy by name (``nearest``, ``boundary``, ``mixed``, ``random``, ``diverse``).

    Keyword arguments go to the constructor, e.g. ``get_strategy("mixed", nearest=0.3,
    boundary=0.7)``. An unknown name raises ``ValueError`` listing the valid ones.
    """
    key = str(name).strip().lower()
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return STRATEGIES[key](**kw)
