"""The Map page through AppTest on a real digits workspace: PCA stand-in, fitted map, colours, overlay,
trajectory, rating selected points into the Teach session, the fit job, and the Drift tab."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.drift import compare_rounds, round_scores, weights
from core.evaluate import evaluate_split
from core.projection import Projection, fingerprint, load_projection, pca_view, save_projection
from core.session import TeachSession
from core.store import Store
from tests.helpers.workspaces import taught_digits, use_workspace

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "map.py")
SCORE = "items (score at this round)"
ROUTER = str(ROOT / "streamlit_app.py")


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    """Digits indexed with raw pixels and concept "three" taught for three oracle rounds."""
    return taught_digits(tmp_path_factory.mktemp("digits-map"), rounds=3)


@pytest.fixture
def digits(digits_template, workspace_dir) -> Store:
    return use_workspace(digits_template, workspace_dir)


def store_pca_as_map(store: Store, index: str = "digits") -> Projection:
    """A stored map (PCA positions saved as if fitted: the page only reads the file; UMAP is tested apart)."""
    view = store.vectors(index)
    projection = Projection(pca_view(view.matrix) * 3.0, "umap", view.version, fingerprint(view.ids, view.matrix),
                            len(view.ids), 1.5)
    save_projection(index, projection)
    return projection


@pytest.fixture
def fitted(digits) -> Projection:
    return store_pca_as_map(digits)


def _page(concept: str | None = "three", **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_index"] = "digits"
    at.session_state["selected_concept"] = concept
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _array(value) -> np.ndarray:
    """A Plotly JSON array: a plain list, or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _figure(at: AppTest, key: str = "map_chart") -> dict:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id)
    return json.loads(chart.proto.spec)


def _traces(at: AppTest) -> dict[str, dict]:
    return {t.get("name"): t for t in _figure(at)["data"]}


def test_pca_stand_in_until_a_map_is_fitted(digits):
    at = _page()
    _no_errors(at)
    assert any("PCA stand-in" in i.value for i in at.info)
    assert at.button(key="map_fit").label == "Compute UMAP map"
    traces = _traces(at)
    assert SCORE in traces
    assert len(_array(traces[SCORE]["customdata"])) == 1797
    assert at.segmented_control(key="map_color").value == "Score"


def test_fitted_map_is_shown_with_its_positions(digits, fitted):
    at = _page()
    _no_errors(at)
    assert not any("PCA stand-in" in i.value for i in at.info)
    assert any("UMAP map (cosine) of 1,797 items" in c.value for c in at.caption)
    trace = _traces(at)[SCORE]
    rows = _array(trace["customdata"]).astype(int)
    np.testing.assert_allclose(_array(trace["x"]), fitted.xy[rows, 0], rtol=1e-6)
    assert at.button(key="map_fit").label == "Recompute the map"


def test_colour_switch(digits, fitted):
    at = _page()
    expected = {
        "Label": {f"label {d}" for d in range(10)},
        "Rating": {"not rated", "rated (−1 … +1)"},
        "Seen": {"unseen", "seen (rated or skipped)"},
        "Score": {SCORE},
    }
    session = TeachSession.open("digits", "three", store=digits)
    for mode, names in expected.items():
        at.segmented_control(key="map_color").set_value(mode).run()
        _no_errors(at)
        traces = _traces(at)
        assert names <= set(traces), (mode, list(traces))
        item_points = sum(len(_array(t["customdata"])) for name, t in traces.items() if name in names)
        assert item_points == 1797
        if mode == "Rating":
            assert len(_array(traces["rated (−1 … +1)"]["customdata"])) == len(session.ratings())
        if mode == "Seen":
            assert len(_array(traces["seen (rated or skipped)"]["customdata"])) == len(session.seen_ids())


def test_trajectory_by_round_up_to_the_latest(digits, fitted):
    at = _page()
    traces = _traces(at)
    path = traces["w by round"]
    assert list(path["text"]) == ["1", "2", "3"]  # round 0 started from a diverse sample: w = 0, nothing to place
    hover = " ".join(path["hovertext"])
    assert "AP " in hover and "30 ratings" in hover
    assert "round 3" in traces["w at this round"]["hovertext"][0]
    at.toggle(key="map_show_trajectory").set_value(False).run()
    assert _traces(at)["w by round"]["visible"] is False


