"""Cached resources and the selection (index, concept) shared by every page.

Models and the database connection are built once per process (``st.cache_resource``); what the
person has selected lives in plain ``st.session_state`` keys (not widget keys, whose state Streamlit
drops when the page changes), so it stays put across pages.
"""

from __future__ import annotations

import streamlit as st

from core.config import workspace_uri
from core.store import Store

INDEX_KEY = "selected_index"
CONCEPT_KEY = "selected_concept"


@st.cache_resource(show_spinner=False)
def _store(root: str) -> Store:
    return Store(root)


def get_store() -> Store:
    """The workspace's store (one per process and workspace)."""
    return _store(workspace_uri())


@st.cache_resource(show_spinner="Loading the embedding model…")
def get_embedder(spec: str):
    """One loaded model per embedder spec, shared by every session of the app (and the indexing jobs, which
    load it through the same ``cached_embedder``)."""
    from core.embedders import cached_embedder

    return cached_embedder(spec)


def selected_index() -> str | None:
    return st.session_state.get(INDEX_KEY)


def selected_concept() -> str | None:
    return st.session_state.get(CONCEPT_KEY)


def select(index: str | None = None, concept: str | None = None) -> None:
    """Change the selection (after creating an index or a concept); the sidebar shows it next run."""
    if index is not None:
        st.session_state[INDEX_KEY] = index
    st.session_state[CONCEPT_KEY] = concept
