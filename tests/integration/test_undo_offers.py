"""What an undo offers back, and submits that change nothing (an outside tester on real text, round nine).

- A Map "rate all selected" round came back on Teach as one 1,115-card batch, all pre-rated, one Enter from
  redoing it; its undo now leaves the items unrated and offers nothing.
- An undone round that re-rated earlier items offered those too, then a reload dropped them (they still had
  their earlier rating): the draft and the batch differed. Only the items the undo left unseen come back.
- There was no way out of an undone round's batch but to submit it: ``drop_held`` / ``teach next --fresh``.
- The same ``teach submit`` run twice wrote an empty round; it now writes nothing and says so.
"""

from __future__ import annotations

import pytest

from core.cli import main
from core.errors import NothingChanged
from core.session import ORIGIN_MAP_ALL, UNDONE_REASON, TeachSession
from core.store import Store
from core.teach_store import TeachStore
from tests.helpers.workspaces import indexed_digits


@pytest.fixture
def session(workspace_dir) -> TeachSession:
    indexed_digits(workspace_dir)
    return TeachSession.create("digits", "c", store=Store(), target_label="3", strategy="random")


def _rounds(name: str = "c") -> list[int]:
    return [c.round for c in TeachSession.open("digits", name, store=Store()).history()]


def test_an_undone_map_all_round_is_not_offered_again(session):
    first = [c.item_id for c in session.next_batch()]
    session.submit(dict.fromkeys(first[:3], 1.0))
    picked = session.rateable([f"digits-{i}" for i in range(200, 260)])
    picked = [i for i in picked if i not in session.seen_ids()]
    session.submit(dict.fromkeys(picked, -1.0), expected_round=1, origin=ORIGIN_MAP_ALL)
    assert session.history()[-1].metrics["origin"] == ORIGIN_MAP_ALL
    session.undo()
    assert session.undone == {} and session.held_items() is None
    batch = [c.item_id for c in TeachSession.open("digits", "c", store=Store()).next_batch()]
    assert len(batch) == 10 and session.last_policy_reason != UNDONE_REASON
    assert not set(picked) & session.seen_ids()  # unrated again


def test_an_undo_offers_only_the_items_it_left_unseen(session):
    first = [c.item_id for c in session.next_batch()]
    session.submit({first[0]: 1.0, first[1]: 1.0})
    fresh = [c.item_id for c in session.next_batch()][:3]
    session.submit({first[0]: -1.0, **dict.fromkeys(fresh, 0.5)})  # re-rates first[0], rates three new ones
    session.undo()
    assert session.undone == dict.fromkeys(fresh, 0.5)  # first[0] keeps its +1 from round 1
    assert dict(zip(*[a.tolist() for a in (session.ratings().item_ids, session.ratings().ratings)],
                    strict=True))[first[0]] == 1.0
    reloaded = TeachSession.open("digits", "c", store=Store())
    assert [c.item_id for c in reloaded.next_batch()] == fresh  # the same items as the draft offered
    assert reloaded.last_policy_reason == UNDONE_REASON


def test_drop_held_proposes_the_strategys_batch_instead(session):
    first = [c.item_id for c in session.next_batch()]
    session.submit(dict.fromkeys(first[:4], 1.0))
    session.undo()
    assert [c.item_id for c in session.next_batch()] == first[:4]
    assert session.batch_generation() == 0
    assert session.drop_held() is True and session.drop_held() is False
    again = TeachSession.open("digits", "c", store=Store())
    assert again.held_items() is None and len(again.next_batch()) == 10
    assert again.last_policy_reason != UNDONE_REASON and again.batch_generation() == 1
    again.submit(dict.fromkeys(first[:2], 1.0))
    assert again.batch_generation() == 0  # a new round: a new batch anyway


def test_drop_held_keeps_the_settings_held_for_the_round(session):
    first = [c.item_id for c in session.next_batch()]
    session.submit(dict.fromkeys(first[:2], 1.0))
    session.update_settings(keep_batch=True, batch_size=5)  # holds the round's size (10) for the batch on screen
    session.undo()
    session.drop_held()
    assert len(TeachSession.open("digits", "c", store=Store()).next_batch()) == 5  # undo moved the round: new size


