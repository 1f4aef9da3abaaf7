"""Memory and round-time figures under load: is memory bounded, do many rounds slow the loop?

Each case runs in its own process, so one case's peak resident memory (RSS, ``ru_maxrss``) is not
another's:

- ``index_100k``: index 100,000 generated 24x24 images (a synthetic source built in this file,
  decoded lazily like a folder of files) with the ``pixels:16`` embedder.
- ``teach_1m``: open a concept on a 1,000,000 x 512 index and run 20 rounds of next_batch(10) +
  submit. The index is written directly through ``Store.add_items`` in chunks of 100,000 random
  unit vectors (by a separate process, so building it does not count).
- ``rounds``: 510 rounds of next_batch(10) + submit on a 100,000 x 512 index, with the default
  compaction and with compaction off; the median time per round (next_batch + submit) around
  round 10 and round 500, and the time a fresh reader takes to read a concept's ratings then.

Prints ``name=value`` lines. Run: ``python benchmarks/load_memory.py [--quick]`` (``--quick``: 10x
smaller, for a smoke test). Takes a few minutes and ~6 GB of disk under a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class _Sampler:
    """Highest RSS seen while a phase runs (``ru_maxrss`` cannot be reset between phases)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(self.interval)

    def __enter__(self) -> _Sampler:
        self.peak = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


# ----- a synthetic image source --------------------------------------------------------------------
def _synthetic_image(i: int, draft_size: int | None = None):
    from PIL import Image

    rng = np.random.default_rng(i)
    label = i % 10
    pixels = rng.integers(0, 64, (24, 24), dtype=np.uint8)
    pixels[label * 2 : label * 2 + 4, :] += 160  # a bright band whose position is the label
    return Image.fromarray(pixels, "L").convert("RGB")


class SyntheticImages:
    """``n`` generated images, decoded lazily like image files; labels "0".."9"."""

    modality = "image"

    def __init__(self, n: int) -> None:
        self.n = n
        self.spec = f"synthetic:images:{n}"

    def __iter__(self):
        from functools import partial

        from core.records import Record
        from core.source_base import hash_split

        for i in range(self.n):
            item_id = f"img-{i:07d}"
            yield Record(id=item_id, split=hash_split(item_id, 0.2), uri=f"synthetic:{i}", label=str(i % 10),
                         load_image=partial(_synthetic_image, i))

    def count(self) -> int:
        return self.n

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "synthetic", "n": self.n}


# ----- cases (each runs in a child process) ----------------------------------------------------------
def case_index(root: str, n: int) -> dict:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.store import Store

    store = Store(root)
    embedder = load_embedder("pixels:16")
    before = _rss_mb()
    start = time.perf_counter()
    with _Sampler() as sampler:
        report = build_index("synthetic", SyntheticImages(n), embedder, store=store)
    elapsed = time.perf_counter() - start
    return {"items": report.info.n_items, "seconds": elapsed, "rss_before_mb": before,
            "peak_rss_mb": sampler.peak, "ru_maxrss_mb": _peak_mb()}


def build_vectors(root: str, name: str, n: int, dim: int, chunk: int = 100_000, positive_rate: float = 0.01) -> None:
    """An index of ``n`` random unit vectors written straight into the items table."""
    import pyarrow as pa

    from core.source_base import hash_split
    from core.store import IndexInfo, Store, items_schema

    store = Store(root)
    info = IndexInfo(name=name, embedder=f"synthetic:{dim}", embedder_kind="synthetic", checkpoint="random",
                     dim=dim, modality="text", source={"spec": "synthetic"})
    store.save_index_info(info)
    store.items_table(name, dim=dim)
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        vectors = rng.standard_normal((m, dim)).astype(np.float32)
        positive = rng.random(m) < positive_rate
        vectors[positive] += 0.5 * np.sqrt(dim) * direction  # positives lean one way
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"v{start + i:08d}" for i in range(m)]
        table = pa.table(
            {
                "id": ids,
                "split": [hash_split(i, 0.2) for i in ids],
                "label": np.where(positive, "pos", "neg").tolist(),
                "labels": pa.nulls(m, pa.list_(pa.string())),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                "text": [None] * m,
                "thumbnail": pa.nulls(m, pa.binary()),
                "uri": [f"synthetic:{start + i}" for i in range(m)],
            }
        ).cast(items_schema(dim))
        store.add_items(name, table)
    info.counts = store.split_counts(name)
    info.status = "complete"
    store.save_index_info(info)
    store.compact(name)


def _oracle(batch) -> dict[str, float]:
    return {c.item_id: 1.0 if c.label == "pos" else -1.0 for c in batch}


def case_teach(root: str, name: str, rounds: int) -> dict:
    from core.session import TeachSession
    from core.store import Store

    store = Store(root)
    before = _rss_mb()
    times = []
    with _Sampler() as sampler:
        view = store.vectors(name)
        after_load = _rss_mb()
        examples = [str(i) for i, lab in zip(view.ids[:5000], view.labels[:5000], strict=True) if lab == "pos"][:3]
        session = TeachSession.create(name, "pos", store=store, examples=examples, target_label="pos")
        for n in range(rounds):  # seeded: a concept's own seed is random (its identity), the figures must repeat
            start = time.perf_counter()
            session.submit(_oracle(session.next_batch(10, seed=n)))
            times.append(time.perf_counter() - start)
    matrix_mb = view.matrix.nbytes / 2**20
    return {"rss_before_mb": before, "rss_after_load_mb": after_load, "peak_rss_mb": sampler.peak,
            "ru_maxrss_mb": _peak_mb(), "matrix_mb": matrix_mb, "round_p50_ms": 1000 * statistics.median(times)}


