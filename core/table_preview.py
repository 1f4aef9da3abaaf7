"""The first rows of an uploaded or typed table, and guesses for its columns' roles.

The Index page shows these before anything is indexed, so a person sees their data and picks the
text, label, id and split columns from lists filled with the guesses instead of typing names. Only
the first rows are read (decompressing and decoding as little as possible), so a preview of a large
upload is instant. Reading uses the same format and encoding rules as ``core.source_table``, and the
cells of the id and label columns are shown as indexing stores them (``core.source_base.stored_label``):
a Parquet or JSON null is None and the number 1 (or 1.0) is ``'1'``. For a CSV/TSV label column, whether its
whole numbers written ``1.0`` become ``'1'`` is decided from the whole file, as indexing decides it (a
non-number further down keeps the column's text as it is): the rest of the file is read for that one
question, only for label columns whose first rows are all whole numbers, and up to ``WHOLE_CHECK_ROWS``
rows (``TablePreview.whole_numbers_from_rows`` says when fewer rows decided it). The header is read by
indexing's own reader (``core.source_table.csv_header``), so the preview shows the names indexing takes and
refuses the tables indexing refuses (a repeated column name).
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import SourceError
from core.source_base import columns_hint, label_str, null_to_none, stored_label, whole_number_cell, whole_number_column
from core.source_table import (
    COMPRESSIONS,
    FORMATS,
    ID_COLUMNS,
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    check_unique_columns,
    csv_dialect,
    csv_header,
    refuse_binary,
    utf16_bom,
)
from core.text_safety import one_line

PREVIEW_ROWS = 200  # read for the guesses; the page shows the first few
SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "dev", "eval"}
MAX_LABEL_VALUES = 50  # more distinct values than this in the preview: not a label column
#: Rows of a CSV/TSV read at most to decide whether a label column holds whole numbers only (about 1.5 s a
#: million rows); a longer file is decided from these rows and the preview says so.
WHOLE_CHECK_ROWS = 1_000_000
_CHECK_CHUNK = 20_000


@dataclass
class TablePreview:
    """``columns`` in file order, ``rows`` (dicts of cell text), and the guessed role of each column.

    The cells of ``label_columns`` and ``id_column`` are the values indexing stores for them; the other
    cells are the values' text (None for a null). ``whole_number_columns``: the CSV/TSV label columns whose
    whole numbers are shown as integer text (``1.0`` as ``'1'``); ``whole_numbers_from_rows``: None when that
    was decided over the whole file, as indexing decides it, else the number of first rows it was decided
    from (a longer file, or one whose later rows could not be read), where indexing may still keep ``'1.0'``.
    """

    columns: list[str]
    rows: list[dict[str, str | None]]
    text_column: str | None = None
    label_columns: list[str] = field(default_factory=list)
    id_column: str | None = None
    split_column: str | None = None
    whole_number_columns: list[str] = field(default_factory=list)
    whole_numbers_from_rows: int | None = None


def preview_table(filename: str, data: bytes | Path, n_rows: int = PREVIEW_ROWS) -> TablePreview:
    """Read the first ``n_rows`` of a CSV/TSV/Parquet/JSON(L) table (optionally .gz/.bz2/.xz) and guess roles.

    ``data`` is the file's bytes (an upload) or a path. Raises ``SourceError`` with a message a person
    can act on when the table cannot be read.
    """
    fmt, compression = _format(filename)
    shown = one_line(Path(filename).name)
    with contextlib.ExitStack() as files:
        try:
            if fmt != "parquet":  # as indexing refuses them: a workbook renamed .csv, a NUL byte (it previewed fine)
                with contextlib.ExitStack() as probe:
                    head = _open(data, compression, probe).read(4096)
                if not utf16_bom(head):
                    refuse_binary(Path(shown), head)
            columns, values, rest = _read(fmt, compression, data, n_rows, shown, files)
            check_unique_columns(shown, columns)  # as indexing refuses them
        except SourceError:
            raise
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{shown} is not UTF-8 text (undecodable byte near position {exc.start:,} of what was read). "
                "Save it as UTF-8 and load it again (in Excel choose 'CSV UTF-8'), or run: "
                "iconv -f WINDOWS-1252 -t UTF-8 in > out"
            ) from None
        except Exception as exc:  # noqa: BLE001 - parser errors of pandas/pyarrow, shown as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SourceError(f"cannot read {shown} as {fmt.upper()}: {one_line(first)}") from None
        rows = [{c: _cell(v) for c, v in zip(columns, row, strict=True)} for row in zip(*values, strict=True)]
        preview = TablePreview(columns=columns, rows=rows)
        _guess(preview)
        by_column = dict(zip(columns, values, strict=True))
        if fmt in ("csv", "tsv"):
            _whole_numbers(preview, by_column, rest)
        _as_stored(preview, by_column)
    return preview


def _whole_numbers(preview: TablePreview, values: dict[str, list[Any]], rest: Any) -> None:
    """Which label columns of a CSV/TSV are whole numbers only, over the whole file as indexing decides it
    (``TextTable.whole_number_labels``, with the same per-cell rule): a column is one when its first rows are
    (``whole_number_column``) and no later cell writes anything else. Only those columns' later cells are
    looked at (their distinct values, chunk by chunk), and reading stops once none is left."""
    candidates = [c for c in preview.label_columns if whole_number_column(values[c])]
    read = len(preview.rows)
    if candidates and rest is not None:
        positions = {c: preview.columns.index(c) for c in candidates}
        try:
            while candidates and read < WHOLE_CHECK_ROWS:
                try:
                    chunk = rest.get_chunk(min(_CHECK_CHUNK, WHOLE_CHECK_ROWS - read))
                except StopIteration:
                    rest = None
                    break
                read += len(chunk)
                candidates = [c for c in candidates if all(
                    whole_number_cell(v) is not False for v in chunk.iloc[:, positions[c]].dropna().unique())]
            else:
                if candidates:  # stopped at WHOLE_CHECK_ROWS: is there more?
                    try:
                        rest = None if rest.get_chunk(1).empty else rest
                    except StopIteration:
                        rest = None
        except Exception:  # noqa: BLE001 - a later row indexing would refuse; the preview shows what it read
            pass
    preview.whole_number_columns = candidates
    preview.whole_numbers_from_rows = read if candidates and rest is not None else None


def _as_stored(preview: TablePreview, values: dict[str, list[Any]]) -> None:
    """Put the label and id cells in the form indexing stores them, with indexing's own functions."""
    whole = set(preview.whole_number_columns)
    for column in preview.label_columns:
        for row, value in zip(preview.rows, values[column], strict=True):
            row[column] = stored_label(value, column in whole)
    if preview.id_column is not None and preview.id_column not in preview.label_columns:
        for row, value in zip(preview.rows, values[preview.id_column], strict=True):
            row[preview.id_column] = label_str(value)  # as ``TextTable`` makes an item id


