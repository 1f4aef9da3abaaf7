"""The Map's replay, kept settings, bulk rating and report button through AppTest on a real digits workspace."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core.projection import Projection, load_projection
from core.projection_auto import read_status
from core.session import TeachSession
from core.store import Store
from tests.app.test_map_page import SCORE, _array, _figure, _no_errors, _page, _traces, store_pca_as_map
from tests.helpers.workspaces import taught_digits, use_workspace


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    return taught_digits(tmp_path_factory.mktemp("digits-replay"), rounds=4)


@pytest.fixture
def digits(digits_template, workspace_dir) -> Store:
    return use_workspace(digits_template, workspace_dir)


@pytest.fixture
def fitted(digits) -> Projection:
    return store_pca_as_map(digits)


def test_round_slider_moves_w_and_recolours(digits, fitted):
    at = _page()
    _no_errors(at)
    assert at.select_slider(key="map_round").value == 4  # the latest round by default
    last = _traces(at)
    fig = _figure(at)
    assert [f["name"] for f in fig["frames"]] == ["0", "1", "2", "3", "4"]  # ▶ plays them in the browser
    assert fig["layout"]["sliders"][0]["active"] == 4
    at.select_slider(key="map_round").set_value(2).run()
    _no_errors(at)
    now = _traces(at)
    assert list(now["w by round"]["text"]) == ["1", "2"]
    assert list(last["w by round"]["text"]) == ["1", "2", "3", "4"]
    assert "round 2" in now["w at this round"]["hovertext"][0]
    colours_2, colours_4 = _array(now[SCORE]["marker"]["color"]), _array(last[SCORE]["marker"]["color"])
    assert colours_2.dtype == np.uint8 and len(colours_2) == 1797
    assert (colours_2 != colours_4).mean() > 0.1  # recoloured by round 2's scores
    session = TeachSession.open("digits", "three", store=digits)
    ckpt = session.history()[2]
    view = digits.vectors("digits")
    rows = _array(now[SCORE]["customdata"]).astype(int)
    scores = view.matrix[rows] @ ckpt.w + ckpt.bias
    positive_rows = set(_array(now["predicted positive"]["customdata"]).astype(int).tolist())
    assert positive_rows == set(rows[scores > 0].tolist())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Round"] == "2 of 4" and metrics["AP"] == f"{ckpt.metrics['ap']:.3f}"
    assert int(metrics["Flipped since the round before"].replace(",", "")) == len(
        _array(now["flipped since the round before"]["customdata"]))


def test_settings_survive_a_tab_switch(digits, fitted):
    at = _page()
    at.segmented_control(key="map_color").set_value("Label").run()
    at.toggle(key="map_show_validation").set_value(True).run()
    at.select_slider(key="map_round").set_value(1).run()
    at.session_state["map_tab"] = "Drift"
    at.run()
    _no_errors(at)
    at.run()  # a second run on the Drift tab: Streamlit has dropped the map's widget state by now
    assert not at.get("select_slider")
    at.session_state["map_tab"] = "Map"
    at.run()
    _no_errors(at)
    assert at.segmented_control(key="map_color").value == "Label"
    assert at.toggle(key="map_show_validation").value is True
    assert at.select_slider(key="map_round").value == 1
    assert "predicted +, right (TP)" in _traces(at)


def test_a_new_round_moves_the_replay_to_it(digits, fitted):
    at = _page()
    session = TeachSession.open("digits", "three", store=digits)
    ids = [str(i) for i in digits.vectors("digits").ids if i not in session.seen_ids()][:2]
    session.submit(dict.fromkeys(ids, 1.0))
    at.run()
    assert at.select_slider(key="map_round").value == 5


def test_rate_all_selected_is_one_undoable_round(digits, fitted):
    session = TeachSession.open("digits", "three", store=digits)
    fresh = session.rateable([str(i) for i in digits.vectors("digits").ids if i not in session.seen_ids()])[:60]
    assert len(fresh) == 60  # > one panel page; train items only (validation is held out)
    at = _page(map_selected_ids=fresh)
    _no_errors(at)
    at.button(key="map_bulk_neg").click().run()
    _no_errors(at)
    after = TeachSession.open("digits", "three", store=digits)
    assert after.round == session.round + 1
    labels = [r for r in after.teach.label_rows("digits", "three") if r["round"] == after.round]
    assert sorted(r["item_id"] for r in labels) == sorted(fresh)
    assert {r["rating"] for r in labels} == {-1.0}
    assert any("Rated 60 selected items −1" in s.value for s in at.success)
    assert at.select_slider(key="map_round").value == after.round
    after.undo()
    assert TeachSession.open("digits", "three", store=digits).round == session.round
    assert not set(fresh) & TeachSession.open("digits", "three", store=digits).seen_ids()


def test_report_button_offers_the_offline_html(digits, fitted):
    at = _page()
    at.button(key="map_report_build").click().run()
    _no_errors(at)
    report = at.session_state["map_report"]
    html = report["html"].decode()
    assert html.startswith("<!DOCTYPE html>") and "<script src" not in html and "<link" not in html
    assert html.count('type="application/json"') >= 2 and "Drift on the validation split" in html
    assert report["png"].startswith(b"\x89PNG")
    assert any("Report ready" in c.value for c in at.caption)
    # an undo and a new submit elsewhere make another round of the same number: the old report is not offered
    session = TeachSession.open("digits", "three", store=Store())
    undone = session.teach.round_ratings("digits", "three", session.round)
    session.undo()
    session.submit({i: -1.0 for i in undone})
    at.run()
    _no_errors(at)
    assert not any("Report ready" in c.value for c in at.caption)


def test_umap_starts_by_itself_and_replaces_the_pca_view(digits, monkeypatch):
    """A real detached fit (child process, small epochs): PCA with "ready in ~N s", then the UMAP map."""
    monkeypatch.setenv("FEWSHOT_AUTO_MAP", "1")
    at = _page(map_fit_epochs=20)
    _no_errors(at)
    assert any("UMAP map is ready in ~" in i.value for i in at.info), [i.value for i in at.info]
    status = read_status("digits", digits.root)
    assert status is not None and status.alive
    at.run()  # a rerun (or a second tab) does not start a second fit
    assert read_status("digits", digits.root).pid == status.pid
    deadline = time.time() + 600
    while read_status("digits", digits.root).alive and time.time() < deadline:
        time.sleep(2)
    assert read_status("digits", digits.root).state == "done", read_status("digits", digits.root)
    at.run()
    _no_errors(at)
    assert any("UMAP map (cosine) of 1,797 items" in c.value for c in at.caption)
    projection = load_projection("digits", digits.vectors("digits"))
    assert projection is not None and projection.params.get("knn") == "exact"
    trace = _traces(at)[SCORE]
    rows = _array(trace["customdata"]).astype(int)
    np.testing.assert_allclose(_array(trace["x"]), projection.xy[rows, 0], rtol=1e-6)


def test_drift_tab_blank_cells_cosine_over_every_round_no_mode_bar(digits, fitted):
    three = TeachSession.open("digits", "three", store=digits).concept.identity
    at = _page(map_tab="Drift", validate_threshold_by_concept={("digits", three): 0.5})
    _no_errors(at)
    table = at.dataframe[0].value
    first = table.iloc[0]
    assert first["flips"] == "" and first["cos to previous w"] == ""  # blank, not "None"
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()
    movement = _figure(at, "map_drift_movement")
    cos = next(t for t in movement["data"] if t.get("name") == "cos(w, previous w)")
    assert list(cos["x"]) == [0, 1, 2, 3, 4] and cos["connectgaps"] is True
    assert movement["layout"]["legend"]["y"] < 0  # under the plot
    chart = next(c for c in at.get("plotly_chart") if "map_drift_movement" in c.proto.id)
    assert '"displayModeBar": false' in chart.proto.config.replace("False", "false")
    scores = _figure(at, "map_drift_scores")
    assert "p=0.62" in json_text(scores)


def json_text(obj) -> str:
    import json

    return json.dumps(obj)


def test_selection_on_a_compact_map_names_rows_by_point_index():
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import numpy as np
        import streamlit as st

        from app.map_view import selected_ids

        ids = np.asarray(["a", "b", "c", "d"], dtype=object)
        rows = np.asarray([0, 2, 3])  # the items trace draws rows 0, 2, 3 (no customdata)
        event = {"selection": {"points": [{"curve_number": 0, "point_index": 1},
                                          {"curve_number": 1, "point_index": 0, "customdata": 3},
                                          {"curve_number": 3, "point_index": 0}]}}
        st.session_state["picked"] = selected_ids(event, ids, rows)

    at = AppTest.from_function(script).run()
    assert at.session_state["picked"] == ["c", "d"]
