"""The decision threshold a person chose on the Validate page, per concept, for the other pages to follow.

The Validate slider's own state is a widget key, which Streamlit drops once another page runs; the Validate
page copies it here (plain ``st.session_state``) under its index and concept, and a move of the slider is kept
with the concept itself (``TeachSession.set_threshold``), so a reload, another tab, the command line's export
and report and the Map all follow the threshold chosen for that concept, never another concept's. A threshold
typed into the Teach page's export field is kept per concept for the browser session, and wins there.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.validate_view import sigmoid
from core.errors import FewshotError

#: {(index, concept): logit} as the Validate page last showed it for that concept.
VALIDATE_BY_CONCEPT = "validate_threshold_by_concept"
#: {(index, concept): logit} typed into the Teach page's export field.
EXPORT_TYPED = "teach_export_typed"
EXPORT_KEY = "teach_export_threshold"
#: Why the last slider move could not be stored (shown, then cleared, by the Validate page).
KEEP_ERROR = "validate_threshold_keep_error"


def remember_validate_threshold(index: str, concept: str, threshold: float) -> None:
    """Called by the Validate page with the threshold it predicts with for ``concept`` (its identity, not its
    name: a concept created later under an old name must not inherit it) on ``index``."""
    st.session_state.setdefault(VALIDATE_BY_CONCEPT, {})[(index, concept)] = float(threshold)


def keep_with_concept(session: Any, key: str) -> None:
    """The Validate slider's ``on_change``: the moved threshold is stored with the concept (kept across reloads,
    tabs and processes). A failure (the concept deleted meanwhile) is said on the page, not raised."""
    try:
        session.set_threshold(float(st.session_state[key]))
    except (FewshotError, OSError) as exc:  # OSError: a full or read-only workspace, a storage hiccup
        st.session_state[KEEP_ERROR] = str(exc)


def stored_threshold(session: Any) -> float | None:
    """The threshold stored with the session's concept now: the Teach page keeps its session across reruns, and
    another tab may have moved the threshold since it opened (pages that open the session each run read
    ``session.concept.threshold``)."""
    try:
        fresh = session.teach.concept(session.index, session.concept.name)
    except FewshotError:
        fresh = None
    if fresh is None or fresh.identity != session.concept.identity:  # gone or replaced: this page's own copy
        fresh = session.concept
    return fresh.threshold


def validate_threshold(index: str, concept: str, stored: float | None = None) -> float | None:
    """The concept's threshold: ``stored`` (kept with the concept, ``stored_threshold``: every slider move writes
    it, so it is the latest from any tab or the command line), else what this browser's Validate page showed
    (its slider clamps to the scores' range, so that copy is only a fallback); None when neither exists."""
    if stored is not None:
        return stored
    return st.session_state.get(VALIDATE_BY_CONCEPT, {}).get((index, concept))


def _keep_typed(owner: tuple[str, str]) -> None:
    st.session_state.setdefault(EXPORT_TYPED, {})[owner] = float(st.session_state[EXPORT_KEY])


def _follow_validate(owner: tuple[str, str]) -> None:
    st.session_state.get(EXPORT_TYPED, {}).pop(owner, None)


def export_threshold_input(session: Any) -> float:
    """The export's threshold field: what was typed there for this concept, else the Validate page's threshold
    for it (this browser's, else the one kept with the concept), else 0; a caption says which. Returns the
    threshold to export with."""
    index, concept = session.index, session.concept.identity  # by identity: a later concept of that name is another
    owner = (index, concept)
    typed = st.session_state.get(EXPORT_TYPED, {}).get(owner)
    chosen = validate_threshold(index, concept, stored_threshold(session))
    # Set before the widget every run: the key is shared by every concept's page, and the Validate page may
    # have moved its threshold since; a value typed here was stored by ``_keep_typed`` and comes back as is.
    st.session_state[EXPORT_KEY] = typed if typed is not None else chosen if chosen is not None else 0.0
    threshold = float(st.number_input("Threshold (logit; 0 = p 0.5)", key=EXPORT_KEY, on_change=_keep_typed,
                                      args=(owner,), format="%.2f",
                                      help="Items scoring above it are called positive by `predict`."))
    if typed is not None:
        other = chosen is not None and abs(chosen - threshold) > 1e-9
        st.caption(f"Typed here (probability {sigmoid(threshold):.2f})."
                   + (f" The Validate page's is {chosen:+.2f}." if other else ""))
        if other:
            st.button("Use the Validate page's threshold", key="teach_export_follow", on_click=_follow_validate,
                      args=(owner,))
    elif chosen is not None:
        st.caption(f"From the Validate page (probability {sigmoid(threshold):.2f}).")
    else:
        st.caption("Probability 0.50. A threshold set on the Validate page for this concept is used here.")
    return threshold
