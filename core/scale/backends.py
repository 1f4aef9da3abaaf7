"""Scoring backends: where the ``X @ w`` of a requery runs. One API, three homes.

- ``NumpyBackend``: the in-memory float32 matrix of ``Store.vectors`` (today's path; ~30 ms at 1M x 512).
- ``TorchBackend``: a copy on the GPU in float16 when CUDA is present (~3.6 ms at 10M x 512 on an H100),
  else a float32 CPU tensor (what the tests run).
- ``core.scale.ray_shards.RayShardBackend``: slices held in float16 by Ray actors on any number of machines.

The primitives are the ones every strategy and policy is built from: ``top_k(by="score")`` (nearest),
``top_k(by="margin")`` (boundary), and ``vectors_at`` for random and diverse sampling, which the driver
does itself from the seen mask so all backends draw the same items. ``core.scale.exact`` says why
every backend returns identical rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from core.scale.exact import candidate_positions, error_bound, exact_top, storage_error


class Eligibility:
    """Which rows a query may return: one split (``codes == split_code``) minus ``excluded`` rows.

    codes: (n,) uint8 split code per row; split_code: None for every split; excluded: sorted global rows.
    """

    def __init__(self, codes: np.ndarray, split_code: int | None, excluded: np.ndarray) -> None:
        self.codes, self.split_code = codes, split_code
        self.excluded = np.unique(np.asarray(excluded, dtype=np.int64))

    def mask(self, start: int, stop: int, codes: np.ndarray | None = None) -> np.ndarray | None:
        """Bool mask of rows ``start..stop`` (None when all are eligible)."""
        codes = self.codes[start:stop] if codes is None else codes
        mask = None if self.split_code is None else codes == self.split_code
        lo, hi = np.searchsorted(self.excluded, [start, stop])
        if hi > lo:
            mask = np.ones(stop - start, dtype=bool) if mask is None else mask.copy()
            mask[self.excluded[lo:hi] - start] = False
        return mask


class ScoringBackend(ABC):
    """Exact top-k primitives over n vectors of dimension dim; rows are positions in the index's scan order."""

    name = ""
    n: int
    dim: int

    @abstractmethod
    def top_k(self, w: np.ndarray, b: float, k: int, by: str, split_code: int | None, excluded: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, float64 scores) of the k best eligible rows by ``by`` ("score" or "margin"), exact."""

    @abstractmethod
    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), dim) float32: the stored vectors of ``rows``."""

    @abstractmethod
    def scores(self, w: np.ndarray, b: float) -> np.ndarray:
        """(n,) float32 approximate logits of every row (for metrics, not for picking)."""

    def close(self) -> None:
        """Release what the backend holds (actors, GPU memory)."""
        self.closed = True


class NumpyBackend(ScoringBackend):
    """The in-process float32 matrix; candidates and their vectors come straight from it."""

    name = "numpy"

    def __init__(self, matrix: np.ndarray, codes: np.ndarray) -> None:
        self.matrix, self.codes = matrix, codes
        self.n, self.dim = matrix.shape
        self._norm_max: float | None = None

    def _norm(self) -> float:
        if self._norm_max is None:
            self._norm_max = storage_error(self.matrix)[1] if self.n else 1.0
        return self._norm_max

    def scores(self, w, b):
        from core.vectors import score_all

        return score_all(self.matrix, np.asarray(w, dtype=np.float32), float(b))

    def _approx(self, w, b) -> tuple[np.ndarray, float]:
        """Scores and their error bound, kept for the last (w, b): a mixed batch asks twice."""
        key = (np.asarray(w, dtype=np.float32).tobytes(), float(b))
        if getattr(self, "_last", (None,))[0] != key:
            approx = self.scores(w, b)
            delta = error_bound(self.dim, w, b, float(np.abs(approx).max(initial=0.0)), 0.0, self._norm())
            self._last = (key, approx, delta)
        return self._last[1], self._last[2]

    def top_k(self, w, b, k, by, split_code, excluded):
        approx, delta = self._approx(w, b)
        eligible = Eligibility(self.codes, split_code, excluded).mask(0, self.n)
        rows = candidate_positions(approx, eligible, k, by, delta)
        return exact_top(rows, self.matrix[rows], w, b, k, by)

    def vectors_at(self, rows):
        return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)], dtype=np.float32)


class TorchBackend(ScoringBackend):
    """A torch copy of the matrix: float16 on a CUDA device when present, float32 on the CPU otherwise.

    Scoring converts float16 blocks to float32 before multiplying, so the error bound stays that of
    float32 arithmetic plus the (measured) storage error. Candidates are rescored from the host matrix.
    """

    name = "torch"

    def __init__(self, matrix: np.ndarray, codes: np.ndarray, device: str | None = None,
                 dtype: str | None = None, block_rows: int = 1 << 20) -> None:
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.half = (dtype or ("float16" if self.device.startswith("cuda") else "float32")) == "float16"
        self.matrix, self.codes, self.block_rows = matrix, codes, block_rows
        self.n, self.dim = matrix.shape
        self.eps, self.norm_max = storage_error(matrix) if self.n else (0.0, 1.0)
        if not self.half:
            self.eps = 0.0
        tensor = torch.from_numpy(np.ascontiguousarray(matrix))
        self.tensor = tensor.to(self.device, dtype=torch.float16 if self.half else torch.float32)

    def scores(self, w, b):
        import torch

        wt = torch.from_numpy(np.asarray(w, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            if not self.half:
                out = torch.mv(self.tensor, wt)
            else:
                out = torch.cat([torch.mv(self.tensor[s : s + self.block_rows].float(), wt)
                                 for s in range(0, self.n, self.block_rows)]) if self.n else wt.new_empty(0)
            out = out + float(b)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def top_k(self, w, b, k, by, split_code, excluded):
        approx = self.scores(w, b)
        delta = error_bound(self.dim, w, b, float(np.abs(approx).max(initial=0.0)), self.eps, self.norm_max)
        eligible = Eligibility(self.codes, split_code, excluded).mask(0, self.n)
        rows = candidate_positions(approx, eligible, k, by, delta)
        return exact_top(rows, self.matrix[rows], w, b, k, by)

    def vectors_at(self, rows):
        return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def close(self) -> None:
        self.tensor = None
