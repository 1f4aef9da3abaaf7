"""Showing items: one thumbnail or text card, or a grid of them.

Text and labels come from datasets and must never be interpreted: item text goes through
``st.text`` and captions are escaped before ``st.caption`` (so ``**x**``, ``$x$``, ``:red[x]`` or
``<b>`` show as typed).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from functools import lru_cache

import streamlit as st

from app.safe_text import neutral, plain

__all__ = ["crisp_thumbnail", "item_grid", "plain", "render_item"]

LONG_TEXT = 400  # characters; longer texts get a scrollable box of fixed height
TEXT_BOX_HEIGHT = 180
#: Characters of an item's text sent to the browser; the full text stays in the index.
DISPLAY_CHARS = 5_000
PIXEL_ART_BELOW = 96  # thumbnails smaller than this (the 32x32 digits) are upscaled by whole pixels
STRETCH_TARGET = 160  # pixels wide an upscaled thumbnail aims at when it fills its column


@lru_cache(maxsize=1024)
def crisp_thumbnail(thumbnail: bytes, target: int) -> bytes:
    """``thumbnail`` as is, or, when it is tiny, upscaled by a whole factor with nearest-neighbour to about
    ``target`` pixels wide (PNG), so the browser does not blur it; the browser then only ever shrinks it."""
    from PIL import Image

    with Image.open(io.BytesIO(thumbnail)) as img:
        side = max(img.size)
        if side >= PIXEL_ART_BELOW or side == 0:
            return thumbnail
        factor = max(1, math.ceil(target / side))
        big = img.convert("RGB").resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def _image(thumbnail: bytes, width: int | None) -> None:
    try:
        st.image(crisp_thumbnail(bytes(thumbnail), width or STRETCH_TARGET), width=width if width else "stretch")
    except Exception:  # a damaged thumbnail must not take the page down
        st.caption("(image unavailable)")


def display_text(text: str, limit: int = DISPLAY_CHARS) -> str:
    """``text`` bounded for the browser (a 2 MB text would stall a batch) with bidi controls shown."""
    if len(text) > limit:
        text = text[:limit] + f" … [{len(text) - limit:,} more characters, kept in the index]"
    return neutral(text)


def _text(text: str, width: int | None) -> None:
    text = display_text(text)
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
        st.text(display_text(str(row.get("uri") or row.get("id") or "(no content)")))
    if caption:
        st.caption(plain(caption))


def item_grid(rows: list[dict], captions: list[str], columns: int = 5,
              footer: Callable[[int, dict], None] | None = None) -> None:
    """Items in rows of ``columns`` bordered cards, each with its caption; ``footer(position, row)`` adds a
    control under a card (a card that only looks clickable sends people hunting for its id in a list)."""
    columns = max(1, int(columns))
    for start in range(0, len(rows), columns):
        cells = st.columns(columns)
        for offset, row in enumerate(rows[start : start + columns]):
            caption = captions[start + offset] if start + offset < len(captions) else None
            with cells[offset].container(border=True):
                render_item(row, caption)
                if footer is not None:
                    footer(start + offset, row)
