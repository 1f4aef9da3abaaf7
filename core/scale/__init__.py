"""Scale-out: scoring backends, Ray indexing, and which backend a teaching session uses.

``backend_for(store, index)`` picks, from ``FEWSHOT_SCORING`` (``auto`` | ``numpy`` | ``torch`` | ``ray``):
- ``ray`` when asked, or under ``auto`` when Ray is already connected in this process and the float32
  matrix would exceed ``FEWSHOT_SCORING_MEMORY_GB`` (default: half this machine's memory): the
  driver then holds ids, splits and labels only (``light_view``), the vectors live on the actors;
- ``torch`` when asked, or under ``auto`` when CUDA is present and the index has >= 500k rows;
- ``numpy`` otherwise (today's path, nothing new imported).
``FEWSHOT_RAY_SHARDS`` sets the number of actors (default: one per CPU Ray reports, at most 64).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

import numpy as np

from core.errors import FewshotError
from core.scale.backends import NumpyBackend, ScoringBackend, TorchBackend

SCORING_ENV = "FEWSHOT_SCORING"
MEMORY_ENV = "FEWSHOT_SCORING_MEMORY_GB"
SHARDS_ENV = "FEWSHOT_RAY_SHARDS"
KINDS = ("auto", "numpy", "torch", "ray")
SPLIT_CODES = {"train": 0, "validation": 1}

_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def split_codes(split: np.ndarray) -> np.ndarray:
    """(n,) uint8 codes of a view's split column (255 for anything else)."""
    codes = np.full(len(split), 255, dtype=np.uint8)
    for name, code in SPLIT_CODES.items():
        codes[split == name] = code
    return codes


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")  # never import Ray just to ask
    return bool(ray is not None and ray.is_initialized())


@functools.cache
def _cuda() -> bool:
    """Whether torch sees a GPU; without an NVIDIA device node torch is not imported just to ask (~1.5 s)."""
    if "torch" not in sys.modules and not (os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia")):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a runtime requirement
        return False


def choose_kind(n: int, dim: int, kind: str | None = None) -> str:
    """The backend kind for an index of n x dim under the configuration (see the module docstring)."""
    kind = (kind or os.environ.get(SCORING_ENV) or "auto").strip().lower()
    if kind not in KINDS:
        raise FewshotError(f"{SCORING_ENV}={kind!r} is not one of {', '.join(KINDS)}")
    if kind != "auto":
        return kind
    budget = os.environ.get(MEMORY_ENV)
    if budget:
        limit = float(budget) * 2**30
    else:
        import psutil

        limit = psutil.virtual_memory().total / 2
    if _ray_connected() and n * dim * 4 > limit:
        return "ray"
    if n >= 500_000 and _cuda():
        return "torch"
    return "numpy"


class RemoteMatrix:
    """Stands in for ``VectorView.matrix`` when the vectors live on Ray actors: rows on demand only."""

    def __init__(self, backend: ScoringBackend) -> None:
        self.backend = backend
        self.shape = (backend.n, backend.dim)
        self.ndim, self.dtype = 2, np.dtype(np.float32)

    def __len__(self) -> int:
        return self.backend.n

    def __getitem__(self, rows) -> np.ndarray:
        return self.backend.vectors_at(np.asarray(rows, dtype=np.int64).reshape(-1))

    def __array__(self, *args, **kwargs):
        raise FewshotError(
            "this index is scored on Ray actors and its vectors are not held here; this operation needs "
            f"them all in memory (set {SCORING_ENV}=numpy on a machine large enough)"
        )


def light_view(store, index: str, version: int):
    """A ``VectorView`` with ids, splits and labels but no vectors (``matrix`` is filled in by the caller)."""
    from core.store import VectorView

    table = store.items_table(index)
    label_columns = list(store.get_index(index).label_columns)
    extra = label_columns[1:] if "labels" in table.schema.names else []
    data = table.search().select(["id", "split", "label"] + (["labels"] if extra else [])).limit(None).to_arrow()
    ids, split, labels = (np.asarray(data.column(c).to_pylist(), dtype=object) for c in ("id", "split", "label"))
    others = {}
    if extra:
        lists = data.column("labels").to_pylist()
        for j, column in enumerate(extra, start=1):
            others[column] = np.asarray([row[j] if row and len(row) > j else None for row in lists], dtype=object)
    return VectorView(ids=ids, split=split, labels=labels, matrix=None, version=version,
                      label_columns=label_columns, other_labels=others)


def backend_for(store, index: str, kind: str | None = None) -> tuple[ScoringBackend, Any]:
    """(backend, view) for the index's current table version, cached per store, index and kind."""
    kind = (kind or os.environ.get(SCORING_ENV) or "auto").strip().lower()
    if kind == "auto" and not _ray_connected() and not _cuda():
        kind = "numpy"  # the common case decided without reading the index's metadata
    else:
        info = store.get_index(index)
        kind = choose_kind(info.n_items, info.dim, kind)
    version = store.items_table(index).version
    key = (id(store), str(store.location), index, kind)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version and not getattr(cached[1], "broken", False):
            return cached[1], cached[2]
        if cached is not None:
            cached[1].close()
        if kind == "ray":
            backend, view = _ray_backend(store, index, version)
        else:
            view = store.vectors(index)
            codes = split_codes(view.split)
            backend = NumpyBackend(view.matrix, codes) if kind == "numpy" else TorchBackend(view.matrix, codes)
        _cache[key] = (version, backend, view)
        return backend, view


def _ray_backend(store, index: str, version: int):
    from core.scale.ray_shards import RayShardBackend, connect_ray

    ray = connect_ray(os.environ.get("RAY_ADDRESS") or None)

    view = light_view(store, index, version)
    shards = int(os.environ.get(SHARDS_ENV) or min(64, max(1, int(ray.cluster_resources().get("CPU", 1)))))
    dataset = store.items_table(index).to_lance()
    backend = RayShardBackend.from_lance(dataset.uri, version, len(view.ids), shards, SPLIT_CODES,
                                         store.location.storage_options or None)
    view.matrix = RemoteMatrix(backend)
    return backend, view


def clear_backends() -> None:
    """Close every cached backend (their actors or GPU copies)."""
    with _lock:
        for _, backend, _ in _cache.values():
            backend.close()
        _cache.clear()
