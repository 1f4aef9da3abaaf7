"""Two tabs (threads here; processes share the same file lock) giving one name to two concepts at once.

Each used to check "is the name free?" with no lock held, so both renames, or both creations, succeeded:
two concepts merged into one (ratings and round checkpoints mixed), or one creator's start silently lost.
"""

from __future__ import annotations

import threading

import pytest

from core.errors import FewshotError
from core.session import TeachSession
from core.teach_store import TeachStore


def _race(*calls):
    """Run the calls at one instant, many times over; (results, errors) of each attempt."""
    barrier = threading.Barrier(len(calls))
    outcome: list[object] = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            outcome[i] = call()
        except FewshotError as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcome


@pytest.mark.parametrize("attempt", range(3))
def test_two_renames_to_one_name_refuse_the_second(digits_store, attempt):
    teach = TeachStore(digits_store)
    a, b = f"r1_{attempt}", f"r2_{attempt}"
    for name in (a, b):
        session = TeachSession.create("digits", name, store=digits_store, strategy="random")
        session.submit({c.item_id: 1.0 for c in session.next_batch(3, seed=1)})
    merged = f"merged_{attempt}"
    outcome = _race(lambda: teach.rename_concept("digits", a, merged),
                    lambda: teach.rename_concept("digits", b, merged))
    refused = [o for o in outcome if isinstance(o, FewshotError)]
    assert len(refused) == 1 and "already exists" in str(refused[0])
    names = [c.name for c in teach.concepts("digits")]
    assert names.count(merged) == 1 and len(names) == len(set(names))
    kept = b if a not in names else a
    assert kept in names  # the refused one is untouched, ratings and all
    assert len(teach.ratings("digits", kept)) == 3 and len(teach.ratings("digits", merged)) == 3
    assert [c.round for c in teach.checkpoints("digits", merged)] == [0, 1]


def test_two_creations_of_one_name_refuse_the_second(digits_store):
    outcome = _race(lambda: TeachSession.create("digits", "dup", store=digits_store, prompt=None, strategy="random"),
                    lambda: TeachSession.create("digits", "dup", store=digits_store, strategy="nearest"))
    refused = [o for o in outcome if isinstance(o, FewshotError)]
    created = [o for o in outcome if isinstance(o, TeachSession)]
    assert len(refused) == 1 and len(created) == 1 and "already exists" in str(refused[0])
    stored = TeachStore(digits_store).concept("digits", "dup")
    assert stored.strategy == created[0].concept.strategy  # the creator told "created" is the one kept


def test_renaming_to_its_own_name_changes_nothing(digits_store):
    TeachSession.create("digits", "same", store=digits_store, strategy="random")
    teach = TeachStore(digits_store)
    teach.rename_concept("digits", "same", "same")
    assert [c.name for c in teach.concepts("digits")] == ["same"]


def test_a_stale_tab_never_writes_into_another_concept_that_took_the_name(digits_store):
    """A reviewer: tab A had "dogs" open; tab B deleted it and started a new "dogs" (or renamed another concept
    onto the name); A's submit trained the new concept from the old one's head and start."""
    from core.errors import StaleBatch

    teach = TeachStore(digits_store)
    stale = TeachSession.create("digits", "dogs", store=digits_store, strategy="random")
    items = [c.item_id for c in stale.next_batch(3, seed=1)]
    teach.delete_concept("digits", "dogs")
    TeachSession.create("digits", "dogs", store=digits_store, strategy="random")
    with pytest.raises(StaleBatch, match="deleted, renamed or replaced"):
        stale.submit(dict.fromkeys(items, 1.0))
    with pytest.raises(StaleBatch):
        stale.undo()
    with pytest.raises(FewshotError, match="no longer exists"):
        stale.set_threshold(1.0)
    assert len(teach.ratings("digits", "dogs")) == 0 and [c.round for c in teach.checkpoints("digits", "dogs")] == [0]

    other = TeachSession.create("digits", "cats", store=digits_store, strategy="random")
    opened = TeachSession.open("digits", "cats", store=digits_store)
    teach.rename_concept("digits", "cats", "felines")
    teach.rename_concept("digits", "dogs", "cats")  # another concept now has the name
    with pytest.raises(StaleBatch):
        opened.submit(dict.fromkeys(items, 1.0))
    assert len(teach.ratings("digits", "cats")) == 0 and len(teach.ratings("digits", "felines")) == 0
    del other


def test_a_submit_counts_predicted_positives_at_the_threshold_set_elsewhere(digits_store):
    """A reviewer: the Teach page's kept session counted at the threshold it had read when it opened."""
    import numpy as np

    teach_tab = TeachSession.create("digits", "thr", store=digits_store, target_label="3", strategy="random")
    teach_tab.submit({c.item_id: (1.0 if c.label == "3" else -1.0) for c in teach_tab.next_batch(20, seed=1)})
    logits = teach_tab.scoring_backend()[0].scores(teach_tab.head.w, teach_tab.head.b)
    middle = float(np.median(logits))
    TeachSession.open("digits", "thr", store=digits_store).set_threshold(middle)  # the Validate page
    result = teach_tab.submit({c.item_id: -1.0 for c in teach_tab.next_batch(5, seed=2)})
    assert result.metrics["predicted_threshold"] == pytest.approx(middle)
    assert teach_tab.threshold == pytest.approx(middle)
