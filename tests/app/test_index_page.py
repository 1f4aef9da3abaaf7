"""The Index page through the real app script: defaults that work without typing, a table upload with a
preview and two label columns picked, progress with rate and time left, and "Teach this index"."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.session import TeachSession
from core.store import Store
from tests.helpers.pypi import write_pypi_csv

ROUTER = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
BUILD_TIMEOUT_S = 600  # a 2,000-row MiniLM index plus the one-time ONNX export, on 2 busy cores


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def shown(markdown: str) -> str:
    """Text as the browser shows it: the page escapes data-derived names for Markdown (pypi\\_slice)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def _wait_for_build(at: AppTest, name: str) -> list[str]:
    """Rerun until this session's banner says the build is done; the progress texts seen meanwhile."""
    seen: list[str] = []
    deadline = time.time() + BUILD_TIMEOUT_S
    while time.time() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        seen += [shown(p.text) for p in at.progress]
        if any(f"{name} holds" in shown(s.value) for s in at.success):
            return seen
        assert not at.error, [e.value for e in at.error]
        time.sleep(0.5)
    pytest.fail(f"indexing {name} did not finish in {BUILD_TIMEOUT_S} s; progress seen: {seen[-3:]}")


def test_the_digits_demo_builds_without_typing_anything():
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    _no_errors(at)
    assert at.text_input(key="index_name").value == "digits"  # a real value, not a placeholder
    at.button(key="index_build").click().run()
    _wait_for_build(at, "digits")
    assert at.button(key="index_teach")  # what next
    # The next suggestion does not silently resume the index just built.
    assert at.text_input(key="index_name").value == "digits-2"


def test_errors_show_next_to_the_button_and_a_new_banner_replaces_the_last():
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    at.text_input(key="index_name").set_value("bad name!")
    at.button(key="index_build").click().run()
    assert [e.value for e in at.error] and "invalid index name" in at.error[0].value
    at.text_input(key="index_name").set_value("d1")
    at.number_input(key="index_pixels").set_value(8)
    assert any("not colour or meaning" in c.value for c in at.caption)  # pixels says what it cannot see
    at.button(key="index_build").click().run()
    _wait_for_build(at, "d1")
    at.text_input(key="index_name").set_value("d2").run()
    at.button(key="index_build").click().run()
    _wait_for_build(at, "d2")
    banners = [shown(s.value) for s in at.success]
    assert len(banners) == 1 and "d2 holds 1,797 items" in banners[0], banners


def test_upload_with_two_label_columns_then_teach_against_the_second(tmp_path):
    table = write_pypi_csv(tmp_path / "pypi_slice.csv", 2_000, ("id", "text", "split", "flask", "pytest", "napari"),
                           positives_of=("flask", "pytest"), per_column=150)
    at = AppTest.from_file(ROUTER, default_timeout=120).run()
    at.radio(key="index_source_kind").set_value("upload").run()
    at.file_uploader(key="index_upload").upload("pypi_slice.csv", table.read_bytes(), "text/csv").run()
    _no_errors(at)
    # The preview and the pickers, filled with the detected roles.
    preview = at.dataframe[0].value
    assert list(preview.columns) == ["id", "text", "split", "flask", "pytest", "napari"] and len(preview) == 8
    assert at.selectbox(key="index_col_text").value == "text"
    assert at.selectbox(key="index_col_id").value == "id"
    assert at.selectbox(key="index_col_split").value == "split"
    assert at.multiselect(key="index_col_labels").value == ["flask", "pytest", "napari"]
    assert at.radio(key="index_embedder_kind").value == "st"
    assert at.radio(key="index_st_backend").value == "onnx-int8"
    assert at.text_input(key="index_name").value == "pypi_slice"

    at.multiselect(key="index_col_labels").set_value(["flask", "pytest"]).run()
    at.button(key="index_build").click().run()
    _no_errors(at)
    seen = _wait_for_build(at, "pypi_slice")
    flowing = [t for t in seen if "items/s" in t]
    assert flowing, f"no progress with a rate was shown: {seen}"
    assert any(re.search(r"\d+ (s|min \d+ s) left", t) and "%" in t for t in flowing), flowing
    assert at.radio(key="index_source_kind").value == "upload"  # the form kept its fields through the build
    assert at.multiselect(key="index_col_labels").value == ["flask", "pytest"]
    info = Store().get_index("pypi_slice")
    assert info.label_columns == ["flask", "pytest"] and info.n_items == 2_000
    assert info.embedder == "st:minilm@onnx-int8"

    at.button(key="index_teach").click().run()
    _no_errors(at)
    assert at.session_state["selected_index"] == "pypi_slice"
    at.selectbox(key="teach_new_column").set_value("pytest").run()
    at.selectbox(key="teach_new_target").set_value("1").run()
    assert at.text_input(key="teach_new_name").value == "pytest"  # the default follows the ground truth
    at.text_input(key="teach_new_prompt").set_value("a pytest plugin")
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    session = TeachSession.open("pypi_slice", "pytest", Store())
    assert session.concept.target_column == "pytest" and session.concept.target_label == "1"
    assert "ap" in session.history()[0].metrics  # measured against the second label column


