"""The Map tab: the fit panel, the settings (kept across tabs), the replay or another colouring, the selection.

With a concept and "Score" colouring the map is the replay (``core.replay_figure``): the round
slider here picks the round drawn (and the AP/ratings shown); ▶ in the figure plays every round in
the browser without a server round trip.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import streamlit as st

from app.map_canvas import CANVAS_ROUND, canvas_parts, canvas_round, render_canvas
from app.map_figure import (
    COLOR_MODES,
    MAX_POINTS,
    Trajectory,
    build_map_figure,
    draw_rows,
    hover_texts,
    overlay_traces,
)
from app.map_report import render_report_panel
from app.map_settings import remember, remember_round, restore, restore_round
from app.map_view import (
    cached_projection,
    current_selection,
    item_texts,
    keep_selection,
    pca_positions,
    ratings_array,
    render_fit_panel,
    render_rating_panel,
    row_lookup,
    selected_ids,
    shown_labels,
    validation_overlay,
)
from app.validate_view import sigmoid
from core.replay import Replay, build_replay, flips_shown
from core.replay_figure import COMPACT_ABOVE, marker_size, replay_figure

MAX_REPLAY_POINTS = 1_000_000  # typed arrays + uint8 colour codes keep 1M points under the page-load target
MAX_HOVER_POINTS = 100_000  # beyond this, hover shows item numbers only (per-point strings cost ~100 B each)
SHORT_HOVER_ABOVE = 20_000  # above this, hover texts keep 60 characters of an item's text (not 120)
# Above this many drawn points the replay is drawn by the canvas component (app/map_canvas.py): measured on
# 2 cores in headless Chromium, Plotly took 3.1 s to draw 100k points and 3.9 s per replay step.
# FEWSHOT_MAP_CANVAS_ABOVE sets it (0: always the canvas; the browser tests use that on the 1,797 digits).
CANVAS_ABOVE = int(os.environ.get("FEWSHOT_MAP_CANVAS_ABOVE", "20000"))


@st.cache_resource(max_entries=2, show_spinner=False)
def _hover(root: str, index: str, version: int, n: int, column: str | None = None) -> np.ndarray | None:
    """Hover texts (id, label, text) for every row, without scores (those change by round)."""
    from app.state import get_store

    if n > MAX_HOVER_POINTS:
        return None
    view = get_store().vectors(index)
    return hover_texts(np.arange(n), view.ids, shown_labels(view, column), None, item_texts(root, index, version),
                       chars=60 if n > SHORT_HOVER_ABOVE else 120)


@st.cache_resource(max_entries=4, show_spinner="Preparing the replay…")
def cached_replay(root: str, index: str, version: int, concept: str, stamp: tuple, map_key: tuple,
                  threshold: float, _view: Any, _history: Any, _xy: np.ndarray, _keep: np.ndarray) -> Replay:
    """Every round's scores over the drawn rows, for one (index version, concept rounds, map, threshold)."""
    rows = draw_rows(len(_view.ids), _keep, max_points=MAX_REPLAY_POINTS)
    return build_replay(_view.matrix, _xy, _history, rows, threshold)


@st.cache_resource(max_entries=8, show_spinner=False)
def _encoded_figure(replay_key: tuple, at: int, _replay: Replay, _hover_all: np.ndarray | None) -> dict:
    """The replay figure's spec (arrays base64-encoded once), per cached replay and round: at 1M points
    encoding is most of a page run, and every rerun (a lasso, a toggle) would pay it again."""
    hover = _hover_all[_replay.rows] if _hover_all is not None else None
    return replay_figure(_replay, at, hover).to_dict()  # replay_key names the replay (and the hover column)


def _cached_figure(replay_key: tuple, at: int, replay: Replay, hover_all: np.ndarray | None) -> Any:
    """A private copy of the cached spec's top level (the caller hides or appends traces)."""
    from core.replay_figure import _prebuilt

    raw = _encoded_figure(replay_key, at, replay, hover_all)
    return _prebuilt({**raw, "data": [dict(t) for t in raw["data"]]})


