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