def case_rounds(root: str, name: str, rounds: int, compact_every: int) -> dict:
    os.environ["FEWSHOT_COMPACT_EVERY"] = str(compact_every)
    from core.session import TeachSession
    from core.store import Store
    from core.teach_store import TeachStore

    store = Store(root)
    view = store.vectors(name)
    examples = [str(i) for i, lab in zip(view.ids[:5000], view.labels[:5000], strict=True) if lab == "pos"][:3]
    concept = f"pos{compact_every}"
    session = TeachSession.create(name, concept, store=store, examples=examples, target_label="pos",
                                  strategy="random")
    round_ms, next_ms, submit_ms, read_ms = [], [], [], []
    for n in range(rounds):
        t0 = time.perf_counter()
        batch = session.next_batch(10, seed=n)  # the same batches every run (a concept's own seed is random)
        t1 = time.perf_counter()
        session.submit(_oracle(batch))
        t2 = time.perf_counter()
        TeachStore(store).ratings(name, concept)  # a fresh reader: a real scan, not the per-version cache
        t3 = time.perf_counter()
        next_ms.append(1000 * (t1 - t0))
        submit_ms.append(1000 * (t2 - t1))
        round_ms.append(1000 * (t2 - t0))
        read_ms.append(1000 * (t3 - t2))
    fragments = store.db.open_table("labels").num_fragments()

    def around(values: list[float], r: int, half: int = 5) -> float:
        return statistics.median(values[max(0, r - 1 - half) : r - 1 + half])

    out = {"labels_fragments_at_end": fragments}
    for r in (10, rounds - 10):
        label = 500 if r == rounds - 10 and rounds >= 510 else r
        out[f"rounds_p50_ms_at_{label}"] = around(round_ms, r)
        out[f"next_batch_p50_ms_at_{label}"] = around(next_ms, r)
        out[f"submit_p50_ms_at_{label}"] = around(submit_ms, r)
        out[f"read_ratings_p50_ms_at_{label}"] = around(read_ms, r)
    return out


def _child(case: str, *args) -> dict:
    """Run ``case`` in a fresh interpreter and return its JSON result."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks import load_memory as m; "
        f"print('RESULT=' + json.dumps(getattr(m, {case!r})(*{list(args)!r})))"
    )
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT="))
    return json.loads(line[len("RESULT="):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes, for a smoke test")
    parser.add_argument("--skip", default="", help="comma-separated cases to skip: index,teach,rounds")
    parser.add_argument("--dir", help="work folder (default: a temporary one, deleted afterwards)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="fewshot-load-"))
    try:
        if "index" not in skip:
            n = 100_000 // scale
            r = _child("case_index", str(work / "index"), n)
            print(f"index_items={r['items']}")
            print(f"index_seconds={r['seconds']:.1f}")
            print(f"index_items_per_s={r['items'] / r['seconds']:.0f}")
            print(f"index_rss_before_mb={r['rss_before_mb']:.0f}")
            print(f"index_100k_peak_rss_mb={r['peak_rss_mb']:.0f}")
            print(f"index_100k_ru_maxrss_mb={r['ru_maxrss_mb']:.0f}", flush=True)
        if "teach" not in skip:
            n = 1_000_000 // scale
            start = time.perf_counter()
            _child("build_vectors", str(work / "teach"), "big", n, 512)
            print(f"teach_index_rows={n}")
            print(f"teach_index_build_seconds={time.perf_counter() - start:.1f}", flush=True)
            r = _child("case_teach", str(work / "teach"), "big", 20)
            print(f"teach_matrix_mb={r['matrix_mb']:.0f}")
            print(f"teach_rss_before_mb={r['rss_before_mb']:.0f}")
            print(f"teach_rss_after_load_mb={r['rss_after_load_mb']:.0f}")
            print(f"teach_1m_peak_rss_mb={r['peak_rss_mb']:.0f}")
            print(f"teach_1m_ru_maxrss_mb={r['ru_maxrss_mb']:.0f}")
            print(f"teach_1m_round_p50_ms={r['round_p50_ms']:.0f}", flush=True)
            shutil.rmtree(work / "teach", ignore_errors=True)
        if "rounds" not in skip:
            rounds = 510 if not args.quick else 60
            _child("build_vectors", str(work / "rounds"), "mid", 100_000 // scale, 512, 100_000, 0.05)
            for every, tag in ((50, ""), (0, "_no_compaction")):
                r = _child("case_rounds", str(work / "rounds"), "mid", rounds, every)
                for key, value in r.items():
                    print(f"{key}{tag}={value:.1f}" if isinstance(value, float) else f"{key}{tag}={value}")
                sys.stdout.flush()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
