"""Showing items: one thumbnail or text card, or a grid of them.

Text and labels come from datasets and must never be interpreted: item text goes through
``st.text`` and captions are escaped before ``st.caption`` (so ``**x**``, ``$x$``, ``:red[x]`` or
``<b>`` show as typed).
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

LONG_TEXT = 400  # characters; longer texts get a scrollable box of fixed height
TEXT_BOX_HEIGHT = 180
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: Any) -> str:
    """``text`` for ``st.caption`` shown as typed: ASCII punctuation backslash-escaped (Markdown, LaTeX,
    HTML, ``:red[..]``), a zero-width space after each colon (emoji and icon shortcodes)."""
    escaped = _PUNCTUATION.sub(r"\\\1", str(text).replace("\n", " "))
    return escaped.replace(":", ":\u200b")


def _image(thumbnail: bytes, width: int | None) -> None:
    try:
        st.image(thumbnail, width=width if width else "stretch")
    except Exception:  # a damaged thumbnail must not take the page down
        st.caption("(image unavailable)")


def _text(text: str, width: int | None) -> None:
    if len(text) > LONG_TEXT:
        with st.container(height=TEXT_BOX_HEIGHT, width=width if width else "stretch", border=False):
            st.text(text)
    else:
        st.text(text, width=width if width else "stretch")


def render_item(row: dict, caption: str | None = None, width: int | None = None) -> None:
    """Show one item: its thumbnail, else its text, else its id; then ``caption`` (shown as typed).

    ``row`` is a ``Store.fetch_items`` dict (``text``, ``thumbnail``, ``id``, ...). ``width`` in
    pixels; None fills the surrounding column.
    """
    thumbnail, text = row.get("thumbnail"), row.get("text")
    if thumbnail:
        _image(thumbnail, width)
    elif text is not None:
        _text(str(text), width)
    else:
        st.text(str(row.get("uri") or row.get("id") or "(no content)"))
    if caption:
        st.caption(plain(caption))


def item_grid(rows: list[dict], captions: list[str], columns: int = 5) -> None:
    """Items in rows of ``columns`` bordered cards, each with its caption."""
    columns = max(1, int(columns))
    for start in range(0, len(rows), columns):
        cells = st.columns(columns)
        for offset, row in enumerate(rows[start : start + columns]):
            caption = captions[start + offset] if start + offset < len(captions) else None
            with cells[offset].container(border=True):
                render_item(row, caption)
