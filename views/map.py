"""Map page: the index in 2-D (UMAP, PCA until it is fitted), the moving ``w``, predictions and drift."""

from __future__ import annotations

import streamlit as st

from app.items import plain
from app.map_drift import render_drift
from app.map_tab import render_map_tab
from app.map_view import flash, ground_truth, ground_truth_caption
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from app.thresholds import validate_threshold
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
# The threshold the Validate page shows for this concept (kept with the concept), so the validation overlay
# predicts as Validate does.
chosen = validate_threshold(index, session.concept.identity, session.concept.threshold) if session else None
threshold = 0.0 if chosen is None else float(chosen)
# One ground truth for the whole page: the concept's own label column and target label, which its AP by round
# was measured against (core stores it per round). Colours, the overlay and the AP all follow it; a column or
# label picked on the Validate page stays that page's own.
column, target = ground_truth(session)
st.caption(ground_truth_caption(view, session, column, target))

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