def canvas_above() -> int:
    """Above this many drawn points the replay is the canvas (read per run: tests change it)."""
    return CANVAS_ABOVE


def _modes(labels: np.ndarray, session: Any) -> list[str]:
    has_labels = any(lab is not None for lab in labels)
    modes = [m for m in COLOR_MODES if (m == "Label" and has_labels) or (m != "Label" and session is not None)]
    return modes or ["Label"]


def _controls(session: Any, threshold: float, modes: list[str]) -> tuple[str, bool, bool]:
    restore("map_color", modes[0], modes)
    restore("map_show_trajectory", True)
    restore("map_show_validation", False)
    c1, c2, c3 = st.columns([3, 2, 2])
    mode = c1.segmented_control("Colour by", modes, key="map_color", required=True) or modes[0]
    show_path = c2.toggle("Show the w trajectory", key="map_show_trajectory", disabled=session is None)
    show_val = c3.toggle("Validation predictions", key="map_show_validation", disabled=session is None,
                         help=f"Validation items predicted positive at the Validate page's threshold "
                              f"({threshold:+.2f}), and whether that is right where they have ground-truth labels.")
    if show_val and session is not None:  # said on the page, not only in the toggle's tooltip
        c3.caption(f"At threshold {threshold:+.2f} (probability {sigmoid(threshold):.2f}), the one kept "
                   "for this concept on the Validate page.")
    remember("map_color", "map_show_trajectory", "map_show_validation")
    return mode, show_path, show_val


def _round_slider(rounds: list[int]) -> int:
    restore_round(rounds)
    if len(rounds) > 1:
        st.select_slider("Round", rounds, key="map_round",
                         help="The classifier as it was after this round. ▶ Play in the figure replays every "
                              "round in the browser.")
    remember_round(rounds)
    return int(st.session_state["map_round"])


def _metrics(replay: Replay, i: int) -> None:
    cols = st.columns(4)
    cols[0].metric("Round", f"{replay.rounds[i]} of {replay.rounds[-1]}")
    cols[1].metric("Ratings", "–" if replay.n_ratings[i] is None else f"{replay.n_ratings[i]:,}")
    cols[2].metric("AP", "–" if replay.ap[i] is None else f"{replay.ap[i]:.3f}",
                   delta=None if i == 0 or replay.ap[i] is None or replay.ap[i - 1] is None
                   else f"{replay.ap[i] - replay.ap[i - 1]:+.3f}")
    cols[3].metric("Flipped since the round before", f"{len(replay.flipped[i]):,}" if flips_shown(replay, i) else "–",
                   help=f"Items of the map (all {len(replay.rows):,} drawn, train and validation) whose prediction "
                        "at the threshold changed; the Drift tab counts the validation split. None from the start "
                        "(round 0 ranks, it does not decide).")


