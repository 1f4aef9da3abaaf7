"""What one page does when another tab or process changed the concept under it (an outside tester, round nine):

- a Map selection made for one concept was rated into another after a rename elsewhere (the sidebar fell back);
- a delete and re-create under the same name took the old selection;
- Undo on a Teach page removed the newer round another tab (the Map) had written;
- ratings typed in a batch another writer overtook were all lost;
- a concept renamed elsewhere could not be found from the sidebar.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.session import TeachSession
from core.store import Store
from core.teach_store import TeachStore
from tests.app.test_map_page import _no_errors, _page, store_pca_as_map
from tests.helpers.teach_component import component_data, send_batch
from tests.helpers.workspaces import indexed_digits, taught_digits, use_workspace


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    root = taught_digits(tmp_path_factory.mktemp("digits-tabs"), rounds=2)
    TeachSession.create("digits", "zlast", store=Store(root), target_label="5")
    return root


@pytest.fixture
def digits(digits_template, workspace_dir) -> Store:
    return use_workspace(digits_template, workspace_dir)


def _shown(value: str) -> str:
    return value.replace("\\", "").replace("\u200b", "")


def _fresh(store: Store, name: str, n: int) -> list[str]:
    session = TeachSession.open("digits", name, store=store)
    seen = session.seen_ids()
    return [i for i in session.rateable([str(i) for i in store.vectors("digits").ids]) if i not in seen][:n]


def test_a_selection_follows_its_concept_through_a_rename_elsewhere(digits):
    store_pca_as_map(digits)
    picked = _fresh(digits, "three", 5)
    at = _page(map_selected_ids=picked)
    _no_errors(at)
    assert at.button(key="map_bulk_neg")
    TeachStore(Store()).rename_concept("digits", "three", "threes")  # another tab
    at.button(key="map_bulk_neg").click().run()
    _no_errors(at)
    assert at.session_state["selected_concept"] == "threes"
    assert any("was renamed to 'threes' in another tab" in _shown(w.value) for w in at.warning)
    renamed = TeachSession.open("digits", "threes", store=Store())
    assert renamed.round == 3 and set(picked) <= renamed.seen_ids()
    assert TeachSession.open("digits", "zlast", store=Store()).round == 0  # nothing went elsewhere


@pytest.mark.parametrize("again", [False, True])
def test_a_selection_for_a_deleted_concept_is_cleared_not_rated_elsewhere(digits, again):
    store_pca_as_map(digits)
    picked = _fresh(digits, "three", 5)
    at = _page(map_selected_ids=picked)
    _no_errors(at)
    teach = TeachStore(Store())
    teach.delete_concept("digits", "three")  # another tab; then, maybe, a new concept under the old name
    if again:
        TeachSession.create("digits", "three", store=Store(), target_label="3")
    at.button(key="map_bulk_neg").click().run()
    _no_errors(at)
    assert any("selection was made for another concept" in _shown(i.value) for i in at.info)
    what = "deleted and made again" if again else "deleted"
    assert any(f"Concept 'three' was {what} in another tab" in _shown(w.value) for w in at.warning)
    assert not [b for b in at.button if b.key == "map_bulk_neg"]
    assert TeachSession.open("digits", "zlast", store=Store()).round == 0
    if again:
        assert TeachSession.open("digits", "three", store=Store()).round == 0


def _teach_page():
    from streamlit.testing.v1 import AppTest

    router = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
    at = AppTest.from_file(router, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = "digits", "three"
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    return at


def test_undo_removes_the_round_the_page_showed_never_a_newer_one(digits):
    at = _teach_page()
    assert component_data(at)["counters"]["round"] == 2
    TeachSession.open("digits", "three", store=Store()).submit({_fresh(digits, "three", 1)[0]: 1.0})  # the Map
    at.button(key="teach_undo").click().run()
    assert any("round 2" in _shown(e.value) for e in at.error), [e.value for e in at.error]
    assert TeachSession.open("digits", "three", store=Store()).round == 3  # the Map's round stays
    at.button(key="teach_undo").click().run()  # now the page shows round 3: that one goes
    _no_errors(at)
    assert TeachSession.open("digits", "three", store=Store()).round == 2


def test_ratings_of_an_overtaken_batch_carry_over_to_the_items_shown_again(workspace_dir):
    indexed_digits(workspace_dir)
    store = Store()
    threes = [i for i, label in zip(store.vectors("digits").ids, store.vectors("digits").labels, strict=True)
              if label == "3"]
    TeachSession.create("digits", "three", store=store, examples=[str(threes[0]), str(threes[1])],
                        strategy="nearest")
    at = _teach_page()
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    typed = {i: (1.0 if k % 2 else -0.5) for k, i in enumerate(batch)}
    far = [i for i in _fresh(store, "three", 400) if i not in batch][-2:]
    TeachSession.open("digits", "three", store=Store()).submit(dict.fromkeys(far, -1.0))  # another tab, first
    send_batch(at, typed, nonce="late")
    shown = [i["id"] for i in component_data(at)["items"]]
    carried = {i: v for i, v in typed.items() if i in shown}
    assert carried, "the nearest batch after two far-away ratings should share items with the one before"
    assert component_data(at)["draft"]["ratings"] == carried
    assert any(f"{len(carried)} of the ratings typed there" in _shown(e.value) for e in at.error)
    assert TeachSession.open("digits", "three", store=Store()).round == 1  # nothing of the late batch written


def test_an_enter_after_a_rename_elsewhere_goes_to_the_renamed_concept(digits):
    """A re-tester: a Teach batch's Enter after a rename in another tab ended on "no concept", and the sidebar kept
    the old name (a submit reruns only the batch, not the sidebar that follows renames)."""
    at = _teach_page()
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    TeachStore(Store()).rename_concept("digits", "three", "threes")  # another tab
    send_batch(at, dict.fromkeys(batch[:3], 1.0), nonce="after-rename")
    _no_errors(at)
    assert at.session_state["selected_concept"] == "threes"
    assert any("was renamed to 'threes' in another tab" in _shown(w.value) for w in at.warning)
    renamed = TeachSession.open("digits", "threes", store=Store())
    assert renamed.round == 3 and set(batch[:3]) <= renamed.seen_ids()
    assert component_data(at)["token"].startswith("r3-")  # the next batch, of the renamed concept


def test_a_batch_refused_after_an_undo_elsewhere_says_at_once_what_became_of_its_ratings(digits):
    """A fast-labeller tester: after an undo in another tab, Enter on the stale batch was refused without a word
    about the ratings typed into it; they came back a round later under "the ratings typed there"."""
    at = _teach_page()
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    typed = {i: 1.0 for i in batch[:3]}
    TeachSession.open("digits", "three", store=Store()).undo()  # another tab (or the CLI) undoes round 2
    send_batch(at, typed, nonce="stale")
    told = [_shown(e.value) for e in at.error]
    assert any("The 3 ratings typed there were not written: the undone round comes first" in m for m in told), told
    draft = component_data(at)["draft"]
    assert draft and set(draft["ratings"]) != set(typed)  # the undone round's own ratings, not the stale ones
    assert TeachSession.open("digits", "three", store=Store()).round == 1
    send_batch(at, draft["ratings"], nonce="again")  # the undone round, submitted again
    assert not at.exception
    assert TeachSession.open("digits", "three", store=Store()).round == 2
    shown = [i["id"] for i in component_data(at)["items"]]
    notes = [_shown(m.value) for m in [*at.error, *at.info, *at.success, *at.warning]]
    assert not any("typed there" in m for m in notes), notes  # said once, where "there" meant something
    carried = {i: v for i, v in typed.items() if i in shown}
    if carried:  # the stale batch's items shown again: their ratings are its draft, named for when they were typed
        assert component_data(at)["draft"]["ratings"] == carried
        assert any("typed before the undo" in m for m in notes), notes


def test_a_refused_batch_names_the_items_the_round_written_first_rated_otherwise(workspace_dir):
    """A fast-labeller tester: two tabs rated the same batch, item 1 +1 in one and -1 in the other; the second Enter
    was refused, and nothing said that the round kept contradicts what was typed there."""
    indexed_digits(workspace_dir)
    TeachSession.create("digits", "three", store=Store(), target_label="3", strategy="random")
    at = _teach_page()
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    TeachSession.open("digits", "three", store=Store()).submit(  # the other tab, first: +1, +1, -1, skip
        {batch[0]: 1.0, batch[1]: 1.0, batch[2]: -1.0, batch[3]: None}, expected_round=0)
    send_batch(at, {batch[0]: -1.0, batch[1]: 1.0, batch[2]: 0.5, batch[3]: 1.0}, nonce="late")
    told = " ".join(_shown(e.value) for e in at.error)
    assert "3 of them were rated otherwise in a round written first" in told, told
    assert "Undo last round takes that round back" in told
    assert f"'{batch[0]}': +1 written, -1 typed here" in told and f"'{batch[2]}': -1 written, +0.5 typed here" in told
    assert f"'{batch[3]}': skipped, +1 typed here" in told  # seen now: it would never come back
    assert f"'{batch[1]}'" not in told  # the same rating in both tabs: nothing to tell
    assert TeachSession.open("digits", "three", store=Store()).round == 1


def test_a_refusal_does_not_advise_one_undo_when_the_contradiction_is_older(workspace_dir):
    """A third re-tester: the concept two rounds ahead, the advice "Undo last round takes that round back" undid the
    unrelated round 2 while round 1 kept the contradicting ratings."""
    indexed_digits(workspace_dir)
    TeachSession.create("digits", "three", store=Store(), target_label="3", strategy="random")
    at = _teach_page()
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    other = TeachSession.open("digits", "three", store=Store())
    other.submit({batch[0]: 1.0, batch[1]: 1.0}, expected_round=0)  # round 1 contradicts
    other.submit({c.item_id: -1.0 for c in other.next_batch(3, seed=5)}, expected_round=1)  # round 2 does not
    send_batch(at, {batch[0]: -1.0, batch[1]: -1.0}, nonce="late")
    told = " ".join(_shown(e.value) for e in at.error)
    assert "2 of them were rated otherwise in a round written first" in told, told
    assert "written in round 1, and Undo last round takes back round 2 first, so it would take 2 undos" in told, told
    assert "takes that round back" not in told
