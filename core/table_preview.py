"""The first rows of an uploaded or typed table, and guesses for its columns' roles.

The Index page shows these before anything is indexed, so a person sees their data and picks the
text, label, id and split columns from lists filled with the guesses instead of typing names. Only
the first rows are read (decompressing and decoding as little as possible), so a preview of a large
upload is instant. Reading uses the same format and encoding rules as ``core.source_table``, and the
cells of the id and label columns are shown as indexing stores them (``core.source_base.stored_labels``):
a Parquet or JSON null is None and the number 1 (or 1.0) is ``'1'``. For a CSV/TSV label column, whether its
whole numbers written ``1.0`` become ``'1'`` is decided from the rows read here, while indexing decides it
from the whole file (a non-number further down keeps the column's text as it is).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import SourceError
from core.source_base import label_str, null_to_none, stored_labels
from core.source_table import FORMATS, ID_COLUMNS, LABEL_COLUMNS, TEXT_COLUMNS

PREVIEW_ROWS = 200  # read for the guesses; the page shows the first few
SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "dev", "eval"}
MAX_LABEL_VALUES = 50  # more distinct values than this in the preview: not a label column


@dataclass
class TablePreview:
    """``columns`` in file order, ``rows`` (dicts of cell text), and the guessed role of each column.

    The cells of ``label_columns`` and ``id_column`` are the values indexing stores for them; the other
    cells are the values' text (None for a null).
    """

    columns: list[str]
    rows: list[dict[str, str | None]]
    text_column: str | None = None
    label_columns: list[str] = field(default_factory=list)
    id_column: str | None = None
    split_column: str | None = None


def preview_table(filename: str, data: bytes | Path, n_rows: int = PREVIEW_ROWS) -> TablePreview:
    """Read the first ``n_rows`` of a CSV/TSV/Parquet/JSON(L) table (optionally .gz/.bz2/.xz) and guess roles.

    ``data`` is the file's bytes (an upload) or a path. Raises ``SourceError`` with a message a person
    can act on when the table cannot be read.
    """
    fmt, compression = _format(filename)
    raw = data.read_bytes() if isinstance(data, Path) and fmt == "parquet" else data
    try:
        columns, values = _read(fmt, compression, raw, n_rows)
    except SourceError:
        raise
    except UnicodeDecodeError:
        raise SourceError(
            f"{Path(filename).name} is not UTF-8 text. Save it as UTF-8 and upload it again "
            "(in Excel choose 'CSV UTF-8')."
        ) from None
    except Exception as exc:  # noqa: BLE001 - parser errors of pandas/pyarrow, shown as one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SourceError(f"cannot read {Path(filename).name} as {fmt.upper()}: {first}") from None
    rows = [{c: _cell(v) for c, v in zip(columns, row, strict=True)} for row in zip(*values, strict=True)]
    preview = TablePreview(columns=columns, rows=rows)
    _guess(preview)
    _as_stored(preview, dict(zip(columns, values, strict=True)), text_cells=fmt in ("csv", "tsv"))
    return preview


def _as_stored(preview: TablePreview, values: dict[str, list[Any]], text_cells: bool) -> None:
    """Put the label and id cells in the form indexing stores them, with indexing's own functions."""
    for column in preview.label_columns:
        for row, label in zip(preview.rows, stored_labels(values[column], text_cells=text_cells), strict=True):
            row[column] = label
    if preview.id_column is not None and preview.id_column not in preview.label_columns:
        for row, value in zip(preview.rows, values[preview.id_column], strict=True):
            row[preview.id_column] = label_str(value)  # as ``TextTable`` makes an item id


def _format(filename: str) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in Path(filename).suffixes]
    compression = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (fmt == "parquet" and compression):
        raise SourceError(f"cannot tell the format of {Path(filename).name}: expected one of {', '.join(FORMATS)}")
    return fmt, compression


def _open(raw: bytes | Path, compression: str | None) -> io.BufferedIOBase:
    import bz2
    import gzip
    import lzma

    handle = raw.open("rb") if isinstance(raw, Path) else io.BytesIO(raw)
    opener = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}.get(compression or "")
    return opener(fileobj=handle) if opener else handle


