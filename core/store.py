"""LanceDB access: one database under the workspace holding every index and its metadata.

Tables:
- ``items_<index>``: id, split, label, labels, vector, text, thumbnail, uri. Written by indexing, never per
  round. ``labels`` holds one value per label column of the index (``IndexInfo.label_columns``), ``label`` the
  first one's (older indexes have only ``label``).
- ``skipped_<index>``: items indexing could not use, with the reason (kept so a resume does not retry them).
- ``indexes``: one row per index, its metadata as JSON (embedder, dimension, counts, source, status).
Teaching state (labels, concepts, checkpoints) lives in ``core.teach_store``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import EmbedderMismatch, FewshotError, IndexNotFound
from core.storage import Location, as_location, workspace_location
from core.text_safety import quoted

SCHEMA_VERSION = 1
INDEX_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # fullmatch: "$" would let "x\n" in
_META_TABLE = "indexes"
_META_SCHEMA = pa.schema([pa.field("name", pa.string()), pa.field("info", pa.string())])
_SKIPPED_SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("uri", pa.string()), pa.field("reason", pa.string())]
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def items_schema(dim: int) -> pa.Schema:
    """The vectors table's schema for an embedder of dimension ``dim``."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("label", pa.string()),
            pa.field("labels", pa.list_(pa.string())),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("text", pa.string()),
            pa.field("thumbnail", pa.binary()),
            pa.field("uri", pa.string()),
        ]
    )


def label_list_element(lists: pa.ChunkedArray | pa.Array, j: int, n_columns: int) -> pa.Array:
    """The ``j``-th label column out of the items' ``labels`` lists (a row whose list is null: None)."""
    return pc.list_element(pc.fill_null(lists, pa.scalar([None] * n_columns, lists.type)), j)


