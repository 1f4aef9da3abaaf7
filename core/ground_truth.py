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


#: Two-valued label columns whose second value means "yes" (compared case-insensitively).
_BINARY = ({"0", "1"}, {"false", "true"}, {"no", "yes"}, {"n", "y"})


def positive_label(labels: list[str]) -> str | None:
    """The value meaning "yes" of a two-valued 0/1 (false/true, no/yes) column, else None: a person starting a
    concept on such a column means it, and with (none) picked the concept tracked no AP at all."""
    folded = {label.strip().casefold(): label for label in labels}
    if len(folded) != len(labels):
        return None
    for pair in _BINARY:
        if set(folded) == pair or set(folded) == pair - {sorted(pair)[0]}:
            return folded[sorted(pair)[1]]
    return None


#: How many labels, and how many characters of each, an error message lists (a column may hold 10,000
#: distinct free-text values, some with newlines or commas that would read as separators).
SHOWN_LABELS = 30
SHOWN_CHARS = 40


def describe_labels(labels: list[str]) -> str:
    """One line naming ``labels``: each quoted (repr, so a comma, a space or a newline inside one is
    visible), long ones shortened, at most ``SHOWN_LABELS`` of them, then how many in all."""
    from core.text_safety import quoted

    more = f", ... ({len(labels)} in all)" if len(labels) > SHOWN_LABELS else ""
    return ", ".join(quoted(label, SHOWN_CHARS) for label in labels[:SHOWN_LABELS]) + more


def column_place(index: str, column: str | None) -> str:
    """Where a ground truth lives, for messages: "label column 'c' of index 'i'" (names quoted and bounded)."""
    from core.text_safety import quoted

    return f"label column {quoted(column)} of index {quoted(index)}" if column else f"index {quoted(index)}"


def check_target(view: VectorView, column: str | None, value: str | None, where: str,
                 no_labels: str = "") -> list[str]:
    """The labels of ``column`` (None = the first), after checking ``value`` is one of them.

    Raises ``FewshotError`` when the column is unknown, holds no labels, or ``value`` is missing or
    not among them: a concept or replay with such a target could never show an AP. ``where`` names
    the column in the message (e.g. "label column 'x' of index 'y'"); ``no_labels`` is added to the
    message for a column without labels (what to do about it).
    """
    from core.errors import FewshotError
    from core.text_safety import one_line, quoted

    labels = label_set(view, column)
    if not labels:
        raise FewshotError(f"{one_line(where)} has no ground-truth labels{no_labels}")
    if value is None or str(value) not in labels:
        given = "no positive label given" if value is None else f"label {quoted(value)} is not in it"
        raise FewshotError(f"{given}; {one_line(where)} has labels: {describe_labels(labels)}")
    return labels
