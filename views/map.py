"""Map page: the index in 2-D (UMAP, PCA until it is fitted), the moving ``w``, predictions and drift."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.map_drift import render_drift
from app.map_figure import COLOR_MODES, MAX_POINTS, build_map_figure, draw_rows, hover_texts
from app.map_view import (
    SELECTED_KEY,
    cached_projection,
    flash,
    item_texts,
    pca_positions,
    ratings_array,
    render_fit_panel,
    render_rating_panel,
    selected_ids,
    trajectory,
    validation_overlay,
)
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from core.config import workspace
from core.errors import FewshotError
from core.session import TeachSession
from core.vectors import score_all

render_sidebar()
st.title("Map")
index, concept = selected_index(), selected_concept()
if not index:
    st.info("No index yet: build one on the Index page (the digits demo works offline).")
    st.stop()

store, root = get_store(), str(workspace())
try:
    view = store.vectors(index)
    session = TeachSession.open(index, concept, store=store) if concept else None
except FewshotError as exc:
    st.error(str(exc))
    st.stop()
n = len(view.ids)
if n < 3:
    st.info("This index has fewer than 3 items: nothing to map yet.")
    st.stop()
flash()
threshold = float(st.session_state.get("validate_threshold", 0.0))
target = session.concept.target_label if session is not None else None
if session is not None and st.session_state.get("validate_target_for") == f"{index}/{concept}":
    target = st.session_state.get("validate_target", target)

map_tab, drift_tab = st.tabs(["Map", "Drift"])
with map_tab:
    projection = cached_projection(root, index, view)
    render_fit_panel(root, index, n, projection)
    xy = projection.xy if projection is not None else pca_positions(root, index, view.version)
    has_labels = any(lab is not None for lab in view.labels)
    modes = [m for m in COLOR_MODES if (m == "Label" and has_labels) or (m != "Label" and session is not None)]
    if not modes:
        modes = ["Label"]
    if st.session_state.get("map_color") not in modes:
        st.session_state["map_color"] = modes[0]
    c1, c2, c3 = st.columns([3, 2, 2])
    mode = c1.segmented_control("Colour by", modes, key="map_color", required=True) or modes[0]
    show_path = c2.toggle("Show the w trajectory", value=True, key="map_show_trajectory", disabled=session is None)
    show_val = c3.toggle("Validation predictions", key="map_show_validation",
                         disabled=session is None,
                         help=f"Validation items predicted positive at the Validate page's threshold "
                              f"({threshold:+.2f}), and whether that is right where they have ground-truth labels.")

    scores = ratings = seen = None
    row_of: dict[str, int] = {}
    keep = np.zeros(0, dtype=np.int64)
    if session is not None:
        scores = score_all(view.matrix, session.head.w, float(session.head.b))
        row_of = {item_id: i for i, item_id in enumerate(view.ids)}
        ratings = ratings_array(n, row_of, session.ratings())
        seen = np.zeros(n, dtype=bool)
        seen[[row_of[i] for i in session.seen_ids() if i in row_of]] = True
        keep = np.flatnonzero(seen)
    rows = draw_rows(n, keep)
    hover = hover_texts(rows, view.ids, view.labels, scores, item_texts(root, index, view.version))
    path = trajectory(session.history(), view.matrix, xy) if session is not None and show_path else None
    overlay = validation_overlay(view, rows, scores, threshold, target) \
        if show_val and scores is not None else None
    fig = build_map_figure(xy, rows, hover, mode, view.labels, scores, ratings, seen, path, overlay)
    what = "UMAP" if projection is not None else "PCA stand-in"
    sample = f" (a random sample of {len(rows):,} of {n:,} items; rated items always shown)" if n > MAX_POINTS else ""
    st.caption(f"{what}{sample}. Box or lasso-select points to see and rate them below; "
               "double-click the map to clear the selection.")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map_chart",
                            config={"scrollZoom": True, "displaylogo": False})
    picked = selected_ids(event, view.ids)
    if picked is not None:
        st.session_state[SELECTED_KEY] = picked
    st.subheader("Selected items")
    ids = [i for i in st.session_state.get(SELECTED_KEY, []) if i in row_of or session is None]
    if session is None:
        st.caption("Select a concept (or start one on the Teach page) to rate items from the map.")
    else:
        render_rating_panel(session, ids, {i: float(scores[row_of[i]]) for i in ids} if scores is not None else None)

with drift_tab:
    if session is None:
        st.info("No concept selected: drift compares a concept's rounds. Start one on the Teach page.")
    else:
        render_drift(session, view, threshold)
