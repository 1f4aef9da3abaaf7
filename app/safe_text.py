"""The one rule for strings that come from data (item text, ids, labels, concept and index names,
file and column names in messages): they are shown as typed, never interpreted.

- ``text(s)``: for ``st.text``, ``st.code``, dataframes and other plain-text places: bidi controls
  neutralised, length bounded.
- ``choices(options)``: the ``format_func`` for widget options that come from data (selectbox, radio,
  multiselect: label columns, label values, item ids, names): each shown as ``text``, ``None`` (the
  "no choice" option) as ``(none)``, and no two options shown alike (Streamlit tells the choices apart by
  their shown text, so a name holding U+202E next to one holding the text ``[U+202E]``, or a real label
  ``(none)`` next to the no-choice ``None``, would otherwise be one choice).
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
from collections.abc import Callable, Iterable
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


def choices(options: Iterable[Any], none: str = "(none)", limit: int = MAX_SHOWN) -> Callable[[Any], str]:
    """A ``format_func`` for widget options from data: ``text`` of each option, ``none`` for ``None``, one to one.

    Streamlit identifies a selectbox, radio or multiselect choice by its shown text (of two options shown
    alike, the last one wins), so options must never be shown alike. ``None`` (the "no choice" option) is
    named first and keeps ``none``; a later option whose shown text is taken gets `` (2)``, `` (3)``…
    (a real label ``(none)`` shows as ``(none) (2)``). The option values themselves are never changed.
    """
    shown: dict[Any, str] = {}
    taken: set[str] = set()
    for value in sorted(options, key=lambda v: v is not None):  # None first: it keeps its plain name
        if value in shown:
            continue
        base = none if value is None else text(value, limit)
        label, n = base, 2
        while label in taken:
            label, n = f"{base} ({n})", n + 1
        shown[value] = label
        taken.add(label)

    def format_option(value: Any) -> str:
        try:
            return shown[value]
        except (KeyError, TypeError):  # not one of the options (a stale value): the plain rule
            return none if value is None else text(value, limit)

    return format_option


#: The name the pages have used so far (``app.items.plain``).
plain = md


def html(value: Any, limit: int = MAX_SHOWN) -> str:
    """For Plotly text (legend names, hover, axis titles, annotations): HTML-escaped."""
    return _html.escape(shorten(neutral(value), limit), quote=True)


def file_name(value: Any, default: str = "download") -> str:
    """A download file name made only of letters, digits, ``.``, ``_`` and ``-`` (no path, no controls)."""
    cleaned = _UNSAFE_FILE.sub("_", neutral(value)).strip("._")
    return cleaned[:120] or default
