"""Label columns and label values as choices on the pages: shown through the one neutral rule, chosen one to
one (Streamlit identifies a choice by its shown text), and one ground truth per page.

The workspace: a small table with three label columns, ``flask`` and ``pytest`` (0/1) and a column whose
name holds a right-to-left override, with a value that is literally ``(none)`` and one with an override.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.session import TeachSession
from core.store import Store
from tests.helpers.workspaces import oracle_rounds, use_workspace

ROOT = Path(__file__).resolve().parents[2]
ROUTER = str(ROOT / "streamlit_app.py")
VALIDATE = str(ROOT / "views" / "validate.py")
TEACH = str(ROOT / "views" / "teach.py")
RLO = "\u202e"
ODD = f"ab{RLO}cd"  # a label column named with an RTL override
ODD_SHOWN = "ab[U+202E]cd"
ODD_VALUE = f"x{RLO}y"
TOPICS = ["a pytest plugin for fixtures", "a flask extension for login", "sphinx theme for documentation",
          "a napari plugin for microscopy"]


def _table(path: Path, n: int = 48) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "split", "flask", "pytest", ODD])
        for i in range(n):
            topic = i % len(TOPICS)
            writer.writerow([f"pkg-{i}", f"{TOPICS[topic]} number {i}", "validation" if i % 3 == 0 else "train",
                             int(topic == 1), int(topic == 0), ["(none)", ODD_VALUE, "plain"][i % 3]])
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Index "pkgs" (MiniLM, offline) and concept "flask" (target flask = 1) taught for two oracle rounds."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    root = tmp_path_factory.mktemp("label-choices")
    table = _table(root / "pkgs.csv")
    store = Store(root / "workspace")
    source = parse_source(f"file:{table}", text_column="text", id_column="id", split_column="split",
                          label_columns=["flask", "pytest", ODD])
    build_index("pkgs", source, load_embedder("st:minilm"), store=store)
    session = TeachSession.create("pkgs", "flask", store=store, target_label="1", target_column="flask")
    oracle_rounds(session, "1", 2)
    return root / "workspace"


@pytest.fixture
def pkgs(template, workspace_dir) -> Store:
    return use_workspace(template, workspace_dir)


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _page(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state["selected_index"] = "pkgs"
    at.session_state["selected_concept"] = "flask"
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _unescape(text: str) -> str:
    return text.replace("\\", "").replace("\u200b", "")


def _raw(options: list[str]) -> list[str]:
    return [o for o in options if any(c in o for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")]


# --- 1. column names (and other data strings) shown through the neutral rule ---------------------------------


def test_validate_column_and_label_options_are_neutral_and_keep_their_values(pkgs):
    at = _page(VALIDATE)
    _no_errors(at)
    column = at.selectbox(key="validate_target_column")
    assert column.options == ["flask", "pytest", ODD_SHOWN]
    assert column.value == "flask"
    column.set_value(ODD).run()
    _no_errors(at)
    assert at.selectbox(key="validate_target_column").value == ODD  # the real name underneath
    target = at.selectbox(key="validate_target")
    assert not _raw(target.options)
    assert "x[U+202E]y" in target.options
    target.set_value(ODD_VALUE).run()
    _no_errors(at)
    assert at.selectbox(key="validate_target").value == ODD_VALUE
    assert {m.label for m in at.metric} >= {"Average precision"}  # a real label of that column: metrics


def test_teach_start_column_and_label_options_are_neutral(pkgs):
    at = _page(TEACH, teach_creating=True)
    _no_errors(at)
    column = at.selectbox(key="teach_new_column")
    assert column.options == ["flask", "pytest", ODD_SHOWN]
    column.set_value(ODD).run()
    _no_errors(at)
    assert at.selectbox(key="teach_new_column").value == ODD
    target = at.selectbox(key="teach_new_target")
    assert not _raw(target.options) and "x[U+202E]y" in target.options
    target.set_value(ODD_VALUE).run()
    at.radio(key="teach_new_how").set_value("diverse")
    at.text_input(key="teach_new_name").set_value("odd")
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    concept = TeachSession.open("pkgs", "odd", store=pkgs).concept
    assert (concept.target_column, concept.target_label) == (ODD, ODD_VALUE)


def test_index_form_column_pickers_are_neutral_and_the_no_id_choice_cannot_collide(tmp_path):
    """Columns of an uploaded table: shown neutral; a column literally named like the "(row number)" choice
    is still a column of its own."""
    path = tmp_path / "odd.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["(row number)", "text", ODD])
        for i in range(12):
            writer.writerow([f"r{i}", f"some text {i}", i % 2])
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    at.radio(key="index_source_kind").set_value("upload").run()
    at.file_uploader(key="index_upload").upload("odd.csv", path.read_bytes(), "text/csv").run()
    _no_errors(at)
    for key in ("index_col_text", "index_col_id", "index_col_split"):
        assert not _raw(at.selectbox(key=key).options), (key, at.selectbox(key=key).options)
    assert not _raw(at.multiselect(key="index_col_labels").options)
    assert ODD_SHOWN in at.selectbox(key="index_col_text").options
    at.selectbox(key="index_col_id").set_value("(row number)").run()
    _no_errors(at)
    assert at.selectbox(key="index_col_id").value == "(row number)"  # the real column, not "no id column"
    at.selectbox(key="index_col_id").set_value(None).run()
    assert at.selectbox(key="index_col_id").value is None
    at.multiselect(key="index_col_labels").set_value([ODD]).run()
    _no_errors(at)
    assert at.multiselect(key="index_col_labels").value == [ODD]


# --- 3. a real label value "(none)" next to the no-target choice -----------------------------------------------


def test_teach_start_a_real_label_none_can_be_the_target(pkgs):
    at = _page(TEACH, teach_creating=True)
    at.selectbox(key="teach_new_column").set_value(ODD).run()
    target = at.selectbox(key="teach_new_target")
    assert target.value is None and target.options[0] == "(none)"
    assert len(set(target.options)) == len(target.options)  # every choice shown differently
    target.set_value("(none)").run()
    _no_errors(at)
    assert at.selectbox(key="teach_new_target").value == "(none)"
    at.radio(key="teach_new_how").set_value("diverse")
    at.text_input(key="teach_new_name").set_value("none-label")
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    concept = TeachSession.open("pkgs", "none-label", store=pkgs).concept
    assert (concept.target_column, concept.target_label) == (ODD, "(none)")


def test_teach_start_no_target_is_still_no_target(pkgs):
    at = _page(TEACH, teach_creating=True)
    at.selectbox(key="teach_new_column").set_value(ODD).run()
    at.selectbox(key="teach_new_target").set_value("(none)").run()
    at.selectbox(key="teach_new_target").set_value(None).run()
    _no_errors(at)
    assert at.selectbox(key="teach_new_target").value is None
    assert any("no AP is measured" in c.value for c in at.caption)  # said, not silently untracked
    at.selectbox(key="teach_new_target").set_value("(none)").run()
    assert not any("no AP is measured" in c.value for c in at.caption)
    at.selectbox(key="teach_new_target").set_value(None).run()
    at.radio(key="teach_new_how").set_value("diverse")
    at.text_input(key="teach_new_name").set_value("untargeted")
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    concept = TeachSession.open("pkgs", "untargeted", store=pkgs).concept
    assert concept.target_column == ODD and concept.target_label is None


def test_validate_a_real_label_none_and_no_target_are_both_choosable(pkgs):
    at = _page(VALIDATE)
    at.selectbox(key="validate_target_column").set_value(ODD).run()
    target = at.selectbox(key="validate_target")
    assert len(set(target.options)) == len(target.options)
    target.set_value("(none)").run()
    _no_errors(at)
    assert at.selectbox(key="validate_target").value == "(none)"
    assert {m.label for m in at.metric} >= {"Average precision"}
    at.selectbox(key="validate_target").set_value(None).run()
    _no_errors(at)
    assert at.selectbox(key="validate_target").value is None
    assert any("Choose a target label" in c.value for c in at.caption)


# --- 2. the Map: one ground truth for colours and AP, named on the page -----------------------------------------


def _array(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def test_map_keeps_the_concepts_ground_truth_after_validate_switches_column(pkgs):
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["selected_index"] = "pkgs"
    at.session_state["selected_concept"] = "flask"
    at.run()
    at.switch_page("views/validate.py").run()
    at.selectbox(key="validate_target_column").set_value("pytest").run()
    at.selectbox(key="validate_target").set_value("1").run()
    _no_errors(at)
    validate_ap = {m.label: m.value for m in at.metric}["Average precision"]

    at.switch_page("views/map.py").run()
    _no_errors(at)
    session = TeachSession.open("pkgs", "flask", store=pkgs)
    flask_ap = session.history()[-1].metrics["ap"]
    assert {m.label: m.value for m in at.metric}["AP"] == f"{flask_ap:.3f}"
    captions = [_unescape(c.value) for c in at.caption]
    assert any("flask" in c and "pytest" not in c and "ground truth" in c.lower() for c in captions), captions

    at.segmented_control(key="map_color").set_value("Label").run()
    _no_errors(at)
    chart = next(c for c in at.get("plotly_chart") if "map_chart" in c.proto.id)
    traces = {t.get("name"): t for t in json.loads(chart.proto.spec)["data"]}
    view = pkgs.vectors("pkgs")
    coloured = np.sort(_array(traces["label 1"]["customdata"]).astype(int).ravel())
    flask_rows = np.flatnonzero(np.asarray(view.label_values("flask")) == "1")
    np.testing.assert_array_equal(coloured, flask_rows)  # coloured by the same column the AP is measured on

    # Back on Validate, the person's own choice there is kept.
    at.switch_page("views/validate.py").run()
    _no_errors(at)
    assert at.selectbox(key="validate_target_column").value == "pytest"
    assert at.selectbox(key="validate_target").value == "1"
    assert {m.label: m.value for m in at.metric}["Average precision"] == validate_ap


def test_map_names_the_first_column_when_the_concept_names_none(pkgs):
    TeachSession.create("pkgs", "plain", store=pkgs)  # no target: the first label column colours the map
    at = AppTest.from_file(str(ROOT / "views" / "map.py"), default_timeout=60)
    at.session_state["selected_index"] = "pkgs"
    at.session_state["selected_concept"] = "plain"
    at.run()
    _no_errors(at)
    captions = [_unescape(c.value) for c in at.caption]
    assert any("flask" in c and "ground truth" in c.lower() for c in captions), captions


def test_choices_is_neutral_one_to_one_and_keeps_none_plain():
    from app.safe_text import choices

    options = [None, "(none)", f"a{RLO}b", "a[U+202E]b", "plain"]
    shown = choices(options)
    labels = [shown(o) for o in options]
    assert labels[0] == "(none)" and labels[-1] == "plain"
    assert len(set(labels)) == len(labels)  # Streamlit tells choices apart by their shown text
    assert not _raw(labels)
    # what clashes is shown quoted (repr): a person can tell which is the real label, and which name held the control
    assert labels[1] == "'(none)'" and labels[2] == "'a\\u202eb'" and labels[3] == "'a[U+202E]b'"


def test_choices_never_shows_two_options_alike_nor_a_raw_control():
    """An outside tester's set: suffixes that real labels also have, blank-looking labels, controls, long names
    cut alike at the shown limit."""
    from app.safe_text import MAX_SHOWN, choices

    long = "x" * (MAX_SHOWN + 100)
    options = [None, "(none)", "(none) (2)", "'(none)'", " ", "\t", "\u200b", "", "a\nb", "a\\nb", "\x1b[31mred",
               long, long + "y", long + "z", " lead", "plain"]
    shown = choices(options)
    labels = [shown(o) for o in options]
    assert len(set(labels)) == len(labels)
    assert all(len(label) <= MAX_SHOWN for label in labels)
    assert not any(c in label for label in labels for c in "\n\r\t\x1b") and not _raw(labels)
    assert labels[0] == "(none)" and labels[2] == "(none) (2)" and labels[-1] == "plain"  # unambiguous: plain
    assert labels[4] == "' '" and labels[6] == "'\\u200b'" and labels[7] == "''" and labels[14] == "' lead'"
    assert shown("not an option") == "not an option" and shown(f"x{RLO}") == "x[U+202E]"
    assert choices([None, "x"], none="(row number)")(None) == "(row number)"
