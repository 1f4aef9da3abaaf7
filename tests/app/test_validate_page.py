"""The Validate page through AppTest, on real LanceDB workspaces (digits with labels, texts without)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.evaluate import evaluate_split
from core.session import TeachSession
from core.store import Store
from tests.helpers.workspaces import oracle_rounds, taught_digits, use_workspace

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "validate.py")
ROUTER = str(ROOT / "streamlit_app.py")
MARKUP = "**not bold** $x$ :smile: <b>raw</b>"


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory) -> Path:
    """A workspace with the digits indexed (raw pixels) and concept "three" taught for two oracle rounds."""
    return taught_digits(tmp_path_factory.mktemp("digits-workspace"), rounds=2)


@pytest.fixture
def digits(digits_template, workspace_dir) -> Store:
    """This test's own copy of the digits workspace."""
    return use_workspace(digits_template, workspace_dir)


def _page(index: str | None = "digits", concept: str | None = "three") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_index"] = index
    at.session_state["selected_concept"] = concept
    return at.run()


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _core(store: Store, split: str | None = "validation", target: str | None = "3", threshold: float = 0.0):
    session = TeachSession.open("digits", "three", store=store)
    return evaluate_split(store, "digits", session.head, split, target, threshold)


def _unescape(caption: str) -> str:
    return caption.replace("\\", "").replace("\u200b", "")


def test_metrics_match_core_evaluate(digits):
    at = _page()
    _no_errors(at)
    expected = _core(digits)
    metrics = _metrics(at)
    assert metrics["Average precision"] == f"{expected.ap:.3f}"
    assert metrics["ROC AUC"] == f"{expected.auc:.3f}"
    def shown_as(value):  # undefined (nothing predicted positive, no positive) is None, shown "–"
        return "–" if value is None else f"{value:.3f}"

    assert metrics["Precision"] == shown_as(expected.precision)
    assert metrics["Recall"] == shown_as(expected.recall)
    assert metrics["F1"] == shown_as(expected.f1)
    assert metrics["Predicted positive"] == f"{int(expected.predicted.sum())} / {len(expected.ids)}"
    assert at.selectbox(key="validate_target").value == "3"  # the concept's target label by default
    assert at.slider(key="validate_threshold").value == 0.0
    assert [b.key for b in at.get("download_button")] == ["validate_download"]
    assert [c.key for c in at.get("plotly_chart")] == ["validate_histogram", "validate_pr", "validate_confusion"]


def test_moving_threshold_changes_precision_and_recall(digits):
    at = _page()
    before = _metrics(at)
    at_zero = _core(digits)
    scores = at_zero.scores[at_zero.labels == "3"]
    threshold = round(float(np.median(scores)) / 0.05) * 0.05  # about half the true 3s above it
    if abs(threshold) < 0.05:
        threshold = 0.5
    at.slider(key="validate_threshold").set_value(threshold).run()
    _no_errors(at)
    after = _metrics(at)
    expected = _core(digits, threshold=threshold)
    assert (after["Precision"], after["Recall"]) != (before["Precision"], before["Recall"])
    assert after["Precision"] == f"{expected.precision:.3f}"
    assert after["Recall"] == f"{expected.recall:.3f}"
    assert after["Average precision"] == before["Average precision"]  # AP does not depend on the threshold
    assert f"probability {1 / (1 + np.exp(-threshold)):.3f}" in " ".join(c.value for c in at.caption)


def test_threshold_recount_equals_core_at_every_threshold(digits):
    from app.validate_view import at_threshold, score_split

    session = TeachSession.open("digits", "three", store=digits)
    version = digits.vectors("digits").version
    scored = score_split(str(digits.root), "digits", version, session.head.w, float(session.head.b), None, "3")
    for threshold in (-2.0, -0.5, 0.0, 0.3, 1.0, 5.0):
        got, want = at_threshold(scored, threshold), _core(digits, split=None, threshold=threshold)
        np.testing.assert_array_equal(got.predicted, want.predicted)
        assert (got.tp, got.fp, got.fn, got.tn) == (want.tp, want.fp, want.fn, want.tn)
        assert got.precision == pytest.approx(want.precision)
        assert got.recall == pytest.approx(want.recall)
        assert got.f1 == pytest.approx(want.f1)
        assert got.ap == pytest.approx(want.ap)


