"""Text rows from a CSV/TSV, Parquet or JSON Lines file, read in chunks.

Columns are checked when the source is made, so a wrong column name is reported (with the
columns that do exist) before indexing starts. Text files must be UTF-8 (a BOM is fine) or
UTF-16 with a BOM: both are recognised for certain. Any other encoding is refused with a hint,
not guessed, because guessing (e.g. Latin-1 vs. Windows-1252) silently garbles text.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from core.config import VALIDATION_FRACTION, shown_path
from core.errors import EmptySourceError, SourceError
from core.records import Record
from core.source_base import (
    check_fraction,
    columns_hint,
    hash_split,
    label_column_list,
    label_str,
    map_split_name,
    null_to_none,
    path_kind,
    stored_label,
    whole_number_cell,
)

TEXT_COLUMNS = ("text", "sentence", "content", "review", "document")
LABEL_COLUMNS = ("label", "labels", "class")
ID_COLUMNS = ("id",)
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
#: A compressed table whose decompressed bytes pass ``BOMB_CHECK_ABOVE`` at more than ``MAX_EXPANSION`` times the
#: compressed bytes read so far is a decompression bomb (the limits of ``core.uploads`` for zips): a few MB of
#: ``.gz`` would otherwise become tens of GB in memory (one huge line, one huge JSON array) before any row is kept.
MAX_EXPANSION = 200
BOMB_CHECK_ABOVE = 50 * 2**20


class _Bounded(io.RawIOBase):
    """The decompressed bytes of a ``.gz``/``.bz2``/``.xz`` file (a path, or an upload's bytes in memory), refused
    with a ``SourceError`` as they come once they expand past ``MAX_EXPANSION`` (see above); seekable like the
    decompressor it wraps, so a table is read the same with it as without."""

    def __init__(self, opener: Any, file: Any) -> None:
        self._owned, self._packed, self._inner = not hasattr(file, "read"), None, None
        self._packed = open(file, "rb") if self._owned else file  # noqa: SIM115 - closed by close()
        self._name = Path(file).name if self._owned else "the uploaded table"
        try:
            self._inner = opener(self._packed, "rb")
        except BaseException:
            self.close()
            raise

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer)
        unpacked = self._inner.tell()
        if unpacked > BOMB_CHECK_ABOVE and unpacked > MAX_EXPANSION * max(self._packed.tell(), 1):
            raise SourceError(
                f"{self._name} was refused: it expands more than {MAX_EXPANSION}:1 when decompressed (a decompression "
                "bomb, or data so repetitive that it is not a table of texts); decompress it and load the plain file"
            )
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                if self._inner is not None:
                    self._inner.close()
            finally:
                if self._owned and self._packed is not None:
                    self._packed.close()
        super().close()


def _bounded(opener: Any) -> Any:
    """``opener`` (``gzip.open``, ...) made to refuse decompression bombs (``_Bounded``), buffered as it was."""

    def open_bounded(file: Any, mode: str = "rb") -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"compressed tables are only read (mode 'rb'), not {mode!r}")
        return io.BufferedReader(_Bounded(opener, file))

    return open_bounded


COMPRESSIONS = {".gz": _bounded(gzip.open), ".bz2": _bounded(bz2.open), ".xz": _bounded(lzma.open)}
CHUNK_ROWS = 20_000


class TextTable:
    """One record per row: text from ``text_column``, optional label, id and split columns.

    Defaults: text from a column named text/sentence/content/review/document; label from
    label/labels/class when present; id from ``id`` when present, else ``row-{n}``; split by a
    stable hash of the id unless ``split_column`` is given (train -> train; val/valid/
    validation/test/dev -> validation; other names -> train; empty -> hash). Rows with empty or
    null text are yielded with ``text=""``, and repeated ids as they are, so indexing can count
    and report them. TSV files are
    read without quote handling (quotes are text); CSV files follow the usual quoting rules.
    """

    modality: Literal["image", "text"] = "text"

    def __init__(
        self,
        path: str | Path,
        text_column: str | None = None,
        label_column: str | list[str] | None = None,
        id_column: str | None = None,
        split_column: str | None = None,
        validation_fraction: float = VALIDATION_FRACTION,
        label_columns: list[str] | None = None,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.spec = f"file:{self.path}"
        self.validation_fraction = check_fraction(validation_fraction)
        kind = path_kind(self.path, str(path))
        if kind == "missing":
            raise SourceError(f"file not found: {shown_path(self.path)}")
        if kind == "folder":
            raise SourceError(f"{self.path} is a folder; for a folder of images use folder:{self.path}")
        if kind != "file":
            raise SourceError(f"{self.path} is not a regular file (a device or a pipe); give the path of a table file")
        if self.path.stat().st_size == 0:
            raise EmptySourceError(f"{self.path.name} is empty")
        self.format, self._open = _format_of(self.path)
        try:
            self.encoding = None if self.format == "parquet" else _text_encoding(self.path, self._open)
        except _BROKEN_STREAM as exc:
            raise SourceError(_broken(self.path, exc)) from exc
        self.columns = self._read_columns()
        check_unique_columns(self.path.name, self.columns)
        self.text_column = self._pick("text", text_column, TEXT_COLUMNS, required=True)
        asked = label_column_list(label_column, label_columns)
        if asked:
            self.label_columns = [self._pick("label", c, ()) or c for c in asked]
        else:
            default = self._pick("label", None, LABEL_COLUMNS)
            self.label_columns = [default] if default else []
        self.label_column = self.label_columns[0] if self.label_columns else None
        self.id_column = self._pick("id", id_column, ID_COLUMNS)
        self.split_column = self._pick("split", split_column, ())
        self._count: int | None = None
        self._whole_number_labels: set[str] | None = None
        if next(iter(self._rows()), None) is None:
            raise EmptySourceError(f"{self.path.name} has a header but no rows")

    def _pick(self, role: str, given: str | None, defaults: tuple[str, ...], required: bool = False) -> str | None:
        """The column to use for ``role``: the one asked for, else the first default name present."""
        if given is not None:
            if given not in self.columns and self.format in ("json", "jsonl"):
                self.columns = self._all_json_fields()  # the header read only the first 1,001 objects
            if given not in self.columns:
                raise SourceError(
                    f"column {given!r} (for the {role}) is not in {self.path.name}; "
                    f"available columns: {columns_hint(self.columns)}"
                )
            return given
        by_lower = {c.lower(): c for c in self.columns}
        for name in defaults:
            if name in by_lower:
                return by_lower[name]
        if required:
            raise SourceError(
                f"no {role} column found in {self.path.name} (looked for {', '.join(defaults)}); "
                f"choose one of the available columns: {columns_hint(self.columns)}"
            )
        return None

    def _wanted(self) -> list[str]:
        roles = (self.text_column, *self.label_columns, self.id_column, self.split_column)
        return list(dict.fromkeys(c for c in roles if c))  # one column may serve two roles

    def __iter__(self) -> Iterator[Record]:
        wanted = self._wanted()
        position = {name: i for i, name in enumerate(wanted)}
        whole = self.whole_number_labels()
        for n, row in enumerate(self._rows()):
            text = row[position[self.text_column]]  # type: ignore[index]
            item_id = f"row-{n}"
            if self.id_column is not None:
                raw_id = label_str(row[position[self.id_column]])
                item_id = raw_id if raw_id is not None else item_id
            split = None
            if self.split_column is not None:
                split = map_split_name(null_to_none(row[position[self.split_column]]))
            labels = tuple(stored_label(row[position[c]], c in whole) for c in self.label_columns)
            yield Record(
                id=item_id,
                split=split or hash_split(item_id, self.validation_fraction),
                uri=f"{self.path}#{item_id}",
                label=labels[0] if labels else None,
                text=_as_text(text),
                labels=labels if len(labels) > 1 else None,
            )

    def whole_number_labels(self) -> set[str]:
        """The label columns of a CSV/TSV whose every non-empty cell writes a whole number (``1.0``, ``2``):
        their labels are stored as integer text, like the same numbers from JSON Lines or Parquet.

        Decided over the whole file (the rule of ``core.source_base.whole_number_column``), so one pass over
        the label columns comes first; it stops as soon as every label column has shown another kind of
        cell (at the first row for text labels). Empty for the other formats, whose numbers are numbers.
        """
        if self._whole_number_labels is None:
            candidates = set(self.label_columns) if self.format in ("csv", "tsv") else set()
            if candidates:
                columns = list(dict.fromkeys(self.label_columns))
                seen: set[str] = set()
                for row in self._rows(columns):
                    for column, cell in zip(columns, row, strict=True):
                        whole = whole_number_cell(cell) if column in candidates else None
                        if whole:
                            seen.add(column)
                        elif whole is False:
                            candidates.discard(column)
                    if not candidates:
                        break
                candidates &= seen
            self._whole_number_labels = candidates
        return self._whole_number_labels

    def keep_label_text(self, columns: Iterable[str]) -> None:
        """Store these label columns' cells as written, whole numbers or not: a resumed index whose earlier rows
        have them so (``core.indexing.keep_resumed_label_spelling``) must not get ``'1'`` beside ``'1.0'``."""
        self._whole_number_labels = self.whole_number_labels() - set(columns)

    def count(self) -> int | None:
        """Rows in the file: from metadata for Parquet, one fast pass for the other formats."""
        if self._count is None:
            self._count = self._count_rows()
        return self._count

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "table",
            "path": str(self.path),
            "format": self.format,
            "encoding": self.encoding,
            "text_column": self.text_column,
            "label_column": self.label_column,
            "label_columns": list(self.label_columns),
            "id_column": self.id_column,
            "split_column": self.split_column,
            "validation_fraction": self.validation_fraction,
        }

    # -- format-specific reading -------------------------------------------------------------

    def _text(self) -> IO[str]:
        return io.TextIOWrapper(self._open(self.path, "rb"), encoding=self.encoding, newline="")

    def _read_columns(self) -> list[str]:
        try:
            return self._read_columns_unguarded()
        except UnicodeDecodeError as exc:
            raise SourceError(_not_utf8(self.path, exc.start)) from exc
        except _BROKEN_STREAM as exc:
            raise SourceError(_broken(self.path, exc)) from exc

    def _all_json_fields(self) -> list[str]:
        """Every field name of a JSON table, in order of first appearance (one full pass)."""
        names: dict[str, None] = {}
        try:
            for obj in self._json_objects():
                names.update(dict.fromkeys(obj))
        except _BROKEN_STREAM as exc:
            raise SourceError(_broken(self.path, exc)) from exc
        return list(names)

    def _read_columns_unguarded(self) -> list[str]:
        if self.format == "parquet":
            return list(_parquet_file(self.path).schema_arrow.names)
        if self.format in ("csv", "tsv"):
            with self._text() as fh:
                return csv_header(fh, self.format, self.path.name)
        names: list[str] = []
        for i, obj in enumerate(self._json_objects()):
            names.extend(k for k in obj if k not in names)
            if i >= 1000:
                break
        return names

    def _rows(self, columns: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
        """Tuples of the wanted columns' values (or of ``columns``), in file order."""
        wanted = columns if columns is not None else self._wanted()
        try:
            if self.format == "parquet":
                yield from _parquet_rows(self.path, wanted)
            elif self.format in ("csv", "tsv"):
                yield from self._csv_rows(wanted)
            else:
                for obj in self._json_objects():
                    yield tuple(obj.get(c) for c in wanted)
        except UnicodeDecodeError as exc:
            raise SourceError(_not_utf8(self.path, exc.start)) from exc
        except _BROKEN_STREAM as exc:
            raise SourceError(_broken(self.path, exc)) from exc

    def _csv_rows(self, wanted: list[str]) -> Iterator[tuple[Any, ...]]:
        import pandas as pd

        # Every column is parsed (no ``usecols``): with usecols pandas silently drops the extra
        # fields of a malformed row, and a row with more fields than the header must be refused.
        order = [self.columns.index(c) for c in wanted]
        with self._text() as fh:
            try:
                reader = pd.read_csv(
                    fh,
                    **self._csv_dialect(),
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    chunksize=CHUNK_ROWS,
                )
                for chunk in reader:
                    yield from chunk.iloc[:, order].itertuples(index=False, name=None)
            except pd.errors.ParserError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
                first = first.replace("Error tokenizing data. C error: ", "")
                raise SourceError(
                    f"cannot read {self.path.name} as {self.format.upper()}: {first}. Every row must have as many "
                    "fields as the header (quote fields that contain the delimiter); fix the row and load it again"
                ) from exc

    def _csv_dialect(self) -> dict[str, Any]:
        return csv_dialect(self.format)

    def _json_objects(self) -> Iterator[dict[str, Any]]:
        """Objects of a JSON Lines file, or of a ``.json`` file holding one array of objects."""
        with self._text() as fh:
            if self.format == "json":
                start = fh.read(4096).lstrip()
                fh.seek(0)
                if start.startswith("["):
                    try:
                        data = json.load(fh, object_pairs_hook=self._unique_keys)
                    except RecursionError:
                        raise SourceError(
                            f"{self.path.name} nests its values too deeply to read; flatten the data and load it again"
                        ) from None
                    except json.JSONDecodeError as exc:
                        raise SourceError(f"{self.path.name} is not valid JSON: {exc}") from exc
                    for n, obj in enumerate(data):
                        yield self._object(obj, n + 1)
                    return
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, object_pairs_hook=self._unique_keys)
                except RecursionError:
                    raise SourceError(
                        f"line {n} of {self.path.name} nests its values too deeply to read (lists or objects "
                        "inside each other thousands of times); flatten that row or remove it and load the file again"
                    ) from None
                except json.JSONDecodeError as exc:
                    raise SourceError(
                        f"line {n} of {self.path.name} is not valid JSON ({exc.msg}); "
                        "expected JSON Lines: one object per line, or a .json file with one array of objects"
                    ) from exc
                yield self._object(obj, n)

    def _object(self, obj: object, n: int) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise SourceError(f"entry {n} of {self.path.name} is not a JSON object with named fields")
        return obj

    def _unique_keys(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise SourceError(f"{self.path.name} has duplicate field names: {columns_hint(duplicates)}")
        return dict(pairs)

    def _count_rows(self) -> int | None:
        try:
            if self.format == "parquet":
                return int(_parquet_file(self.path).metadata.num_rows)
            if self.format == "jsonl":
                with self._open(self.path, "rb") as fh:
                    return sum(1 for line in fh if line.strip())
            return sum(1 for _ in self._rows())
        except SourceError:
            return None
        except _BROKEN_STREAM as exc:
            raise SourceError(_broken(self.path, exc)) from exc


def csv_dialect(fmt: str) -> dict[str, Any]:
    """How a CSV or TSV is split (for ``csv.reader`` and ``pandas.read_csv``): CSV quotes fields; TSV has no
    quoting convention, so a stray quote must not swallow lines."""
    import csv

    if fmt == "tsv":
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    return {"delimiter": ","}


def csv_header(text: IO[str], fmt: str, name: str) -> list[str]:
    """The column names of a CSV/TSV as indexing uses them: its first row, split by ``csv`` with the
    format's dialect, each name stripped (an empty name stays ``''``; a repeated one stays repeated, for
    ``check_unique_columns`` to refuse). ``core.table_preview`` reads its header with this too, so the
    preview shows the names indexing takes."""
    import csv

    header = next(csv.reader(text, **csv_dialect(fmt)), None)
    if not header:
        raise EmptySourceError(f"{name} has no header row")
    return [h.strip() for h in header]


def check_unique_columns(name: str, columns: list[str]) -> None:
    """Refuse a table with two columns of one name: which one a name means would be a guess."""
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise SourceError(
            f"{name} has duplicate column names: {columns_hint(duplicates)}; rename them so each column has one name"
        )


def _format_of(path: Path) -> tuple[str, Any]:
    """The table format from the suffix (after an optional .gz/.bz2/.xz) and how to open it."""
    suffixes = [s.lower() for s in path.suffixes]
    opener: Any = open
    if suffixes and suffixes[-1] in COMPRESSIONS:
        opener = COMPRESSIONS[suffixes.pop()]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (fmt == "parquet" and opener is not open):
        known = ", ".join(FORMATS)
        raise SourceError(f"cannot tell the format of {path.name}: expected one of {known}")
    return fmt, opener


def _text_encoding(path: Path, opener: Any) -> str:
    """``utf-16`` for a UTF-16 BOM, ``utf-8-sig`` for UTF-8 (BOM or not); else a SourceError."""
    with opener(path, "rb") as fh:
        head = fh.read(4)
        if utf16_bom(head):
            return "utf-16"
        fh.seek(0)
        refuse_binary(path, fh.read(4096))
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise SourceError(_not_utf8(path, offset + exc.start)) from exc
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise SourceError(_not_utf8(path, offset)) from exc
    return "utf-8-sig"


#: What a truncated or corrupt .gz/.bz2/.xz (or an unreadable file) raises while being read.
_BROKEN_STREAM: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError, zlib.error)
#: Leading bytes of files that are often renamed to .csv by mistake.
_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls) or another Office file",
    b"%PDF": "a PDF document",
    b"SQLite format 3": "an SQLite database",
    b"PAR1": "a Parquet file (name it .parquet)",
}


