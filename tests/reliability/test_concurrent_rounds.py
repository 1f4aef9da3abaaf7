"""Two processes submitting to one concept at the same instant, many times, with undos: 0 ratings lost.

Each round number must belong to exactly one submission (the concept lock in ``core/teach_lock.py``), and
an undo removes only the round it was asked to remove (``undo(expected_round=...)``), so the labels table
ends holding exactly what was committed and not undone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from core.errors import StaleBatch
from core.session import TeachSession
from core.teach_store import TeachStore
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]
WORKERS = 2
ROUNDS = 18


def _records(out: str, kind: str) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith(kind + " ")]


def test_two_processes_racing_submits_and_undos_lose_nothing(digits_store, workspace_dir):
    TeachSession.create("digits", "race", store=digits_store, strategy="random")
    start_at = time.time() + 12  # both children have imported torch and opened the session by then
    env = {**os.environ, "FEWSHOT_HOME": str(workspace_dir)}
    children = [
        subprocess.Popen([sys.executable, "-m", "tests.reliability.child", "race", "digits", "race", str(w),
                          str(WORKERS), str(ROUNDS), str(start_at)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for w in range(WORKERS)
    ]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
        outputs.append(out)
    # A round number comes back after an undo (the next submission takes it again), so each worker's lines
    # are replayed in order: an "undone" line cancels the commit just before it (its own round).
    kept_list, n_committed, n_undone, n_refused = [], 0, 0, 0
    spans = []
    for out in outputs:
        mine: list[dict] = []
        for line in out.splitlines():
            kind, _, payload = line.partition(" ")
            if kind == "committed":
                mine.append(json.loads(payload))
                n_committed += 1
            elif kind == "undone":
                last = mine.pop()
                undone = json.loads(payload)
                assert undone == last, "an undo removed something else than its own round"
                n_undone += 1
            elif kind == "undo-refused":
                n_refused += 1
        kept_list += mine
        spans.append((min(c["round"] for c in mine), max(c["round"] for c in mine)))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], f"the workers did not overlap: {spans}"
    assert n_committed == WORKERS * ROUNDS
    rounds = [c["round"] for c in kept_list]
    assert len(set(rounds)) == len(rounds), f"two kept submissions share a round: {sorted(rounds)}"
    kept = {c["round"]: c["ratings"] for c in kept_list}

    teach = TeachStore(digits_store)
    on_disk: dict[int, dict] = defaultdict(dict)
    for row in teach.label_rows("digits", "race"):
        on_disk[row["round"]][row["item_id"]] = row["rating"]
    assert dict(on_disk) == kept, "the labels table differs from what was committed and not undone"
    lost = sum(len(r) for rn, r in kept.items() if on_disk.get(rn) != r)
    record("concurrent_submits", n_committed)
    record("concurrent_undos", n_undone + n_refused)
    assert n_undone, "no undo went through: the test did not exercise undo"
    record("ratings_lost", lost)
    assert lost == 0

    session = TeachSession.open("digits", "race", store=digits_store)
    checkpoint_rounds = [c.round for c in session.history()]
    assert set(kept) <= set(checkpoint_rounds), "a kept round has no checkpoint"
    assert session.round == max(checkpoint_rounds)


def test_a_stale_submit_or_undo_writes_and_removes_nothing(digits_store):
    session = TeachSession.create("digits", "stale", store=digits_store, strategy="random")
    other_tab = TeachSession.open("digits", "stale", store=digits_store)
    batch = session.next_batch(seed=1)
    first = {c.item_id: 1.0 for c in batch[:5]}
    assert session.submit(first, expected_round=0).round == 1
    try:
        other_tab.submit({c.item_id: -1.0 for c in batch[5:]}, expected_round=0)  # the same batch, second tab
    except StaleBatch as exc:
        assert "round 0" in str(exc) and "round 1" in str(exc)
    else:
        raise AssertionError("a second submission of round 0's batch was accepted")
    try:
        other_tab.undo(expected_round=2)
    except StaleBatch:
        pass
    else:
        raise AssertionError("an undo of a round that is not the latest was accepted")
    rows = TeachStore(digits_store).label_rows("digits", "stale")
    assert {r["item_id"]: r["rating"] for r in rows} == first and {r["round"] for r in rows} == {1}
    assert other_tab.round == 1  # it caught up with the other tab's round
    assert other_tab.undo(expected_round=1) == 0 and other_tab.undone == first
    assert TeachStore(digits_store).label_rows("digits", "stale") == []
