"""The Teach start form's "Example items I pick": candidates come from the train split only (validation is
held out to measure the classifier), whether they are found by a text search or drawn at random."""

from __future__ import annotations

import csv
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.embedders import load_embedder
from core.indexing import build_index
from core.session import TeachSession
from core.sources import parse_source
from core.store import Store

TEACH = str(Path(__file__).resolve().parents[2] / "views" / "teach.py")


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _examples_form(index: str, query: str | None = None) -> AppTest:
    at = AppTest.from_file(TEACH, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = index, None
    at.run()
    _no_errors(at)
    at.radio(key="teach_new_how").set_value("examples").run()
    if query is not None:
        at.text_input(key="teach_examples_query").set_value(query).run()
    _no_errors(at)
    return at


def _splits(store: Store, index: str) -> dict[str, str]:
    view = store.vectors(index)
    return {str(i): str(s) for i, s in zip(view.ids, view.split, strict=True)}


def test_random_example_candidates_are_train_items_only():
    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    split_of = _splits(store, "digits")
    assert "validation" in split_of.values()
    at = _examples_form("digits")
    for _ in range(3):  # "Show other items" draws another sample: still train only
        options = at.multiselect(key="teach_new_examples").options
        assert len(options) == 30
        held_out = [o for o in options if split_of[o] != "train"]
        assert not held_out, f"validation items offered as examples: {held_out}"
        at.button(key="teach_examples_shuffle").click().run()
        _no_errors(at)
    assert any("Train items only" in c.value for c in at.caption)


def test_searched_example_candidates_are_train_items_only_and_start_the_concept(tmp_path):
    path = tmp_path / "pkgs.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "split"])
        for i in range(60):  # every other item is a validation item, all alike for the query
            writer.writerow([f"pkg-{i}", f"a web framework for python number {i}", "validation" if i % 2 else "train"])
    store = Store()
    build_index("pkgs", parse_source(f"file:{path}", text_column="text", id_column="id", split_column="split"),
                load_embedder("st:minilm"), store=store)
    split_of = _splits(store, "pkgs")
    at = _examples_form("pkgs", query="web framework")
    options = at.multiselect(key="teach_new_examples").options
    assert options and len(options) <= 30
    assert all(split_of[o] == "train" for o in options), [o for o in options if split_of[o] != "train"]

    at.text_input(key="teach_new_name").set_value("web").run()
    at.multiselect(key="teach_new_examples").set_value(options[:2]).run()
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    concept = TeachSession.open("pkgs", "web", store=store).concept
    assert concept.init == "examples" and concept.examples == options[:2]


def test_examples_are_found_by_id_or_file_name_and_picks_survive_another_search():
    """An outside tester: on an index of 6,000 images a known file could not be reached (only ~30 random items
    were offered, with no search on a pixels index; typing a file name said "No results")."""
    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    split_of = _splits(store, "digits")
    wanted = next(i for i in ("digits-1234", "digits-1236", "digits-1238") if split_of[i] == "train")
    at = _examples_form("digits", query=wanted.upper())
    options = at.multiselect(key="teach_new_examples").options
    assert options[0] == wanted and all(split_of[o] == "train" for o in options)
    at.multiselect(key="teach_new_examples").set_value([wanted]).run()
    at.text_input(key="teach_examples_query").set_value("digits-17").run()
    _no_errors(at)
    assert at.multiselect(key="teach_new_examples").value == [wanted]  # kept across the new search
    at.text_input(key="teach_examples_query").set_value("no such file").run()
    assert any("No train item matches" in i.value for i in at.info)


def test_an_example_card_is_picked_by_its_own_checkbox_in_step_with_the_list():
    """The image newcomer: the cards looked clickable, but an item could only be picked by finding its id in the
    list below them."""
    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    at = _examples_form("digits")
    options = at.multiselect(key="teach_new_examples").options
    at.checkbox(key="teach_example_pick_2").check().run()
    _no_errors(at)
    assert at.multiselect(key="teach_new_examples").value == [options[2]]
    at.checkbox(key="teach_example_pick_0").check().run()
    assert at.multiselect(key="teach_new_examples").value == [options[2], options[0]]
    at.checkbox(key="teach_example_pick_2").uncheck().run()
    assert at.multiselect(key="teach_new_examples").value == [options[0]]
    at.multiselect(key="teach_new_examples").set_value([options[0], options[5]]).run()  # the list ticks cards
    ticked = [i for i in range(len(options)) if at.checkbox(key=f"teach_example_pick_{i}").value]
    assert ticked == [0, 5]
    at.text_input(key="teach_new_name").set_value("picked").run()
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    assert TeachSession.open("digits", "picked", store=store).concept.examples == [options[0], options[5]]


def test_a_concept_on_a_yes_no_column_means_its_yes_by_default(tmp_path):
    """A fast-labeller tester: on an index whose one label column is 0/1, the start form's label stayed at (none)
    with no hint, so a concept started straight away tracked no AP."""
    from core.ground_truth import positive_label

    assert positive_label(["0", "1"]) == "1" and positive_label(["False", "True"]) == "True"
    assert positive_label(["0", "1", "2"]) is None and positive_label(["cat", "dog"]) is None
    path = tmp_path / "pkgs.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "is_web"])
        for i in range(40):
            web = i % 4 == 0
            writer.writerow([f"pkg-{i}", f"a web framework {i}" if web else f"a maths library {i}", int(web)])
    store = Store()
    build_index("pkgs", parse_source(f"file:{path}", text_column="text", id_column="id", label_column="is_web"),
                load_embedder("st:minilm"), store=store)
    at = AppTest.from_file(TEACH, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = "pkgs", None
    at.run()
    _no_errors(at)
    assert at.selectbox(key="teach_new_target").value == "1"
    at.text_input(key="teach_new_name").set_value("web").run()
    at.text_input(key="teach_new_prompt").set_value("a web framework").run()
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    assert TeachSession.open("pkgs", "web", store=store).concept.target_label == "1"

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)  # ten classes
    at = AppTest.from_file(TEACH, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = "digits", None
    at.run()
    assert at.selectbox(key="teach_new_target").value is None
    assert any("Pick the label that means" in c.value for c in at.caption)


def test_the_label_starts_afresh_for_each_ground_truth_column(tmp_path):
    """The re-tester: on an index with several label columns, switching the column left the label box on the last
    column's value or blank ("Choose an option"), never back on the 0/1 column's "1"."""
    path = tmp_path / "multi.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "kind", "is_web"])
        for i in range(40):
            web = i % 4 == 0
            writer.writerow([f"pkg-{i}", f"a web framework {i}" if web else f"a maths library {i}", "abc"[i % 3],
                             int(web)])
    store = Store()
    build_index("multi", parse_source(f"file:{path}", text_column="text", id_column="id",
                                      label_columns=["kind", "is_web"]), load_embedder("st:minilm"), store=store)
    at = AppTest.from_file(TEACH, default_timeout=60)
    at.session_state["selected_index"], at.session_state["selected_concept"] = "multi", None
    at.run()
    _no_errors(at)
    assert at.selectbox(key="teach_new_column").value == "kind"
    assert at.selectbox(key="teach_new_target").value is None  # many-valued: the person picks
    for column, expected in (("is_web", "1"), ("kind", None), ("is_web", "1")):
        at.selectbox(key="teach_new_column").set_value(column).run()
        _no_errors(at)
        assert at.selectbox(key="teach_new_target").value == expected, column
    at.text_input(key="teach_new_name").set_value("web").run()
    at.text_input(key="teach_new_prompt").set_value("a web framework").run()
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    concept = TeachSession.open("multi", "web", store=store).concept
    assert (concept.target_column, concept.target_label) == ("is_web", "1")
