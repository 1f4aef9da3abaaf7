"""Load held: many rounds do not pile up LanceDB fragments (so queries do not slow), and, with
``FEWSHOT_SLOW=1``, round times at round 10 vs 500 and peak memory for indexing 100k items and
teaching on 1M (the figures of ``benchmarks/load_memory.py``)."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.session import TeachSession
from core.store import Store
from core.teach_store import Checkpoint, TeachStore
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]


def _fragments(store: Store, table: str) -> int:
    return store.db.open_table(table).num_fragments()


def _rounds(store: Store, n: int) -> list[float]:
    """``n`` rounds written like ``TeachSession.submit`` writes them; ms to read the ratings after each."""
    teach = TeachStore(store)
    w = np.zeros(16, np.float32)
    times = []
    for r in range(1, n + 1):
        teach.add_ratings("i", "c", {f"item-{r}-{k}": 1.0 for k in range(10)}, r)
        teach.add_checkpoint("i", "c", Checkpoint(r, w, 0.0, {}, "now"))
        start = time.perf_counter()
        teach.ratings("i", "c")
        times.append(1000 * (time.perf_counter() - start))
    return times


def test_many_rounds_are_compacted_so_fragments_stay_bounded(monkeypatch):
    monkeypatch.setenv("FEWSHOT_COMPACT_EVERY", "25")
    store = Store()
    times = _rounds(store, 120)
    assert _fragments(store, "labels") <= 25 and _fragments(store, "checkpoints") <= 26
    assert len(TeachStore(store).ratings("i", "c")) == 1200
    record("rounds_compacted_test", 120)
    early, late = statistics.median(times[5:15]), statistics.median(times[-10:])
    assert late < 3 * early + 5, (early, late)


def test_without_compaction_fragments_pile_up(monkeypatch, tmp_path):
    """The control: what the compaction above prevents."""
    monkeypatch.setenv("FEWSHOT_COMPACT_EVERY", "0")
    store = Store(tmp_path / "uncompacted")
    _rounds(store, 60)
    assert _fragments(store, "labels") == 60


def test_compaction_conflicting_with_a_writer_is_skipped_not_raised(monkeypatch):
    store = Store()
    _rounds(store, 3)
    teach = TeachStore(store)

    class Conflicting:
        def __init__(self, table):
            self.table = table

        def optimize(self, **kwargs):
            raise RuntimeError("lance error: Retryable commit conflict for version 7")

    real_open = store.db.open_table
    monkeypatch.setattr(store.db, "open_table", lambda name: Conflicting(real_open(name)))
    assert teach.compact() is False  # no exception: the next compaction will do it


@pytest.mark.slow
def test_500_rounds_do_not_slow_the_loop(digits_template, workspace_dir):
    import shutil

    shutil.copytree(digits_template, workspace_dir, dirs_exist_ok=True)
    session = TeachSession.create("digits", "threes", store=Store(), target_label="3", strategy="random")
    times = []
    for r in range(510):
        batch = session.next_batch(2, seed=r)  # digits has 1,438 train items: 2 per round lasts 510 rounds
        start = time.perf_counter()
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in batch})
        session.next_batch(2, seed=r)
        times.append(1000 * (time.perf_counter() - start))
    at10, at500 = statistics.median(times[5:15]), statistics.median(times[495:505])
    print(f"rounds_p50_ms_at_10={at10:.1f} rounds_p50_ms_at_500={at500:.1f}")
    assert at500 < 2.5 * at10 + 20, (at10, at500)


@pytest.mark.slow
def test_memory_stays_bounded_under_load():
    """Runs the benchmark's memory cases and checks the peaks against the data's own size."""
    import subprocess

    done = subprocess.run([sys.executable, "benchmarks/load_memory.py", "--skip", "rounds"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    print(done.stdout)
    assert float(figures["index_100k_peak_rss_mb"]) < 1500
    matrix = float(figures["teach_matrix_mb"])
    assert float(figures["teach_1m_peak_rss_mb"]) < 1.3 * matrix + 1200
