"""Teach page: rate a batch, submit, and the classifier retrains and proposes the next batch."""

from __future__ import annotations

import gc
import threading
import time

import streamlit as st

from app.items import plain
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from app.teach_rating import all_rated, collected_ratings, render_focus, render_grid, start_batch
from app.teach_side import new_batch, render_actions, render_counters, render_settings
from app.teach_start import render_start_form
from core.errors import FewshotError, IndexNotFound, PoolExhausted
from core.session import TeachSession

# Rating wants the whole batch, the keys and Submit on one screen: less padding than Streamlit's default.
PAGE_CSS = """<style>
.stMainBlockContainer {padding-top: 3rem; padding-left: 2.5rem; padding-right: 2.5rem;}
[class*="st-key-teach_card_"] {padding: 0.6rem;}
[class*="st-key-teach_g_"] button {padding: 0.1rem 0.4rem; min-height: 2rem;}
[class*="st-key-teach_k_"] button {padding: 0.25rem 0.6rem;}
.st-key-teach_grid_keys [class*="st-key-teach_k_"] button {padding: 0.1rem 0.4rem; min-height: 2rem;}
</style>"""


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Once per server, in the background while the first batch is being rated: import what the first
    submit needs (torch and its optimizers take ~2 s), then freeze every object so far out of the cyclic GC.

    A full collection over torch's, LanceDB's and Streamlit's objects takes 0.2-0.6 s on 2 cores.
    ``.streamlit/config.toml`` turns off the one Streamlit runs after every script run
    (``runner.postScriptGC``); freezing keeps Python's own periodic full collections off those
    long-lived objects too. Frozen objects are skipped (refcounting still frees them).
    """

    def work() -> None:
        try:
            import numpy as np
            import sklearn.metrics  # noqa: F401

            from core.classifier import LinearHead

            # A tiny fit: the first one imports torch and, through torch.optim, torch._dynamo (~2 s in all).
            head = LinearHead(w=np.zeros(2, np.float32), b=0.0, dim=2)
            head.fit(np.eye(2, dtype=np.float32), np.array([1.0, -1.0], np.float32))
        except Exception:  # only a head start: the first submit does the same work, and reports errors
            pass
        gc.collect()
        gc.freeze()

    thread = threading.Thread(target=work, name="fewshot-teach-warm-up", daemon=True)
    thread.start()
    return thread


render_sidebar()
st.html(PAGE_CSS)
_warm_up()
store = get_store()
index, concept = selected_index(), selected_concept()
if not index:
    st.title("Teach")
    st.info("No index yet: build one on the Index page (the digits demo works offline).")
    st.stop()
try:
    info = store.get_index(index)
except IndexNotFound as exc:
    st.title("Teach")
    st.error(plain(str(exc)))
    st.stop()

creating = st.session_state.get("teach_creating") or not concept
title, toggle = st.columns([4, 1], vertical_alignment="bottom")
title.title("Teach" if creating or not concept else f"Teach · {plain(concept)}")
if concept and toggle.button("New concept" if not creating else "Back to " + concept, key="teach_toggle_new",
                             width="stretch"):
    st.session_state["teach_creating"] = not creating
    st.rerun()
if creating:
    render_start_form(info)
    st.stop()

try:
    session = TeachSession.open(index, concept, store=store)
except FewshotError as exc:
    st.error(plain(str(exc)))
    st.stop()

token = f"{index}/{concept}/{st.session_state.get('teach_batch_no', 0)}"
exhausted = None
if st.session_state.get("teach_token") != token:  # a new batch: before the side panel, which shows its timing
    try:
        batch = session.next_batch()
    except PoolExhausted as exc:
        exhausted = exc
    else:
        rows = {r["id"]: r for r in store.fetch_items(index, [c.item_id for c in batch])}
        start_batch(token, batch, rows, prefill=st.session_state.get("teach_prefill_toggle", False))
        started = st.session_state.pop("teach_submit_started", None)
        if started is not None:
            st.session_state["teach_last_timing"] = (time.perf_counter() - started) * 1000

main, side = st.columns([3, 1], gap="large")
with side:
    render_counters(session)
    render_settings(session)
    render_actions(session)

with main:
    if exhausted is not None:
        st.info(f"{exhausted}")
        st.stop()
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    view = c1.segmented_control("View", ["Grid", "Focus"], default="Grid", key="teach_view",
                                help="Focus: one item at a time, rated from the keyboard")
    c2.toggle("Prefill guesses", key="teach_prefill_toggle",
              help="Start each slider at the model's guess (from the next batch). With it, untouched items are "
                   "submitted at the guess; without it, untouched items are skipped.")
    show_label = c3.toggle("Show ground-truth labels", key="teach_show_labels",
                           disabled=not any(c.get("label") is not None for c in st.session_state["teach_batch"]))
    strategy = f"{session.concept.strategy}: {session.batch_reason()}"
    started_from = {"diverse": "a diverse sample", "examples": "example items",
                    "prompt": f"the prompt “{session.concept.prompt}”"}.get(session.concept.init, session.concept.init)
    st.caption(plain(f"Batch {session.round + 1}: {len(st.session_state['teach_batch'])} items chosen by "
                     f"{strategy} · concept {concept}, started from {started_from}"))
    if view == "Focus":
        render_focus(show_label)
    else:
        render_grid(columns=5, show_label=show_label)
    done = all_rated()
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        submitted = st.button("Submit ratings `enter`", type="primary", key="teach_submit")
        if done:
            st.success("All rated: press **Enter** to submit and get the next batch.",
                       icon=":material/keyboard_return:")
        else:
            untouched = "are submitted at the model's guess" if st.session_state["teach_prefill"] else "are skipped"
            st.caption("Keys: `a` +1 · `x` −1 · `1`–`5` graded · `space` skip · `⌫` undo · `←` `→` move · "
                       f"`enter` submit (unrated items {untouched})")
    if submitted:
        ratings = collected_ratings()
        started = time.perf_counter()
        try:
            session.submit(ratings)
        except FewshotError as exc:
            st.error(plain(str(exc)))
            st.stop()
        new_batch()
        st.session_state["teach_submit_started"] = started
        st.rerun()