def _format(filename: str) -> tuple[str, str | None]:
    """The table format and the compression suffix (``.gz``, ``.bz2``, ``.xz`` or None), as ``core.source_table``
    tells them."""
    suffixes = [s.lower() for s in Path(filename).suffixes]
    compression = suffixes.pop() if suffixes and suffixes[-1] in COMPRESSIONS else None
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (fmt == "parquet" and compression):
        shown = one_line(Path(filename).name)
        raise SourceError(f"cannot tell the format of {shown}: expected one of {', '.join(FORMATS)}")
    return fmt, compression


def _open(raw: bytes | Path, compression: str | None, files: contextlib.ExitStack) -> io.BufferedIOBase:
    """The file's decompressed bytes, opened as indexing opens them (``core.source_table.COMPRESSIONS``:
    ``gzip.open``, ``bz2.open``, ``lzma.open``, each given the path or, for an upload, the bytes in memory)."""
    if compression is None:
        return files.enter_context(raw.open("rb") if isinstance(raw, Path) else io.BytesIO(raw))
    return files.enter_context(COMPRESSIONS[compression](raw if isinstance(raw, Path) else io.BytesIO(raw), "rb"))


def _text(raw: bytes | Path, compression: str | None, files: contextlib.ExitStack) -> io.TextIOWrapper:
    """The file as text: UTF-16 for a UTF-16 byte-order mark, else UTF-8 (a BOM dropped)."""
    binary = _open(raw, compression, files)
    head = binary.read(2)
    encoding = "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return files.enter_context(
        io.TextIOWrapper(io.BufferedReader(_Prefixed(head, binary)), encoding=encoding, newline=""))


