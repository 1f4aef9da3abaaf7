"""A process stopped after each single write of a rename, a delete or an undo: the workspace it leaves is
always one the product reads correctly (an outside tester's SIGKILLs made a renamed concept vanish, a new
concept inherit a deleted one's ratings, and an undone round's classifier outlive its ratings).

Every table write (``add``, ``delete``, ``update``, a merge) is counted; the operation is run again and
again, cut right after write 1, 2, 3, ..., until it finishes uncut. A cut is ``Cut``, a ``BaseException``,
so no ``except Exception`` on the way can swallow it: what a SIGKILL at that instant leaves on disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from lance.dataset import MergeInsertBuilder

import core.lance_db
from core.session import TeachSession
from core.store import Store
from core.teach_store import TeachStore


class Cut(BaseException):
    """The process 'dies' here: after a write committed, before the next one."""


@contextlib.contextmanager
def cut_after(n_writes: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Raise ``Cut`` right after the ``n_writes``-th LanceDB write inside the block commits."""
    done = {"n": 0}

    def counted(original: Callable) -> Callable:
        def write(*args, **kwargs):
            result = original(*args, **kwargs)
            done["n"] += 1
            if done["n"] == n_writes:
                raise Cut(f"cut after write {n_writes}")
            return result
        return write

    with monkeypatch.context() as patch:
        for name in ("add", "delete", "update"):
            patch.setattr(core.lance_db.LanceTable, name, counted(getattr(core.lance_db.LanceTable, name)))
        patch.setattr(MergeInsertBuilder, "execute", counted(MergeInsertBuilder.execute))
        yield


