"""The store's Lance tables stay LanceDB tables: LanceDB opens what we write, and we open what it wrote.

That ``teach submit`` imports no ``lancedb`` is checked with its other heavy imports in ``test_round_two``."""

from __future__ import annotations

import pyarrow as pa
import pytest

from core.lance_db import LanceDatabase, sql_literal
from core.session import TeachSession
from core.storage import Location
from core.store import Store

SCHEMA = pa.schema([("key", pa.string()), ("n", pa.int64())])


def test_lancedb_reads_a_workspace_we_wrote(digits_store):
    import lancedb

    session = TeachSession.create("digits", "threes", store=digits_store, target_label="3")
    batch = session.next_batch(5, seed=0)
    session.submit({c.item_id: 1.0 for c in batch})
    db = lancedb.connect(digits_store.location.lancedb_uri)
    assert {"labels", "concepts", "checkpoints", "items_digits"} <= set(db.list_tables().tables)
    labels = db.open_table("labels").to_arrow()
    assert sorted(labels.column("item_id").to_pylist()) == sorted(c.item_id for c in batch)
    assert db.open_table("items_digits").count_rows() == digits_store.vectors("digits").matrix.shape[0]


def test_we_read_tables_lancedb_wrote(tmp_path):
    import lancedb

    db = lancedb.connect(tmp_path / "lancedb")
    db.create_table("old", pa.table({"key": ["a", "b"], "n": [1, 2]}, schema=SCHEMA))
    ours = Store(tmp_path).db
    assert ours.table_names() == {"old"}
    table = ours.open_table("old")
    table.add(pa.table({"n": [3], "key": ["c"]}))  # other column order: conformed to the table's
    assert db.open_table("old").to_arrow().sort_by("n").column("key").to_pylist() == ["a", "b", "c"]


def test_table_operations_keep_lancedb_semantics(tmp_path):
    db = LanceDatabase(Location(tmp_path))
    table = db.create_table("t", schema=SCHEMA)
    assert db.create_table("t", schema=SCHEMA, exist_ok=True).version == table.version
    with pytest.raises(OSError):
        db.create_table("t", schema=SCHEMA)
    table.add(pa.table({"key": ["a", "b'q"], "n": [1, 2]}, schema=SCHEMA))
    table.update(where="n = 2", values={"key": "it's"})
    assert table.search().where("key = 'it''s'").select(["n"]).limit(None).to_arrow().column("n").to_pylist() == [2]
    table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(
        pa.table({"key": ["a", "z"], "n": [10, 26]}, schema=SCHEMA))
    assert db.open_table("t").count_rows() == 3 and db.open_table("t").count_rows("n > 5") == 2
    table.delete("key = 'z'")
    assert sorted(db.open_table("t").to_arrow().column("n").to_pylist()) == [2, 10]
    assert table.search().limit(1).to_arrow().num_rows == 1
    batches = list(table.search().select(["n"]).to_batches(1))
    assert sum(b.num_rows for b in batches) == 2
    with pytest.raises(ValueError, match="not found"):
        db.open_table("missing")
    db.drop_table("t")
    assert db.table_names() == set()


def test_sql_literal_quotes_strings():
    assert sql_literal("a'b") == "'a''b'"
    assert sql_literal(None) == "NULL" and sql_literal(3) == "3" and sql_literal(True) == "TRUE"

