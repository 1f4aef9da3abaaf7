"""Index page: what the workspace holds."""

from __future__ import annotations

import streamlit as st

from core.config import workspace
from core.store import Store


@st.cache_resource
def get_store(root: str) -> Store:
    return Store(root)


st.title("Indexes")
root = workspace()
store = get_store(str(root))
infos = store.list_indexes()
st.caption(f"Workspace: `{root}`")
if not infos:
    st.info(
        "No indexes yet. Build one from the command line, for example:\n\n"
        "`python -m core index --name digits --source demo:digits --embedder pixels`"
    )
else:
    st.dataframe(
        [
            {
                "name": i.name,
                "items": i.n_items,
                "train": i.counts.get("train", 0),
                "validation": i.counts.get("validation", 0),
                "skipped": i.n_skipped,
                "embedder": i.embedder,
                "dim": i.dim,
                "modality": i.modality,
                "status": i.status,
                "created": i.created,
            }
            for i in infos
        ],
        hide_index=True,
        use_container_width=True,
    )
