"""The same round proposes the same batch after a restart, so a draft kept in the browser still matches."""

from __future__ import annotations

from app.teach_component import batch_token
from core.session import TeachSession, batch_seed
from core.store import Store
from tests.helpers.workspaces import indexed_digits, oracle_rounds


def _proposed(session: TeachSession) -> list[str]:
    """The batch as the app and ``teach next`` ask for it (no seed given), checked against the documented seed."""
    concept = session.concept
    seed = batch_seed(session.index, concept.identity, session.round, concept.seen_after_round,
                      session.effective_strategy(), int(concept.batch_size))
    default = [c.item_id for c in session.next_batch()]
    assert default == [c.item_id for c in session.next_batch(seed=seed)]
    return default


def test_a_restarted_server_proposes_the_same_batch_at_the_same_round(workspace_dir):
    indexed_digits(workspace_dir)
    for strategy in ("mixed", "random", "diverse"):
        session = TeachSession.create("digits", strategy, store=Store(), target_label="3", strategy=strategy)
        oracle_rounds(session, "3", 2)
        running = _proposed(session)
        restarted = _proposed(TeachSession.open("digits", strategy, store=Store()))  # a new process's view
        assert running == restarted and len(running) == 10
        assert batch_token(session.round, running) == batch_token(2, restarted)
        session.submit(dict.fromkeys(running[:3], 1.0))
        assert _proposed(session) != running  # the next round proposes other items


def test_the_command_line_refuses_a_stale_round(workspace_dir, capsys):
    from core.cli import main
    from core.teach_store import TeachStore

    indexed_digits(workspace_dir)
    session = TeachSession.create("digits", "cli", store=Store(), strategy="random")
    ids = [c.item_id for c in session.next_batch(seed=3)]
    args = ["teach", "submit", "--index", "digits", "--concept", "cli"]
    assert main([*args, "--ratings", f"{ids[0]}=1", "--expected-round", "0"]) == 0
    assert main([*args, "--ratings", f"{ids[1]}=-1", "--expected-round", "0"]) == 2
    err = capsys.readouterr().err
    assert "round 0" in err and "Run `teach next` to see the current batch." in err and "page" not in err
    assert [r["item_id"] for r in TeachStore(Store()).label_rows("digits", "cli")] == [ids[0]]


def test_the_command_line_refuses_an_item_rated_twice_with_different_ratings(workspace_dir, capsys, tmp_path):
    from core.cli import main

    indexed_digits(workspace_dir)
    TeachSession.create("digits", "twice", store=Store(), strategy="random")
    args = ["teach", "submit", "--index", "digits", "--concept", "twice"]
    assert main([*args, "--ratings", "digits-1=1,digits-1=-1"]) == 2
    assert "'digits-1' is rated twice" in capsys.readouterr().err
    table = tmp_path / "r.csv"
    table.write_text("item_id,rating\ndigits-2,1\ndigits-2,skip\n")
    assert main([*args, "--file", str(table)]) == 2
    assert main([*args, "--ratings", "digits-1=1,digits-1=1"]) == 0  # the same rating twice is just one


