"""The workspace's schema version, and the migrations that bring a workspace written by an older
version of the app up to date.

The ``meta`` table holds key/value rows; ``schema_version`` is the version of the teaching tables
(``labels``, ``concepts``, ``checkpoints``). ``TeachStore`` checks it once per ``Store`` before its
first read or write: an older workspace is migrated in place, one written by a newer app is refused
with a message (never half-read, never downgraded).

Versions:
1. ``labels`` and ``checkpoints`` without ``seq``: which rating of an item is the latest was only
   known to the second (``created_at``), so two ratings of one item in the same second were ambiguous.
2. ``seq``, a nanosecond stamp, on both: the latest rating wins exactly (the current schema).

A migration rewrites a table as one LanceDB overwrite commit, so a crash leaves either the old table
or the new one; the version is stamped only after every table is done, and each step skips a table
already in the new shape, so an interrupted migration simply runs again. A file lock keeps two
processes opening the same old workspace from migrating it at the same time; the empty teaching
tables are created under the same lock, up front.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from core.errors import FewshotError

if TYPE_CHECKING:
    from core.store import Store

SCHEMA_VERSION = 2
META = "meta"
META_SCHEMA = pa.schema([pa.field("key", pa.string()), pa.field("value", pa.string())])
VERSION_KEY = "schema_version"
TEACH_TABLES = ("labels", "concepts", "checkpoints")


class WorkspaceTooNew(FewshotError):
    """A workspace written by a newer version of the app than this one."""


def read_version(store: Store) -> int | None:
    """The stamped schema version, or None when the workspace has no stamp (yet)."""
    if META not in store.table_names():
        return None
    rows = store.db.open_table(META).search().where(f"key = '{VERSION_KEY}'").limit(None).to_arrow().to_pylist()
    if not rows:
        return None
    try:
        return int(rows[-1]["value"])
    except (TypeError, ValueError):
        raise FewshotError(
            f"the workspace {store.root} has a damaged schema stamp ({rows[-1]['value']!r}); "
            "restore it from a backup or point FEWSHOT_HOME at another folder"
        ) from None


def detect_version(store: Store) -> int:
    """The schema version of an unstamped workspace, from the shape of its tables."""
    names = store.table_names()
    for name in ("labels", "checkpoints"):
        if name in names and "seq" not in store.db.open_table(name).schema.names:
            return 1
    return SCHEMA_VERSION  # made by the current code before stamps existed, or a fresh workspace


def write_version(store: Store, version: int) -> None:
    row = pa.table({"key": [VERSION_KEY], "value": [str(version)]}, schema=META_SCHEMA)
    if META in store.table_names():
        table = store.db.open_table(META)
    else:
        table = store.db.create_table(META, schema=META_SCHEMA, exist_ok=True)
    table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(row)


def ensure_schema(store: Store) -> int:
    """Make the workspace's teaching tables current (once per ``Store``); returns the version found.

    Raises ``WorkspaceTooNew`` for a workspace written by a newer app.
    """
    if getattr(store, "_schema_checked", False):
        return SCHEMA_VERSION
    found = read_version(store)
    if found is not None and found > SCHEMA_VERSION:
        raise WorkspaceTooNew(
            f"the workspace {store.root} was written by a newer version of this app (schema {found}; this "
            f"version knows up to {SCHEMA_VERSION}). Upgrade the app, or point FEWSHOT_HOME at another folder; "
            "nothing was changed."
        )
    if found != SCHEMA_VERSION or not set(TEACH_TABLES) <= store.table_names():
        with _migration_lock(store):
            found = read_version(store)
            if found is None:
                found = detect_version(store)
            for version in range(found, SCHEMA_VERSION):
                MIGRATIONS[version](store)
            create_missing_tables(store)
            write_version(store, SCHEMA_VERSION)
    store._schema_checked = True  # type: ignore[attr-defined]
    return found


def create_missing_tables(store: Store) -> None:
    """Create the empty teaching tables, under the caller's lock.

    Created up front rather than on first write: two sessions making the same table at once race
    in LanceDB (one gets "table not found" or an incompatible-transaction error), so a first
    rating could fail.
    """
    from core.teach_store import CHECKPOINTS, CHECKPOINTS_SCHEMA, CONCEPTS, CONCEPTS_SCHEMA, LABELS, LABELS_SCHEMA

    names = store.table_names()
    for name, schema in ((LABELS, LABELS_SCHEMA), (CONCEPTS, CONCEPTS_SCHEMA), (CHECKPOINTS, CHECKPOINTS_SCHEMA)):
        if name not in names:
            store.db.create_table(name, schema=schema, exist_ok=True)


@contextlib.contextmanager
def _migration_lock(store: Store) -> Iterator[None]:
    """Held by one thread of one process at a time: a file lock in a local workspace, a Lance
    compare-and-set lock in a bucket (``core.storage.Location.lock``)."""
    location = getattr(store, "location", None)
    if location is None:  # a Store-like object without a location: the old local file lock
        from core.storage import Location

        location = Location(store.root)
    with location.lock("schema"):
        yield


# ----- 1 -> 2: a nanosecond ``seq`` on labels and checkpoints ----------------------------------------
def _stamp_ns(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(datetime.fromisoformat(text).timestamp()) * 1_000_000_000
    except ValueError:
        return 0


def _add_seq(store: Store, name: str, schema: pa.Schema) -> None:
    """Rewrite ``name`` with a ``seq`` column that keeps the rows' order: by ``created_at``, and rows
    written in the same second in the order they were appended (the order a scan returns them in)."""
    if name not in store.table_names():
        return
    table = store.db.open_table(name)
    if "seq" in table.schema.names:
        return  # already migrated (an earlier run stopped before stamping the version)
    data = table.to_arrow()
    created = data.column("created_at").to_pylist() if "created_at" in data.column_names else [None] * data.num_rows
    stamps = [_stamp_ns(t) for t in created]
    order = sorted(range(data.num_rows), key=lambda i: (stamps[i], i))
    seq = [0] * data.num_rows
    for rank, i in enumerate(order):
        seq[i] = stamps[i] + rank
    columns = {}
    for field in schema:
        if field.name == "seq":
            columns["seq"] = pa.array(seq, pa.int64())
        elif field.name in data.column_names:
            columns[field.name] = data.column(field.name).cast(field.type)
        else:
            columns[field.name] = pa.nulls(data.num_rows, field.type)
    store.db.create_table(name, pa.table(columns, schema=schema), schema=schema, mode="overwrite")


def _normalise_concepts(store: Store) -> None:
    """Rewrite each concept's JSON with every field the current ``ConceptInfo`` has (defaults filled)."""
    from core.teach_store import CONCEPTS, CONCEPTS_SCHEMA, ConceptInfo

    if CONCEPTS not in store.table_names():
        return
    rows = store.db.open_table(CONCEPTS).to_arrow().to_pylist()
    if not rows:
        return
    infos = [ConceptInfo.from_json(r["info"]) for r in rows]
    table = pa.table(
        {"key": [f"{c.index}/{c.name}" for c in infos], "index": [c.index for c in infos],
         "concept": [c.name for c in infos], "info": [c.to_json() for c in infos]},
        schema=CONCEPTS_SCHEMA,
    )
    store.db.create_table(CONCEPTS, table, schema=CONCEPTS_SCHEMA, mode="overwrite")


def _v1_to_v2(store: Store) -> None:
    from core.teach_store import CHECKPOINTS, CHECKPOINTS_SCHEMA, LABELS, LABELS_SCHEMA

    _add_seq(store, LABELS, LABELS_SCHEMA)
    _add_seq(store, CHECKPOINTS, CHECKPOINTS_SCHEMA)
    _normalise_concepts(store)


#: ``MIGRATIONS[v]`` turns a version-``v`` workspace into version ``v + 1``.
MIGRATIONS: dict[int, Callable[[Store], None]] = {1: _v1_to_v2}

assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION)), "every version below the current one needs a step"