def test_the_same_submit_twice_writes_one_round(session):
    first = [c.item_id for c in session.next_batch()]
    ratings = {first[0]: 1.0, first[1]: -0.5, first[2]: None}
    session.submit(ratings)
    with pytest.raises(NothingChanged, match="nothing changed: every one of these 3 items .* stays at round 1"):
        session.submit(ratings)
    with pytest.raises(NothingChanged, match="this 1 item already has this rating"):
        session.submit({first[1]: -0.5})
    assert _rounds() == [0, 1]
    session.submit({first[1]: 1.0})  # a changed rating is a round
    session.submit({first[3]: None})  # so is a skip of an unseen item
    assert _rounds() == [0, 1, 2, 3]


def test_the_same_ratings_after_reset_seen_are_a_round(session):
    first = [c.item_id for c in session.next_batch()]
    session.submit({first[0]: 1.0})
    session.reset_seen()
    session.submit({first[0]: 1.0})  # marks it seen again, so it stops being proposed
    assert _rounds() == [0, 1, 2] and first[0] in session.seen_ids()


def test_the_command_line_says_a_repeated_submit_changed_nothing(session, capsys):
    args = ["teach", "submit", "--index", "digits", "--concept", "c", "--ratings", "digits-3=1,digits-8=-1"]
    assert main(args) == 0 and main(args) == 0
    out = capsys.readouterr().out
    assert "nothing changed: every one of these 2 items already has its rating" in out
    assert _rounds() == [0, 1] and len(TeachStore(Store()).label_rows("digits", "c")) == 2
    assert main([*args, "--json"]) == 0
    assert '"unchanged": true' in capsys.readouterr().out


def test_the_command_line_drops_an_undone_round_with_fresh(session, capsys):
    first = [c.item_id for c in session.next_batch()]
    session.submit(dict.fromkeys(first[:2], 1.0))
    session.undo()
    base = ["teach", "next", "--index", "digits", "--concept", "c"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert out.startswith("round 0: 2 items to rate") and f"why: {UNDONE_REASON}" in out
    assert main([*base, "--fresh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("round 0: 10 items to rate") and UNDONE_REASON not in out


def test_teach_next_with_k_offers_the_undone_items_too(session):
    """A newcomer following the README: after `teach undo`, `teach next --k 10` showed a new sample."""
    first = [c.item_id for c in session.next_batch()]
    session.submit(dict.fromkeys(first[:3], 1.0))
    session.undo()
    assert [c.item_id for c in session.next_batch(10)] == first[:3]
    assert [c.item_id for c in session.next_batch(2)] == first[:2]
    assert session.last_policy_reason == UNDONE_REASON
    assert len(session.next_batch(10, strategy="random")) == 10  # a strategy asked for: its batch


def test_an_undone_rounds_ratings_are_kept_with_the_concept_for_every_browser_and_the_cli(session, capsys):
    """An outside tester: a second browser (and `teach next`) got the undone items unrated, under a caption saying
    "with their ratings", one double Enter from submitting them as skips."""
    first = [c.item_id for c in session.next_batch()]
    given = {first[0]: 1.0, first[1]: -1.0, first[2]: None}
    session.submit(given)
    session.undo()
    elsewhere = TeachSession.open("digits", "c", store=Store())  # another browser's, another process's session
    ratings, undo_id = elsewhere.held_ratings()
    assert ratings == given and undo_id
    assert main(["teach", "next", "--index", "digits", "--concept", "c", "--json"]) == 0
    import json

    shown = {c["item_id"]: c.get("undone_rating", "absent") for c in json.loads(capsys.readouterr().out)}
    assert shown == given
    assert main(["teach", "next", "--index", "digits", "--concept", "c"]) == 0
    assert f"{first[0]}=1,{first[1]}=-1,{first[2]}=skip" in capsys.readouterr().out
    # a second undo of the same round is another undo: another id, so a browser applies its ratings afresh
    elsewhere.submit(given)
    elsewhere.undo()
    assert TeachSession.open("digits", "c", store=Store()).held_ratings()[1] != undo_id
    assert elsewhere.drop_held() and TeachSession.open("digits", "c", store=Store()).held_ratings() is None
