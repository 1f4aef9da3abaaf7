"""Map page: the index in 2-D (UMAP, PCA until it is fitted), the moving ``w``, predictions and drift."""

from __future__ import annotations

import streamlit as st

from app.items import plain
from app.map_drift import render_drift
from app.map_tab import render_map_tab
from app.map_view import flash
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from core.config import workspace_uri
from core.errors import FewshotError
from core.session import TeachSession

render_sidebar()
st.title("Map")
index, concept = selected_index(), selected_concept()
if not index:
    st.info("No index yet: build one on the Index page (the digits demo works offline).")
    st.stop()

store, root = get_store(), workspace_uri()
try:
    view = store.vectors(index)
    session = TeachSession.open(index, concept, store=store) if concept else None
except FewshotError as exc:
    st.error(plain(str(exc)))
    st.stop()
n = len(view.ids)
if n < 3:
    st.info("This index has fewer than 3 items: nothing to map yet.")
    st.stop()
flash()
# The Validate page keeps its threshold and target label in plain keys (its widget keys are dropped
# once that page is left), so the map shows the same predictions as Validate.
threshold = float(st.session_state.get("threshold", 0.0))
target = session.concept.target_label if session is not None else None
column = session.concept.target_column if session is not None else None  # the ground-truth label column
if session is not None and st.session_state.get("validate_target_for") == f"{index}/{concept}":
    target = st.session_state.get("target_label", target)
    column = st.session_state.get("target_column", column)

# Lazy tabs: only the open one runs, so a lasso on the map does not recompute the drift tables.
map_tab, drift_tab = st.tabs(["Map", "Drift"], key="map_tab", on_change="rerun")
if map_tab.open:
    with map_tab:
        render_map_tab(root, index, view, session, threshold, target, column)
if drift_tab.open:
    with drift_tab:
        if session is None:
            st.info("No concept selected: drift compares a concept's rounds. Start one on the Teach page.")
        else:
            render_drift(session, view, threshold)
