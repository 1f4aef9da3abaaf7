"""Map settings that survive tab and page switches.

Streamlit drops a widget's state once a run does not draw it (the Drift tab is lazy, so the map's
widgets vanish while it is open; likewise on another page). Each setting is mirrored in one plain
session key, ``map_kept``, and put back into the widget key before the widget is drawn again.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

KEPT = "map_kept"


def restore(key: str, default: Any, allowed: list[Any] | None = None) -> Any:
    """Put the kept value of widget ``key`` back (or ``default``) before the widget is drawn; return it."""
    kept = st.session_state.setdefault(KEPT, {})
    if key not in st.session_state:
        st.session_state[key] = kept.get(key, default)
    if allowed is not None and st.session_state[key] not in allowed:
        st.session_state[key] = default
    return st.session_state[key]


def remember(*keys: str) -> None:
    """Mirror the widgets' current values into the plain key (call after drawing them)."""
    kept = st.session_state.setdefault(KEPT, {})
    for key in keys:
        if key in st.session_state:
            kept[key] = st.session_state[key]


def restore_round(rounds: list[int]) -> int:
    """The replay's round: the kept one, or the latest when none is kept or the kept one was the latest
    (so a new round, e.g. a bulk rating, moves the replay with it)."""
    kept = st.session_state.setdefault(KEPT, {})
    latest = rounds[-1]
    if "map_round" not in st.session_state:
        st.session_state["map_round"] = latest if kept.get("map_round_at_latest", True) else kept.get("map_round")
    elif kept.get("map_round_at_latest") and kept.get("map_round_latest") != latest:
        st.session_state["map_round"] = latest
    if st.session_state["map_round"] not in rounds:
        st.session_state["map_round"] = latest
    return int(st.session_state["map_round"])


def remember_round(rounds: list[int]) -> None:
    kept = st.session_state.setdefault(KEPT, {})
    kept["map_round"] = st.session_state.get("map_round")
    kept["map_round_latest"] = rounds[-1]
    kept["map_round_at_latest"] = st.session_state.get("map_round") == rounds[-1]


def follow_latest() -> None:
    """After a submit from the map: show the new round (the next run moves the slider to it)."""
    kept = st.session_state.setdefault(KEPT, {})
    kept["map_round_at_latest"] = True
    st.session_state.pop("map_round", None)
