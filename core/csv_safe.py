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
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = table.copy()
    for name in out.columns:
        if is_object_dtype(out[name].dtype) or is_string_dtype(out[name].dtype):
            out[name] = out[name].map(cell, na_action="ignore")
    return out


def to_csv(table: Any, path: Any = None) -> Any:
    """``table.to_csv`` with safe text cells, every text cell quoted (a carriage return inside a cell
    otherwise ends the row for most readers); returns the text when ``path`` is None."""
    import csv

    return frame(table).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
