"""Ground truth for a concept: which items of an index are positive, by one label column and value.

An index may keep several label columns (``IndexInfo.label_columns``); a concept names the column
(``ConceptInfo.target_column``, None = the first) and the value that counts as positive
(``ConceptInfo.target_label``). Every place that compares with ground truth (AP by round, Validate,
Map, ``simulate``) goes through ``truth`` so they all agree on what "positive" means.
"""

from __future__ import annotations

import numpy as np

from core.store import VectorView


def known_mask(view: VectorView, column: str | None = None) -> np.ndarray:
    """(n,) bool: rows of the view whose label in ``column`` is known (not null)."""
    key = ("known", column)
    cache = view.__dict__.setdefault("_ground_truth", {})  # the view is reread when the index changes
    if key not in cache:
        cache[key] = np.not_equal(view.label_values(column), None).astype(bool, copy=False)
    return cache[key]


def truth(view: VectorView, column: str | None, value: str | None) -> np.ndarray | None:
    """(n,) bool per row of ``view``: the row's ``column`` label equals ``value``.

    None when there is no ground truth to compare with: no value given, or no row has a label in that
    column. Rows whose label is unknown are False here; use ``known_mask`` to leave them out.
    Raises ``FewshotError`` for a column the index does not have.
    """
    if value is None:
        return None
    if not known_mask(view, column).any():
        return None
    key = ("truth", column, str(value))
    cache = view.__dict__.setdefault("_ground_truth", {})
    if key not in cache:
        cache[key] = np.equal(view.label_values(column), str(value)).astype(bool, copy=False)
    return cache[key]


def label_set(view: VectorView, column: str | None = None) -> list[str]:
    """The distinct labels of one column, sorted."""
    return sorted({str(v) for v in view.label_values(column) if v is not None})
