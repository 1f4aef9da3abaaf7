"""The Map's replay on a canvas, for maps too large for a Plotly figure (``st.components.v2``, inline JS).

The payload (``core.replay_canvas.replay_payload``: every round's colour codes as raw bytes) is built
once per cached replay; a rerun that draws the same payload sends only a reference to it (Streamlit's
message cache), and the browser keeps its zoom, round and selection. A lasso comes back as the
trigger value ``selection``: ``{"points": [positions into the drawn rows], "uid", "nonce"}``; the
round shown, once a step settles, as ``round``: ``{"round", "uid", "nonce"}`` (the page's metrics follow
it). The browser remembers its round per payload (``sessionStorage``), so a tab switch keeps it while
the payload (always starting at the latest round) stays the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "fewshot_map_canvas"
COMPONENT_KEY = "map_canvas"

_component = None


def picked_rows(value: Any, rows: np.ndarray) -> list[int] | None:
    """Row numbers of a lasso sent by the component (positions into ``rows``); None when it is not one.

    The browser's value is untrusted: anything that is not a list of in-range integers is dropped.
    """
    if not isinstance(value, dict) or not isinstance(value.get("points"), list):
        return None
    out = []
    for p in value["points"]:
        if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(rows):
            out.append(int(rows[p]))
    return out


def mount(payload: bytes, on_select: Any, on_round: Any, on_rounds: Any) -> Any:
    """Draw the map; ``on_select`` / ``on_round`` / ``on_rounds`` run (before the page's script) when a lasso
    (or a double-click) / a settled round / the request for every round's colours (``{"uid"}``) arrives."""
    global _component
    import streamlit as st

    if _component is None:
        _component = st.components.v2.component(
            COMPONENT_NAME,
            html='<div class="fsmap-root"></div>',
            css=(_HERE / "map_canvas.css").read_text(encoding="utf-8"),
            js=(_HERE / "map_canvas.js").read_text(encoding="utf-8"),
        )
    return _component(key=COMPONENT_KEY, data=payload, on_selection_change=on_select, on_round_change=on_round,
                      on_rounds_change=on_rounds, height="content")