def test_validation_overlay_matches_the_validate_page_threshold(digits, fitted):
    three = TeachSession.open("digits", "three", store=digits).concept.identity
    at = _page(validate_threshold_by_concept={("digits", three): 0.5})
    assert not any(name and name.startswith(("predicted +,", "predicted −,")) for name in _traces(at))
    at.toggle(key="map_show_validation").set_value(True).run()
    _no_errors(at)
    traces = _traces(at)
    session = TeachSession.open("digits", "three", store=digits)
    ev = evaluate_split(digits, "digits", session.head, "validation", "3", 0.5)

    def count(name: str) -> int:
        return len(_array(traces[name]["customdata"])) if name in traces else 0

    assert count("predicted +, right (TP)") == ev.tp
    assert count("predicted +, wrong (FP)") == ev.fp
    assert count("predicted −, wrong (FN)") == ev.fn
    assert count("predicted −, right (TN)") == ev.tn
    assert traces["predicted −, right (TN)"]["visible"] == "legendonly"


def test_selected_points_are_rated_into_the_teach_session(digits, fitted):
    session = TeachSession.open("digits", "three", store=digits)
    seen = session.seen_ids()
    fresh = [str(i) for i in digits.vectors("digits").ids if i not in seen][:3]
    at = _page(map_selected_ids=fresh, teach_batch_no=4)
    _no_errors(at)
    for item_id in fresh:
        assert at.segmented_control(key=f"map_rate_{item_id}") is not None
    at.segmented_control(key=f"map_rate_{fresh[0]}").set_value("+1")
    at.segmented_control(key=f"map_rate_{fresh[1]}").set_value("−½")
    at.segmented_control(key=f"map_rate_{fresh[2]}").set_value("skip")
    at.button(key="map_submit").click().run()
    _no_errors(at)
    after = TeachSession.open("digits", "three", store=digits)
    assert after.round == session.round + 1
    rated = dict(zip(after.ratings().item_ids, after.ratings().ratings.tolist(), strict=True))
    assert rated[fresh[0]] == 1.0 and rated[fresh[1]] == -0.5 and fresh[2] not in rated
    assert set(fresh) <= after.seen_ids()
    assert any("Submitted 2 ratings and 1 skip:" in s.value.replace("\\", "") for s in at.success)
    assert at.session_state["teach_batch_no"] == 5  # the Teach page asks for a fresh batch
    assert "round 4" in _traces(at)["w at this round"]["hovertext"][0]


def test_submit_without_ratings_warns(digits, fitted):
    ids = [str(i) for i in digits.vectors("digits").ids[:2]]
    at = _page(map_selected_ids=ids)
    at.button(key="map_submit").click().run()
    assert any("at least one" in w.value for w in at.warning)
    assert TeachSession.open("digits", "three", store=digits).round == 3


def test_selection_event_names_rows_through_customdata():
    def script() -> None:
        import numpy as np
        import streamlit as st

        from app.map_view import selected_ids

        ids = np.asarray(["a", "b", "c"], dtype=object)
        event = {"selection": {"points": [{"customdata": 2}, {"customdata": [0]}, {"x": 1.0}, {"customdata": 9}]}}
        st.session_state["first"] = selected_ids(event, ids)
        st.session_state["again"] = selected_ids(event, ids)  # unchanged selection: keep the panel
        st.session_state["empty"] = selected_ids({"selection": {"points": []}}, ids)

    at = AppTest.from_function(script).run()
    assert at.session_state["first"] == ["c", "a"]
    assert at.session_state["again"] is None
    assert at.session_state["empty"] == []


def test_recompute_starts_a_background_fit_that_cancel_stops(digits, fitted):
    """The button starts the same detached fit as the automatic start; Cancel terminates it, nothing saved."""
    from core.projection_auto import read_status

    at = _page(map_sample_threshold=1000)
    at.button(key="map_fit").click().run()
    _no_errors(at)
    status = read_status("digits", digits.root)
    assert status is not None and status.alive and status.n_fit == 1000
    assert any("Recomputing the UMAP map" in c.value for c in at.caption)
    at.button(key="map_fit_cancel").click().run()
    _no_errors(at)
    deadline = time.time() + 30
    while read_status("digits", digits.root).alive and time.time() < deadline:
        time.sleep(0.2)
    assert read_status("digits", digits.root).state == "cancelled"
    assert load_projection("digits", digits.vectors("digits")).fit_seconds == fitted.fit_seconds  # kept


