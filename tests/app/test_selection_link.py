"""The selected index and concept live in the page's address: a reload (a new browser session) or a shared link
opens the concept it names, not the workspace's newest one; a name the workspace lacks is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.embedders import load_embedder
from core.indexing import build_index
from core.session import TeachSession
from core.sources import parse_source
from core.store import Store

VALIDATE = str(Path(__file__).resolve().parents[2] / "views" / "validate.py")


@pytest.fixture
def two_indexes(workspace_dir) -> Store:
    store = Store()
    for index in ("first", "second"):
        build_index(index, parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    for concept in ("threes", "sevens"):
        TeachSession.create("first", concept, store=store, target_label="3")
    TeachSession.create("second", "nines", store=store, target_label="9")
    return store


def _open(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(VALIDATE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_link_opens_the_concept_it_names_and_the_address_follows_the_selection(two_indexes):
    at = _open({})
    assert (at.session_state["selected_index"], at.session_state["selected_concept"]) == ("second", "nines")
    assert (at.query_params.get("index"), at.query_params.get("concept")) == ("second", "nines")

    at = _open({"index": "first", "concept": "threes"})  # a reload on first/threes: not the newest
    assert (at.session_state["selected_index"], at.session_state["selected_concept"]) == ("first", "threes")
    at.selectbox(key="sidebar_selected_concept").set_value("sevens").run()
    assert at.session_state["selected_concept"] == "sevens" and at.query_params.get("concept") == "sevens"


@pytest.mark.parametrize("params", [{"index": "../first"}, {"index": "first", "concept": "nines"},
                                    {"index": "nope", "concept": "threes"}])
def test_a_link_to_names_the_workspace_lacks_is_ignored(two_indexes, params):
    at = _open(params)
    index, concept = at.session_state["selected_index"], at.session_state["selected_concept"]
    if params.get("index") == "first":  # the index is honoured, a concept it does not hold is not
        assert index == "first" and concept in ("threes", "sevens")
    else:
        assert (index, concept) == ("second", "nines")
    assert (at.query_params.get("index"), at.query_params.get("concept")) == (index, concept)
    # An outside tester: a wrong or old link opened another concept without a word. The sidebar says so.
    missing = "index '" + params["index"] if params["index"] != "first" else "concept '" + params["concept"]
    warnings = [w.value.replace("\\", "") for w in at.sidebar.warning]  # the Markdown source, escapes removed
    assert len(warnings) == 1 and missing in warnings[0] and "showing" in warnings[0], warnings
    if index == "first":  # gone once the person picks something else
        at.selectbox(key="sidebar_selected_concept").set_value("sevens" if concept == "threes" else "threes").run()
    else:
        at.selectbox(key="sidebar_selected_index").set_value("first").run()
    assert not at.sidebar.warning


def test_the_link_note_can_be_dismissed_when_there_is_nothing_else_to_pick(workspace_dir):
    """With one index the warning stayed for the whole session: picking something else was the only way out."""
    build_index("only", parse_source("demo:digits"), load_embedder("pixels:4"), store=Store())
    at = _open({"index": "gone"})
    assert at.session_state["selected_index"] == "only" and len(at.sidebar.warning) == 1
    at.sidebar.button(key="sidebar_link_dismiss").click().run()
    assert not at.exception and not at.sidebar.warning and at.session_state["selected_index"] == "only"
    at.run()
    assert not at.sidebar.warning


def test_a_link_to_what_exists_warns_of_nothing(two_indexes):
    at = _open({"index": "first", "concept": "threes"})
    assert not at.sidebar.warning
