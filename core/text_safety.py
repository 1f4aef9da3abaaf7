"""Data strings shown in HTML that core writes itself (the offline report, Plotly figure specs): escaped and with
bidi controls made visible, the same rule as ``app/safe_text.py`` (which re-exports ``neutral`` from here)."""

from __future__ import annotations

import html
import re
from typing import Any

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def neutral(value: Any) -> str:
    """``value`` as a string with every bidi control replaced by a visible ``[U+XXXX]`` (an RTL override would
    otherwise show ``gpj.exe`` for ``exe.jpg``)."""
    return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", "" if value is None else str(value))


def escape(value: Any) -> str:
    """``value`` for HTML text or an attribute: bidi controls neutralised, then html-escaped (quotes too)."""
    return html.escape(neutral(value), quote=True)


#: Longest quoted name or label a one-line message shows (the rest is cut, its length said).
QUOTED_CHARS = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shorten(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, an ellipsis last where it was cut (hover lines, cards)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def one_line(value: Any) -> str:
    """``value`` for a terminal or any one-line place: bidi controls as ``[U+XXXX]`` and every other control
    character (newline, carriage return, tab, ESC of an ANSI colour code) as its escape (``\\n``, ``\\x1b``),
    so a label can neither break a row in two nor recolour the terminal."""
    def escape(match: re.Match) -> str:
        return repr(match.group())[1:-1]

    return _CONTROL.sub(escape, neutral(value))


def quoted(value: Any, limit: int = QUOTED_CHARS) -> str:
    """``value`` quoted for a message: ``repr`` (so ``a,b``, a leading space, an empty string or a newline
    inside are all visible), bidi controls neutral, cut to ``limit`` characters with the full length said."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        cut = repr(text[:limit])  # closed again with the quote repr chose (" when the text holds a ')
        return neutral(f"{cut[:-1]}…{cut[-1]} ({len(text)} characters)")
    return neutral(repr(text))