def cut_everywhere(operation: Callable[[], object], check: Callable[[bool], None],
                   reset: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run ``operation`` cut after write 1, 2, ... (``reset`` before each try, ``check(finished)`` after);
    returns how many cuts landed before it ran through."""
    for n in range(1, 50):
        reset()
        finished = True
        with cut_after(n, monkeypatch):
            try:
                operation()
            except Cut:
                finished = False
        check(finished)
        if finished:
            return n - 1
    raise AssertionError("the operation never finished")


def _taught(store: Store, name: str, rounds: int = 3) -> TeachSession:
    session = TeachSession.create("digits", name, store=store, target_label="3")
    for _ in range(rounds):
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in session.next_batch(8)})
    return session


def _state(store: Store, name: str) -> tuple[int, dict[str, float]]:
    """(round, ratings) of ``name`` as a fresh process opens it."""
    session = TeachSession.open("digits", name, store=store)
    ratings = session.teach.ratings("digits", name)
    return session.round, dict(zip(ratings.item_ids.tolist(), ratings.ratings.tolist(), strict=True))


def test_a_rename_cut_anywhere_leaves_the_concept_whole_under_one_name(digits_store, monkeypatch):
    taught = _taught(digits_store, "src")
    expected = _state(digits_store, "src")
    teach = TeachStore(digits_store)

    def reset() -> None:  # back to "src" whatever the last try left
        fresh = TeachStore(Store())
        if fresh.concept("digits", "dst") is not None:
            fresh.rename_concept("digits", "dst", "src")
        assert _state(Store(), "src") == expected

    def check(finished: bool) -> None:
        store = Store()
        names = [c.name for c in TeachStore(store).concepts("digits")]
        assert len(names) == 1 and names[0] in ("src", "dst"), names  # one concept, never none, never two
        assert not finished or names == ["dst"]
        assert _state(store, names[0]) == expected  # every rating, the round, nothing doubled
        other = "dst" if names[0] == "src" else "src"
        fresh = TeachSession.create("digits", other, store=store, target_label="3")  # the free name starts empty
        assert fresh.round == 0 and len(fresh.ratings()) == 0 and [c.round for c in fresh.history()] == [0]
        TeachStore(store).delete_concept("digits", other)

    cuts = cut_everywhere(lambda: teach.rename_concept("digits", "src", "dst"), check, reset, monkeypatch)
    assert cuts >= 4  # the copies, the swap, the old name's rows: each a place a kill once lost the concept
    assert taught.concept.identity == TeachStore(Store()).concept("digits", "dst").identity


def test_a_delete_cut_anywhere_never_hands_its_ratings_to_the_next_concept_of_that_name(digits_store, monkeypatch):
    def reset() -> None:
        store = Store()
        with contextlib.suppress(Exception):
            TeachStore(store).delete_concept("digits", "gone")
        _taught(store, "gone", rounds=2)

    def check(finished: bool) -> None:
        store = Store()
        listed = TeachStore(store).concept("digits", "gone") is not None
        if listed:  # not deleted yet: whole
            assert _state(store, "gone")[0] == 2 and len(_state(store, "gone")[1]) == 16
            TeachStore(store).delete_concept("digits", "gone")
        again = TeachSession.create("digits", "gone", store=store, target_label="3")
        assert again.round == 0 and len(again.ratings()) == 0 and [c.round for c in again.history()] == [0]
        TeachStore(store).delete_concept("digits", "gone")

    assert cut_everywhere(lambda: TeachStore(Store()).delete_concept("digits", "gone"), check, reset,
                          monkeypatch) >= 2


def test_an_undo_cut_anywhere_leaves_a_classifier_that_matches_its_ratings(digits_store, monkeypatch):
    session = _taught(digits_store, "und", rounds=3)
    round3 = _state(digits_store, "und")
    last_batch = session.teach.round_ratings("digits", "und", 3)

    def reset() -> None:
        store = Store()
        current = TeachSession.open("digits", "und", store=store)
        if current.round == 2:  # the last try undid it: rate the same items again
            current.submit(last_batch)
        assert _state(Store(), "und") == round3

    def check(finished: bool) -> None:
        store = Store()
        reopened = TeachSession.open("digits", "und", store=store)
        round_, ratings = _state(store, "und")
        assert reopened.history()[-1].metrics["n_ratings"] == len(ratings)  # w stands on exactly these ratings
        if round_ == 3:  # cut before the round went: the round is back, whole
            assert (round_, ratings) == round3
        else:  # undone: the items come back as the draft of round 2
            assert round_ == 2 and len(ratings) == 16
            assert reopened.held_items() == list(last_batch)
        assert finished <= (round_ == 2)

    def undo() -> None:
        TeachSession.open("digits", "und", store=Store()).undo()

    assert cut_everywhere(undo, check, reset, monkeypatch) >= 2


def test_an_index_delete_cut_after_its_listing_goes_is_not_resumed_by_a_new_build(digits_store, monkeypatch):
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    store = Store()
    with cut_after(1, monkeypatch), contextlib.suppress(Cut):
        store.delete_index("digits")  # the listing's row goes: the delete has happened
    store = Store()
    assert not store.has_index("digits") and "items_digits" in store.table_names()  # the tables are left over
    report = build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store, workers=1)
    assert report.already_present == 0 and report.added == 1797  # not "resumed" from the old rows
    assert len(store.item_ids("digits")) == 1797


def test_an_index_delete_cut_after_its_listing_goes_can_be_finished(digits_store, monkeypatch, capsys):
    """A re-tester: `delete-index` again said "no index named" while 6.9 MB of it stayed."""
    from core.cli import main

    _taught(digits_store, "kept", rounds=1)

    def killed(self, name):  # right after the listing's row went
        raise Cut("cut before the tables are dropped")

    with monkeypatch.context() as patch, contextlib.suppress(Cut):
        patch.setattr(Store, "drop_orphan_tables", killed)
        TeachStore(Store()).delete_index("digits")
    store = Store()
    assert not store.has_index("digits") and TeachStore(store).index_leftovers("digits")
    capsys.readouterr()
    assert main(["delete-index", "digits"]) == 2 and "run again with --yes" in capsys.readouterr().err
    assert main(["delete-index", "digits", "--yes"]) == 0
    assert "removed what a delete cut short left" in capsys.readouterr().out
    assert not TeachStore(Store()).index_leftovers("digits")
    assert main(["delete-index", "digits", "--yes"]) == 2  # now it is gone: "no index"


def test_a_concept_created_while_its_index_is_deleted_does_not_come_back(digits_store, monkeypatch):
    """A re-tester's race: a concept created during `delete-index` survived it and came back with the index."""
    teach = TeachStore(digits_store)
    real = Store.delete_index

    def late_create(self, name):  # the create lands after the delete swept the concepts
        TeachSession.create("digits", "late", store=self, target_label="3")
        real(self, name)

    monkeypatch.setattr(Store, "delete_index", late_create)
    teach.delete_index("digits")
    monkeypatch.undo()
    assert not TeachStore(Store()).index_leftovers("digits")
