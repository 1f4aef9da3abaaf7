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

import hashlib
import html as _html
import re
from collections.abc import Callable, Iterable
from typing import Any

from core.text_safety import BIDI_CONTROLS, neutral, one_line  # noqa: F401  (one rule, shared with core's own HTML)
from core.text_safety import shorten as _shorten

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_UNSAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest string shown in a label, caption or legend; longer ones end in "…".
MAX_SHOWN = 2_000


def shorten(value: str, limit: int = MAX_SHOWN) -> str:
    return _shorten(value, limit)


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
    alike, the last one wins), so options must never be shown alike. Each is shown as ``text``, on one line
    (controls escaped); where that is ambiguous (shown like another option, blank-looking, or with spaces
    at its ends) it is shown quoted instead (``repr``: the real label ``(none)`` shows as ``'(none)'``
    beside the no-choice ``(none)``; a name holding U+202E as ``'c\\u202ed'`` beside ``c[U+202E]d``), with a
    short hash when even the quoted forms are cut alike. The option values themselves are never changed.
    """
    values = list(dict.fromkeys(options))
    shown = {v: none if v is None else _one_line(v, limit) for v in values}
    quoted = {v for v in values if v is not None and _looks_ambiguous(str(v))}
    while True:  # quote every option whose shown text another option also has, until none do
        for v in quoted:
            shown[v] = _quoted_option(v, limit)
        counts: dict[str, int] = {}
        for label in shown.values():
            counts[label] = counts.get(label, 0) + 1
        clash = {v for v in values if counts[shown[v]] > 1 and v is not None and v not in quoted}
        if not clash:
            break
        quoted |= clash

    def format_option(value: Any) -> str:
        try:
            return shown[value]
        except (KeyError, TypeError):  # not one of the options (a stale value): the plain rule
            return none if value is None else text(value, limit)

    return format_option


def _one_line(value: Any, limit: int) -> str:
    return shorten(one_line(value), limit)


def _looks_ambiguous(value: str) -> bool:
    """Blank-looking, or with spaces at its ends: shown plain, a person could not tell it from another."""
    return not value.strip() or value != value.strip() or not one_line(value).strip("\u200b\u200c\u200d\ufeff")


def _quoted_option(value: Any, limit: int) -> str:
    """``repr`` (injective on strings), bidi neutral; when too long, cut with a short hash of the whole value."""
    shown = neutral(repr(str(value)))
    if len(shown) <= limit:
        return shown
    digest = hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{shown[:limit - 20]}… #{digest}"


#: The name the pages have used so far (``app.items.plain``).
plain = md


def html(value: Any, limit: int = MAX_SHOWN) -> str:
    """For Plotly text (legend names, hover, axis titles, annotations): HTML-escaped."""
    return _html.escape(shorten(neutral(value), limit), quote=True)


def file_name(value: Any, default: str = "download") -> str:
    """A download file name made only of letters, digits, ``.``, ``_`` and ``-`` (no path, no controls)."""
    cleaned = _UNSAFE_FILE.sub("_", neutral(value)).strip("._")
    return cleaned[:120] or default