def test_a_ratings_file_that_is_not_one_gets_a_message_and_writes_nothing(workspace_dir, capsys, tmp_path,
                                                                        monkeypatch):
    """An outside tester: /dev/zero took 20 GB in a minute; a long field or a non-UTF-8 file was a traceback;
    a duplicated item_id column or a row with an extra field was accepted silently."""
    import core.cli.teach_commands as commands
    from core.cli import main
    from core.teach_store import TeachStore

    indexed_digits(workspace_dir)
    TeachSession.create("digits", "files", store=Store(), strategy="random")
    args = ["teach", "submit", "--index", "digits", "--concept", "files", "--file"]
    monkeypatch.setattr(commands, "RATINGS_FILE_LIMIT", 1000)
    cases = {
        "big.csv": ("item_id,rating\n" + "digits-1,1\n" * 200, "larger than"),
        "nonewline.csv": ("\0" * 5000, "larger than"),
        "field.csv": ("item_id,rating\n" + "x" * 200 + ",1\n", "not valid CSV"),
        "twice.csv": ("item_id,rating,item_id\ndigits-1,1,digits-2\n", "duplicate column names: 'item_id'"),
        "extra.csv": ("item_id,rating\ndigits-1,1,oops\n", "line 2 has 3 fields"),
        "nul.csv": ("item_id,rating\ndigi\0ts-1,1\n", "not in index"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.csv").write_bytes(b"item_id,rating\ncaf\xe9,1\n")
    cases["latin1.csv"] = ("", "not UTF-8 text")
    import csv

    previous = csv.field_size_limit(100)  # the 128 KiB default, scaled down with the size cap
    try:
        for name, (_, expected) in cases.items():
            assert main([*args, str(tmp_path / name)]) == 2, name
            err = capsys.readouterr().err
            assert expected in err and "Traceback" not in err, (name, err)
    finally:
        csv.field_size_limit(previous)
    assert TeachStore(Store()).label_rows("digits", "files") == []


def test_a_batch_held_by_the_teach_page_is_proposed_again_until_the_round_moves_on(workspace_dir):
    """A reviewer: Apply or Reset seen kept the batch on screen only until a reload, which proposed another
    (the draft typed into it was orphaned). With ``keep_batch`` the round's batch stays until a submit or undo."""
    indexed_digits(workspace_dir)
    session = TeachSession.create("digits", "held", store=Store(), target_label="3", strategy="random")
    oracle_rounds(session, "3", 1)
    shown = _proposed(session)
    session.update_settings(keep_batch=True, strategy="diverse", batch_size=6)
    session.reset_seen(keep_batch=True)
    reloaded = TeachSession.open("digits", "held", store=Store())  # a reload, or `teach next`
    assert [c.item_id for c in reloaded.next_batch()] == shown
    assert reloaded.batch_settings() == ("random", 10, 0) and reloaded.concept.strategy == "diverse"
    reloaded.submit(dict.fromkeys(shown[:2], 1.0))
    nxt = [c.item_id for c in TeachSession.open("digits", "held", store=Store()).next_batch()]
    assert len(nxt) == 6 and TeachSession.open("digits", "held", store=Store()).concept.held_batch is None
    # without keep_batch (the command line) a change applies at once
    fresh = TeachSession.open("digits", "held", store=Store())
    fresh.update_settings(batch_size=4)
    assert len(fresh.next_batch()) == 4
    # an undo ends a held round too: its items are the batch again, then the new settings apply
    fresh.update_settings(keep_batch=True, batch_size=5)
    assert len(fresh.next_batch()) == 4
    fresh.undo()
    assert [c.item_id for c in fresh.next_batch()] == shown[:2]  # the round undone: what the reloaded tab sent
    fresh.submit(dict.fromkeys(shown[:2], 1.0))
    assert fresh.concept.held_batch is None and len(fresh.next_batch()) == 5


def test_an_undone_rounds_items_stay_the_batch_after_a_settings_change_and_a_reload(workspace_dir):
    """An outside tester: Apply, then Undo, then a reload proposed another batch, and the undone round's ratings
    (already deleted from the table) were gone for good. The undone items are that round's batch until it moves on."""
    indexed_digits(workspace_dir)
    session = TeachSession.create("digits", "undone", store=Store(), target_label="3", strategy="random")
    first = [c.item_id for c in session.next_batch()]
    session.submit({first[0]: 1.0, first[1]: -1.0, first[2]: None})
    session.update_settings(keep_batch=True, strategy="diverse", batch_size=5)
    session.undo()
    reloaded = TeachSession.open("digits", "undone", store=Store())
    assert [c.item_id for c in reloaded.next_batch()] == [first[0], first[1], first[2]]
    assert reloaded.last_policy_reason == "the undone round's items, offered again"
    reloaded.update_settings(keep_batch=True, batch_size=7)  # another Apply keeps them too
    assert [c.item_id for c in TeachSession.open("digits", "undone", store=Store()).next_batch()] == first[:3]
    reloaded.submit({first[0]: 1.0})
    after = TeachSession.open("digits", "undone", store=Store())
    assert after.concept.held_batch is None and len(after.next_batch()) == 7
