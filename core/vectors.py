"""Exact scoring and top-k over an in-memory matrix of unit vectors.

Why NumPy and not the vector database: a float32 matvec over a C-contiguous 1M x 512 matrix takes
~30 ms on 2 cores (measured with ``benchmarks/requery_latency.py``; OpenBLAS sgemv already uses both
cores, and chunking it over a thread pool was slower, ~40 ms), while LanceDB's flat search takes
~1.5 s and IVF_PQ recalls only ~40% of the true top-10 for a weight-vector query. Selecting k items
from the scores with ``np.argpartition`` costs ~1-2 ms more, so the whole requery stays exact.

float16 storage halves memory; NumPy has no fast float16 matvec (~1.4 s at 1M), so float16
matrices are scored through ``torch.mv`` (~21 ms at 1M), imported lazily.
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def score_all(vectors: np.ndarray, w: np.ndarray, b: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """Logits ``vectors @ w + b`` for every item.

    Parameters
    ----------
    vectors : np.ndarray, shape (n, dim), float32 (or float16)
        Item embeddings, ideally C-contiguous (a strided view forces a slow copy in BLAS).
    w : np.ndarray, shape (dim,)
        Weight vector of the linear head.
    b : float
        Bias added to every score.
    out : np.ndarray, shape (n,), float32, optional
        Preallocated output, reused between rounds to avoid a fresh allocation per requery.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D (n, dim), got shape {vectors.shape}")
    n, dim = vectors.shape
    w = np.asarray(w)
    if w.shape != (dim,):
        raise ValueError(f"w has shape {w.shape}, expected ({dim},) to match the vectors")
    if out is None:
        out = np.empty(n, dtype=np.float32)
    elif out.shape != (n,) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape ({n},), got {out.dtype} {out.shape}")
    if vectors.dtype == np.float16:
        import torch  # lazy: only float16 storage needs it

        res = torch.mv(torch.from_numpy(vectors), torch.from_numpy(w.astype(np.float16)))
        out[:] = res.float().numpy()
    else:
        np.dot(vectors, w.astype(vectors.dtype, copy=False), out=out)
    if b:
        out += np.float32(b)
    return out


def scratch(n: int, name: str = "key") -> np.ndarray:
    """A reusable float32 work array of shape (n,), one per name and thread.

    Why: a fresh 4 MB array per requery at 1M items costs ~1 ms in page faults (the allocator
    hands large blocks back to the OS on free); reusing one keeps selection at ~2 ms. Contents
    are garbage; the array is overwritten by the next call in the same thread.
    """
    bufs: dict[str, np.ndarray] = _local.__dict__.setdefault("bufs", {})
    arr = bufs.get(name)
    if arr is None or arr.shape[0] != n:
        arr = np.empty(n, dtype=np.float32)
        bufs[name] = arr
    return arr


def top_k(values: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """Indices of the k best values, best first, ties broken by lower index.

    Exact and deterministic: equal to the first k of a stable sort of ``-values`` (``largest``) or
    ``values``. ``np.argpartition`` finds the k-th value in O(n); only the candidates at least that
    good (ties included) are then sorted. Exclude items by setting them to ``-inf`` (largest) or
    ``+inf`` (smallest) beforehand.

    Parameters
    ----------
    values : np.ndarray, shape (n,), no NaN
    k : int
        Number wanted; capped at n.
    largest : bool
        True for the highest values, False for the lowest.

    Returns
    -------
    np.ndarray, shape (min(k, n),), int64
    """
    values = np.asarray(values)
    n = values.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if np.isnan(values).any():
        raise ValueError("values contain NaN; top-k is undefined")
    if k == n:
        cand = np.arange(n, dtype=np.int64)
    elif largest:
        kth = values[np.argpartition(values, n - k)[n - k]]
        cand = np.flatnonzero(values >= kth)
    else:
        kth = values[np.argpartition(values, k - 1)[k - 1]]
        cand = np.flatnonzero(values <= kth)
    sub = values[cand]
    order = np.lexsort((cand, -sub if largest else sub))[:k]
    return cand[order].astype(np.int64, copy=False)
