"""What "exact" means for every scoring backend, and the arithmetic that makes it hold.

The true score of an item is ``x . w + b`` computed in float64 from the stored float32 vector ``x``.
A backend scores all items fast and approximately (float32 BLAS, or float16 storage on a GPU or in a
Ray shard); each approximate score is within ``delta`` of the true one, where ``delta`` follows from
the storage error ``eps = max ||x - x16||`` and the float32 summation bound ``gamma_d = d u / (1 - d u)``:

    |approx - true| <= (eps + gamma_d (norm_max + eps)) ||w|| + u (|approx| + |b|)

If ``t~`` is the k-th best approximate key among the eligible items, every item of the true top-k
has an approximate key within ``2 delta`` of ``t~`` (proof in ``candidate_positions``). Each backend
(and each Ray shard) returns those candidates with their float32 vectors; the driver rescores them
in float64 and keeps the k best, ties to the lower row. So every backend returns the same rows in
the same order: identical, not merely close.
"""

from __future__ import annotations

import numpy as np

U32 = 2.0**-24  # unit roundoff of float32
U16 = 2.0**-11  # unit roundoff of float16
SAFETY = 2.0  # the bound is rigorous; the factor covers fused multiply-adds and the bias addition order


def error_bound(dim: int, w: np.ndarray, b: float, max_abs_score: float, eps: float = 0.0,
                norm_max: float = 1.0, half_product: bool = False) -> float:
    """``delta``: how far an approximate score may be from the float64 truth.

    ``half_product``: the product ran in float16 (``w`` rounded to float16, float32 accumulation, the
    result rounded to float16, as ``torch.mv`` on float16 CPU tensors does): adds ``u16 (norm + eps) ||w||``
    for rounding ``w`` and ``2 u16 max|score|`` for rounding the result.
    """
    gamma = dim * U32 / (1.0 - dim * U32)
    w_norm = float(np.linalg.norm(np.asarray(w, dtype=np.float64)))
    bound = (eps + gamma * (norm_max + eps) * (1 + U16)) * w_norm + U32 * (abs(max_abs_score) + abs(float(b)))
    if half_product:
        bound += U16 * (norm_max + eps) * w_norm + 2 * U16 * abs(max_abs_score)
    return SAFETY * bound + 1e-12 * (w_norm + abs(float(b)) + 1.0)


def sort_key(scores: np.ndarray, by: str) -> np.ndarray:
    """Larger is better: the score itself (``by="score"``) or minus its distance to the boundary (``"margin"``)."""
    if by == "score":
        return scores
    if by == "margin":
        return -np.abs(scores)
    raise ValueError(f"unknown ranking {by!r}: use 'score' or 'margin'")


def candidate_positions(approx: np.ndarray, eligible: np.ndarray | None, k: int, by: str, delta: float) -> np.ndarray:
    """Positions (ascending) whose approximate key may put them in the true top-k of the eligible items.

    Why it is enough: say ``t`` is the k-th best true key and ``t~`` the k-th best approximate key.
    At least k items have approximate key >= ``t~``, hence true key >= ``t~ - delta``, so
    ``t >= t~ - delta``. An item of the true top-k has true key >= ``t``, hence approximate key >=
    ``t - delta >= t~ - 2 delta``. Ties at ``t`` are included too, so the driver can break them by row.
    """
    key = sort_key(approx.astype(np.float64, copy=False), by)
    if eligible is not None:
        key = np.where(eligible, key, -np.inf)
        n_eligible = int(np.count_nonzero(eligible))
    else:
        n_eligible = key.shape[0]
    k = min(int(k), n_eligible)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(key, key.shape[0] - k)[key.shape[0] - k]
    return np.flatnonzero(key >= kth - 2.0 * delta).astype(np.int64)


def exact_scores(vectors: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """float64 ``x . w + b`` per row; the same per row whatever else is in ``vectors`` (no BLAS blocking)."""
    v = np.asarray(vectors, dtype=np.float64)
    return (v * np.asarray(w, dtype=np.float64)[None, :]).sum(axis=1) + float(b)


def exact_top(rows: np.ndarray, vectors: np.ndarray, w: np.ndarray, b: float, k: int, by: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, float64 scores) of the k best candidates by the true score, ties to the lower row."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return rows, np.empty(0, dtype=np.float64)
    scores = exact_scores(vectors, w, b)
    order = np.lexsort((rows, -sort_key(scores, by)))[: int(k)]
    return rows[order], scores[order]


def storage_error(matrix32: np.ndarray, chunk: int = 65_536) -> tuple[float, float]:
    """(max ||x - float16(x)||, max ||x||) over the rows, chunk by chunk (no full-size temporary)."""
    eps, norm = 0.0, 0.0
    for start in range(0, matrix32.shape[0], chunk):
        block = np.asarray(matrix32[start : start + chunk], dtype=np.float32)
        diff = block - block.astype(np.float16).astype(np.float32)
        eps = max(eps, float(np.sqrt((diff.astype(np.float64) ** 2).sum(axis=1)).max(initial=0.0)))
        norm = max(norm, float(np.sqrt((block.astype(np.float64) ** 2).sum(axis=1)).max(initial=0.0)))
    return eps, norm
