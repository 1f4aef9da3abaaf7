"""The Teach page's *Export*: one file per index and concept, and only that concept's file offered for download;
its threshold is the Validate page's for that concept unless one was typed into the export field.

Names hold ``-``, so index ``a-b`` with concept ``c`` and index ``a`` with concept ``b-c`` must not share a file,
and a classifier exported for one concept must not be offered on another concept's page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.classifier import load_classifier
from core.embedders import load_embedder
from core.indexing import build_index
from core.session import TeachSession
from core.sources import parse_source
from core.store import Store

TEACH = str(Path(__file__).resolve().parents[2] / "views" / "teach.py")
ROUTER = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
PAIRS = [("a-b", "c"), ("a", "b-c")]


@pytest.fixture
def two_indexes(workspace_dir) -> Store:
    store = Store()
    for index, concept in PAIRS:
        build_index(index, parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
        TeachSession.create(index, concept, store=store, target_label="3")
    return store


def _export(index: str, concept: str, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(TEACH, default_timeout=60)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.session_state["selected_index"], at.session_state["selected_concept"] = index, concept
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="teach_export").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_exports_of_names_joined_alike_are_two_files_and_each_page_offers_its_own(two_indexes):
    first = _export(*PAIRS[0])
    second = _export(*PAIRS[1])
    paths = [Path(at.session_state["teach_export_path"][2]) for at in (first, second)]
    assert paths[0] != paths[1] and all(p.is_file() for p in paths)
    for path, (index, concept) in zip(paths, PAIRS, strict=True):
        _, meta = load_classifier(path)
        assert (meta["index"], meta["concept"]) == (index, concept)

    # the same browser session moves to the other concept: the first concept's file is not offered there
    at = AppTest.from_file(TEACH, default_timeout=60)
    at.session_state["teach_export_path"] = first.session_state["teach_export_path"]
    at.session_state["selected_index"], at.session_state["selected_concept"] = PAIRS[1]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.get("download_button") if b.proto.id and "teach_export_download" in b.proto.id]


def test_the_exported_file_is_offered_on_its_own_page(two_indexes):
    at = _export(*PAIRS[0])
    assert [b for b in at.get("download_button") if "teach_export_download" in b.proto.id]


def _side_caption(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_export_threshold_follows_the_validate_page_for_that_concept_and_a_typed_one_wins(two_indexes):
    from tests.helpers.workspaces import oracle_rounds

    index, concept = PAIRS[0]
    TeachSession.create(index, "other", store=two_indexes, target_label="5")
    for name, positive in ((concept, "3"), ("other", "5")):
        oracle_rounds(TeachSession.open(index, name, store=two_indexes), positive, 1)
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = index, concept
    at.run()
    at.switch_page("views/validate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    slider = at.slider(key="validate_threshold")
    chosen = round(slider.min + 0.25 * (slider.max - slider.min), 1)
    assert abs(chosen) >= 0.1
    slider.set_value(chosen).run()

    at.switch_page("views/teach.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="teach_export_threshold").value == pytest.approx(chosen)
    assert "From the Validate page" in _side_caption(at)
    at.button(key="teach_export").click().run()
    assert load_classifier(Path(at.session_state["teach_export_path"][2]))[1]["threshold"] == pytest.approx(chosen)

    # another concept never takes this one's threshold
    at.session_state["selected_concept"] = "other"
    at.run()
    assert at.number_input(key="teach_export_threshold").value == 0.0
    assert "From the Validate page" not in _side_caption(at)

    # typed into the export field: kept, even after the Validate page moves its threshold
    at.session_state["selected_concept"] = concept
    at.run()
    at.number_input(key="teach_export_threshold").set_value(0.75).run()
    at.switch_page("views/validate.py").run()
    at.slider(key="validate_threshold").set_value(round(chosen + 0.2, 1)).run()
    at.switch_page("views/teach.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="teach_export_threshold").value == pytest.approx(0.75)
    assert "Typed here" in _side_caption(at) and f"{chosen + 0.2:+.2f}" in _side_caption(at)
    at.button(key="teach_export").click().run()
    assert load_classifier(Path(at.session_state["teach_export_path"][2]))[1]["threshold"] == pytest.approx(0.75)
    at.button(key="teach_export_follow").click().run()  # back to following the Validate page
    assert at.number_input(key="teach_export_threshold").value == pytest.approx(chosen + 0.2)


def test_the_validate_threshold_survives_a_reload_and_the_export_follows_it(two_indexes):
    """An outside tester: the threshold lived only in the browser session, so after a reload (or in a new tab)
    Validate showed 0 again and *Export* quietly wrote 0."""
    index, concept = PAIRS[0]
    from tests.helpers.workspaces import oracle_rounds

    oracle_rounds(TeachSession.open(index, concept, store=two_indexes), "3", 1)
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = index, concept
    at.run()
    at.switch_page("views/validate.py").run()
    slider = at.slider(key="validate_threshold")
    chosen = round(slider.min + 0.25 * (slider.max - slider.min), 1)
    slider.set_value(chosen).run()
    assert not at.exception, [e.value for e in at.exception]
    assert TeachSession.open(index, concept, store=two_indexes).threshold == pytest.approx(chosen)
    assert TeachSession.open(PAIRS[1][0], PAIRS[1][1], store=two_indexes).concept.threshold is None

    # a reload is a new browser session: Validate and the export both start from the kept threshold
    again = AppTest.from_file(ROUTER, default_timeout=60)
    again.session_state["selected_index"], again.session_state["selected_concept"] = index, concept
    again.run()
    again.switch_page("views/validate.py").run()
    assert again.slider(key="validate_threshold").value == pytest.approx(chosen)
    exported = _export(index, concept)
    assert exported.number_input(key="teach_export_threshold").value == pytest.approx(chosen)
    assert load_classifier(Path(exported.session_state["teach_export_path"][2]))[1]["threshold"] == \
        pytest.approx(chosen)


def test_a_threshold_beyond_the_sliders_range_is_exported_as_kept_not_as_clamped(two_indexes):
    """A reviewer: the Validate slider clamps to the scores' range, and its shown (clamped) value then won over
    the threshold kept with the concept for this browser's export and Map."""
    index, concept = PAIRS[0]
    TeachSession.open(index, concept, store=two_indexes).set_threshold(9.0)
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = index, concept
    at.run()
    at.switch_page("views/validate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="validate_threshold").value < 9.0  # shown clamped
    at.switch_page("views/teach.py").run()
    assert at.number_input(key="teach_export_threshold").value == pytest.approx(9.0)
    assert TeachSession.open(index, concept, store=two_indexes).threshold == 9.0  # never overwritten by a visit
