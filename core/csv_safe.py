"""CSV cells a spreadsheet will not run: text starting with ``= + - @``, a tab or a carriage return
is prefixed with ``'`` (OWASP's advice against CSV/formula injection). Numbers stay numbers."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet when it is text; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [cell(v) for v in values]


def frame(table: Any) -> Any:
    """A copy of a pandas DataFrame whose text columns are made safe (numeric columns untouched)."""
    out = table.copy()
    for name in out.columns:
        if out[name].dtype == object or str(out[name].dtype).startswith("string"):
            out[name] = out[name].map(cell, na_action="ignore")
    return out
