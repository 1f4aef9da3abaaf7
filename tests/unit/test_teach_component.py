"""What the rating component sends is checked in Python before anything is written (AppTest cannot run its JS)."""

from __future__ import annotations

import pytest

from app.teach_component import (
    batch_token,
    component_data,
    item_payload,
    parse_submission,
    store_key,
    token_round,
)
from core.errors import InvalidRating, StaleBatch
from core.session import batch_seed

IDS = ["a-1", "a-2", "a-3"]
TOKEN = batch_token(4, IDS)


def test_the_token_carries_the_round_and_the_items():
    assert token_round(TOKEN) == 4
    assert batch_token(4, IDS) == TOKEN
    assert batch_token(5, IDS) != TOKEN and batch_token(4, IDS[::-1]) != TOKEN
    # another concept proposing the same items at the same round has another batch
    assert batch_token(4, IDS, scope="digits\0c1") != batch_token(4, IDS, scope="digits\0c2")
    assert token_round(batch_token(4, IDS, scope="digits\0c1")) == 4
    for bad in ("", "4-abc", "rx-1", "r-1", "../../etc"):
        with pytest.raises(InvalidRating):
            token_round(bad)


def test_a_whole_batch_is_read_in_the_batch_order_with_skips():
    value = {"token": TOKEN, "ratings": {"a-3": None, "a-1": 1, "a-2": -0.5}, "nonce": "n1"}
    sub = parse_submission(value, TOKEN, IDS)
    assert sub.expected_round == 4 and sub.nonce == "n1"
    assert list(sub.ratings.items()) == [("a-1", 1.0), ("a-2", -0.5), ("a-3", None)]


def test_a_submission_for_another_batch_is_stale():
    other = batch_token(3, IDS)
    with pytest.raises(StaleBatch, match="no longer the one on screen"):
        parse_submission({"token": other, "ratings": {"a-1": 1}}, TOKEN, IDS)


@pytest.mark.parametrize("value", [
    None, "x", [], {"ratings": {"a-1": 1}}, {"token": TOKEN, "ratings": {}},
    {"token": TOKEN, "ratings": {"a-1": 2}}, {"token": TOKEN, "ratings": {"a-1": 0.3}},
    {"token": TOKEN, "ratings": {"a-1": "1"}}, {"token": TOKEN, "ratings": {"a-1": True}},
    {"token": TOKEN, "ratings": {"a-1": float("nan")}}, {"token": TOKEN, "ratings": {"evil": 1}},
    {"token": TOKEN, "ratings": "a-1=1"},
])
def test_malformed_submissions_are_refused(value):
    with pytest.raises(InvalidRating):
        parse_submission(value, TOKEN, IDS)


def test_the_seed_gives_the_same_batch_for_the_same_round_and_settings():
    assert batch_seed("d", "c", 3, 0, "mixed", 10) == batch_seed("d", "c", 3, 0, "mixed", 10)
    assert batch_seed("d", "c", 3, 0, "mixed", 10) != batch_seed("d", "c", 4, 0, "mixed", 10)
    assert batch_seed("d", "c", 3, 0, "mixed", 10) != batch_seed("d", "c", 3, 3, "mixed", 10)


def test_drafts_are_keyed_by_workspace_index_and_concept_without_the_path():
    key = store_key("/home/me/secret-project", "digits", "a|b")
    assert key.startswith("fewshot-draft|") and "secret" not in key
    assert key.split("|")[2:] == ["digits", "a%7Cb"]
    assert store_key("/other", "digits", "a|b") != key


def test_item_text_travels_as_text_and_is_shortened_only_past_the_display_limit():
    hostile = "<img src=x onerror=alert(1)>" + "y" * 2000
    item = item_payload({"item_id": "t-1", "score": 0.5, "probability": 0.6, "label": "<b>3</b>"},
                        {"id": "t-1", "text": hostile}, show_label=True)
    assert item["text"] == hostile  # whole: the card clamps it, Focus and the tooltip show it (600 cut it)
    huge = item_payload({"item_id": "t-1", "score": 0.5, "probability": 0.6, "label": None},
                        {"id": "t-1", "text": "z" * 100_000}, show_label=True)
    assert len(huge["text"]) == 5_001 and huge["text"].endswith("…")
    assert item["img"] is None and item["label"] == "<b>3</b>"
    hidden = item_payload({"item_id": "t-1", "score": float("nan"), "probability": 0.6, "label": "3"},
                          {"id": "t-1", "text": "x"}, show_label=False)
    assert hidden["label"] is None and hidden["score"] == 0.0


def test_a_damaged_thumbnail_falls_back_to_the_id():
    item = item_payload({"item_id": "i-9", "score": 0.0, "probability": 0.5, "label": None},
                        {"id": "i-9", "thumbnail": b"not an image"}, show_label=False)
    assert item["img"] is None and item["text"] == "i-9"


def test_component_data_is_plain_json():
    import json

    data = component_data(token=TOKEN, items=[], store_prefix="p", caption="c", prefill=True, show_label=False)
    assert json.loads(json.dumps(data))["token"] == TOKEN


def test_the_component_never_parses_data_as_html():
    from pathlib import Path

    js = (Path(__file__).resolve().parents[2] / "app" / "teach_batch.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, f"app/teach_batch.js uses {sink}"
    assert "textContent" in js


def test_each_card_names_its_item_as_plain_one_line_text():
    """The card shows the item's id (for images, the relative file name); ids are data: bidi and control
    characters are made visible, markup stays text (the page sets it with textContent / title only)."""
    image = item_payload({"item_id": "val/blue/blue_012.png", "score": -0.9, "probability": 0.29, "label": "blue"},
                         {"id": "val/blue/blue_012.png", "thumbnail": None, "text": None}, show_label=True)
    assert image["name"] == "val/blue/blue_012.png" and image["id"] == "val/blue/blue_012.png"
    hostile = "photos/<b>x</b>\n\u202egpj.exe"
    item = item_payload({"item_id": hostile, "score": 0.1, "probability": 0.5}, {"id": hostile, "text": "t"},
                        show_label=False)
    assert item["id"] == hostile  # sent back with the rating exactly as stored
    assert item["name"] == "photos/<b>x</b>\\n[U+202E]gpj.exe"
    long = item_payload({"item_id": "d/" * 400 + "f.png", "score": 0.0, "probability": 0.5}, {"text": "t"}, False)
    assert len(long["name"]) == 300 and long["name"].startswith("d/d/") and long["name"].endswith("/d/f.png")
    assert "…" in long["name"]  # the middle of a long path goes, not its file name
