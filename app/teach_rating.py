"""Rating one batch: a grid (all items with sliders) or a focus view (one large item at a time).

State lives in ``st.session_state`` under ``teach_*`` keys, independent of the widgets: a slider not
drawn in a run (the focus view draws one) would otherwise lose its value.

Keys rate the focused item (ringed in the grid) and move on to the next unrated one. They follow
Prodigy: ``a`` +1, ``x`` -1, ``1``-``5`` for -1, -0.5, 0, +0.5, +1, ``space`` skip, ``backspace``
undo the last rating, ``enter`` submit, arrows move.
"""

from __future__ import annotations

import base64
from dataclasses import asdict

import streamlit as st

from app.items import crisp_thumbnail, plain, render_item
from app.shortcuts import bind_keys
from core.session import Candidate

FIVE_POINT = {"1": -1.0, "2": -0.5, "3": 0.0, "4": 0.5, "5": 1.0}
FIVE_POINT_LABELS = {"1": "−1", "2": "−½", "3": "0", "4": "+½", "5": "+1"}
STEP = 0.25
FOCUS_IMAGE_PX = 320  # a multiple of the digits' 32 px, so the nearest-neighbour upscale shows as is
GRADED = ("2", "3", "4")  # 1 and 5 are -1 and +1: the x and a buttons, which show both keys
FOCUS_KEYS = {
    "a": "teach_k_pos", "5": "teach_k_pos", "x": "teach_k_neg", "1": "teach_k_neg", "space": "teach_k_skip",
    "backspace": "teach_k_back", "enter": "teach_submit", "arrowleft": "teach_k_prev", "arrowright": "teach_k_next",
    **{digit: f"teach_k_{digit}" for digit in GRADED},
}
# Card colours by status: rated positive, rated negative, rated about 0, skipped.
_COLOURS = {"pos": ("#e6f4ea", "#34a853"), "neg": ("#fce8e6", "#d93025"), "zero": ("#fef7e0", "#f9ab00"),
            "skip": ("#f1f3f4", "#9aa0a6")}


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
        _advance_from(pos)


def _set_current(value: float | None) -> None:
    """Rate the focused item and move on. Reads the position when the key is handled, not when the
    button was drawn, so keys pressed in quick succession rate successive items."""
    _set(st.session_state["teach_pos"], value)


def _advance_from(pos: int) -> None:
    """Focus the next item not yet rated (after ``pos``, wrapping round); when all are, the next one."""
    n = len(st.session_state["teach_batch"])
    touched = set(st.session_state["teach_touched"])
    for step in range(1, n):
        candidate = (pos + step) % n
        if candidate not in touched:
            st.session_state["teach_pos"] = candidate
            return
    st.session_state["teach_pos"] = min(n - 1, pos + 1)


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


def n_rated() -> int:
    return len(st.session_state["teach_touched"])


def all_rated() -> bool:
    return n_rated() >= len(st.session_state["teach_batch"])


def _caption(candidate: dict, show_label: bool) -> str:
    text = f"score {candidate['score']:+.2f} · p {candidate['probability']:.2f}"
    if show_label and candidate.get("label") is not None:
        text += f" · label {candidate['label']}"
    return text


def _kind(pos: int) -> str | None:
    """``pos``'s status as a colour key: pos, neg, zero, skip, or None (not rated)."""
    if pos in st.session_state["teach_skip"]:
        return "skip"
    if pos not in st.session_state["teach_touched"]:
        return None
    value = st.session_state["teach_values"][pos]
    return "pos" if value > 0 else "neg" if value < 0 else "zero"


def _status(pos: int) -> str:
    kind = _kind(pos)
    if kind == "skip":
        return "skipped"
    if kind is None:
        return "at the model's guess" if st.session_state["teach_prefill"] else "not rated"
    return f"rated {st.session_state['teach_values'][pos]:+g}".replace("-", "−")


def _card_css(cards: dict[str, int]) -> None:
    """Colour each card (widget key -> item position) by its item's rating: green +, red −, amber 0, grey skipped."""
    rules = []
    for key, pos in cards.items():
        kind = _kind(pos)
        if kind:
            background, border = _COLOURS[kind]
            rules.append(f".st-key-{key} {{background: {background}; border-color: {border} !important;}}")
    if rules:
        st.html("<style>" + "\n".join(rules) + "</style>")


def _slider(pos: int) -> None:
    key = _slider_key(pos)
    if key not in st.session_state:
        st.session_state[key] = st.session_state["teach_values"][pos]
    st.slider("Rating", -1.0, 1.0, step=STEP, key=key, on_change=_from_slider, args=(pos,),
              label_visibility="collapsed")


