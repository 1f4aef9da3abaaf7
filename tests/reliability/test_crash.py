"""Nothing lost: real processes killed with SIGKILL while indexing, teaching and exporting, and
sessions rating one concept at the same time.

A child process (``tests/reliability/child.py``) prints a line after each step it finished; the
parent kills it at a seeded random point after some line (the kill lands wherever the child has got
to: in a LanceDB append, a compaction, training, a file write), then reopens the workspace in this
process and checks every promise.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.classifier import load_classifier
from core.embedders import load_embedder
from core.export import export_session
from core.indexing import build_index
from core.session import TeachSession
from core.sources import parse_source
from core.store import Store
from core.teach_store import TeachStore
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


class Child:
    """A ``tests.reliability.child`` command in its own process, its output lines read as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.child", *args], cwd=REPO, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []

    def read_until(self, n_lines: int, timeout: float = 120) -> None:
        """Read output until ``n_lines`` lines came (or the child ended)."""
        deadline = time.time() + timeout
        while len(self.lines) < n_lines:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            assert time.time() < deadline, f"child too slow: {self.lines[-3:]}"

    def kill(self, delay: float = 0.0) -> None:
        """SIGKILL after ``delay`` seconds, then collect whatever else it printed before dying."""
        time.sleep(delay)
        self.proc.send_signal(signal.SIGKILL)
        out, err = self.proc.communicate(timeout=60)
        self.lines.extend(x for x in out.splitlines() if x)
        self.stderr = err
        record("faults_injected_sigkill")

    def finish(self, timeout: float = 300) -> None:
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.extend(x for x in out.splitlines() if x)
        assert self.proc.returncode == 0, err[-3000:]

    def committed(self) -> list[dict]:
        return [json.loads(x[len("committed "):]) for x in self.lines if x.startswith("committed ")]


def _label_rows(store: Store, index: str, concept: str) -> list[dict]:
    return TeachStore(store).label_rows(index, concept)


def _all_tables_readable(store: Store) -> None:
    for name in store.table_names():
        table = store.db.open_table(name)
        assert table.to_arrow().num_rows == table.count_rows(), name


# ----- indexing ----------------------------------------------------------------------------------------
def test_sigkill_during_indexing_resumes_without_duplicates(workspace_dir):
    rng = random.Random(6)
    kills = 0
    for attempt in range(3):
        child = Child("index", "digits", "32", "64", env={"FEWSHOT_DECODE_PROCESSES": "0"})
        child.read_until(rng.randint(2, 20))
        if child.proc.poll() is None:
            child.kill(delay=rng.uniform(0, 0.05))
            kills += 1
        else:
            child.finish()
        store = Store()  # reopen: every table must be readable
        _all_tables_readable(store)
        assert store.has_index("digits")
        ids = store.item_ids("digits")
        assert len(ids) <= 1797
        view = store.vectors("digits")
        assert len(view.ids) == len(set(view.ids)), f"duplicates after kill {attempt}"
        assert np.allclose(np.linalg.norm(view.matrix, axis=1), 1, atol=1e-4)
    assert kills >= 2
    report = build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=Store())
    view = Store().vectors("digits")
    assert len(view.ids) == 1797 == len(set(view.ids))
    assert report.already_present + report.added == 1797
    assert Store().get_index("digits").status == "complete"
    record("faults_survived_sigkill", kills)


# ----- teaching ----------------------------------------------------------------------------------------
def _check_committed(store: Store, committed: list[dict], concept: str = "threes") -> int:
    """Every committed rating is on disk with its value; returns how many were lost (must be 0)."""
    latest: dict[str, float | None] = {}
    rows = _label_rows(store, "digits", concept)
    by_round: dict[int, dict[str, float | None]] = {}
    for row in rows:
        by_round.setdefault(int(row["round"]), {})[row["item_id"]] = row["rating"]
    lost = 0
    for entry in committed:
        on_disk = by_round.get(int(entry["round"]), {})
        for item_id, rating in entry["ratings"].items():
            latest[item_id] = rating
            if item_id not in on_disk or (rating is not None and on_disk[item_id] != pytest.approx(rating)):
                lost += 1
    for round_, ratings in by_round.items():  # a round is written whole or not at all
        assert len(ratings) == 10, f"round {round_} has {len(ratings)} ratings: a partial write"
    return lost


