"""The whole flow through the real app script: index the digits, teach "3" for two rounds, undo, validate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.session import TeachSession
from core.store import Store

ROUTER = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _index_digits(at: AppTest) -> None:
    at.text_input(key="index_name").set_value("digits")
    at.button(key="index_build").click().run()
    _no_errors(at)
    deadline = time.time() + 60
    while time.time() < deadline:
        at.run()
        if any("1797 items" in s.value for s in at.success):
            return
        time.sleep(0.3)
    pytest.fail("indexing the digits did not finish in 60 s")


def _rate_batch_like_an_oracle(at: AppTest, positive: str) -> None:
    batch = at.session_state["teach_batch"]
    for pos, candidate in enumerate(batch):
        key = f"teach_g_pos_{pos}" if candidate["label"] == positive else f"teach_g_neg_{pos}"
        at.button(key=key).click().run()
        _no_errors(at)


def test_index_teach_undo_validate_flow():
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    _no_errors(at)
    _index_digits(at)

    at.switch_page("views/teach.py").run()
    _no_errors(at)
    at.text_input(key="teach_new_name").set_value("three")
    at.radio(key="teach_new_how").set_value("diverse")
    at.selectbox(key="teach_new_target").set_value("3")
    at.button(key="teach_new_start").click().run()
    _no_errors(at)
    assert at.session_state["selected_concept"] == "three"
    assert len(at.session_state["teach_batch"]) == 10

    for expected_round in (1, 2):
        first_batch = [c["item_id"] for c in at.session_state["teach_batch"]]
        _rate_batch_like_an_oracle(at, "3")
        at.button(key="teach_submit").click().run()
        _no_errors(at)
        session = TeachSession.open("digits", "three", Store())
        assert session.round == expected_round
        assert len(session.ratings()) == 10 * expected_round
        next_batch = [c["item_id"] for c in at.session_state["teach_batch"]]
        assert not set(first_batch) & set(next_batch), "a rated item was proposed again"

    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Round"] == "2"
    assert int(metrics["Ratings +"]) + int(metrics["Ratings −"]) == 20

    at.button(key="teach_undo").click().run()
    _no_errors(at)
    session = TeachSession.open("digits", "three", Store())
    assert session.round == 1 and len(session.ratings()) == 10

    at.switch_page("views/validate.py").run()
    _no_errors(at)
    labels = [m.label for m in at.metric]
    assert any("AP" in label or "precision" in label.lower() for label in labels), labels


def test_focus_view_rates_with_buttons_and_undoes_last_rating():
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"))
    TeachSession.create("digits", "seven", target_label="7")
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    at.segmented_control(key="teach_view").set_value("Focus").run()
    at.button(key="teach_k_pos").click().run()  # +1 on item 0, moves to item 1
    at.button(key="teach_k_2").click().run()  # -0.5 on item 1
    at.button(key="teach_k_skip").click().run()  # skip item 2
    assert at.session_state["teach_pos"] == 3
    at.button(key="teach_k_back").click().run()  # undo the skip
    assert at.session_state["teach_pos"] == 2
    _no_errors(at)
    batch = at.session_state["teach_batch"]
    at.button(key="teach_submit").click().run()
    _no_errors(at)
    ratings = TeachSession.open("digits", "seven", Store()).ratings()
    got = dict(zip(ratings.item_ids, ratings.ratings.tolist(), strict=True))
    assert got == {batch[0]["item_id"]: 1.0, batch[1]["item_id"]: -0.5}
