"""The Map's "rate all selected" and the Teach page's undo, as an outside tester used them on real text.

A box over a cluster, then "all −1", turned 75 of his hand-made +1 ratings into −1 (AP 0.67 -> 0.18); undoing
that round on Teach then showed its 1,115 items as one batch, all pre-rated −1, captioned "chosen by auto".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.session import ORIGIN_MAP_ALL, UNDONE_REASON, TeachSession
from core.store import Store
from tests.app.test_map_page import _no_errors, _page, store_pca_as_map
from tests.helpers.teach_component import component_data
from tests.helpers.workspaces import taught_digits, use_workspace


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    return taught_digits(tmp_path_factory.mktemp("digits-undo"), rounds=2)


@pytest.fixture
def digits(digits_template, workspace_dir) -> Store:
    return use_workspace(digits_template, workspace_dir)


def _shown(value: str) -> str:
    """A message as a person reads it (the page escapes Markdown: backslashes, a zero-width space after colons)."""
    return value.replace("\\", "").replace("\u200b", "")


def _current(name: str = "three") -> dict[str, float]:
    r = TeachSession.open("digits", name, store=Store()).ratings()
    return dict(zip(r.item_ids.tolist(), r.ratings.tolist(), strict=True))


def test_rate_all_selected_leaves_rated_items_as_they_are(digits):
    store_pca_as_map(digits)
    session = TeachSession.open("digits", "three", store=digits)
    before = _current()
    rated = list(before)[:4]
    fresh = [i for i in session.rateable([str(i) for i in digits.vectors("digits").ids]) if i not in before][:6]
    at = _page(map_selected_ids=rated + fresh)
    _no_errors(at)
    assert any("4 selected items already rated keep their ratings" in _shown(c.value) for c in at.caption)
    at.button(key="map_bulk_neg").click().run()
    _no_errors(at)
    after = _current()
    assert {i: after[i] for i in rated} == {i: before[i] for i in rated}  # a +1 stays +1
    assert all(after[i] == -1.0 for i in fresh)
    flashed = [_shown(s.value) for s in at.success]
    assert any("Rated 6 selected items −1 (4 already rated kept their ratings)" in m for m in flashed), flashed
    last = TeachSession.open("digits", "three", store=Store()).history()[-1]
    assert last.metrics["origin"] == ORIGIN_MAP_ALL


def test_a_selection_of_rated_items_only_offers_no_bulk_rating(digits):
    store_pca_as_map(digits)
    rated = list(_current())[:3]
    at = _page(map_selected_ids=rated)
    _no_errors(at)
    assert not [b for b in at.button if b.key == "map_bulk_neg"]
    assert any("Every selected item is rated already" in _shown(c.value) for c in at.caption)


def _teach_page():
    from streamlit.testing.v1 import AppTest

    router = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
    at = AppTest.from_file(router, default_timeout=60)
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    return at


def test_undoing_a_map_all_round_offers_no_batch_and_says_so(digits):
    session = TeachSession.open("digits", "three", store=digits)
    fresh = [i for i in session.rateable([str(i) for i in digits.vectors("digits").ids])
             if i not in session.seen_ids()][:40]
    session.submit(dict.fromkeys(fresh, -1.0), expected_round=session.round, origin=ORIGIN_MAP_ALL)
    at = _teach_page()
    at.button(key="teach_undo").click().run()
    _no_errors(at)
    assert TeachSession.open("digits", "three", store=Store()).round == 2
    assert any("rated all at once on the Map: its items are unrated again" in _shown(i.value) for i in at.info), [
        i.value for i in at.info]
    data = component_data(at)
    assert len(data["items"]) == 10 and not data.get("draft")
    assert UNDONE_REASON not in data["caption"]
    assert not [b for b in at.button if b.key == "teach_drop_undone"]


def test_an_undone_batch_says_what_it_is_and_can_be_dropped(digits):
    undone = dict(TeachSession.open("digits", "three", store=digits).teach.round_ratings("digits", "three", 2))
    at = _teach_page()
    at.button(key="teach_undo").click().run()
    _no_errors(at)
    data = component_data(at)
    assert [i["id"] for i in data["items"]] == list(undone) and data["draft"]["ratings"] == undone
    assert f"{UNDONE_REASON}, with their ratings" in data["caption"] and "chosen by" not in data["caption"]
    # another browser (a new page session) gets the same items with the same ratings, under the same undo's nonce:
    # a browser applies them once, then keeps its own edits across reloads
    elsewhere = component_data(_teach_page())
    assert elsewhere["token"] == data["token"] and elsewhere["draft"]["ratings"] == undone
    assert elsewhere["draft"]["nonce"] == data["draft"]["nonce"]
    undone_token = data["token"]
    at.button(key="teach_drop_undone").click().run()
    _no_errors(at)
    data = component_data(at)
    # the strategy's batch for the same w (here the same items: the start ranks them first), without the draft
    assert len(data["items"]) == 10 and not data.get("draft") and "chosen by" in data["caption"]
    # the same items at the same round, yet another batch: the browser's draft of the undone one (kept under its
    # token) must not come back (a re-tester's dropped -1s did, and one Enter wrote them again)
    assert data["token"] != undone_token and data["token"].startswith("r1-")
    reloaded = _teach_page()
    assert component_data(reloaded)["token"] == data["token"]  # a reload shows that same batch
    assert TeachSession.open("digits", "three", store=Store()).held_items() is None
    assert not [b for b in at.button if b.key == "teach_drop_undone"]
