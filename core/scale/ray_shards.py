"""Sharded exact scoring on Ray actors: each actor holds one slice of the vectors in float16.

An actor reads its rows straight from the index's Lance dataset (local or in a bucket), so the driver
never holds the matrix. A requery sends ``w`` to every actor; each returns the candidates of its own
top-k (``core.scale.exact.candidate_positions``) with their float32 vectors read back from Lance; the
driver rescores them in float64 and merges. Memory per actor: 2 bytes x dim per row (768 MB per
million 384-d rows), plus one float32 block while scoring.

Ray is imported here only; nothing on the local path imports this module.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import FewshotError
from core.scale.backends import Eligibility, ScoringBackend
from core.scale.exact import candidate_positions, error_bound, exact_top, storage_error

#: How long the driver waits for the actors (loading a slice, answering a query) before it says so.
CALL_TIMEOUT_S = float(os.environ.get("FEWSHOT_RAY_TIMEOUT_S", "600"))
BLOCK_ROWS = 1 << 16  # float32 scratch per block: 64k x 384 x 4 B = 96 MB


@dataclass
class ShardSpec:
    """Where a shard's rows come from: a Lance dataset slice, or synthetic rows (benchmarks)."""

    offset: int
    count: int
    uri: str | None = None
    version: int | None = None
    storage_options: dict[str, str] | None = None
    split_codes: dict[str, int] | None = None
    dim: int = 0
    seed: int = 0  # synthetic: rows drawn from np.random.default_rng((seed, offset))


