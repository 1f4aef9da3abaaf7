"""The workspace's tables, opened with Lance itself (``pylance``) in LanceDB's on-disk layout.

Why not ``lancedb.connect``: importing ``lancedb`` costs ~1.4 s (it loads the REST namespace client's
pydantic models at import time), which made every CLI call (``teach submit``, a labelling script)
take ~2 s before doing anything; ``import lance`` costs ~0.5 s. We use a small subset of LanceDB's table
API, and LanceDB is itself a layer over Lance, so this module offers that subset directly on Lance
datasets. The layout is LanceDB's (``<db>/<table>.lance``), so ``lancedb.connect(db)`` still opens every
table (tested), and workspaces written by earlier versions open unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa

from core.storage import Location, drop_dataset

SUFFIX = ".lance"


def sql_literal(value: Any) -> str:
    """``value`` as a SQL literal for Lance's filters and updates (strings quoted, quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class LanceDatabase:
    """A folder (or bucket prefix) of Lance datasets, one per table."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self._options = location.storage_options or None

    def uri(self, name: str) -> str:
        return self.location.child(name + SUFFIX).uri

    def table_names(self) -> set[str]:
        """The tables there are. On a local disk, one whose first version is still being written (its folder
        exists, its manifest not yet) is not one: a page that listed it and opened it in that instant failed
        with "Table 'indexes' was not found" while the first build created the table (seen in CI)."""
        names = {n[: -len(SUFFIX)] for n in self.location.list_names() if n.endswith(SUFFIX)}
        if self.location.is_local:
            from pathlib import Path

            names = {n for n in names if _has_version(Path(self.uri(n)))}
        return names

    def open_table(self, name: str) -> LanceTable:
        """The table at its latest version; ``ValueError`` when there is none (as LanceDB raises).

        A bucket that cannot be used (credentials, a missing bucket, the network) raises
        ``core.os_errors.RemoteStorageError`` instead: that is not a missing table.
        """
        import lance

        try:
            dataset = lance.dataset(self.uri(name), storage_options=self._options)
        except (ValueError, OSError) as exc:
            self._raise_remote(exc)
            missing = "not found" in str(exc).lower()
            if (isinstance(exc, OSError) or not self.location.is_local) and not missing:
                raise
            raise ValueError(f"Table {name!r} was not found") from exc
        return LanceTable(name, dataset, self._options)

    def _raise_remote(self, exc: BaseException) -> None:
        from core.os_errors import explain_remote

        remote = explain_remote(exc, self.location)
        if remote is not None:
            raise remote from exc

    def create_table(
        self, name: str, data: pa.Table | None = None, schema: pa.Schema | None = None,
        mode: str = "create", exist_ok: bool = False,
    ) -> LanceTable:
        """A new table from ``data`` (or empty with ``schema``); ``mode="overwrite"`` replaces one.

        Two creators racing: Lance commits the first version with a conditional put, so one wins and,
        with ``exist_ok``, the other opens what the winner made.
        """
        import lance

        if data is None:
            if schema is None:
                raise ValueError("create_table needs data or a schema")
            data = schema.empty_table()
        elif schema is not None:
            data = conform(data, schema)
        try:
            dataset = lance.write_dataset(data, self.uri(name), schema=schema, mode=mode,
                                          storage_options=self._options)
        except (OSError, ValueError) as exc:
            if mode == "create" and exist_ok and "already exists" in str(exc).lower():
                return self.open_table(name)
            self._raise_remote(exc)
            raise
        return LanceTable(name, dataset, self._options)

    def drop_table(self, name: str) -> None:
        drop_dataset(self.location.child(name + SUFFIX))


def _has_version(folder) -> bool:
    """Whether a local Lance dataset folder holds a committed version (a manifest under ``_versions``)."""
    try:
        return any(True for _ in (folder / "_versions").iterdir())
    except OSError:  # no _versions yet (mid-creation), or the folder went (a drop)
        return False


def conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` with the table's column order and types (LanceDB casts on write; Lance wants a match)."""
    if data.schema.equals(schema) or set(data.column_names) != set(schema.names):
        return data
    return data.select(schema.names).cast(schema)


class LanceTable:
    """One table: reads see the version it was opened (or last written) at."""

    def __init__(self, name: str, dataset, storage_options: dict | None) -> None:
        self.name = name
        self._dataset = dataset
        self._options = storage_options

    @property
    def schema(self) -> pa.Schema:
        return self._dataset.schema

    @property
    def version(self) -> int:
        return self._dataset.version

    @property
    def uri(self) -> str:
        return self._dataset.uri

    def to_lance(self):
        """The underlying ``lance.LanceDataset``."""
        return self._dataset

    def to_arrow(self) -> pa.Table:
        return self._dataset.to_table()

    def count_rows(self, filter: str | None = None) -> int:  # noqa: A002 - LanceDB's name
        return self._dataset.count_rows(filter=filter)

    def search(self) -> Query:
        return Query(self._dataset)

    def num_fragments(self) -> int:
        return len(self._dataset.get_fragments())

    def list_versions(self) -> list[dict[str, Any]]:
        return self._dataset.versions()

    # ----- writes: each commits one new version ------------------------------------------------
    def add(self, data: pa.Table) -> None:
        import lance

        self._dataset = lance.write_dataset(conform(data, self.schema), self._dataset.uri, mode="append",
                                            storage_options=self._options)

    def delete(self, where: str) -> None:
        self._dataset.delete(where)

    def update(self, where: str | None = None, values: dict[str, Any] | None = None) -> None:
        """Set columns to Python values on the rows matching ``where``."""
        self._dataset.update({k: sql_literal(v) for k, v in (values or {}).items()}, where=where)

    def merge_insert(self, on: str):
        """Lance's upsert builder (``when_matched_update_all().when_not_matched_insert_all().execute(t)``)."""
        return self._dataset.merge_insert(on)

    def optimize(self, cleanup_older_than: timedelta | None = None) -> None:
        """Merge small fragments, then drop versions older than ``cleanup_older_than``."""
        self._dataset.optimize.compact_files()
        if cleanup_older_than is not None:
            self._dataset.cleanup_old_versions(older_than=cleanup_older_than)


class Query:
    """LanceDB's ``table.search()`` chain for plain scans: ``where``, ``select``, ``limit``, then read."""

    def __init__(self, dataset) -> None:
        self._dataset = dataset
        self._filter: str | None = None
        self._columns: list[str] | None = None
        self._limit: int | None = None

    def where(self, condition: str) -> Query:
        self._filter = condition
        return self

    def select(self, columns: list[str]) -> Query:
        self._columns = list(columns)
        return self

    def limit(self, n: int | None) -> Query:
        self._limit = n
        return self

    def to_arrow(self) -> pa.Table:
        return self._dataset.to_table(columns=self._columns, filter=self._filter, limit=self._limit)

    def to_list(self) -> list[dict[str, Any]]:
        return self.to_arrow().to_pylist()

    def to_batches(self, batch_size: int | None = None) -> Iterator[pa.RecordBatch]:
        return iter(self._dataset.to_batches(columns=self._columns, filter=self._filter, limit=self._limit,
                                             batch_size=batch_size))
