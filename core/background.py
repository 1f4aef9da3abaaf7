"""The unrated items a fit treats as weak negatives: one fixed random sample of the pool.

Why: a rare concept's unrated items are almost all negatives, so a fixed sample of them, worth a
few ratings in all (``TrainConfig.background_weight``), says what "not the concept" looks like
before any negative is rated: while the first batches are all positive, ``w`` moves away from the
bulk of the data instead of the bias absorbing every rating. Measured on real text (issue 10,
``benchmarks/real_text_efficiency.py``): mean AP after 100 ratings up and drops between rounds
fewer; see ``core/classifier.py``. The sample is the same for every fit (seeded, independent of
the concept), so a refit, an undo and a replay of the same ratings give the same ``w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SEED = 0


def background_rows(pool_rows: np.ndarray, size: int) -> np.ndarray:
    """A fixed sample of ``size`` rows of the pool (all of them when it is smaller), sorted."""
    pool_rows = np.asarray(pool_rows, dtype=np.int64)
    if size <= 0 or not len(pool_rows):
        return np.empty(0, dtype=np.int64)
    if len(pool_rows) <= size:
        return np.sort(pool_rows)
    chosen = np.random.default_rng(SEED).choice(len(pool_rows), size=size, replace=False)
    return np.sort(pool_rows[chosen])


def unrated(rows: np.ndarray, rated_rows: np.ndarray) -> np.ndarray:
    """Mask over ``rows``: True where the row has not been rated (a rated item counts by its rating)."""
    return ~np.isin(rows, np.asarray(rated_rows, dtype=np.int64))


@dataclass
class Background:
    """The sample a fit with some ``TrainConfig`` uses: its pool rows and their vectors, read once.

    rows: (m,) sorted pool rows (empty when the config turns the background off); vectors: (m, dim).
    """

    rows: np.ndarray
    vectors: np.ndarray | None

    @classmethod
    def sample(cls, config: Any, pool_rows: np.ndarray, matrix: Any) -> Background:
        """``config.background_size`` rows of the pool (none when its weight is 0), vectors from ``matrix``."""
        size = config.background_size if config.background_weight > 0 else 0
        rows = background_rows(pool_rows, size)
        return cls(rows, np.asarray(matrix[rows], dtype=np.float32) if len(rows) else None)

    def excluding(self, rated_rows: np.ndarray) -> np.ndarray | None:
        """The sample's vectors less the rated items' (what ``LinearHead.fit`` takes), None when it is off."""
        if self.vectors is None:
            return None
        return self.vectors[unrated(self.rows, rated_rows)]
