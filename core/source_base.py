"""What every source shares: the ``Source`` protocol, split naming and the stable hash split.

Kept apart from ``core.sources`` so the per-kind modules can import it without a cycle.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
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


def split_note(described: dict[str, Any]) -> str:
    """How a source's items were split into train and validation, from its ``describe()`` (one phrase,
    or "" when it does not say): a person sees at once whether their ``train/``/``val/`` folders counted."""
    if described.get("layout") == "split folders":
        folders = ", ".join(f"{name}/" for name in sorted(described.get("split_folders") or {}))
        return f"split by the folders {folders}"
    if described.get("split_column"):  # say which values hold out: "test" and "dev" do, silently until now
        return (f"split by the column {described['split_column']!r} "
                f"({', '.join(sorted(VALIDATION_NAMES))} are validation, any other value train)")
    fraction = described.get("validation_fraction")
    if isinstance(fraction, int | float):
        return f"split at random by id, {fraction:.0%} validation"
    return ""


def no_validation_warning(counts: dict[str, int], described: dict[str, Any],
                          no_column: str = "leave --split-column out") -> str:
    """A warning when a build held nothing out ("" when it did): ``--split-column text`` made every item train,
    and nothing was there to measure a classifier on. ``no_column``: how the caller's user picks no split column."""
    if counts.get(VALIDATION) or not counts.get(TRAIN):
        return ""
    how = f"the column {described['split_column']!r} holds none of {', '.join(sorted(VALIDATION_NAMES))}" \
        if described.get("split_column") else "its split gave none"
    return (f"no validation item ({how}), so AP, Validate and the report have nothing to measure on. "
            f"Name a split column that marks held-out rows, or {no_column} for a random 20% split.")


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


#: A number as a text cell may write it: optional sign, digits with an optional fraction, optional exponent.
#: ASCII only and no spaces, underscores, ``nan`` or ``inf`` (``float()`` would take all of those).
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 40  # a whole number longer than this ("1e999999") is not taken for a class id


@lru_cache(maxsize=4096)  # a label column repeats a few values
def whole_number_text(text: str) -> str | None:
    """The integer text of a cell that writes a whole number, else None.

    ``"1.0"`` -> ``"1"``, ``"-2.00"`` -> ``"-2"``, ``"1e3"`` -> ``"1000"``; a cell already written as an
    integer is kept as written (``"2"``, ``"007"``). ``"1.5"``, ``" 1 "``, ``"a"``, ``"nan"`` -> None. Exact
    (decimal arithmetic), so long ids keep every digit.
    """
    if _INTEGER_TEXT.fullmatch(text):
        return text
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    number = Decimal(text)
    if number.adjusted() >= _MAX_DIGITS or number != number.to_integral_value():
        return None
    return str(int(number))


def whole_number_cell(cell: object) -> bool | None:
    """For one cell of a label column read as text: None when empty (null or ``""``), else whether it writes
    a whole number (``whole_number_text``)."""
    cell = null_to_none(cell)
    if cell is None or cell == "":
        return None
    return isinstance(cell, str) and whole_number_text(cell) is not None


def whole_number_column(cells: Iterable[object]) -> bool:
    """Whether a label column read as text (CSV/TSV) writes whole numbers only: every non-empty cell is one.

    Such a column's labels are stored as integer text (``"1.0"`` -> ``"1"``), as the same numbers are from
    JSON Lines or Parquet, where they are numbers (pandas writes an int column with gaps as ``1.0``). A
    column with any other cell (``"1.5"``, ``"a"``, ``" 1 "``) keeps every cell's text as it is. False when
    the column has no value at all.
    """
    found = False
    for cell in cells:
        whole = whole_number_cell(cell)
        if whole is False:
            return False
        found = found or bool(whole)
    return found


def stored_label(value: object, whole_numbers: bool = False) -> str | None:
    """A label cell as indexing stores it: ``label_str`` of the value (null -> None, ``3.0`` -> ``"3"``),
    and, for a text column that ``whole_number_column`` accepted, integer text for ``"1.0"``.

    The one rule for ground-truth values: ``core.source_table`` stores these and ``core.table_preview``
    shows them, so what the preview shows is what the index holds.
    """
    label = label_str(null_to_none(value))
    if whole_numbers and label is not None:
        return whole_number_text(label) or label
    return label


def null_to_none(value: Any) -> Any:
    """None for a null cell: None, NaN, or pandas' ``NA`` (recognised without importing pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if type(value).__name__ == "NAType" else value


def columns_hint(columns: list[str]) -> str:
    """The available columns, quoted, for error messages."""
    return ", ".join(repr(c) for c in columns) if columns else "(none)"


def path_kind(path: Any, typed: str) -> str:
    """"file", "folder", "missing" or "other" for a local path; any other OS refusal (a name too long,
    no permission, a loop of links) is a ``SourceError`` naming the problem, never a traceback.

    ``typed`` is what the person wrote, quoted (shortened) in the message.
    """
    import errno
    import os
    import stat

    shown = typed if len(typed) <= 120 else typed[:100] + f"... ({len(typed):,} characters)"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SourceError(
                f"the path {shown!r} is too long for this system (a name part over 255 characters or the whole "
                "path over 4,096); check what was pasted and use a shorter path"
            ) from None
        if exc.errno == errno.ENOTDIR:
            return "missing"
        raise SourceError(f"cannot open {shown!r}: {exc.strerror or exc}; check the path and its permissions") from None
    except ValueError:  # NUL byte
        raise SourceError(f"{shown!r} is not a usable path (it holds a NUL byte)") from None
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"