def test_deleting_an_index_while_it_is_built_is_an_error_message_and_deletes_nothing(workspace_dir):
    """The delete takes the build lock; on the Index page a refusal is a message, not a traceback."""
    from core.build_lock import build_lock
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=Store())
    page = str(Path(ROUTER).parent / "views" / "indexes.py")
    at = AppTest.from_file(page, default_timeout=60).run()
    at.checkbox(key="index_delete_confirm").check().run()
    with build_lock(Store().root, "digits"):  # a build of it is running (another tab, the CLI)
        at.button(key="index_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("being built by another process or tab" in shown(e.value) for e in at.error)
    assert Store().has_index("digits")


def test_a_table_without_a_text_column_is_not_built_from_its_ids(tmp_path):
    """An outside tester: a table with columns id, split, flask got 'id' preset as its text column and built 200
    items whose text was the package name, while the command line refuses the same file."""
    rows = "id,split,flask\n" + "".join(f"pkg-{i},{'train' if i % 5 else 'validation'},{i % 2}\n" for i in range(40))
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    at.radio(key="index_source_kind").set_value("upload").run()
    at.file_uploader(key="index_upload").upload("notext.csv", rows.encode(), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="index_col_text").value is None
    assert any("No column looks like text" in w.value for w in at.warning)
    at.button(key="index_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("no text column" in e.value for e in at.error), [e.value for e in at.error]
    assert "notext" not in {i.name for i in Store().list_indexes()}
    at.selectbox(key="index_col_text").set_value("id").run()  # chosen on purpose: allowed
    assert not at.warning


def test_an_interrupted_build_shows_its_stored_items_and_how_to_resume(workspace_dir):
    """An outside tester: after a server restart mid-build the sidebar said '0 items' and the table 'building',
    while 4,096 rows were stored, and nothing said that building again resumes."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    def interrupt(p) -> None:
        if p.added >= 512:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index("cut", parse_source("demo:digits"), load_embedder("pixels"), flush_every=256, progress=interrupt)
    stored = Store().stored_items(Store().get_index("cut"))
    assert stored >= 256
    splits = Store().split_counts("cut")
    assert splits["train"] > 0 and splits["validation"] > 0 and sum(splits.values()) == stored
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    row = at.dataframe[-1].value.set_index("name").loc["cut"]
    assert row["items"] == stored and row["status"].startswith("interrupted")
    # its splits so far, not the 0 and 0 an unfinished build's metadata holds
    assert (row["train"], row["validation"]) == (splits["train"], splits["validation"])
    assert any("Build it again with the same name and source" in shown(c.value) for c in at.caption)
    assert any(f"cut ({stored:,} items)" in shown(o) for box in at.sidebar.selectbox for o in box.options)


def test_skipped_items_stay_listed_after_the_build_banner_is_gone(workspace_dir):
    """An outside tester: after a reload only the count of skipped items was left; their reasons were stored
    but the app had no way back to them."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    store = Store()
    build_index("shapes", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    reversed_name = "cat/photo\u202egpj.png"  # an attacker's file name: shown raw, it reads "cat/photognp.jpg"
    store.add_skipped("shapes", [{"id": "bad <b>1</b>.png", "uri": "bad.png", "reason": "cannot decode image"},
                                 {"id": reversed_name, "uri": reversed_name, "reason": "cannot decode image"}])
    info = store.get_index("shapes")
    info.n_skipped = 2
    store.save_index_info(info)
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    _no_errors(at)
    assert any("2 items of shapes could not be read" in shown(c.value) for c in at.caption)
    table = at.dataframe[-1].value
    assert table["id"].tolist() == ["bad <b>1</b>.png", "cat/photo[U+202E]gpj.png"]
    assert table["uri"].tolist()[1] == "cat/photo[U+202E]gpj.png" and set(table["reason"]) == {"cannot decode image"}
    assert at.get("download_button")


def test_tables_offer_no_unescaped_csv_download():
    """An outside tester: a table's own toolbar "Download as CSV" wrote a file named =HYPERLINK(...) as a live
    formula, next to the app's escaped download. The server's configuration turns that export off."""
    import tomllib

    import streamlit as st

    config = tomllib.loads((Path(ROUTER).parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
    st.set_option("client.disableDataExport", False)  # a server started outside the repository: no config.toml
    try:
        AppTest.from_file(ROUTER, default_timeout=60).run()
        assert st.get_option("client.disableDataExport") is True  # the app sets it itself
    finally:
        st.set_option("client.disableDataExport", False)


def test_a_refused_upload_is_removed_unless_the_index_reads_it(workspace_dir, tmp_path):
    """An outside tester: my_photos.zip uploaded under the existing index my-photos (built from another zip) was
    refused, and its extracted folder stayed under uploads/ with nothing using it."""
    from types import SimpleNamespace

    from app.index_jobs import _upload_in_use
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    store = Store()
    assert not _upload_in_use(store, "shapes", SimpleNamespace(root=tmp_path / "a"))
    table = tmp_path / "a.csv"
    table.write_text("id,text\nr1,one text\n")
    build_index("shapes", parse_source(f"file:{table}"), load_embedder("st:minilm"), store=store)
    assert _upload_in_use(store, "shapes", SimpleNamespace(path=table.resolve()))
    assert not _upload_in_use(store, "shapes", SimpleNamespace(path=(tmp_path / "b.csv").resolve()))
