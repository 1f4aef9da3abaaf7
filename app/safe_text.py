"""The one rule for strings that come from data (item text, ids, labels, concept and index names,
file and column names in messages): they are shown as typed, never interpreted.

- ``text(s)``: for ``st.text``, ``st.code``, dataframes, widget options (``format_func``) and other
  plain-text places: bidi controls neutralised, length bounded.
- ``md(s)`` (also ``plain``): for anything Streamlit renders as Markdown: captions, metric labels,
  titles, tab labels, messages (``st.error``/``st.info``...), widget labels. ASCII punctuation is
  backslash-escaped (Markdown, LaTeX ``$``, HTML, ``:red[...]``), colons get a zero-width space
  (emoji and icon shortcodes), newlines become spaces.
- ``html(s)``: for Plotly (legend names, hover text, axis and annotation text, titles), which renders
  a subset of HTML (links, styles): html-escaped.
- ``file_name(s)``: a download file name: only letters, digits, ``. _ -``.

Bidi controls (U+202A-202E, U+2066-2069, U+200E/F, U+061C) would reorder what follows them (an
RTL override shows ``gpj.exe`` for ``exe.jpg``); they are shown as a visible ``[U+202E]`` instead.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

from core.text_safety import BIDI_CONTROLS, neutral  # noqa: F401  (one rule, shared with core's own HTML)

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest string shown in a label, caption or legend; longer ones end in "…".
MAX_SHOWN = 2_000


def shorten(value: str, limit: int = MAX_SHOWN) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text(value: Any, limit: int = MAX_SHOWN) -> str:
    """For plain-text places (``st.text``, options, dataframes): neutral and bounded."""
    return shorten(neutral(value), limit)


def md(value: Any, limit: int = MAX_SHOWN) -> str:
    """For Markdown places (captions, metric and widget labels, titles, tabs, messages): shown as typed."""
    escaped = _PUNCTUATION.sub(r"\\\1", shorten(neutral(value), limit).replace("\r", " ").replace("\n", " "))
    return escaped.replace(":", ":\u200b")


#: The name the pages have used so far (``app.items.plain``).
plain = md


def html(value: Any, limit: int = MAX_SHOWN) -> str:
    """For Plotly text (legend names, hover, axis titles, annotations): HTML-escaped."""
    return _html.escape(shorten(neutral(value), limit), quote=True)


def file_name(value: Any, default: str = "download") -> str:
    """A download file name made only of letters, digits, ``.``, ``_`` and ``-`` (no path, no controls)."""
    cleaned = _UNSAFE_FILE.sub("_", neutral(value)).strip("._")
    return cleaned[:120] or default
