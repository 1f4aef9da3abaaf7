"""The same ground truth indexed from CSV, JSON Lines and Parquet is the same stored labels, so a replay can
name its positive label the same way whatever the file format (pandas writes an int column with gaps as 1.0)."""

from __future__ import annotations

import pandas as pd

from core.indexing import build_index
from core.simulate import check_label
from core.sources import parse_source
from core.store import Store

FL = [1, 0, None, 1, 0, 0, None, 1, 0, 1]


def test_csv_jsonl_and_parquet_store_the_same_labels(tmp_path, minilm):
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(FL))],
                          "text": [f"a sentence about topic {i}" for i in range(len(FL))],
                          "fl": pd.array(FL, dtype="Int64"), "kind": ["a", "b"] * (len(FL) // 2)})
    paths = {"csv": tmp_path / "t.csv", "jsonl": tmp_path / "t.jsonl", "parquet": tmp_path / "t.parquet"}
    frame.astype({"fl": "float64"}).to_csv(paths["csv"], index=False)  # fl as 1.0, 0.0 and empty cells
    frame.to_json(paths["jsonl"], orient="records", lines=True)  # fl as 1, 0 and null
    frame.to_parquet(paths["parquet"], index=False)  # fl as nullable int64
    assert "1.0" in paths["csv"].read_text()
    store = Store()
    stored = {}
    for name, path in paths.items():
        build_index(name, parse_source(f"file:{path}", label_columns=["fl", "kind"]), minilm, store=store)
        rows = store.items_table(name).to_arrow().select(["id", "labels"]).to_pylist()
        stored[name] = {r["id"]: r["labels"] for r in rows}
    expected = {f"r{i}": [None if v is None else str(v), "ab"[i % 2]] for i, v in enumerate(FL)}
    assert stored["csv"] == stored["jsonl"] == stored["parquet"] == expected
    for name in paths:  # ``simulate --label-column fl --positive 1`` is accepted for every format
        assert check_label(store, name, "1", "fl") == ["0", "1"]


def test_a_resumed_index_keeps_the_spelling_its_first_rows_have(tmp_path, minilm):
    """An index begun before whole numbers were stored as integer text holds '1.0'; resuming it must not add '1'
    beside it (one label column, two spellings of one value, half the positives lost to ``--positive``)."""
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(FL))],
                          "text": [f"a sentence about topic {i}" for i in range(len(FL))],
                          "fl": pd.array(FL, dtype="Int64").astype("float64"), "kind": ["a", "b"] * (len(FL) // 2)})
    whole = tmp_path / "all.csv"
    frame.iloc[:4].to_csv(whole, index=False)  # the file's first rows, then (below) the same file grown
    store = Store()
    old = parse_source(f"file:{whole}", label_columns=["fl", "kind"])
    old.keep_label_text(["fl"])  # what indexing stored before: the cells as written
    build_index("resumed", old, minilm, store=store)
    frame.to_csv(whole, index=False)
    report = build_index("resumed", parse_source(f"file:{whole}", label_columns=["fl", "kind"]), minilm, store=store)
    assert report.added == len(FL) - 4 and report.already_present == 4
    labels = {lab[0] for lab in store.read_columns("resumed", ["labels"]).column("labels").to_pylist()}
    assert labels == {"1.0", "0.0", None}
    build_index("fresh", parse_source(f"file:{whole}", label_columns=["fl", "kind"]), minilm, store=store)
    fresh = {lab[0] for lab in store.read_columns("fresh", ["labels"]).column("labels").to_pylist()}
    assert fresh == {"1", "0", None}