def validate_index_name(name: str, what: str = "index") -> str:
    """``name`` when it is a safe index (or, ``what``, concept) name: it becomes a folder and a table name."""
    if not isinstance(name, str) or not INDEX_NAME_PATTERN.fullmatch(name):
        raise FewshotError(
            f"invalid {what} name {quoted(name)}: use 1-64 ASCII letters (a-z, A-Z), digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass
class IndexInfo:
    """What an index is: its embedder (vectors from any other are refused), source and counts."""

    name: str
    embedder: str
    embedder_kind: str
    checkpoint: str
    dim: int
    modality: str
    source: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    n_skipped: int = 0
    status: str = "building"
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    schema_version: int = SCHEMA_VERSION
    label_columns: list[str] = field(default_factory=list)  # ground-truth columns, in order; [] = none

    @property
    def n_items(self) -> int:
        return int(sum(self.counts.values()))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexInfo:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        info = cls(**{k: v for k, v in data.items() if k in known})
        info._legacy_labels = "label_columns" not in data  # type: ignore[attr-defined]
        return info


@dataclass
class VectorView:
    """An index's vectors held in memory for exact brute-force queries.

    ids: (n,) object array of item ids; split: (n,) object array; labels: (n,) object array, the first
    label column's values (None where unknown); matrix: (n, dim) float32, C-contiguous, unit-length rows;
    label_columns: the index's label columns; other_labels: (n,) object array per further label column.
    """

    ids: np.ndarray
    split: np.ndarray
    labels: np.ndarray
    matrix: np.ndarray
    version: int
    label_columns: list[str] = field(default_factory=list)
    other_labels: dict[str, np.ndarray] = field(default_factory=dict)

    def label_values(self, column: str | None = None) -> np.ndarray:
        """(n,) object array of one label column's values (None where unknown); None = the first column.

        ``"label"`` also names the first column (the items table's ``label``), so code written for
        one label per index keeps working. Another unknown name raises ``FewshotError``.
        """
        first = self.label_columns[0] if self.label_columns else "label"
        if column is None or column == first or (column == "label" and column not in self.other_labels):
            return self.labels
        if column in self.other_labels:
            return self.other_labels[column]
        from core.ground_truth import describe_labels
        from core.text_safety import quoted

        known = describe_labels(list(self.label_columns)) or "none"
        raise FewshotError(f"the index has no label column {quoted(column)} (label columns: {known})")

    def rows(self, split: str | None) -> np.ndarray:
        """Row positions of one split (all rows when split is None)."""
        if split is None:
            return np.arange(len(self.ids))
        return np.flatnonzero(self.split == split)


_MALLOC_TUNED = False


def _return_freed_memory_to_the_os() -> None:
    """Stop glibc from keeping freed multi-megabyte buffers (Linux only; a no-op elsewhere).

    Reading vectors allocates and frees a buffer per batch; glibc raises its mmap threshold after
    such frees (up to 32 MB), so later buffers come from the heap and stay in RSS after being freed.
    Fixing the threshold at 1 MB keeps large buffers in mmap, returned on free: measured at
    300k x 512, RSS after loading fell from 1.9x to 1.1x the matrix.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _strings(column: pa.Array, interned: dict[str | None, str | None]) -> list[str | None]:
    """A string column as Python values, one shared object per distinct value."""
    return [interned.setdefault(v, v) for v in column.to_pylist()]


def _read_vectors(table, version: int, batch_rows: int = 16_384, label_columns: list[str] | None = None) -> VectorView:
    """Every row's id, split, label and vector, read batch by batch into one preallocated matrix.

    Memory: the (n, dim) float32 matrix, one Python string per id, and one shared string per
    distinct split and label (8-byte references per row), so peak RSS stays near the final size
    instead of doubling as a whole-table ``to_arrow()`` + ``combine_chunks()`` does. Measured at
    300k x 512 (586 MB matrix): peak +712 MB, +636 MB after (whole-table read: ~+1.1 GB after).
    """
    _return_freed_memory_to_the_os()
    dim = table.schema.field("vector").type.list_size
    capacity = table.count_rows()
    matrix = np.empty((capacity, dim), dtype=np.float32)
    ids: list[str] = []
    split = np.empty(capacity, dtype=object)
    labels = np.empty(capacity, dtype=object)
    interned: dict[str | None, str | None] = {}
    label_columns = list(label_columns or [])
    # further label columns come from the ``labels`` list column (absent in indexes built before it)
    extra = label_columns[1:] if "labels" in table.schema.names else []
    others = {c: np.empty(capacity, dtype=object) for c in extra}
    filled = 0
    selected = ["id", "split", "label", "vector"] + (["labels"] if extra else [])
    reader = table.search().select(selected).limit(None).to_batches(batch_rows)
    for batch in reader:
        m = batch.num_rows
        if filled + m > capacity:  # rows appended since count_rows (indexing running): grow
            capacity = max(filled + m, capacity * 2)
            matrix = np.resize(matrix, (capacity, dim))
            split, labels = np.resize(split, capacity), np.resize(labels, capacity)
            others = {c: np.resize(v, capacity) for c, v in others.items()}
        flat = batch.column("vector").flatten()  # zero-copy; honours a sliced batch's offset
        if len(flat) != m * dim:
            raise FewshotError(f"index table {table.name!r} has rows without a vector; rebuild the index")
        matrix[filled : filled + m] = flat.to_numpy(zero_copy_only=False).reshape(m, dim)
        ids.extend(batch.column("id").to_pylist())
        split[filled : filled + m] = [interned.setdefault(v, v) for v in batch.column("split").to_pylist()]
        labels[filled : filled + m] = _strings(batch.column("label"), interned)
        if extra:
            lists = batch.column("labels")
            for j, column in enumerate(extra, start=1):
                values = label_list_element(lists, j, len(label_columns))
                others[column][filled : filled + m] = _strings(values, interned)
        filled += m
    if filled < capacity:
        matrix, split, labels = matrix[:filled].copy(), split[:filled], labels[:filled]
        others = {c: v[:filled] for c, v in others.items()}
    id_array = np.empty(filled, dtype=object)
    id_array[:] = ids
    return VectorView(ids=id_array, split=split, labels=labels, matrix=matrix, version=version,
                      label_columns=label_columns, other_labels=others)


class Store:
    """The workspace's LanceDB database. Cheap to create; the app keeps one per process."""

    def __init__(
        self, root: Path | str | Location | None = None, storage_options: dict[str, str] | None = None
    ) -> None:
        """``root``: a folder or a bucket URI (``s3://bucket/prefix``); None: ``FEWSHOT_HOME``."""
        if storage_options is None:
            self.location = as_location(root)
        elif root is None:
            self.location = workspace_location(storage_options)
        else:
            self.location = Location(str(root), storage_options)
        #: A ``Path`` for a local workspace (as before); the ``Location`` itself for a bucket.
        self.root: Path | Location = self.location.path if self.location.is_local else self.location
        self.db = self.location.connect()
        self._lock = threading.RLock()
        self._vector_cache: dict[str, VectorView] = {}

    # ----- tables -------------------------------------------------------------------------------
    def table_names(self) -> set[str]:
        return self.db.table_names()

    def _open_or_create(self, name: str, schema: pa.Schema):
        if name in self.table_names():
            return self.db.open_table(name)
        return self.db.create_table(name, schema=schema, exist_ok=True)

    # ----- index metadata -----------------------------------------------------------------------
    def list_indexes(self) -> list[IndexInfo]:
        """Every index in the workspace, oldest first."""
        if _META_TABLE not in self.table_names():
            return []
        rows = self.db.open_table(_META_TABLE).to_arrow().to_pylist()
        infos = [IndexInfo.from_json(r["info"]) for r in rows]
        for info in infos:
            if getattr(info, "_legacy_labels", False):
                info.label_columns = ["label"] if self._has_labels(info.name) else []
        return sorted(infos, key=lambda i: (i.created, i.name))

    def _has_labels(self, name: str) -> bool:
        """Whether an index built before label columns were recorded has any label (cached per table version)."""
        try:
            table = self.items_table(name)
            key = (name, table.version)
            cache = self.__dict__.setdefault("_has_labels_cache", {})
            if key not in cache:
                cache[key] = table.count_rows("label IS NOT NULL") > 0
            return cache[key]
        except (IndexNotFound, ValueError, OSError):
            return False

    def has_index(self, name: str) -> bool:
        return any(i.name == name for i in self.list_indexes())

    def get_index(self, name: str) -> IndexInfo:
        for info in self.list_indexes():
            if info.name == name:
                if info.schema_version > SCHEMA_VERSION:
                    raise FewshotError(
                        f"index {name!r} was written by a newer version of this app (index schema "
                        f"{info.schema_version}; this version reads up to {SCHEMA_VERSION}). Upgrade the app, "
                        "or build the index again under another name."
                    )
                return info
        known = ", ".join(i.name for i in self.list_indexes()) or "none yet"
        raise IndexNotFound(f"no index named {name!r} in {self.root} (indexes: {known})")

    def save_index_info(self, info: IndexInfo) -> None:
        info.updated = now_iso()
        table = self._open_or_create(_META_TABLE, _META_SCHEMA)
        row = pa.table({"name": [info.name], "info": [info.to_json()]}, schema=_META_SCHEMA)
        with self._lock:
            table.merge_insert("name").when_matched_update_all().when_not_matched_insert_all().execute(row)

    def delete_index(self, name: str) -> None:
        """Drop an index's tables and metadata (teaching state is dropped by its own store).

        The listing's row goes first: that write is the delete. A process killed after it leaves tables no
        listed index owns, which the next build of that name drops (``drop_orphan_tables``); the other order
        left a listed "complete" index with no items (an outside tester's kill)."""
        names = self.table_names()
        if _META_TABLE in names:
            self.db.open_table(_META_TABLE).delete(f"name = '{validate_index_name(name)}'")
        self.drop_orphan_tables(name)

    def drop_orphan_tables(self, name: str) -> None:
        """The vectors and skipped-items tables of ``name`` (a deleted index's, or a new build's leftovers)."""
        names = self.table_names()
        for table in (f"items_{validate_index_name(name)}", f"skipped_{name}"):
            if table in names:
                self.db.drop_table(table)
        self._vector_cache.pop(name, None)

    # ----- items --------------------------------------------------------------------------------
    def stored_items(self, info: IndexInfo) -> int:
        """Items of an index; for one still building or cut short, the rows stored so far (its counts are
        written when a build ends, so an interrupted build showed 0 while a resume keeps every stored row)."""
        if info.status == "complete":
            return info.n_items
        try:  # the row count alone (table metadata), not ``stored_counts``'s scan: the sidebar asks on every run
            return int(self.items_table(info.name).count_rows())
        except Exception:  # noqa: BLE001 - a listing never fails on one index
            return info.n_items

    def stored_counts(self, info: IndexInfo) -> dict[str, int]:
        """Items per split; for a build still running or cut short, of the rows stored so far (its ``counts``
        are written when a build ends, so an interrupted one listed train 0 and validation 0)."""
        if info.status == "complete":
            return dict(info.counts)
        try:
            return self.split_counts(info.name)
        except Exception:  # noqa: BLE001 - a listing never fails on one index (no table yet, a damaged one)
            return dict(info.counts)

    def items_table(self, name: str, dim: int | None = None):
        """The vectors table; created (needs ``dim``) when missing."""
        table_name = f"items_{validate_index_name(name)}"
        try:  # opening directly: listing the tables first costs ~2 ms, and this runs several times a round
            return self.db.open_table(table_name)
        except ValueError:  # "Table ... was not found"
            pass
        if dim is None:
            raise IndexNotFound(f"index {name!r} has no items yet")
        return self.db.create_table(table_name, schema=items_schema(dim), exist_ok=True)

    def add_items(self, name: str, rows: pa.Table) -> None:
        """Append rows; nullable columns the rows lack (``labels`` from older callers) are added as nulls."""
        with self._lock:
            table = self.items_table(name)
            missing = [f for f in table.schema if f.name not in rows.column_names and f.nullable]
            for f in missing:
                rows = rows.append_column(f, pa.nulls(rows.num_rows, f.type))
            table.add(rows)

    def add_skipped(self, name: str, rows: list[dict[str, str]]) -> None:
        if rows:
            table = self._open_or_create(f"skipped_{validate_index_name(name)}", _SKIPPED_SCHEMA)
            table.add(pa.Table.from_pylist(rows, schema=_SKIPPED_SCHEMA))

    def skipped(self, name: str) -> list[dict[str, str]]:
        """Items indexing could not use: id, uri, reason."""
        table_name = f"skipped_{validate_index_name(name)}"
        if table_name not in self.table_names():
            return []
        return self.db.open_table(table_name).to_arrow().to_pylist()

    def read_columns(self, name: str, columns: list[str]) -> pa.Table:
        """Some columns of every item, without the vectors (ids, labels): a cheap read."""
        return self.items_table(name).search().select(columns).limit(None).to_arrow()

    def item_ids(self, name: str) -> set[str]:
        if f"items_{validate_index_name(name)}" not in self.table_names():
            return set()
        return set(self.read_columns(name, ["id"]).column("id").to_pylist())

    def split_counts(self, name: str) -> dict[str, int]:
        table = self.read_columns(name, ["split"])
        values, counts = np.unique(np.asarray(table.column("split").to_pylist(), dtype=object), return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def vectors(self, name: str) -> VectorView:
        """All vectors of an index in memory, reloaded only when the table changed."""
        table = self.items_table(name)
        version = table.version
        with self._lock:
            cached = self._vector_cache.get(name)
            if cached is not None and cached.version == version:
                return cached
            self._vector_cache.pop(name, None)  # let the old matrix go before the new one is read
            try:
                label_columns = self.get_index(name).label_columns
            except IndexNotFound:  # a table without metadata (an index being deleted): its first column only
                label_columns = []
            view = _read_vectors(table, version, label_columns=label_columns)
            self._vector_cache[name] = view
            return view

    def fetch_items(self, name: str, ids: list[str]) -> list[dict[str, Any]]:
        """Display data (text or thumbnail, label, uri, split) for ``ids``, in the order given."""
        if not ids:
            return []
        quoted = ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids)
        rows = (
            self.items_table(name)
            .search()
            .where(f"id IN ({quoted})")
            .select(["id", "split", "label", "text", "thumbnail", "uri"])
            .limit(None)
            .to_arrow()
            .to_pylist()
        )
        by_id = {r["id"]: r for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def check_vector(self, name: str, vector: np.ndarray, embedder: str | None = None) -> np.ndarray:
        """Refuse a query vector from another embedder or of another dimension than the index's."""
        info = self.get_index(name)
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if embedder is not None and embedder != info.embedder:
            raise EmbedderMismatch(
                f"index {name!r} was built with {info.embedder}; a vector from {embedder} cannot search it. "
                f"Embed the query with {info.embedder}, or build an index with {embedder}."
            )
        if vector.shape[0] != info.dim:
            raise EmbedderMismatch(
                f"index {name!r} holds {info.dim}-dimensional vectors from {info.embedder}; "
                f"the query has {vector.shape[0]} dimensions"
            )
        return vector

    def search(
        self, name: str, vector: np.ndarray, k: int = 10, split: str | None = None, embedder: str | None = None
    ) -> list[dict[str, Any]]:
        """Exact top-k items by dot product with ``vector`` (brute force over the in-memory matrix)."""
        vector = self.check_vector(name, vector, embedder)
        view = self.vectors(name)
        rows = view.rows(split)
        if len(rows) == 0 or k <= 0:
            return []
        scores = view.matrix[rows] @ vector if split is not None else view.matrix @ vector
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [
            {"id": view.ids[rows[i]], "score": float(scores[i]), "label": view.labels[rows[i]]} for i in top
        ]

    def compact(self, name: str) -> None:
        """Merge small fragments and drop old versions, so many writes do not slow reads."""
        from datetime import timedelta

        table = self.items_table(name)
        table.optimize(cleanup_older_than=version_cutoff(table, max_age=timedelta(minutes=2)))


#: Versions kept per table when compacting, whatever their age (a long quick session must not keep
#: thousands); versions younger than ``MIN_VERSION_AGE`` are kept too (a reader may still use them).
KEEP_VERSIONS = 20
MIN_VERSION_AGE_S = 5.0


def version_cutoff(table, keep: int = KEEP_VERSIONS, max_age=None):
    """The ``cleanup_older_than`` for ``optimize``: the older of ``max_age`` and the age of the
    ``keep``-th newest version, but never under ``MIN_VERSION_AGE_S``. So old versions are dropped by
    count as well as by age."""
    from datetime import timedelta

    max_age = max_age or timedelta(minutes=10)
    try:
        versions = sorted(table.list_versions(), key=lambda v: v["version"])
    except Exception:  # noqa: BLE001 - statistics only; fall back to the age rule
        return max_age
    if len(versions) <= keep:
        return max_age
    stamp = versions[-keep]["timestamp"]
    now = datetime.now(stamp.tzinfo) if getattr(stamp, "tzinfo", None) else datetime.now()
    age = max(timedelta(seconds=MIN_VERSION_AGE_S), now - stamp)
    return min(max_age, age)
