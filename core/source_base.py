"""What every source shares: the ``Source`` protocol, split naming and the stable hash split.

Kept apart from ``core.sources`` so the per-kind modules can import it without a cycle.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any, Literal, Protocol, runtime_checkable

from core.errors import SourceError
from core.records import TRAIN, VALIDATION, Record

#: Split names in the data that mean "held out"; everything else we are told about is train.
VALIDATION_NAMES = frozenset({"val", "valid", "validation", "test", "dev", "eval", "evaluation", "holdout"})
TRAIN_NAMES = frozenset({"train", "training"})


@runtime_checkable
class Source(Protocol):
    """A dataset that yields ``Record``s in a stable order with stable ids."""

    spec: str
    modality: Literal["image", "text"]

    def __iter__(self) -> Iterator[Record]: ...

    def count(self) -> int | None:
        """Total records when cheaply known (for progress bars), else None."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able spec and options, stored with an index so it can be rebuilt."""
        ...


def label_column_list(label_column: str | list[str] | tuple[str, ...] | None = None,
                      label_columns: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The label columns asked for, in order, without repeats: ``label_column`` (one name or several)
    then ``label_columns``. Empty when none was asked for (the source then picks its default)."""
    names: list[str] = []
    for given in (label_column, label_columns):
        if given is None:
            continue
        for name in [given] if isinstance(given, str) else list(given):
            if not isinstance(name, str) or not name.strip():
                raise SourceError(f"a label column name must be non-empty text, got {name!r}")
            names.append(name)
    return list(dict.fromkeys(names))


def hash_split(item_id: str, validation_fraction: float) -> str:
    """``"validation"`` for a stable ``validation_fraction`` share of ids, else ``"train"``.

    SHA-1 of the id, so the split is the same on every run, machine and Python version
    (unlike ``hash()``), and adding items never moves existing ones between splits.
    """
    digest = hashlib.sha1(item_id.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return VALIDATION if position < validation_fraction else TRAIN


def map_split_name(name: object) -> str | None:
    """Our split for a split name found in the data; None when the value is missing.

    train/training -> train; val/valid/validation/test/dev/eval -> validation; any other
    name (e.g. "unlabeled", "extra") -> train, since only held-out data must stay held out.
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return None
    text = str(name).strip().lower()
    if not text:
        return None
    return VALIDATION if text in VALIDATION_NAMES else TRAIN


def check_fraction(validation_fraction: float) -> float:
    """Reject fractions outside [0, 1) early, with a message a person can act on."""
    try:
        value = float(validation_fraction)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"validation fraction must be a number, got {validation_fraction!r}") from exc
    if not 0.0 <= value < 1.0:
        raise SourceError(f"validation fraction must be at least 0 and below 1, got {value}")
    return value


def label_str(value: object) -> str | None:
    """A ground-truth label as text: None for null/NaN, ``3`` (not ``3.0``) for whole floats."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, list | tuple):
        parts = [p for p in (label_str(v) for v in value) if p is not None]
        return ",".join(parts) if parts else None
    text = str(value)
    return text


def columns_hint(columns: list[str]) -> str:
    """The available columns, quoted, for error messages."""
    return ", ".join(repr(c) for c in columns) if columns else "(none)"
