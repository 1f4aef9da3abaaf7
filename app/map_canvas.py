"""The Map's replay on a canvas, for maps too large for a Plotly figure (``st.components.v2``, inline JS).

The payload (``core.replay_canvas.replay_payload``: every round's colour codes as raw bytes) is built
once per cached replay; a rerun that draws the same payload sends only a reference to it (Streamlit's
message cache), and the browser keeps its zoom, round and selection. A lasso comes back as the
trigger value ``selection``: ``{"points": [positions into the drawn rows], "uid", "nonce"}``; the
round shown, once a step settles, as ``round``: ``{"round", "uid", "nonce"}`` (the page's metrics follow
it). The browser remembers its round per payload (``sessionStorage``), so a tab switch keeps it while
the payload (always starting at the latest round) stays the same bytes.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import streamlit as st

from app.inline_component import inline_component
from app.map_view import keep_selection
from core.replay import Replay
from core.replay_canvas import latest_only, replay_parts, replay_payload

COMPONENT_NAME = "fewshot_map_canvas"
COMPONENT_KEY = "map_canvas"
CANVAS_PICK, CANVAS_ROUND, CANVAS_FULL = "map_canvas_pick", "map_canvas_round", "map_canvas_full"
# Above this many points the first payload holds the latest round's colours only (1 MB per round at 1M): the
# map paints from it and the browser asks for every round at once (FEWSHOT_MAP_FULL_ROUNDS_UP_TO sets it).
FULL_ROUNDS_UP_TO = int(os.environ.get("FEWSHOT_MAP_FULL_ROUNDS_UP_TO", "200000"))


def picked_rows(value: Any, rows: np.ndarray) -> list[int] | None:
    """Row numbers of a lasso sent by the component (positions into ``rows``); None when it is not one.

    The browser's value is untrusted: anything that is not a list of in-range integers is dropped.
    """
    if not isinstance(value, dict) or not isinstance(value.get("points"), list):
        return None
    out = []
    for p in value["points"]:
        if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(rows):
            out.append(int(rows[p]))
    return list(dict.fromkeys(out))


def mount(payload: bytes, on_select: Any, on_round: Any, on_rounds: Any) -> Any:
    """Draw the map; ``on_select`` / ``on_round`` / ``on_rounds`` run (before the page's script) when a lasso
    (or a double-click) / a settled round / the request for every round's colours (``{"uid"}``) arrives."""
    component = inline_component(COMPONENT_NAME, "fsmap-root", "map_canvas")
    return component(key=COMPONENT_KEY, data=payload, on_selection_change=on_select, on_round_change=on_round,
                     on_rounds_change=on_rounds, height="content")


@st.cache_resource(max_entries=2, show_spinner="Preparing the map…")
def canvas_parts(replay_key: tuple, _replay: Replay, _ids: np.ndarray, _labels: np.ndarray) -> tuple:
    """Every round's colour codes, positions and hover data for the canvas, per cached replay."""
    return replay_parts(_replay, _ids[_replay.rows], _labels[_replay.rows])


@st.cache_resource(max_entries=4, show_spinner=False)
def _canvas_payload(replay_key: tuple, at: int, show_path: bool, every_round: bool, _parts: tuple) -> bytes:
    """The payload bytes for one start round: the same bytes on every rerun, so Streamlit sends only a
    reference to them and the browser keeps its zoom and round."""
    header, arrays = _parts if every_round else latest_only(_parts)
    return replay_payload(None, start=at, parts=(dict(header, show_path=show_path), arrays))  # type: ignore[arg-type]


def _on_canvas_rounds() -> None:
    state = st.session_state.get(COMPONENT_KEY)
    value = state.get("rounds") if hasattr(state, "get") else None
    if isinstance(value, dict) and isinstance(value.get("uid"), str):
        st.session_state[CANVAS_FULL] = value["uid"]
        st.session_state["map_flash_keep"] = True  # not a person's action: keep the page's last message


def _on_canvas_select() -> None:
    state = st.session_state.get(COMPONENT_KEY)
    value = state.get("selection") if hasattr(state, "get") else None
    if value is not None:
        st.session_state[CANVAS_PICK] = value


def canvas_selection(value: Any, uid: str, ids: np.ndarray, rows: np.ndarray) -> list[str] | None:
    """The item ids of a lasso sent by the canvas (None: not for the points drawn now, e.g. a stale page)."""
    if not isinstance(value, dict) or value.get("uid") != uid:
        return None
    picked = picked_rows(value, rows)
    return None if picked is None else [str(ids[r]) for r in picked]


def canvas_round(value: Any, uid: str, rounds: list[int]) -> int:
    """The round the canvas reported for these points (the latest when none, or another map's)."""
    if isinstance(value, dict) and value.get("uid") == uid and value.get("round") in rounds:
        return int(value["round"])
    return rounds[-1]


def _on_canvas_round() -> None:
    state = st.session_state.get(COMPONENT_KEY)
    value = state.get("round") if hasattr(state, "get") else None
    if value is not None:
        st.session_state[CANVAS_ROUND] = value


def render_canvas(replay_key: tuple, replay: Replay, parts: tuple, show_path: bool, view: Any,
                  session: Any = None) -> None:
    """The replay drawn by the canvas component; a lasso there selects the items below the map.

    The payload always starts at the latest round, so stepping never changes its bytes (no resend).
    """
    every_round = len(replay.rows) <= FULL_ROUNDS_UP_TO or st.session_state.get(CANVAS_FULL) == parts[0]["uid"]
    payload = _canvas_payload(replay_key, len(replay.rounds) - 1, show_path, every_round, parts)
    value = st.session_state.pop(CANVAS_PICK, None)
    picked = canvas_selection(value, parts[0]["uid"], view.ids, replay.rows)
    if picked is not None:
        keep_selection(picked, session)
    mount(payload, _on_canvas_select, _on_canvas_round, _on_canvas_rounds)