def render_grid(columns: int, show_label: bool) -> None:
    """Every item as a card with its slider and buttons; the keys rate the ringed card and move the ring on."""
    batch = st.session_state["teach_batch"]
    focused = st.session_state["teach_pos"]
    _card_css({f"teach_card_{pos}": pos for pos in range(len(batch))})
    st.html(f"<style>.st-key-teach_card_{focused} {{box-shadow: 0 0 0 3px #1a73e8;}}</style>")
    for start in range(0, len(batch), columns):
        cells = st.columns(columns)
        for pos in range(start, min(start + columns, len(batch))):
            candidate = batch[pos]
            with cells[pos - start].container(border=True, key=f"teach_card_{pos}"):
                render_item(candidate["row"], _caption(candidate, show_label))
                _slider(pos)
                with st.container(horizontal=True, gap="xxsmall"):
                    st.button("−1", key=f"teach_g_neg_{pos}", on_click=_set, args=(pos, -1.0))
                    st.button("+1", key=f"teach_g_pos_{pos}", on_click=_set, args=(pos, 1.0))
                    st.button("skip", key=f"teach_g_skip_{pos}", on_click=_set, args=(pos, None))
                st.caption(_status(pos))
    with st.container(horizontal=True, gap="xxsmall", vertical_alignment="center", key="teach_grid_keys"):
        st.markdown(f"Ringed item **{focused + 1}**:")
        _rating_buttons()
        _graded_buttons()
        _move_buttons(focused, len(batch))
    bind_keys(FOCUS_KEYS)


def _strip(pos: int) -> None:
    """The whole batch as a strip of small tiles, coloured by rating, the focused one ringed."""
    tiles = []
    for i, candidate in enumerate(st.session_state["teach_batch"]):
        kind = _kind(i)
        background, border = _COLOURS[kind] if kind else ("#ffffff", "#dadce0")
        ring = "outline: 3px solid #1a73e8; outline-offset: 1px;" if i == pos else ""
        thumbnail = candidate["row"].get("thumbnail")
        if thumbnail:
            try:
                tile = crisp_thumbnail(bytes(thumbnail), 32)
                mime = "image/png" if tile.startswith(b"\x89PNG") else "image/jpeg"
                data = base64.b64encode(tile).decode()
                inner = (f'<img src="data:{mime};base64,{data}" style="width:32px;height:32px;'
                         f'object-fit:contain;image-rendering:pixelated;display:block" alt="">')
            except Exception:  # a damaged thumbnail: the number stands in
                inner = f"{i + 1}"
        else:
            inner = f"{i + 1}"
        mark = {"pos": "+", "neg": "−", "zero": "0", "skip": "s"}.get(kind or "", "&nbsp;")
        tiles.append(
            f'<div style="display:flex;flex-direction:column;align-items:center;gap:2px">'
            f'<div style="width:38px;height:38px;display:flex;align-items:center;justify-content:center;'
            f'background:{background};border:2px solid {border};border-radius:6px;{ring}">{inner}</div>'
            f'<div style="font-size:12px;line-height:14px;color:{border};font-weight:600">{mark}</div></div>'
        )
    st.html('<div style="display:flex;gap:6px;flex-wrap:wrap">' + "".join(tiles) + "</div>")


def _rating_buttons() -> None:
    st.button("−1 `x` `1`", key="teach_k_neg", on_click=_set_current, args=(-1.0,), help="Not the concept")
    st.button("+1 `a` `5`", key="teach_k_pos", on_click=_set_current, args=(1.0,), help="The concept")
    st.button("skip `space`", key="teach_k_skip", on_click=_set_current, args=(None,),
              help="Say nothing about this item (it is not trained on)")


def _graded_buttons() -> None:
    for digit in GRADED:
        value = FIVE_POINT[digit]
        st.button(f"{FIVE_POINT_LABELS[digit]} `{digit}`", key=f"teach_k_{digit}", on_click=_set_current,
                  args=(value,), help=f"Rate {value:+g}")


def _move_buttons(pos: int, n: int) -> None:
    st.button("`←` prev", key="teach_k_prev", on_click=_move, args=(-1,), disabled=pos == 0)
    st.button("next `→`", key="teach_k_next", on_click=_move, args=(+1,), disabled=pos == n - 1)
    st.button("undo `⌫`", key="teach_k_back", on_click=_undo_last, disabled=not n_rated(),
              help="Undo the last rating (backspace)")


def render_focus(show_label: bool) -> None:
    batch = st.session_state["teach_batch"]
    pos = st.session_state["teach_pos"]
    candidate = batch[pos]
    _card_css({"teach_focus_card": pos})
    _strip(pos)
    with st.container(border=True, key="teach_focus_card"):
        image, side = st.columns([FOCUS_IMAGE_PX + 20, 330], gap="medium")
        with image:
            render_item(candidate["row"], None, width=FOCUS_IMAGE_PX)
        with side:
            done = " · :green[**all rated: Enter submits**]" if all_rated() else ""
            st.markdown(f"**Item {pos + 1} of {len(batch)}** · {n_rated()} rated{done}")
            st.caption(plain(_caption(candidate, show_label=False)))
            if show_label and candidate.get("label") is not None:
                st.markdown(f"Ground truth: **{plain(candidate['label'])}**")
            st.markdown(f"Your rating: **{_status(pos)}**")
            _slider(pos)
            with st.container(horizontal=True, gap="xsmall"):
                _rating_buttons()
            with st.container(horizontal=True, gap="xsmall"):
                _graded_buttons()
            with st.container(horizontal=True, gap="xsmall"):
                _move_buttons(pos, len(batch))
    bind_keys(FOCUS_KEYS)
