"""Map page: the index in 2-D (UMAP, PCA until it is fitted), the moving ``w``, predictions and drift."""

from __future__ import annotations

import streamlit as st

from app.map_drift import render_drift
from app.map_view import flash, render_map_tab
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from core.config import workspace
from core.errors import FewshotError
from core.session import TeachSession

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
# The Validate page's slider state is a widget key, which Streamlit drops one run after that page is left:
# keep a plain copy so the map's threshold does not fall back to 0 at the first click here.
threshold = float(st.session_state.get("threshold", st.session_state.get("map_threshold", 0.0)))
st.session_state["map_threshold"] = threshold
target = session.concept.target_label if session is not None else None
if session is not None and st.session_state.get("validate_target_for") == f"{index}/{concept}":
    target = st.session_state.get("validate_target", target)

# Lazy tabs: only the open one runs, so a lasso on the map does not recompute the drift tables.
map_tab, drift_tab = st.tabs(["Map", "Drift"], key="map_tab", on_change="rerun")
if map_tab.open:
    with map_tab:
        render_map_tab(root, index, view, session, threshold, target)
if drift_tab.open:
    with drift_tab:
        if session is None:
            st.info("No concept selected: drift compares a concept's rounds. Start one on the Teach page.")
        else:
            render_drift(session, view, threshold)
