"""The Map page's "Share" panel: the offline HTML report (and a PNG of the map) to download."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app.items import plain
from core.errors import FewshotError


def _file_stem(index: str, concept: str) -> str:
    """A safe file name from the (hostile) index and concept names."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{index}-{concept}")[:80].strip("._") or "report"


def report_key(session: Any, threshold: float) -> str:
    """What a built report shows: the concept, its round *as written* (an undo and a new submit make another
    round of the same number: an outside tester downloaded the undone one's report), and the threshold."""
    latest = session.history()[-1]
    return "\0".join(map(str, (session.index, session.concept.identity, session.concept.name, latest.round,
                                latest.created_at, threshold)))


def render_report_panel(session: Any, threshold: float) -> None:
    """Build the report on request (a few seconds), then offer the HTML and the PNG for download."""
    from core.report_build import write_report

    st.subheader("Share")
    key = report_key(session, threshold)
    built = st.session_state.get("map_report")
    if st.button("Build a shareable report", key="map_report_build",
                 help="One HTML file that opens offline with no server: the replay, AP by round, validation "
                      "metrics, the drift table and the top items; plus a PNG of the map for a slide."):
        with st.spinner("Writing the report…"), tempfile.TemporaryDirectory() as tmp:
            try:
                result = write_report(session.store, session.index, session.concept.name, Path(tmp) / "report.html",
                                      png=Path(tmp) / "map.png", threshold=threshold)
            except FewshotError as exc:
                st.error(plain(str(exc)))
                return
            built = {"key": key, "html": result.path.read_bytes(),
                     "png": result.png_path.read_bytes() if result.png_path else None,
                     "points": result.n_points, "items": result.n_items}
            st.session_state["map_report"] = built
    if not built or built.get("key") != key:
        return
    stem = _file_stem(session.index, session.concept.name)
    sample = f"; the map shows a sample of {built['points']:,} of {built['items']:,} items" \
        if built["points"] < built["items"] else ""
    st.caption(f"Report ready ({len(built['html']) / 1e6:.1f} MB{sample}).")
    c1, c2 = st.columns(2)
    c1.download_button("Download report (HTML)", built["html"], file_name=f"{stem}.html", mime="text/html",
                       key="map_report_html")
    if built["png"]:
        c2.download_button("Download the map (PNG)", built["png"], file_name=f"{stem}.png", mime="image/png",
                           key="map_report_png")
