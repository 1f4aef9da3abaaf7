"""Work a parent test kills with SIGKILL: ``python -m tests.reliability.child COMMAND ...``.

Each command prints one line per step it finished, flushed, so the parent knows what was committed
before the kill: ``progress N`` (indexing), ``committed {json}`` after ``TeachSession.submit``
returned (the round's ratings are on disk), ``exported N`` after an export returned.
"""

from __future__ import annotations

import json
import sys


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def index(name: str, batch_size: str, flush_every: str) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    done = {"n": 0}

    def progress(p) -> None:
        done["n"] += 1
        _say(f"progress {p.done}")

    build_index(name, parse_source("demo:digits"), load_embedder("pixels"), batch_size=int(batch_size),
                flush_every=int(flush_every), progress=progress, workers=1)
    _say("finished")


def teach(index_name: str, concept: str, rounds: str, seed: str) -> None:
    """Open (or create) ``concept`` and rate like an oracle for digit "3", one committed line per round."""
    from core.session import TeachSession
    from core.store import Store
    from core.teach_store import TeachStore

    store = Store()
    if TeachStore(store).concept(index_name, concept) is None:
        TeachSession.create(index_name, concept, store=store, target_label="3", strategy="mixed")
        _say("created")
    session = TeachSession.open(index_name, concept, store=store)
    for n in range(int(rounds)):
        batch = session.next_batch(10, seed=int(seed) * 1000 + n)
        ratings = {c.item_id: (1.0 if c.label == "3" else -1.0) for c in batch}
        if n % 4 == 3:  # now and then a skip and a graded rating, as people do
            first, second = batch[0].item_id, batch[1].item_id
            ratings[first], ratings[second] = None, 0.5
        result = session.submit(ratings)
        _say("committed " + json.dumps({"round": result.round, "ratings": ratings}))


def rate_partition(index_name: str, concept: str, worker: str, workers: str, rounds: str) -> None:
    """Rate train items ``worker::workers`` (disjoint from the other workers'), ten per round."""
    from core.session import TeachSession
    from core.store import Store

    store = Store()
    session = TeachSession.open(index_name, concept, store=store)
    view = store.vectors(index_name)
    mine = [str(i) for i in view.ids[view.rows("train")]][int(worker) :: int(workers)]
    for n in range(int(rounds)):
        chunk = mine[n * 10 : (n + 1) * 10]
        ratings = {item_id: (1.0 if (n + k) % 3 == 0 else -1.0) for k, item_id in enumerate(chunk)}
        result = session.submit(ratings)
        _say("committed " + json.dumps({"round": result.round, "ratings": ratings}))


def race(index_name: str, concept: str, worker: str, workers: str, rounds: str, start_at: str) -> None:
    """Submit disjoint batches as fast as possible from ``start_at`` (a shared wall-clock instant), racing
    the other workers; every third round, undo it again (only if it is still the latest round)."""
    import time

    from core.errors import StaleBatch
    from core.session import TeachSession
    from core.store import Store

    store = Store()
    session = TeachSession.open(index_name, concept, store=store)
    view = store.vectors(index_name)
    mine = [str(i) for i in view.ids[view.rows("train")]][int(worker) :: int(workers)]
    time.sleep(max(0.0, float(start_at) - time.time()))
    for n in range(int(rounds)):
        chunk = mine[n * 5 : (n + 1) * 5]
        ratings = {item_id: [1.0, -1.0, 0.5, None, -0.5][k] for k, item_id in enumerate(chunk)}
        result = session.submit(ratings)
        _say("committed " + json.dumps({"round": result.round, "ratings": ratings}))
        if n % 3 == 2:
            try:
                session.undo(expected_round=result.round)
            except StaleBatch:
                _say("undo-refused " + json.dumps({"round": result.round}))
            else:
                _say("undone " + json.dumps({"round": result.round, "ratings": session.undone}))


def export(index_name: str, concept: str, path: str, times: str) -> None:
    from core.export import export_session
    from core.session import TeachSession

    session = TeachSession.open(index_name, concept)
    for n in range(int(times)):
        export_session(session, path, threshold=float(n))
        _say(f"exported {n}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"index": index, "teach": teach, "rate": rate_partition, "race": race, "export": export}[command](*args)
