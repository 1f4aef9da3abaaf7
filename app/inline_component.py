"""Our ``st.components.v2`` components (the Teach batch, the canvas map): inline HTML, CSS and JS, no build step.

Defined once per process: Streamlit registers a component by its name, and the files need not be read on
every rerun.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


@cache
def inline_component(name: str, root_class: str, stem: str) -> Any:
    """Component ``name``: ``app/<stem>.js`` draws into ``<div class="<root_class>">``, styled by ``app/<stem>.css``."""
    import streamlit as st

    return st.components.v2.component(
        name,
        html=f'<div class="{root_class}"></div>',
        css=(_HERE / f"{stem}.css").read_text(encoding="utf-8"),
        js=(_HERE / f"{stem}.js").read_text(encoding="utf-8"),
    )
