"""Cached resources and the selection (index, concept) shared by every page.

Models and the database connection are built once per process (``st.cache_resource``); what the
person has selected lives in ``st.session_state`` so it stays put across pages.
"""

from __future__ import annotations

import streamlit as st

from core.config import workspace
from core.store import Store

INDEX_KEY = "selected_index"
CONCEPT_KEY = "selected_concept"
PENDING_KEY = "pending_selection"


@st.cache_resource(show_spinner=False)
def _store(root: str) -> Store:
    return Store(root)


def get_store() -> Store:
    """The workspace's store (one per process and workspace)."""
    return _store(str(workspace()))


@st.cache_resource(show_spinner="Loading the embedding model…")
def get_embedder(spec: str):
    """One loaded model per embedder spec, shared by every session of the app."""
    from core.embedders import load_embedder

    return load_embedder(spec)


def selected_index() -> str | None:
    return st.session_state.get(INDEX_KEY)


def selected_concept() -> str | None:
    return st.session_state.get(CONCEPT_KEY)


def select(index: str | None = None, concept: str | None = None) -> None:
    """Ask for a new selection (after creating an index or a concept); applied on the next run.

    The sidebar's widgets own the selection keys and may already be drawn in this run, when
    Streamlit forbids writing them, so the sidebar applies this before drawing.
    """
    st.session_state[PENDING_KEY] = (index, concept)


def apply_pending_selection() -> None:
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending is not None:
        index, concept = pending
        if index is not None:
            st.session_state[INDEX_KEY] = index
        st.session_state[CONCEPT_KEY] = concept