def render_map_tab(root: str, index: str, view: Any, session: Any, threshold: float, target: str | None,
                   column: str | None = None) -> None:
    """The map with its controls, then the selected items' rating panel (ground truth from label ``column``)."""
    n = len(view.ids)
    labels = shown_labels(view, column)
    projection = cached_projection(root, index, view)
    render_fit_panel(root, index, view, projection)
    xy = projection.xy if projection is not None else pca_positions(root, index, view.version)
    modes = _modes(labels, session)
    mode, show_path, show_val = _controls(session, threshold, modes)
    history = session.history() if session is not None else []
    replay = None
    scores = None
    row_of: dict[str, int] = {}
    if session is not None:
        row_of = row_lookup(view)
        seen = np.zeros(n, dtype=bool)
        seen[[row_of[i] for i in session.seen_ids() if i in row_of]] = True
        stamp = tuple((c.round, c.created_at) for c in history)
        map_key = (projection.method, projection.fit_seconds) if projection is not None else ("pca",)
        replay_key = (root, index, view.version, session.concept.name, stamp, map_key, threshold, column)
        replay = cached_replay(root, index, view.version, session.concept.name, stamp, map_key, threshold,
                               view, history, xy, np.flatnonzero(seen))
    canvas = replay is not None and bool(replay.rounds) and mode == "Score" and len(replay.rows) > canvas_above()
    parts = canvas_parts(replay_key, replay, view.ids, labels) if canvas else None
    if canvas:  # the canvas has its own round slider (in the browser); the metrics follow the round it reports
        at = replay.index_of(canvas_round(st.session_state.get(CANVAS_ROUND), parts[0]["uid"], replay.rounds))
    else:
        at = replay.index_of(_round_slider(replay.rounds)) if replay is not None and replay.rounds else None
    if replay is not None and at is not None:
        _metrics(replay, at)
        scores = np.zeros(n, dtype=np.float32)
        scores[replay.rows] = replay.scores[at]
    hover_all = _hover(root, index, view.version, n, column) if not canvas else None
    if canvas:
        fig = None
    elif replay is not None and at is not None and mode == "Score":
        fig = _cached_figure(replay_key, at, replay, hover_all)
        spec = fig.to_dict()
        if not show_path:
            spec["data"][3]["visible"] = False
        rows = replay.rows
        if show_val:
            overlay = validation_overlay(view, np.sort(rows), scores, threshold, target, column)
            import plotly.graph_objects as go

            spec["data"] += [t.to_plotly_json() for t in overlay_traces(
                go, xy, overlay, hover_all[np.sort(rows)] if hover_all is not None else None, np.sort(rows),
                marker_size(len(rows)))]
    else:
        ratings = seen_mask = None
        if session is not None:
            ratings = ratings_array(n, row_of, session.ratings())
            seen_mask = np.zeros(n, dtype=bool)
            seen_mask[[row_of[i] for i in session.seen_ids() if i in row_of]] = True
        rows = draw_rows(n, np.flatnonzero(seen_mask) if seen_mask is not None else None)
        hover = hover_all[rows] if hover_all is not None else hover_texts(rows, view.ids, labels, None, None)
        path = None
        if replay is not None and at is not None and show_path:
            path = Trajectory(xy=replay.w_xy[: at + 1], rounds=replay.rounds[: at + 1],
                              n_ratings=replay.n_ratings[: at + 1], ap=replay.ap[: at + 1])
        overlay = validation_overlay(view, rows, scores, threshold, target, column) \
            if show_val and scores is not None else None
        fig = build_map_figure(xy, rows, hover, mode, labels, scores, ratings, seen_mask, path, overlay,
                               emphasise=target)
    what = "UMAP" if projection is not None else "PCA stand-in"
    drawn = len(replay.rows) if replay is not None and mode == "Score" else min(n, MAX_POINTS)
    sample = f" (a random sample of {drawn:,} of {n:,} items; rated items always shown)" if drawn < n else ""
    if canvas:
        overlay_note = f" The validation overlay is drawn on maps of up to {canvas_above():,} points." \
            if show_val else ""
        st.caption(f"{what}{sample}. Drag to lasso-select points (Pan, or Shift+drag, to move; the wheel zooms); "
                   f"double-click clears the selection.{overlay_note}")
        render_canvas(replay_key, replay, parts, show_path, view, session)
    else:
        st.caption(f"{what}{sample}. Box or lasso-select points to see and rate them below; "
                   "double-click the map to clear the selection.")
        event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map_chart",
                                config={"scrollZoom": True, "displaylogo": False})
        compact = replay is not None and mode == "Score" and len(replay.rows) > COMPACT_ABOVE
        picked = selected_ids(event, view.ids, replay.rows if compact else None)
        if picked is not None:
            keep_selection(picked, session)
    st.subheader("Selected items")
    ids = [i for i in current_selection(session) if i in row_of or session is None]
    if session is None:
        st.caption("Select a concept (or start one on the Teach page) to rate items from the map.")
    else:
        render_rating_panel(session, ids, {i: float(scores[row_of[i]]) for i in ids} if scores is not None else None)
        render_report_panel(session, threshold)