def test_sigkill_mid_round_loses_no_committed_rating(digits_store):
    rng = random.Random(7)
    committed: list[dict] = []
    env = {"FEWSHOT_COMPACT_EVERY": "3"}  # compactions every few rounds, so kills land in them too
    kills = lost_total = 0
    for cycle in range(3):
        child = Child("teach", "digits", "threes", "40", str(cycle), env=env)
        child.read_until(rng.randint(3, 7))
        if child.proc.poll() is None:
            child.kill(delay=rng.uniform(0, 0.3))
            kills += 1
        else:
            child.finish()
        committed.extend(child.committed())
        store = Store()
        _all_tables_readable(store)
        lost = _check_committed(store, committed)
        lost_total += lost
        assert lost == 0
        session = TeachSession.open("digits", "threes", store=store)  # resumes, finishing a cut round
        rounds_on_disk = {int(r["round"]) for r in _label_rows(store, "digits", "threes")}
        assert session.round == max(rounds_on_disk, default=0)
        assert [c.round for c in session.history()] == [0, *sorted(rounds_on_disk)]
        if committed:
            assert session.round >= committed[-1]["round"]
    assert kills >= 2 and len(committed) >= 6
    session = TeachSession.open("digits", "threes", store=Store())
    before = session.round
    batch = session.next_batch(10)
    assert not {c.item_id for c in batch} & session.seen_ids()
    assert session.submit({c.item_id: -1.0 for c in batch}).round == before + 1
    record("faults_survived_sigkill", kills)
    record("ratings_committed_before_kills", sum(len(c["ratings"]) for c in committed))
    record("ratings_lost", lost_total)


def test_sigkill_during_export_never_leaves_a_half_written_classifier(digits_store, tmp_path):
    session = TeachSession.create("digits", "threes", store=digits_store, target_label="3")
    session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in session.next_batch(10)})
    target = tmp_path / "exports" / "threes.safetensors"
    rng = random.Random(8)
    kills = 0
    for _ in range(3):
        child = Child("export", "digits", "threes", str(target), "100000")
        child.read_until(rng.randint(1, 200))
        child.kill(delay=rng.uniform(0, 0.02))
        kills += 1
        head, meta = load_classifier(target, expect_dim=256, expect_embedder="pixels:16")  # whole, always
        assert np.array_equal(head.w, session.head.w)
        assert meta["concept"] == "threes"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.startswith(".")) == ["threes.safetensors"]
    record("faults_survived_sigkill", kills)


def test_failed_export_keeps_the_previous_file_and_leaves_no_temporary(digits_store, tmp_path, monkeypatch):
    session = TeachSession.create("digits", "threes", store=digits_store, target_label="3")
    target = tmp_path / "exports" / "threes.safetensors"
    export_session(session, target, threshold=1.0)
    before = target.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(Exception, match="No space left"):
        export_session(session, target, threshold=2.0)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["threes.safetensors"]
    record("faults_injected_io_error")
    record("faults_survived_io_error")


# ----- two sessions on one concept ---------------------------------------------------------------------
def test_two_processes_rating_one_concept_at_once_lose_nothing(digits_store):
    TeachSession.create("digits", "threes", store=digits_store, target_label="3")
    env = {"FEWSHOT_COMPACT_EVERY": "4"}  # and compactions racing with the other process's writes
    children = [Child("rate", "digits", "threes", str(w), "2", "8", env=env) for w in range(2)]
    for child in children:
        child.finish()
    committed = [c for child in children for c in child.committed()]
    assert len(committed) == 16
    rows = _label_rows(Store(), "digits", "threes")
    expected = {item: r for c in committed for item, r in c["ratings"].items()}
    assert len(rows) == 160 == len(expected)
    assert {r["item_id"]: r["rating"] for r in rows} == pytest.approx(expected)
    session = TeachSession.open("digits", "threes", store=Store())
    assert len(session.ratings()) == 160
    record("concurrent_sessions_runs")
    record("ratings_lost", 0)


def test_two_browser_sessions_in_one_server_lose_nothing(digits_store):
    """The app's case: two sessions are two threads sharing the server's one ``Store``."""
    TeachSession.create("digits", "threes", store=digits_store, target_label="3")
    view = digits_store.vectors("digits")
    train = [str(i) for i in view.ids[view.rows("train")]]
    errors: list[BaseException] = []

    def tab(worker: int) -> None:
        try:
            session = TeachSession.open("digits", "threes", store=digits_store)
            mine = train[worker::2]
            for n in range(10):
                session.submit({item: 1.0 if k % 2 else -1.0 for k, item in enumerate(mine[n * 10 : n * 10 + 10])})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(TeachSession.open("digits", "threes", store=Store()).ratings()) == 200
    record("concurrent_sessions_runs")
    record("ratings_lost", 0)
