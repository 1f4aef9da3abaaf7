"""Teach page: rate a batch, submit, and the classifier retrains and proposes the next batch."""

from __future__ import annotations

import time

import streamlit as st

from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from app.teach_rating import collected_ratings, render_focus, render_grid, start_batch
from app.teach_side import new_batch, render_actions, render_counters, render_settings
from app.teach_start import render_start_form
from core.errors import FewshotError, IndexNotFound, PoolExhausted
from core.session import TeachSession

render_sidebar()
st.title("Teach")
store = get_store()
index, concept = selected_index(), selected_concept()
if not index:
    st.info("No index yet: build one on the Index page (the digits demo works offline).")
    st.stop()
try:
    info = store.get_index(index)
except IndexNotFound as exc:
    st.error(str(exc))
    st.stop()

creating = st.session_state.get("teach_creating") or not concept
if concept and st.button("New concept" if not creating else "Back to " + concept, key="teach_toggle_new"):
    st.session_state["teach_creating"] = not creating
    st.rerun()
if creating:
    render_start_form(info)
    st.stop()

try:
    session = TeachSession.open(index, concept, store=store)
except FewshotError as exc:
    st.error(str(exc))
    st.stop()

token = f"{index}/{concept}/{st.session_state.get('teach_batch_no', 0)}"
main, side = st.columns([3, 1], gap="large")
with side:
    render_counters(session)
    render_settings(session)
    render_actions(session)

with main:
    if st.session_state.get("teach_token") != token:
        try:
            batch = session.next_batch()
        except PoolExhausted as exc:
            st.info(f"{exc}")
            st.stop()
        rows = {r["id"]: r for r in store.fetch_items(index, [c.item_id for c in batch])}
        start_batch(token, batch, rows, prefill=st.session_state.get("teach_prefill_toggle", False))
        started = st.session_state.pop("teach_submit_started", None)
        if started is not None:
            st.session_state["teach_last_timing"] = (time.perf_counter() - started) * 1000
    c1, c2, c3 = st.columns([2, 2, 2])
    view = c1.segmented_control("View", ["Grid", "Focus"], default="Grid", key="teach_view")
    c2.toggle("Start sliders at the model's guess", key="teach_prefill_toggle",
              help="Applies from the next batch. With it, untouched items are submitted at the guess; "
                   "without it, untouched items are skipped.")
    show_label = c3.toggle("Show ground-truth labels", key="teach_show_labels",
                           disabled=not any(c.get("label") is not None for c in st.session_state["teach_batch"]))
    strategy = session.concept.strategy
    if session.concept.init == "diverse" and len(session.ratings()) == 0:
        strategy = "diverse"
    st.caption(f"{len(st.session_state['teach_batch'])} items by **{strategy}** · concept **{concept}** "
               f"({session.concept.prompt or session.concept.init})")
    if view == "Focus":
        render_focus(show_label)
    else:
        render_grid(columns=5, show_label=show_label)
    if st.button("Submit ratings `enter`", type="primary", key="teach_submit"):
        ratings = collected_ratings()
        started = time.perf_counter()
        try:
            session.submit(ratings)
        except FewshotError as exc:
            st.error(str(exc))
            st.stop()
        new_batch()
        st.session_state["teach_submit_started"] = started
        st.rerun()