class _Shard:
    """The actor's body (a plain class, so tests and the benchmark can also run it in-process)."""

    def __init__(self, spec: ShardSpec) -> None:
        self.spec = spec
        self.offset, self.count = spec.offset, spec.count
        if spec.uri is not None:
            self._load_lance(spec)
        else:
            self._make_synthetic(spec)

    def _dataset(self):
        """The index's Lance dataset at the version this shard loaded (opened once per actor)."""
        if getattr(self, "_opened", None) is None:
            import lance

            self._opened = lance.dataset(self.spec.uri, version=self.spec.version,
                                         storage_options=self.spec.storage_options)
        return self._opened

    def _load_lance(self, spec: ShardSpec) -> None:
        dataset = self._dataset()
        self.dim = dataset.schema.field("vector").type.list_size
        self.matrix = np.empty((spec.count, self.dim), dtype=np.float16)
        self.codes = np.zeros(spec.count, dtype=np.uint8)
        self.eps, self.norm_max, filled = 0.0, 0.0, 0
        scanner = dataset.to_batches(columns=["vector", "split"], offset=spec.offset, limit=spec.count,
                                     batch_size=65_536, scan_in_order=True)
        for batch in scanner:
            m = batch.num_rows
            block = batch.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(m, self.dim)
            eps, norm = storage_error(block)
            self.eps, self.norm_max = max(self.eps, eps), max(self.norm_max, norm)
            self.matrix[filled : filled + m] = block
            codes = spec.split_codes or {}
            self.codes[filled : filled + m] = [codes.get(s, 255) for s in batch.column("split").to_pylist()]
            filled += m
        if filled != spec.count:
            raise RuntimeError(f"shard at {spec.offset} read {filled} rows, expected {spec.count}")

    def _make_synthetic(self, spec: ShardSpec) -> None:
        """Unit rows; global block j (``BLOCK_ROWS`` rows) is drawn from ``default_rng((seed, j))``, so shards
        starting on block boundaries hold exactly the rows one process would."""
        if spec.offset % BLOCK_ROWS:
            raise ValueError(f"a synthetic shard must start at a multiple of {BLOCK_ROWS} rows")
        self.dim = spec.dim
        self.matrix = np.empty((spec.count, spec.dim), dtype=np.float16)
        for start in range(0, spec.count, BLOCK_ROWS):
            rng = np.random.default_rng((spec.seed, (spec.offset + start) // BLOCK_ROWS))
            block = rng.random((min(BLOCK_ROWS, spec.count - start), spec.dim), dtype=np.float32)
            block -= 0.5  # uniform in a cube (cheaper to draw than a normal), then unit length
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            self.matrix[start : start + len(block)] = block
        self.codes = np.zeros(spec.count, dtype=np.uint8)
        self.eps, self.norm_max = 0.0, 1.01  # the float16 rows are the data: no storage error

    def info(self) -> dict[str, Any]:
        import psutil

        return {"offset": self.offset, "count": self.count, "dim": self.dim, "eps": self.eps,
                "bytes": int(self.matrix.nbytes),
                "rss": int(psutil.Process(os.getpid()).memory_info().rss)}

    def _approx(self, w32: np.ndarray, b: float) -> np.ndarray:
        """Approximate float32 scores straight from the float16 rows: ``torch.mv`` in float16 (float32
        accumulation, result rounded to float16; ``error_bound(half_product=True)`` covers both roundings).
        Widening blocks to float32 first was 5x slower on CPU."""
        import torch

        with torch.inference_mode():
            rows = torch.from_numpy(self.matrix)
            # |x . w| <= |x| |w|: within float16's range (65,504) the product may run in float16
            self.half_product = float(np.linalg.norm(w32)) * max(self.norm_max, 1.0) * 1.01 < 60_000
            if self.half_product:
                out = torch.mv(rows, torch.from_numpy(w32.astype(np.float16))).float().numpy()
            else:  # widen block by block instead
                wt = torch.from_numpy(w32)
                out = torch.cat([torch.mv(rows[s : s + BLOCK_ROWS].float(), wt)
                                 for s in range(0, self.count, BLOCK_ROWS)]).numpy()
        if b:
            out += np.float32(b)
        return out

    def scores(self, w: np.ndarray, b: float) -> np.ndarray:
        return self._approx(np.asarray(w, dtype=np.float32), b)

    def candidates(self, w: np.ndarray, b: float, k: int, by: str, split_code: int | None,
                   excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(global rows, float32 vectors) that may belong to the true top-k of this shard."""
        key = (np.asarray(w, dtype=np.float32).tobytes(), float(b))
        if getattr(self, "_last", (None,))[0] != key:  # a mixed batch asks twice for the same w
            approx = self._approx(np.asarray(w, dtype=np.float32), b)
            delta = error_bound(self.dim, w, b, float(np.abs(approx).max(initial=0.0)), self.eps, self.norm_max,
                                half_product=self.half_product)
            self._last = (key, approx, delta)
        approx, delta = self._last[1], self._last[2]
        local = Eligibility(self.codes, split_code, np.asarray(excluded, dtype=np.int64) - self.offset)
        positions = candidate_positions(approx, local.mask(0, self.count), k, by, delta)
        return positions + self.offset, self.vectors_at(positions + self.offset)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        local = np.asarray(rows, dtype=np.int64) - self.offset
        if self.spec.uri is None:
            return self.matrix[local].astype(np.float32)
        if local.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        table = self._dataset().take((local + self.offset).tolist(), columns=["vector"])
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(local), self.dim).astype(np.float32, copy=False)


def worker_runtime_env() -> dict[str, Any]:
    """Ship this app's ``core`` package to Ray's workers (a cluster's nodes need not have it installed)."""
    from pathlib import Path

    return {"py_modules": [str(Path(__file__).resolve().parents[1])]}


def connect_ray(address: str | None = None, **init_options: Any):
    """``ray`` connected to ``address`` (``"auto"``, ``ray://host:10001``, None: a local Ray), with this
    app's code shipped to the workers. A Ray the caller started must have been given
    ``runtime_env=worker_runtime_env()`` (or have the app installed on every node)."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:  # FEWSHOT_SCORING=ray without it was an 11-frame traceback
        raise FewshotError("Ray is not installed here: pip install -r requirements-scale.txt (--engine ray and "
                           "FEWSHOT_SCORING=ray need it)") from None

    if not ray.is_initialized():
        _probe(address)
        options = {"include_dashboard": False, "log_to_driver": False, **init_options}
        ray.init(address=address, runtime_env=worker_runtime_env(), **options)
    return ray


PROBE_TIMEOUT_S = 5.0


def _probe(address: str | None) -> None:
    """A TCP connect to an explicit ``host:port`` (or ``ray://host:port``) before ``ray.init``, which waits minutes
    on an address where nothing answers, printing only its own warnings (an outside tester: 6.8 minutes at 0%)."""
    text = str(address or "").strip()
    if not text or text in ("auto", "local"):
        return
    host, _, port = text.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # Ray's own parser says what is wrong with it
    import socket

    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        reason = "nothing answered" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise FewshotError(f"cannot connect to Ray at {text!r}: {reason} within {PROBE_TIMEOUT_S:.0f} s; is the "
                           "cluster running (ray start --head), and is the address its GCS (port 6379) or "
                           "ray://HOST:10001?") from None


def _ray():
    import ray

    return ray


def _get(refs, what: str):
    """``ray.get`` with a deadline: a cluster that cannot place or answer the actors fails with a message."""
    ray = _ray()
    try:
        return ray.get(refs, timeout=CALL_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise RuntimeError(
            f"Ray did not {what} within {CALL_TIMEOUT_S:.0f} s (cluster resources: {ray.available_resources()}); "
            "add nodes, use fewer shards (FEWSHOT_RAY_SHARDS) or raise FEWSHOT_RAY_TIMEOUT_S"
        ) from None


def plan_shards(n: int, n_shards: int) -> list[tuple[int, int]]:
    """(offset, count) of ``n_shards`` contiguous slices of n rows, sizes differing by at most one."""
    n_shards = max(1, min(int(n_shards), max(n, 1)))
    bounds = np.linspace(0, n, n_shards + 1).astype(np.int64)
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class RayShardBackend(ScoringBackend):
    """Exact scoring over actors that each hold a slice; ``num_cpus`` per actor, ``num_gpus`` none."""

    name = "ray"

    def __init__(self, specs: list[ShardSpec], num_cpus: float = 0.5) -> None:
        ray = _ray()
        if not ray.is_initialized():
            raise RuntimeError("connect to Ray first (ray.init(address=...)); see the README, 'Scaling out'")
        actor = ray.remote(num_cpus=num_cpus, scheduling_strategy="SPREAD")(_Shard)
        self.specs = specs
        self.actors = [actor.remote(spec) for spec in specs]
        self.infos = _get([a.info.remote() for a in self.actors], "load every slice")
        self.offsets = np.asarray([s.offset for s in specs], dtype=np.int64)
        self.n = int(sum(s.count for s in specs))
        self.dim = int(self.infos[0]["dim"]) if specs else 0

    @classmethod
    def from_lance(cls, uri: str, version: int | None, n: int, n_shards: int, split_codes: dict[str, int],
                   storage_options: dict[str, str] | None = None, num_cpus: float = 0.5) -> RayShardBackend:
        specs = [ShardSpec(offset=o, count=c, uri=uri, version=version, storage_options=storage_options,
                           split_codes=split_codes) for o, c in plan_shards(n, n_shards)]
        return cls(specs, num_cpus=num_cpus)

    #: set once a shard's actor died: ``core.scale.backend_for`` then starts a new backend on the next request
    broken = False

    def _get(self, refs, what: str):
        """``_get``, and a dead actor (killed, its node gone) turned into one message; the backend is then
        marked broken so the next request builds fresh shards instead of failing on the dead one forever."""
        ray = _ray()
        try:
            return _get(refs, what)
        except ray.exceptions.RayActorError as exc:
            self.broken = True
            from core.errors import FewshotError

            raise FewshotError(f"a Ray scoring shard died ({type(exc).__name__}); it is started again on the next "
                               "request: try again") from None

    def _shard_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def top_k(self, w, b, k, by, split_code, excluded):
        w = np.asarray(w, dtype=np.float32)
        excluded = np.unique(np.asarray(excluded, dtype=np.int64))
        owner = self._shard_of(excluded)
        refs = [a.candidates.remote(w, float(b), int(k), by, split_code, excluded[owner == i])
                for i, a in enumerate(self.actors)]
        parts = self._get(refs, "answer a query")
        rows = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
        vectors = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, self.dim), np.float32)
        return exact_top(rows, vectors, w, b, k, by)

    def vectors_at(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        owner = self._shard_of(rows)
        asked = [(i, np.flatnonzero(owner == i)) for i in range(len(self.actors))]
        asked = [(i, where) for i, where in asked if where.size]
        blocks = self._get([self.actors[i].vectors_at.remote(rows[where]) for i, where in asked], "return vectors")
        for (_, where), block in zip(asked, blocks, strict=True):
            out[where] = block
        return out

    def scores(self, w, b):
        parts = self._get([a.scores.remote(np.asarray(w, dtype=np.float32), float(b)) for a in self.actors],
                          "score")
        return np.concatenate(parts) if parts else np.empty(0, np.float32)

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already dead
                ray.kill(actor)
        self.actors = []