def utf16_bom(head: bytes) -> bool:
    """Whether a file's first bytes are a UTF-16 byte-order mark (text whose every other byte may be 0)."""
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not head.startswith(codecs.BOM_UTF32_LE)


def refuse_binary(path: Path, head: bytes) -> None:
    """Name what a binary file really is, or where its first NUL byte sits; text tables hold neither."""
    for magic, what in _SIGNATURES.items():
        if head.startswith(magic):
            raise SourceError(
                f"{path.name} is not a text table: it looks like {what}. In Excel or LibreOffice use "
                "'Save as' and choose 'CSV UTF-8', then load that file."
            )
    if b"\x00" not in head:
        return
    zeros = head.count(b"\x00")
    pairs = len(head) // 2
    odd_or_even = max(head[0::2].count(0), head[1::2].count(0))
    if pairs and zeros > len(head) // 4 and odd_or_even > 0.8 * zeros:  # every other byte is 0: UTF-16
        raise SourceError(
            f"{path.name} looks like UTF-16 text without a byte-order mark. Save it as UTF-8 and load it "
            "again (in Excel choose 'CSV UTF-8'), or run: iconv -f UTF-16LE -t UTF-8 in > out"
        )
    raise SourceError(
        f"{path.name} holds a NUL byte (at byte {head.index(0):,}), which a text table never contains: the file "
        "is binary or damaged. Remove the NUL bytes (e.g. tr -d '\\000' < in > out) or export the table again."
    )