def _read(fmt: str, compression: str | None, raw: bytes | Path, n_rows: int) -> tuple[list[str], list[list[Any]]]:
    """The column names and each column's first values, as ``core.source_table`` reads them: Parquet and JSON
    values as Python values (``to_pylist``, ``json``: ints stay ints, a null is None), CSV/TSV cells as text
    (None for an empty cell) with the header names stripped."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(io.BytesIO(raw))
        batch = next(table.iter_batches(batch_size=n_rows), None)
        if batch is None:
            return list(table.schema_arrow.names), [[] for _ in table.schema_arrow.names]
        return list(batch.schema.names), [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    with _open(raw, compression) as binary:
        head = binary.read(2)
        encoding = "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        text = io.TextIOWrapper(io.BufferedReader(_Prefixed(head, binary)), encoding=encoding, newline="")
        if fmt in ("csv", "tsv"):
            import csv

            dialect = {"sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"sep": ","}
            frame = pd.read_csv(text, nrows=n_rows, dtype=str, keep_default_na=False, na_values=[""], **dialect)
            columns = [str(c).strip() for c in frame.columns]
            return columns, [frame.iloc[:, i].tolist() for i in range(len(columns))]
        rows = _json_rows(text, fmt, n_rows)
        columns = list(dict.fromkeys(name for row in rows for name in row))
        return columns, [[row.get(c) for row in rows] for c in columns]


class _Prefixed(io.RawIOBase):
    """A binary stream with bytes already read put back in front (to sniff a BOM without seeking)."""

    def __init__(self, prefix: bytes, rest: io.BufferedIOBase) -> None:
        self._prefix, self._rest = prefix, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - memoryview
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _json_rows(text: io.TextIOBase, fmt: str, n_rows: int) -> list[dict[str, Any]]:
    if fmt == "json":
        start = text.read()
        if start.lstrip().startswith("["):
            data = json.loads(start)
            return [row for row in data[:n_rows] if isinstance(row, dict)]
        lines = start.splitlines()
    else:
        lines = (line for line in text)
    rows = []
    for line in lines:
        if line.strip():
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise SourceError("expected JSON Lines: one object with named fields per line")
            rows.append(obj)
            if len(rows) >= n_rows:
                break
    return rows


def _cell(value: Any) -> str | None:
    value = null_to_none(value)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def _guess(preview: TablePreview) -> None:
    """Fill the guessed roles: names first (text, label, id, split), then the values' shape."""
    columns, rows = preview.columns, preview.rows
    by_lower = {c.lower(): c for c in columns}

    def values(column: str) -> list[str]:
        return [r[column] for r in rows if r.get(column) not in (None, "")]

    def named(names: tuple[str, ...]) -> str | None:
        return next((by_lower[n] for n in names if n in by_lower), None)

    split = named(("split", "subset", "fold", "set"))
    if split is None:
        split = next((c for c in columns if values(c) and {v.lower() for v in values(c)} <= SPLIT_NAMES), None)
    text = named(TEXT_COLUMNS)
    if text is None:  # the column with the longest cells on average, if those look like prose
        lengths = {c: sum(len(v) for v in values(c)) / max(len(values(c)), 1) for c in columns if c != split}
        best = max(lengths, key=lengths.get, default=None)
        text = best if best is not None and lengths[best] >= 15 else None
    identifier = named(ID_COLUMNS)
    if identifier is None:
        unique = [c for c in columns if c != text and rows and len(set(values(c))) == len(rows)]
        identifier = next((c for c in unique if c.lower().endswith(("_id", "id", "key", "name"))), None)
    taken = {text, identifier, split}
    labels = [c for c in columns if c.lower() in LABEL_COLUMNS and c not in taken]
    for column in columns:
        found = values(column)
        if column in taken or column in labels or not found:
            continue
        distinct = set(found)
        repeats = len(distinct) <= len(found) // 2 or (len(distinct) <= 10 and len(distinct) < len(found))
        if len(distinct) <= MAX_LABEL_VALUES and repeats and max(map(len, distinct)) <= 40:
            labels.append(column)
    preview.text_column, preview.label_columns = text, labels
    preview.id_column, preview.split_column = identifier, split