def _read(fmt: str, compression: str | None, raw: bytes | Path, n_rows: int, shown: str,
          files: contextlib.ExitStack) -> tuple[list[str], list[list[Any]], Any]:
    """The column names, each column's first values, and for a CSV/TSV the pandas reader of the rows after
    them (None for the other formats), as ``core.source_table`` reads them: Parquet and JSON values as
    Python values (``to_pylist``, ``json``: ints stay ints, a null is None), CSV/TSV cells as text (None
    for an empty cell) under the names of indexing's header reader (``csv_header``: stripped, an empty name
    ``''``, a repeated name repeated). Files opened are closed with ``files``."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        # a path is read where it lies: only the footer and the first row group come into memory, not the file
        table = files.enter_context(pq.ParquetFile(str(raw) if isinstance(raw, Path) else io.BytesIO(raw)))
        batch = next(table.iter_batches(batch_size=n_rows), None)
        if batch is None:
            return list(table.schema_arrow.names), [[] for _ in table.schema_arrow.names], None
        return list(batch.schema.names), [batch.column(i).to_pylist() for i in range(batch.num_columns)], None
    if fmt in ("csv", "tsv"):
        with contextlib.ExitStack() as header_file:
            columns = csv_header(_text(raw, compression, header_file), fmt, shown)
        # The cells as indexing reads them (``TextTable._csv_rows``): pandas with the same options, the
        # columns taken by position under the header's names.
        reader = pd.read_csv(_text(raw, compression, files), chunksize=max(n_rows, 1), dtype=str,
                             keep_default_na=False, na_values=[""], **csv_dialect(fmt))
        try:
            frame = reader.get_chunk(n_rows) if n_rows > 0 else None
        except StopIteration:
            frame = None
        if frame is None or frame.empty:
            return columns, [[] for _ in columns], None
        return columns, [frame.iloc[:, i].tolist() for i in range(len(columns))], reader
    rows = _json_rows(_text(raw, compression, files), fmt, n_rows, shown)
    columns = list(dict.fromkeys(name for row in rows for name in row))
    return columns, [[row.get(c) for row in rows] for c in columns], None


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


def _json_rows(text: io.TextIOBase, fmt: str, n_rows: int, shown: str) -> list[dict[str, Any]]:
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:  # as ``TextTable._unique_keys`` refuses
        keys = [k for k, _ in pairs]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise SourceError(f"{shown} has duplicate field names: {columns_hint(duplicates)}")
        return dict(pairs)

    if fmt == "json":
        start = text.read()
        if start.lstrip().startswith("["):
            data = json.loads(start, object_pairs_hook=unique_keys)
            return [row for row in data[:n_rows] if isinstance(row, dict)]
        lines = start.splitlines()
    else:
        lines = (line for line in text)
    rows = []
    for line in lines:
        if line.strip():
            obj = json.loads(line, object_pairs_hook=unique_keys)
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
        if column in taken or column in labels or not found or not column:
            continue  # an empty name ('' in the header) cannot be a label column: indexing refuses ``''``
        distinct = set(found)
        repeats = len(distinct) <= len(found) // 2 or (len(distinct) <= 10 and len(distinct) < len(found))
        if len(distinct) <= MAX_LABEL_VALUES and repeats and max(map(len, distinct)) <= 40:
            labels.append(column)
    preview.text_column, preview.label_columns = text, labels
    preview.id_column, preview.split_column = identifier, split