def _broken(path: Path, exc: BaseException) -> str:
    """A truncated or corrupt compressed file, or one the disk would not give back."""
    if isinstance(exc, OSError) and not isinstance(exc, EOFError) and exc.errno is not None:
        return f"cannot read {path.name}: {exc.strerror or exc}"
    packed = path.suffix.lower() in COMPRESSIONS
    what = f"compressed ({path.suffix.lower()}) file" if packed else "file"
    return (
        f"{path.name} is truncated or damaged: the {what} ends early or is corrupt ({type(exc).__name__}). "
        "Copy or download it again (check its size), then load it again."
    )


def _not_utf8(path: Path, offset: int) -> str:
    return (
        f"{path.name} is not UTF-8 text (undecodable byte near position {offset:,}). "
        "Save it as UTF-8 and load it again: in Excel choose 'CSV UTF-8', in LibreOffice tick "
        f"'Edit filter settings' and pick Unicode (UTF-8), or run: iconv -f WINDOWS-1252 -t UTF-8 "
        f"'{path.name}' > '{path.stem}-utf8{path.suffix}'"
    )


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{path.name} is not a readable Parquet file ({exc})") from exc


def _parquet_rows(path: Path, wanted: list[str]) -> Iterator[tuple[Any, ...]]:
    for batch in _parquet_file(path).iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield from zip(*columns, strict=True)


def _as_text(value: Any) -> str:
    """Cell -> text, as-is; null -> "" (indexing reports empty texts instead of crashing on None)."""
    value = null_to_none(value)
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)
