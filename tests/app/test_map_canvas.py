"""Large maps: the replay drawn by the canvas component (AppTest on the digits, the threshold set to 0).

AppTest cannot run the component's JavaScript: these tests read the payload it would receive and
send the lasso value it would send (``map_canvas_pick``, as its callback stores it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.projection import pca_view
from core.replay_canvas import positions, unpack
from core.session import TeachSession
from core.store import Store
from tests.app.test_map_page import _no_errors, _page
from tests.helpers.workspaces import taught_digits, use_workspace


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    return taught_digits(tmp_path_factory.mktemp("digits-canvas"), rounds=3)


@pytest.fixture
def digits(digits_template, workspace_dir, monkeypatch) -> Store:
    import app.map_tab

    monkeypatch.setattr(app.map_tab, "CANVAS_ABOVE", 0)
    return use_workspace(digits_template, workspace_dir)


def _payload(at) -> tuple[dict, dict]:
    elements = at.get("bidi_component")
    assert len(elements) == 1 and not at.get("plotly_chart")
    return unpack(elements[0].proto.bytes)


def test_every_round_travels_once_as_colour_codes(digits):
    at = _page()
    _no_errors(at)
    header, arrays = _payload(at)
    view = digits.vectors("digits")
    xy = pca_view(view.matrix)  # no fitted map in this workspace: the PCA stand-in
    assert np.abs(positions(header, arrays) - xy).max() <= np.ptp(xy, axis=0).max() / 65535 + 1e-6
    session = TeachSession.open("digits", "three", store=digits)
    assert header["m"] == len(view.ids) == 1797 and header["rounds"] == [0, 1, 2, 3] and header["start"] == 3
    codes = arrays["codes"].reshape(4, 1797)
    ckpt = session.history()[2]
    scores = view.matrix @ ckpt.w + ckpt.bias
    assert np.corrcoef(codes[2].astype(float), np.clip(scores, -header["spans"][2], header["spans"][2]))[0, 1] > 0.99
    assert (codes[1] != codes[3]).mean() > 0.1
    ids = [bytes(arrays["id_bytes"][arrays["id_at"][i]: arrays["id_at"][i + 1]]).decode() for i in range(3)]
    assert ids == [str(i) for i in view.ids[:3]]
    assert any("Drag to lasso-select" in c.value for c in at.caption)


def test_the_metrics_follow_the_round_the_canvas_reports_and_the_bytes_stay(digits):
    at = _page()
    assert not at.get("select_slider")  # the canvas has its own round slider, in the browser
    before = at.get("bidi_component")[0].proto.bytes
    uid = unpack(before)[0]["uid"]
    at.session_state["map_canvas_round"] = {"round": 1, "uid": uid, "nonce": "1"}
    at.run()
    _no_errors(at)
    assert {m.label: m.value for m in at.metric}["Round"] == "1 of 3"
    assert at.get("bidi_component")[0].proto.bytes == before  # same bytes: Streamlit sends a reference only
    at.session_state["map_canvas_round"] = {"round": 1, "uid": "another map", "nonce": "2"}
    at.run()
    assert {m.label: m.value for m in at.metric}["Round"] == "3 of 3"
    at.session_state["map_canvas_round"] = {"round": 99, "uid": uid, "nonce": "3"}
    at.run()
    _no_errors(at)
    assert {m.label: m.value for m in at.metric}["Round"] == "3 of 3"


def test_a_lasso_selects_items_and_rates_them_all(digits):
    at = _page()
    header, _ = _payload(at)
    view = digits.vectors("digits")
    session = TeachSession.open("digits", "three", store=digits)
    fresh = [i for i, item in enumerate(view.ids) if item not in session.seen_ids() and view.split[i] == "train"][:12]
    at.session_state["map_canvas_pick"] = {"points": fresh + [10**9, -1, "3", True], "uid": header["uid"],
                                           "nonce": "1"}
    at.run()
    _no_errors(at)
    assert at.session_state["map_selected_ids"] == [str(view.ids[i]) for i in fresh]  # junk dropped
    assert any("12 selected" in c.value for c in at.caption)
    at.button(key="map_bulk_pos").click().run()
    _no_errors(at)
    after = TeachSession.open("digits", "three", store=digits)
    labels = [r for r in after.teach.label_rows("digits", "three") if r["round"] == after.round]
    assert sorted(r["item_id"] for r in labels) == sorted(str(view.ids[i]) for i in fresh)
    assert after.round == session.round + 1
    header2, _ = _payload(at)
    assert header2["rounds"][-1] == after.round and header2["start"] == len(header2["rounds"]) - 1


def test_a_stale_lasso_is_ignored(digits):
    at = _page()
    at.session_state["map_canvas_pick"] = {"points": [1, 2, 3], "uid": "from-another-map", "nonce": "1"}
    at.run()
    _no_errors(at)
    assert not any("selected" in c.value for c in at.caption if "Select points" not in c.value)
    assert any("Select points on the map" in c.value for c in at.caption)


def test_a_big_map_paints_its_latest_round_first_then_gets_every_round(digits, monkeypatch):
    import app.map_canvas

    monkeypatch.setattr(app.map_canvas, "FULL_ROUNDS_UP_TO", 100)
    at = _page()
    _no_errors(at)
    header, arrays = _payload(at)
    assert header["codes_from"] == 3 and len(arrays["codes"]) == 1797  # the latest round only
    at.session_state["map_canvas_full"] = header["uid"]  # what the browser asks for once it painted
    at.run()
    _no_errors(at)
    full, arrays = _payload(at)
    assert full["codes_from"] == 0 and len(arrays["codes"]) == 4 * 1797 and full["uid"] == header["uid"]


def test_the_rounds_request_after_a_bulk_rating_keeps_its_message(digits, monkeypatch):
    import app.map_canvas

    monkeypatch.setattr(app.map_canvas, "FULL_ROUNDS_UP_TO", 100)
    view = digits.vectors("digits")
    session = TeachSession.open("digits", "three", store=digits)
    fresh = [str(i) for i in view.ids if i not in session.seen_ids()][:5]
    at = _page(map_selected_ids=fresh)
    at.button(key="map_bulk_pos").click().run()
    assert any("Rated 5 selected items" in s.value for s in at.success), ([s.value for s in at.success],
                                                                              [e.value for e in at.error])
    header, _ = _payload(at)
    assert header["codes_from"] == 4  # a new round: its colours first
    at.session_state["map_canvas_full"] = header["uid"]  # as the callback stores the browser's request ...
    at.session_state["map_flash_keep"] = True  # ... marking the run as the page's own
    at.run()
    _no_errors(at)
    assert any("Rated 5 selected items" in s.value for s in at.success)
    assert _payload(at)[0]["codes_from"] == 0
    at.run()  # a person's next action: the message has been seen
    assert not any("Rated 5" in s.value for s in at.success)


def test_other_colourings_and_small_maps_stay_plotly(digits, monkeypatch):
    at = _page()
    at.segmented_control(key="map_color").set_value("Label").run()
    _no_errors(at)
    assert at.get("plotly_chart") and not at.get("bidi_component")
    import app.map_tab

    monkeypatch.setattr(app.map_tab, "CANVAS_ABOVE", 20_000)
    at.segmented_control(key="map_color").set_value("Score").run()
    assert at.get("plotly_chart") and not at.get("bidi_component")
