"""The whole flow through the real app script: index the digits, teach "3" for two rounds, undo, validate.

The rating component's keys run in the browser (tests/e2e); here the page gets exactly what the component
sends on Enter, through Streamlit's widget-state path (tests/helpers/teach_component.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.session import TeachSession
from core.store import Store
from tests.helpers.teach_component import component_data, send_batch

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
        if any("1,797 items" in s.value.replace("\\", "") for s in at.success):
            return
        time.sleep(0.3)
    pytest.fail("indexing the digits did not finish in 60 s")


def _oracle(at: AppTest, positive: str) -> dict[str, float]:
    return {c["item_id"]: 1.0 if c["label"] == positive else -1.0 for c in at.session_state["teach_batch"]}


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
    data = component_data(at)
    assert [i["id"] for i in data["items"]] == [c["item_id"] for c in at.session_state["teach_batch"]]
    assert all(i["img"].startswith("data:image/") for i in data["items"]) and data["token"].startswith("r0-")

    rounds = []
    for expected_round in (1, 2):
        first_batch = [c["item_id"] for c in at.session_state["teach_batch"]]
        ratings = _oracle(at, "3")
        rounds.append(ratings)
        send_batch(at, ratings)
        _no_errors(at)
        session = TeachSession.open("digits", "three", Store())
        assert session.round == expected_round
        assert len(session.ratings()) == 10 * expected_round
        next_batch = [c["item_id"] for c in at.session_state["teach_batch"]]
        assert not set(first_batch) & set(next_batch), "a rated item was proposed again"
        assert component_data(at)["token"].startswith(f"r{expected_round}-")

    counters = component_data(at)["counters"]  # drawn by the component, with the batch
    assert counters["round"] == 2
    assert counters["n_positive"] + counters["n_negative"] == 20
    assert counters["n_positive"] == sum(v > 0 for r in rounds for v in r.values())
    history = TeachSession.open("digits", "three", Store()).history()
    assert counters["ap"] == pytest.approx(history[-1].metrics["ap"])
    assert counters["ap_points"] == pytest.approx([c.metrics["ap"] for c in history])

    # Undo: round 2's items come back with their ratings as the draft.
    at.button(key="teach_undo").click().run()
    _no_errors(at)
    session = TeachSession.open("digits", "three", Store())
    assert session.round == 1 and len(session.ratings()) == 10
    data = component_data(at)
    assert [i["id"] for i in data["items"]] == list(rounds[1])
    assert data["draft"]["ratings"] == rounds[1] and data["token"].startswith("r1-")
    assert data["counters"]["round"] == 1 and len(data["counters"]["ap_points"]) == 2  # not round 2's any more
    assert data["counters"]["n_positive"] == sum(v > 0 for v in rounds[0].values())

    # Submitted again: the counters follow the new round 2 (not the undone one's figures).
    send_batch(at, {**rounds[1], next(iter(rounds[1])): 0.5}, nonce="resubmit")
    _no_errors(at)
    history = TeachSession.open("digits", "three", Store()).history()
    assert component_data(at)["counters"]["round"] == 2
    assert component_data(at)["counters"]["ap_points"] == pytest.approx([c.metrics["ap"] for c in history])
    assert component_data(at)["counters"]["n_positive"] == history[-1].metrics["n_positive"]

    at.switch_page("views/validate.py").run()
    _no_errors(at)
    labels = [m.label for m in at.metric]
    assert any("AP" in label or "precision" in label.lower() for label in labels), labels


def test_a_stale_or_repeated_batch_is_refused_and_loses_nothing():
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"))
    TeachSession.create("digits", "seven", target_label="7")
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    batch = [c["item_id"] for c in at.session_state["teach_batch"]]
    token = at.session_state["teach_token"]
    sent = {batch[0]: 1.0, batch[1]: -0.5, batch[2]: None, batch[3]: 0.75}
    send_batch(at, sent, nonce="first")
    _no_errors(at)

    send_batch(at, {batch[0]: -1.0}, token=token, nonce="again")  # a second Enter with the old token
    assert [e.value for e in at.error] and "no longer the one on screen" in at.error[0].value
    assert component_data(at)["outcome"]["nonce"] == "again"  # the browser learns it was refused

    other = TeachSession.open("digits", "seven", Store())  # another tab moves the concept on
    other.submit({at.session_state["teach_batch"][0]["item_id"]: 1.0})
    send_batch(at, {at.session_state["teach_batch"][1]["item_id"]: -1.0}, nonce="stale")
    assert [e.value for e in at.error] and "another tab" in at.error[0].value

    send_batch(at, {"not-an-item": 1.0}, nonce="bad")  # the current batch again, tampered with
    assert [e.value for e in at.error] and "not in this batch" in at.error[0].value

    rows = TeachSession.open("digits", "seven", Store()).teach.label_rows("digits", "seven")
    assert {r["item_id"]: r["rating"] for r in rows if r["round"] == 1} == sent
    assert len(rows) == len(sent) + 1  # round 1 (this tab) and round 2 (the other tab), nothing else


def test_an_exhausted_pool_says_so_and_keeps_the_counters():
    """Every training item seen: no batch to draw, so the page says why and shows the counters as text."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.records import TRAIN
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"))
    session = TeachSession.create("digits", "four", target_label="4", strategy="random")
    view = session.view
    session.submit({str(i): None for i in view.ids[view.rows(TRAIN)]})  # everything seen (as skips)
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.switch_page("views/teach.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("seen" in i.value.lower() for i in at.info), [i.value for i in at.info]
    assert any(c.value.startswith("Round 1 ") for c in at.caption), [c.value for c in at.caption]
    assert not at.get("bidi_component")


def test_settings_reset_seen_and_rename_keep_the_batch_and_its_draft():
    """An outside tester: Apply (strategy, batch size), Reset seen and a rename each drew a new batch at once,
    throwing away the ratings typed into the one on screen. The batch, its token and the browser's key for
    its draft now stay; the settings choose the next batch, as the panel's heading says."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"))
    TeachSession.create("digits", "seven", target_label="7", strategy="auto")
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    batch, token = at.session_state["teach_batch"], at.session_state["teach_token"]
    key = component_data(at)["store_key"]
    caption = component_data(at)["caption"]

    at.selectbox(key="teach_set_strategy").set_value("boundary")
    at.number_input(key="teach_set_batch").set_value(20)
    at.button(key="teach_set_apply").click().run()
    _no_errors(at)
    assert any("the next batch is 20 items by boundary" in t.value for t in at.toast)
    assert at.session_state["teach_token"] == token and at.session_state["teach_batch"] == batch
    assert component_data(at)["caption"] == caption  # still says what chose the batch on screen (auto)
    assert TeachSession.open("digits", "seven", Store()).concept.strategy == "boundary"

    at.button(key="teach_reset_seen").click().run()
    _no_errors(at)
    assert at.session_state["teach_token"] == token and component_data(at)["store_key"] == key

    at.text_input(key="sidebar_rename_name").set_value("sevens")
    at.button(key="sidebar_rename").click().run()
    _no_errors(at)
    assert at.session_state["selected_concept"] == "sevens"
    assert at.session_state["teach_token"] == token and component_data(at)["store_key"] == key

    reloaded = AppTest.from_file(ROUTER, default_timeout=60)  # a reload: a new browser session, same batch
    reloaded.query_params["index"], reloaded.query_params["concept"] = "digits", "sevens"
    reloaded.switch_page("views/teach.py").run()
    _no_errors(reloaded)
    assert reloaded.session_state["teach_token"] == token
    assert component_data(reloaded)["caption"] == caption.replace("concept seven,", "concept sevens,")

    send_batch(at, {batch[0]["item_id"]: 1.0}, nonce="after")  # and the kept batch still submits
    _no_errors(at)
    assert len(at.session_state["teach_batch"]) == 20  # the next batch follows the new settings


def test_thirty_ratings_without_a_positive_suggest_another_start():
    """An outside tester: a diverse start on a rare concept found nothing in 40 ratings, with no word of advice."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"))
    session = TeachSession.create("digits", "none", target_label="7")
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.switch_page("views/teach.py").run()
    _no_errors(at)
    assert not [i for i in at.info if "No positive" in i.value]
    for _ in range(3):
        session.submit({c.item_id: -1.0 for c in session.next_batch(10)})
    at.run()
    _no_errors(at)
    hints = [i.value for i in at.info if "No positive in 30 ratings" in i.value]
    assert hints and "diverse sample" in hints[0] and "example items" in hints[0]
    assert "prompt" not in hints[0]  # a pixels index embeds no text: a prompt is no way out there
    session.submit({session.next_batch(1)[0].item_id: 1.0})  # one positive: the advice goes
    at.run()
    assert not [i for i in at.info if "No positive" in i.value]
