"""Teach page: rate a batch, submit, and the classifier retrains and proposes the next batch."""

from __future__ import annotations

import gc
import threading
import time

import streamlit as st

from app.items import plain
from app.safe_text import text
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from app.teach_rating import (
    batch_reason,
    drop_undone,
    get_session,
    needs_batch,
    propose,
    renamed_elsewhere,
    render_batch,
    start_batch,
)
from app.teach_side import (
    counters,
    counters_line,
    render_settings,
    render_side_actions,
    render_top,
    render_undo,
    starving_hint,
)
from app.teach_start import render_start_form
from core.errors import FewshotError, IndexNotFound, PoolExhausted
from core.session import UNDONE_REASON

# Rating wants the whole batch and Submit on one screen (1280x720): less padding than Streamlit's default.
PAGE_CSS = """<style>
.stMainBlockContainer {padding-top: 2.2rem; padding-left: 2rem; padding-right: 2rem; padding-bottom: 1rem;}
.st-key-teach_title h1 {font-size: 1.6rem; padding: 0;}
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


def _page(index: str | None, concept: str | None) -> None:
    """The page below the sidebar; returns early (instead of ``st.stop``) so the sidebar can follow it."""
    store = get_store()
    if not index:
        st.title("Teach")
        st.info("No index yet: build one on the Index page (the digits demo works offline).")
        return
    try:
        info = store.get_index(index)
    except IndexNotFound as exc:
        st.title("Teach")
        st.error(plain(str(exc)))
        return

    creating = st.session_state.get("teach_creating") or not concept
    title, toggle = st.columns([4, 1], vertical_alignment="bottom")
    with title.container(key="teach_title"):
        st.title("Teach" if creating or not concept else f"Teach · {plain(concept)}")
    if concept and toggle.button("New concept" if not creating else "Back to " + concept, key="teach_toggle_new",
                                 width="stretch"):
        st.session_state["teach_creating"] = not creating
        st.rerun()
    if creating:
        render_start_form(info)
        return

    try:
        session = get_session(index, concept)
    except FewshotError as exc:
        st.error(plain(str(exc)))
        return
    main, side = st.columns([3, 1], gap="medium")
    with main:
        _batch(index, concept)
    with side:  # nothing here changes when a batch is submitted: drawn on full runs only
        render_settings(session)
        render_side_actions(session)


@st.fragment
def _batch(index: str, concept: str) -> None:
    """The batch, its counters and what depends on the round, as one fragment: a submit reruns only this
    (not the title, the sidebar, the side panel and their reads), so the next batch reaches the browser
    sooner and the page has little else to redraw while the person types into the new batch. Everything
    a submit changes (counters, the AP line, undo, top results) is in here, so none of it goes stale."""
    if st.session_state.pop("teach_full_rerun", False):  # the concept was renamed elsewhere: redraw the sidebar too
        st.rerun()
    try:
        session = get_session(index, concept)
    except FewshotError as exc:
        if renamed_elsewhere(index, concept):
            st.rerun()
        st.error(plain(str(exc)))
        return

    exhausted = None
    if needs_batch(index, session.concept.identity):  # a new batch: before the counters, which show its timing
        try:
            start_batch(session, propose(session))
        except PoolExhausted as exc:
            exhausted = exc
            st.session_state["teach_token"] = None  # no batch on screen: an undo names the session's round
        else:
            started = st.session_state.pop("teach_submit_started", None)
            if started is not None:
                st.session_state["teach_last_timing"] = (time.perf_counter() - started) * 1000

    message = st.session_state.pop("teach_message", None)
    if message:
        st.error(plain(message), icon=":material/block:")
    notice = st.session_state.pop("teach_notice", None)
    if notice:
        st.info(plain(notice), icon=":material/undo:")
    hint = starving_hint(session)
    if hint:
        st.info(hint, icon=":material/search:")
    batch = [] if exhausted is not None else st.session_state["teach_batch"]
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    c1.toggle("Prefill guesses", key="teach_prefill_toggle",
              help="Start each item at the model's guess. With it, untouched items are submitted at the guess; "
                   "without it, untouched items are skipped.")
    show_label = c2.toggle("Show ground-truth labels", key="teach_show_labels",
                           disabled=not any(c.get("label") is not None for c in batch))
    with c3:
        render_undo(session)
    # The top results (below the batch) are sent before it: when the new batch lands the browser has
    # nothing else of this rerun left to draw, and the server nothing left to compute, while the first keys go in.
    batch_slot, top_slot = st.container(), st.container()
    with top_slot:
        render_top(session)
    with batch_slot:
        if exhausted is not None:
            st.info(f"{exhausted}")
            st.caption(plain(counters_line(session)))
        else:
            # the strategy that chose the batch on screen (settings applied since take effect from the next one),
            # what the policy is doing, and why
            reason = batch_reason(session)
            chosen = (f"{reason}, with their ratings" if reason == UNDONE_REASON
                      else f"chosen by {session.batch_settings()[0]}: {reason}")
            started_from = {"diverse": "a diverse sample", "examples": "example items",
                            "prompt": f"the prompt “{session.concept.prompt}”"}.get(session.concept.init,
                                                                                     session.concept.init)
            caption = (f"Batch {session.round + 1}: {len(batch)} items {chosen} · concept {concept}, "
                       f"started from {started_from}")
            if reason == UNDONE_REASON and st.button(
                    "Propose a new batch instead", key="teach_drop_undone",
                    help="Leave the undone round's items unrated (they can come up again later) and rate the "
                         "batch the strategy picks now"):
                drop_undone(session)
                st.rerun()
            prefill = bool(st.session_state.get("teach_prefill_toggle"))
            render_batch(index, session.concept.identity, caption=text(caption), prefill=prefill,
                         show_label=bool(show_label),
                         counters=counters(session))


st.html(PAGE_CSS)
_warm_up()
# Selection already made (the usual case after the first run): the batch first, the sidebar after it, so a
# submit's next batch reaches the browser without waiting for the sidebar's reads (~20-170 ms).
_selected = selected_index(), selected_concept()
_batch_first = bool(all(_selected) and not st.session_state.get("teach_creating"))
if not _batch_first:
    render_sidebar()
    _selected = selected_index(), selected_concept()
_page(*_selected)
if _batch_first:
    render_sidebar()
