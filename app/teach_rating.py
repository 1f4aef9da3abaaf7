"""Rating one batch: a grid (all items with sliders) or a focus view (one item, keyboard-driven).

State lives in ``st.session_state`` under ``teach_*`` keys, independent of the widgets: a slider not
drawn in a run (the focus view draws one) would otherwise lose its value. Keys in the focus view
follow Prodigy: ``a`` +1, ``x`` -1, ``1``-``5`` for -1, -0.5, 0, +0.5, +1, ``space`` skip,
``backspace`` undo the last rating, ``enter`` submit, arrows move.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from app.items import render_item
from app.shortcuts import bind_keys
from core.session import Candidate

FIVE_POINT = {"1": -1.0, "2": -0.5, "3": 0.0, "4": 0.5, "5": 1.0}
STEP = 0.25


def _guess(candidate: dict) -> float:
    """The model's current opinion as a rating, rounded to the slider's step."""
    value = 2.0 * candidate["probability"] - 1.0
    return max(-1.0, min(1.0, round(value / STEP) * STEP))


def start_batch(token: str, batch: list[Candidate], rows: dict[str, dict], prefill: bool) -> None:
    """Make ``batch`` the one being rated (fresh ratings, first item focused)."""
    candidates = [{**asdict(c), **{"row": rows.get(c.item_id, {"id": c.item_id})}} for c in batch]
    st.session_state.update(
        teach_token=token,
        teach_batch=candidates,
        teach_values={i: (_guess(c) if prefill else 0.0) for i, c in enumerate(candidates)},
        teach_touched=[],
        teach_skip=set(),
        teach_pos=0,
        teach_prefill=prefill,
    )


def _slider_key(pos: int) -> str:
    return f"teach_s_{st.session_state['teach_token']}_{pos}"


def _set(pos: int, value: float | None, advance: bool = True) -> None:
    """Rate (value) or skip (None) item ``pos``; a button callback, so it runs before the page."""
    if value is None:
        st.session_state["teach_skip"].add(pos)
    else:
        st.session_state["teach_skip"].discard(pos)
        st.session_state["teach_values"][pos] = value
        st.session_state[_slider_key(pos)] = value
    touched = st.session_state["teach_touched"]
    if pos in touched:
        touched.remove(pos)
    touched.append(pos)
    if advance:
        _move(+1)


def _from_slider(pos: int) -> None:
    _set(pos, float(st.session_state[_slider_key(pos)]), advance=False)


def _move(delta: int) -> None:
    n = len(st.session_state["teach_batch"])
    st.session_state["teach_pos"] = max(0, min(n - 1, st.session_state["teach_pos"] + delta))


def _undo_last() -> None:
    touched = st.session_state["teach_touched"]
    if not touched:
        return
    pos = touched.pop()
    st.session_state["teach_skip"].discard(pos)
    candidate = st.session_state["teach_batch"][pos]
    value = _guess(candidate) if st.session_state["teach_prefill"] else 0.0
    st.session_state["teach_values"][pos] = value
    st.session_state[_slider_key(pos)] = value
    st.session_state["teach_pos"] = pos


def collected_ratings() -> dict[str, float | None]:
    """What Submit sends: rated items at their value, skips as None.

    Untouched items are sent at the model's guess when the sliders were prefilled with it (the
    person accepted it by leaving it), and as skips otherwise (the person said nothing about them).
    """
    out: dict[str, float | None] = {}
    touched = set(st.session_state["teach_touched"])
    for pos, candidate in enumerate(st.session_state["teach_batch"]):
        if pos in st.session_state["teach_skip"]:
            out[candidate["item_id"]] = None
        elif pos in touched or st.session_state["teach_prefill"]:
            out[candidate["item_id"]] = float(st.session_state["teach_values"][pos])
        else:
            out[candidate["item_id"]] = None
    return out


def _caption(candidate: dict, show_label: bool) -> str:
    text = f"score {candidate['score']:+.2f} · p={candidate['probability']:.2f}"
    if show_label and candidate.get("label") is not None:
        text += f" · label {candidate['label']}"
    return text


def _status(pos: int) -> str:
    if pos in st.session_state["teach_skip"]:
        return "skipped"
    if pos in st.session_state["teach_touched"]:
        return f"rated {st.session_state['teach_values'][pos]:+.2f}"
    return "not rated"


def _slider(pos: int) -> None:
    key = _slider_key(pos)
    if key not in st.session_state:
        st.session_state[key] = st.session_state["teach_values"][pos]
    st.slider("Rating", -1.0, 1.0, step=STEP, key=key, on_change=_from_slider, args=(pos,),
              label_visibility="collapsed")


def render_grid(columns: int, show_label: bool) -> None:
    batch = st.session_state["teach_batch"]
    for start in range(0, len(batch), columns):
        cells = st.columns(columns)
        for pos in range(start, min(start + columns, len(batch))):
            candidate = batch[pos]
            with cells[pos - start].container(border=True, key=f"teach_card_{pos}"):
                render_item(candidate["row"], _caption(candidate, show_label))
                _slider(pos)
                b1, b2, b3, b4 = st.columns(4)
                b1.button("−1", key=f"teach_g_neg_{pos}", on_click=_set, args=(pos, -1.0, False))
                b2.button("0", key=f"teach_g_zero_{pos}", on_click=_set, args=(pos, 0.0, False))
                b3.button("+1", key=f"teach_g_pos_{pos}", on_click=_set, args=(pos, 1.0, False))
                b4.button("skip", key=f"teach_g_skip_{pos}", on_click=_set, args=(pos, None, False))
                st.caption(_status(pos))
    bind_keys({"enter": "teach_submit"})


def render_focus(show_label: bool) -> None:
    batch = st.session_state["teach_batch"]
    pos = st.session_state["teach_pos"]
    candidate = batch[pos]
    rated = len(st.session_state["teach_touched"])
    st.progress(rated / len(batch), text=f"Item {pos + 1} of {len(batch)} · {rated} rated")
    left, middle, right = st.columns([1, 4, 1])
    left.button("← prev", key="teach_k_prev", on_click=_move, args=(-1,), width="stretch")
    right.button("next →", key="teach_k_next", on_click=_move, args=(+1,), width="stretch")
    with middle.container(border=True, key="teach_focus_card"):
        render_item(candidate["row"], _caption(candidate, show_label), width=360)
        _slider(pos)
        st.caption(_status(pos))
    keys = st.columns(9)
    keys[0].button("−1 `x`", key="teach_k_neg", on_click=_set, args=(pos, -1.0), width="stretch")
    for i, (digit, value) in enumerate(FIVE_POINT.items(), start=1):
        keys[i].button(f"{value:+g} `{digit}`", key=f"teach_k_{digit}", on_click=_set, args=(pos, value),
                       width="stretch")
    keys[6].button("+1 `a`", key="teach_k_pos", on_click=_set, args=(pos, 1.0), width="stretch")
    keys[7].button("skip `space`", key="teach_k_skip", on_click=_set, args=(pos, None), width="stretch")
    keys[8].button("undo `⌫`", key="teach_k_back", on_click=_undo_last, width="stretch")
    bind_keys({
        "a": "teach_k_pos", "x": "teach_k_neg", "space": "teach_k_skip", "backspace": "teach_k_back",
        "enter": "teach_submit", "arrowleft": "teach_k_prev", "arrowright": "teach_k_next",
        **{digit: f"teach_k_{digit}" for digit in FIVE_POINT},
    })