def test_split_selector_and_target_none(digits):
    at = _page()
    assert not any("flatter" in i.value for i in at.info)  # validation: held out
    at.segmented_control(key="validate_split").set_value("all").run()
    _no_errors(at)
    assert _metrics(at)["Average precision"] == f"{_core(digits, split=None).ap:.3f}"
    n_rated = len(TeachSession.open("digits", "three", store=digits).ratings())
    assert any(f"holds the {n_rated:,} items rated for this concept" in i.value and "flatter" in i.value
               for i in at.info)  # an auditor's train AP 0.83 read as a held-out measure
    assert _metrics(at)["Predicted positive"].endswith("/ 1797")
    at.segmented_control(key="validate_split").set_value("train").run()
    assert _metrics(at)["Average precision"] == f"{_core(digits, split='train').ap:.3f}"
    at.selectbox(key="validate_target").set_value(None).run()
    _no_errors(at)
    assert not at.metric
    assert any("Choose a target label" in c.value for c in at.caption)
    at.selectbox(key="validate_target").set_value("8").run()
    assert _metrics(at)["Average precision"] == f"{_core(digits, split='train', target='8').ap:.3f}"


def test_threshold_survives_a_split_with_other_slider_bounds(digits, monkeypatch):
    """Streamlit makes a slider with other bounds a new widget that starts at its minimum: switching the split
    (whose scores set the bounds) reset a chosen threshold to the minimum, every item predicted positive."""
    import app.validate_view

    real = app.validate_view.threshold_range
    monkeypatch.setattr(app.validate_view, "threshold_range",  # bounds that differ by split, whatever the scores
                        lambda scores: (lambda lo, hi: (lo - len(scores) // 500, hi))(*real(scores)))
    at = _page()
    at.slider(key="validate_threshold").set_value(0.5).run()
    mins = {at.slider(key="validate_threshold").min}
    for split in ("train", "all", "validation"):
        at.segmented_control(key="validate_split").set_value(split).run()
        _no_errors(at)
        mins.add(at.slider(key="validate_threshold").min)
        assert at.slider(key="validate_threshold").value == 0.5, split
        expected = _core(digits, split=None if split == "all" else split, threshold=0.5)
        assert _metrics(at)["Predicted positive"] == f"{int(expected.predicted.sum())} / {len(expected.ids)}"
    assert len(mins) == 3  # the slider's bounds did change with the split


def test_a_threshold_beyond_the_scores_is_said_not_silently_clamped(digits):
    """An auditor's `concept set-threshold --threshold 2.5` showed as "Logit +2.00" here, while export used 2.5."""
    session = TeachSession.open("digits", "three", store=digits)
    at = _page()
    hi = at.slider(key="validate_threshold").max
    session.set_threshold(hi + 5.0)
    at = _page()
    _no_errors(at)
    assert at.slider(key="validate_threshold").value == hi
    assert any(f"The concept's threshold is {hi + 5.0:+.2f}, beyond this split's scores" in c.value for c in at.caption)
    session.set_threshold(0.5)
    at = _page()
    assert not any("beyond this split's scores" in c.value for c in at.caption)


def test_each_concept_keeps_its_own_threshold(digits):
    """Switching concept on the Validate page used to carry the last concept's threshold over (and the Map
    overlay then predicted with it): each concept starts at the one chosen for it, else 0."""
    from core.session import TeachSession

    TeachSession.create("digits", "other", store=digits, target_label="4")
    at = _page()
    at.slider(key="validate_threshold").set_value(0.5).run()
    at.session_state["selected_concept"] = "other"
    at.run()
    _no_errors(at)
    assert at.slider(key="validate_threshold").value == 0.0
    at.session_state["selected_concept"] = "three"
    at.run()
    assert at.slider(key="validate_threshold").value == 0.5
    ids = {name: TeachSession.open("digits", name, store=digits).concept.identity for name in ("three", "other")}
    # kept by the concept's identity: a concept created later under one of these names starts afresh
    assert at.session_state["validate_threshold_by_concept"] == {("digits", ids["three"]): 0.5,
                                                                  ("digits", ids["other"]): 0.0}


def test_top_positives_are_sorted_above_threshold_and_paged(digits):
    at = _page()
    threshold = round(float(np.quantile(_core(digits).scores, 0.8)) / 0.05) * 0.05
    at.slider(key="validate_threshold").set_value(threshold).run()
    expected = _core(digits, threshold=threshold)
    n_above = int(expected.predicted.sum())
    cards = [_unescape(c.value) for c in at.caption if " · p=" in _unescape(c.value)]
    assert len(cards) == min(20, n_above)
    scores = [float(c.split(" · ")[1]) for c in cards]
    assert scores == sorted(scores, reverse=True)
    by_id = dict(zip(expected.ids.tolist(), expected.scores.tolist(), strict=True))  # each card names its item
    assert all(abs(by_id[c.split(" · ")[0]] - float(c.split(" · ")[1])) < 0.006 for c in cards)
    assert scores[0] == pytest.approx(float(expected.scores.max()), abs=0.01)
    assert all(s > threshold - 0.005 for s in scores)
    assert len(at.get("image")) == len(cards)  # digits have thumbnails
    at.selectbox(key="validate_page_size").set_value(10).run()
    assert len([c for c in at.caption if " · p" in _unescape(c.value)]) == min(10, n_above)
    if n_above > 10:
        at.get("pagination")[0].set_value(2).run()
        _no_errors(at)
        second = [float(_unescape(c.value).split(" · ")[1]) for c in at.caption if " · p" in _unescape(c.value)]
        assert second and max(second) <= min(scores[:10]) + 1e-9


def test_new_round_invalidates_the_cache(digits):
    at = _page()
    first = _metrics(at)["Average precision"]
    oracle_rounds(TeachSession.open("digits", "three", store=digits), "3", 2)
    at.run()
    _no_errors(at)
    assert _metrics(at)["Average precision"] == f"{_core(digits).ap:.3f}"
    session = TeachSession.open("digits", "three", store=digits)
    session.undo()
    at.run()
    assert _metrics(at)["Average precision"] == f"{_core(digits).ap:.3f}"
    assert first  # shown before the new rounds too


def test_predictions_csv_matches_the_threshold(digits):
    from app.validate_view import at_threshold, predictions_csv, score_split

    session = TeachSession.open("digits", "three", store=digits)
    version = digits.vectors("digits").version
    scored = score_split(str(digits.root), "digits", version, session.head.w, float(session.head.b),
                         "validation", "3")
    table = pd.read_csv(io.BytesIO(predictions_csv(at_threshold(scored, 0.5))), dtype={"label": str})
    assert list(table.columns) == ["id", "split", "score", "probability", "predicted", "label"]
    assert len(table) == digits.get_index("digits").counts["validation"]
    assert set(table["split"]) == {"validation"}
    np.testing.assert_array_equal(table["predicted"].to_numpy(), table["score"].to_numpy() > 0.5)


def test_no_index_shows_info():
    at = _page(index=None, concept=None)
    _no_errors(at)
    assert any("Index page" in i.value for i in at.info)
    assert not at.metric


def test_no_concept_shows_info(digits):
    from core.teach_store import TeachStore

    TeachStore(digits).delete_concept("digits", "three")
    at = _page(concept=None)
    _no_errors(at)
    assert any("Teach page" in i.value for i in at.info)


@pytest.mark.parametrize("index, concept", [("gone", "three"), ("digits", "gone")])
def test_a_stale_selection_falls_back_to_what_exists(digits, index, concept):
    """A selection left over from a deleted index or concept is replaced by the sidebar, not an error."""
    at = _page(index=index, concept=concept)
    _no_errors(at)
    assert at.session_state["selected_index"] == "digits"
    assert at.session_state["selected_concept"] == "three"
    assert _metrics(at)["Average precision"] == f"{_core(digits).ap:.3f}"


def test_index_rebuilt_with_another_embedder_is_an_error_message(digits):
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    digits.delete_index("digits")  # the concept stays, its head is 256-d (16x16 pixels)
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:8"), store=digits)
    at = _page()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "rebuilt" in at.error[0].value


def test_through_the_router_with_the_sidebar(digits):
    at = AppTest.from_file(ROUTER, default_timeout=60).run()  # the sidebar selects digits / three
    assert at.sidebar.selectbox(key="sidebar_selected_concept").value == "three"
    at.switch_page("views/validate.py").run()
    _no_errors(at)
    assert _metrics(at)["Average precision"] == f"{_core(digits).ap:.3f}"


def test_index_without_labels_shows_scores_but_no_metrics(tmp_path):
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    path = tmp_path / "reviews.csv"
    texts = [f"review {i}: " + ("a wonderful film" if i % 2 else "a dreadful film") for i in range(39)] + [MARKUP]
    pd.DataFrame({"review": texts}).to_csv(path, index=False)
    store = Store()
    build_index("reviews", parse_source(f"file:{path}", text_column="review"), load_embedder("st:minilm"),
                store=store)
    session = TeachSession.create("reviews", "liked", store=store)
    batch = session.next_batch(k=10)
    session.submit({c.item_id: 1.0 if "wonderful" in (store.fetch_items("reviews", [c.item_id])[0]["text"]) else -1.0
                    for c in batch})

    at = _page(index="reviews", concept="liked")
    _no_errors(at)
    assert not at.metric
    assert not at.get("selectbox") or all(s.key != "validate_target" for s in at.selectbox)
    assert any("no ground-truth labels" in c.value for c in at.caption)
    assert [c.key for c in at.get("plotly_chart")] == ["validate_histogram"]
    at.segmented_control(key="validate_split").set_value("all").run()
    at.slider(key="validate_threshold").set_value(at.slider(key="validate_threshold").min).run()
    _no_errors(at)
    shown = [t.value for t in at.text]
    assert MARKUP in shown  # dataset text goes through st.text, never Markdown
    assert len(shown) == min(20, len(texts))
    assert [b.key for b in at.get("download_button")] == ["validate_download"]


def test_render_item_shows_text_as_typed_and_escapes_captions():
    def script() -> None:
        from app.items import item_grid, render_item

        render_item({"id": "a", "text": "**not bold** $x$ :smile:"}, "label **3**: $y$")
        render_item({"id": "b", "text": "x" * 1000}, None, width=300)
        render_item({"id": "c"}, None)
        item_grid([{"id": "d", "text": "one"}, {"id": "e", "text": "two"}], ["first", "second"], columns=5)

    at = AppTest.from_function(script).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.text] == ["**not bold** $x$ :smile:", "x" * 1000, "c", "one", "two"]
    assert at.caption[0].value == "label \\*\\*3\\*\\*\\:\u200b \\$y\\$"
    assert [c.value for c in at.caption[1:]] == ["first", "second"]


def test_the_histogram_has_a_log_scale_on_by_default_for_rare_positives(digits):
    """An outside tester: 16 positives beside ~3,000 negatives were invisible on the linear count axis."""
    import json

    import numpy as np

    from app.validate_view import rare

    at = _page()
    _no_errors(at)
    toggle = at.toggle(key="validate_hist_log")
    assert toggle.value is False  # the digits' "3" is ~10% of the validation split: linear, stacked

    def layout() -> dict:
        chart = next(c for c in at.get("plotly_chart") if c.key == "validate_histogram")
        return json.loads(chart.proto.spec)["layout"]

    assert layout().get("barmode") == "stack" and layout()["yaxis"].get("type") != "log"
    toggle.set_value(True).run()
    _no_errors(at)
    assert layout()["barmode"] == "overlay" and layout()["yaxis"]["type"] == "log"
    known = np.ones(1000, dtype=bool)
    assert rare(np.arange(1000) < 16, known) and not rare(np.arange(1000) < 100, known)
    assert not rare(np.zeros(10, dtype=bool), np.zeros(10, dtype=bool))  # no labels: nothing to be rare
