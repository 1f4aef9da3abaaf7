"""The canvas payload: every round's colour codes, positions, flips, labels and ids, as the browser reads them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from core.replay import build_replay
from core.replay_canvas import MAX_FLIPS, NO_LABEL, positions, replay_parts, replay_payload, unpack


def _replay(n: int = 600, rounds: int = 4, dim: int = 8, threshold: float = 0.0):
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    xy = rng.standard_normal((n, 2)).astype(np.float32)
    history = [SimpleNamespace(round=i, w=rng.standard_normal(dim).astype(np.float32), bias=0.1 * i,
                               metrics={"ap": 0.5 + 0.1 * i if i else None, "n_ratings": 10 * i})
               for i in range(rounds)]
    return build_replay(matrix, xy, history, np.arange(n), threshold)


def test_payload_carries_every_round_as_the_replay_computes_it():
    replay = _replay()
    header, arrays = unpack(replay_payload(replay, start=1))
    m, r = len(replay.rows), len(replay.rounds)
    assert header["m"] == m and header["rounds"] == replay.rounds and header["start"] == 1
    assert arrays["x"].dtype == np.uint16
    extent = np.ptp(replay.xy, axis=0)
    assert (np.abs(positions(header, arrays) - replay.xy) <= extent / 65535).all()  # within one grid step
    codes = arrays["codes"].reshape(r, m)
    for i in range(r):
        np.testing.assert_array_equal(codes[i], replay.color_codes(i))
        flips = arrays["flips"][arrays["flip_at"][i]: arrays["flip_at"][i + 1]]
        np.testing.assert_array_equal(flips, replay.flipped[i])
    # what the browser draws on top (code above the threshold's code) is what the replay predicts positive
    assert replay.decided == [False, True, True, True]  # round 0 has no rating: it predicts nothing
    assert len(replay.positive[0]) == 0 and len(replay.flipped[1]) == 0
    for i in range(1, r):
        on_top = np.flatnonzero(codes[i] > header["threshold_codes"][i])
        assert abs(len(on_top) - len(replay.positive[i])) <= 0.02 * m
    assert header["captions"][2].startswith("Round 2 of 3")


def test_start_is_clamped_and_does_not_change_the_points_identity():
    replay = _replay()
    parts = replay_parts(replay)
    first, last = (unpack(replay_payload(replay, start=s, parts=parts))[0] for s in (-5, 99))
    assert first["start"] == 0 and last["start"] == 3 and first["uid"] == last["uid"]
    other = _replay(n=601)
    assert unpack(replay_payload(other))[0]["uid"] != first["uid"]


def test_flips_are_capped_per_round(monkeypatch):
    import core.replay_canvas as rc

    monkeypatch.setattr(rc, "MAX_FLIPS", 5)
    replay = _replay()
    header, arrays = unpack(rc.replay_payload(replay))
    sizes = np.diff(arrays["flip_at"])
    assert sizes.max() <= 5 and MAX_FLIPS >= 5
    i = int(np.argmax([len(f) for f in replay.flipped]))
    kept = arrays["flips"][arrays["flip_at"][i]: arrays["flip_at"][i + 1]]
    assert set(kept) <= set(replay.flipped[i].tolist())  # the highest-scoring of that round's flips


def test_hostile_ids_and_labels_travel_as_bytes_and_plain_text():
    replay = _replay(n=6, rounds=2)
    ids = np.asarray(["a\nb", "<img src=x onerror=alert(1)>", "\u202eevil", "ü", "", "x" * 300], dtype=object)
    labels = np.asarray(["3", None, "<b>3</b>", "3", None, "\u202e7"], dtype=object)
    payload = replay_payload(replay, ids, labels)
    header, arrays = unpack(payload)
    got = [bytes(arrays["id_bytes"][arrays["id_at"][i]: arrays["id_at"][i + 1]]).decode() for i in range(6)]
    assert got == [i.replace("\u202e", "[U+202E]") for i in ids]  # bidi controls shown, not obeyed
    names = header["labels"]
    assert names[0] == "3" and set(names) == {"3", "<b>3</b>", "[U+202E]7"}
    decoded = [None if c == NO_LABEL else names[c] for c in arrays["label_codes"]]
    assert decoded == [None if v is None else v.replace("\u202e", "[U+202E]") for v in labels]
    json.loads(payload[8: 8 + int.from_bytes(payload[4:8], "little")])  # strict JSON (no NaN)


def test_w_without_a_position_is_null_not_nan():
    replay = _replay(rounds=3)
    replay.w_xy[1] = np.nan
    header, _ = unpack(replay_payload(replay))
    assert header["w_xy"][1] is None and header["w_xy"][0] is not None


def test_ids_are_not_sent_for_huge_maps(monkeypatch):
    import core.replay_canvas as rc

    monkeypatch.setattr(rc, "MAX_IDS", 10)
    replay = _replay(n=20, rounds=2)
    _, arrays = unpack(rc.replay_payload(replay, np.asarray([str(i) for i in range(20)], dtype=object)))
    assert "id_bytes" not in arrays and "x" in arrays


def test_not_a_payload_is_refused():
    with pytest.raises(ValueError):
        unpack(b"nope" + b"\0" * 10)


def test_latest_only_keeps_the_map_and_the_last_rounds_colours():
    from core.replay_canvas import latest_only

    replay = _replay()
    parts = replay_parts(replay)
    header, arrays = unpack(replay_payload(replay, parts=latest_only(parts)))
    full, _ = unpack(replay_payload(replay, parts=parts))
    m = len(replay.rows)
    assert header["codes_from"] == 3 and full["codes_from"] == 0 and header["uid"] == full["uid"]
    np.testing.assert_array_equal(arrays["codes"], replay.color_codes(3))
    assert len(arrays["codes"]) == m and header["start"] == 3