def test_drift_tab(digits, fitted):
    at = _page(map_tab="Drift")
    _no_errors(at)
    session = TeachSession.open("digits", "three", store=digits)
    view = digits.vectors("digits")
    val = view.rows("validation")
    W, b, rounds = weights(session.history())
    scores = round_scores(view.matrix[val], W, b)
    at.selectbox(key="map_drift_a").set_value(1).run()
    at.selectbox(key="map_drift_b").set_value(3).run()
    _no_errors(at)
    c = compare_rounds(scores[1], scores[3], 1, 3)
    metrics = {m.label: int(m.value) for m in at.metric}
    assert metrics == {"Positive in both": c.both_positive, "Only round 1": c.only_a, "Only round 3": c.only_b,
                       "Negative in both": c.both_negative}
    assert sum(metrics.values()) == len(val)
    table = at.dataframe[0].value
    assert list(table["round"]) == [0, 1, 2, 3]
    keys = [ch.proto.id for ch in at.get("plotly_chart")]
    assert any("map_drift_movement" in k for k in keys) and any("map_drift_scores" in k for k in keys)


def test_without_a_concept_only_labels(digits):
    from core.teach_store import TeachStore

    TeachStore(digits).delete_concept("digits", "three")
    at = _page(concept=None)
    _no_errors(at)
    assert at.segmented_control(key="map_color").value == "Label"
    assert at.segmented_control(key="map_color").options == ["Label"]
    assert not at.metric  # the Drift tab is closed: it did not run
    at.session_state["map_tab"] = "Drift"
    at.run()
    _no_errors(at)
    assert any("drift compares" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # the Map tab is closed now


def test_no_index_shows_info():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    _no_errors(at)
    assert any("Index page" in i.value for i in at.info)


def test_through_the_router(digits, fitted):
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    at.switch_page("views/map.py").run()
    _no_errors(at)
    assert "round 3" in _traces(at)["w at this round"]["hovertext"][0]


def test_page_renders_fast_from_cache(digits, fitted):
    at = _page()
    started = time.perf_counter()
    at.run()
    assert time.perf_counter() - started < 5  # generous: shared CI machine; the benchmark measures it


def test_threshold_from_the_validate_page_survives_reruns(digits, fitted):
    """Streamlit drops the Validate slider's widget state one run after leaving that page; the map keeps it."""
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    at.switch_page("views/validate.py").run()
    at.slider(key="validate_threshold").set_value(0.5).run()
    at.switch_page("views/map.py").run()
    at.toggle(key="map_show_validation").set_value(True).run()  # a second run on the map page
    _no_errors(at)
    assert "(+0.50)" in at.toggle(key="map_show_validation").help
    assert any("At threshold +0.50" in c.value for c in at.caption)  # said on the page, not only in a tooltip
    assert "predicted +, right (TP)" in _traces(at) or "predicted −, wrong (FN)" in _traces(at)


def test_selected_items_are_listed_highest_score_first(digits, fitted):
    """An outside tester: a box over the predicted-positive cluster listed items scored -1.40 first."""
    session = TeachSession.open("digits", "three", store=digits)
    view = digits.vectors("digits")
    picked = [str(i) for i in view.ids[:8]]
    at = _page(map_selected_ids=picked)
    _no_errors(at)
    order = [c.key.removeprefix("map_rate_") for c in at.segmented_control if c.key.startswith("map_rate_")]
    scores = dict(zip(map(str, view.ids[:8]), (view.matrix[:8] @ session.head.w + session.head.b).tolist(),
                      strict=True))
    # the lasso also took digits-5, a validation item: held out, so listed as left out, never offered for rating
    train = [i for i in picked if view.split[view.ids.tolist().index(i)] == "train"]
    assert len(train) == 7 and sorted(order) == sorted(train) and order == sorted(train, key=lambda i: -scores[i])
    assert any("by score, highest first" in c.value for c in at.caption)
    assert any("1 selected item in the validation split is left out" in c.value for c in at.caption)
