"""The decision threshold a person chose on the Validate page, per concept, for the other pages to follow.

The Validate slider's own state is a widget key, which Streamlit drops once another page runs; the Validate
page copies it here (plain ``st.session_state``, kept for the browser session) under its index and concept, so
the Teach page's *Export classifier* can default to the threshold that was chosen for that concept, and never
to another concept's. A threshold typed into the export field itself is kept per concept too, and wins.
"""

from __future__ import annotations

import streamlit as st

from app.validate_view import sigmoid

#: {(index, concept): logit} as the Validate page last showed it for that concept.
VALIDATE_BY_CONCEPT = "validate_threshold_by_concept"
#: {(index, concept): logit} typed into the Teach page's export field.
EXPORT_TYPED = "teach_export_typed"
EXPORT_KEY = "teach_export_threshold"


def remember_validate_threshold(index: str, concept: str, threshold: float) -> None:
    """Called by the Validate page with the threshold it predicts with for ``concept`` on ``index``."""
    st.session_state.setdefault(VALIDATE_BY_CONCEPT, {})[(index, concept)] = float(threshold)


def validate_threshold(index: str, concept: str) -> float | None:
    """The threshold the Validate page used for this concept in this browser session (None: not visited)."""
    return st.session_state.get(VALIDATE_BY_CONCEPT, {}).get((index, concept))


def _keep_typed(owner: tuple[str, str]) -> None:
    st.session_state.setdefault(EXPORT_TYPED, {})[owner] = float(st.session_state[EXPORT_KEY])


def _follow_validate(owner: tuple[str, str]) -> None:
    st.session_state.get(EXPORT_TYPED, {}).pop(owner, None)


def export_threshold_input(index: str, concept: str) -> float:
    """The export's threshold field: what was typed there for this concept, else the Validate page's threshold
    for it, else 0; a caption says which. Returns the threshold to export with."""
    owner = (index, concept)
    typed = st.session_state.get(EXPORT_TYPED, {}).get(owner)
    chosen = validate_threshold(index, concept)
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
