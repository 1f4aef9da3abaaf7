"""Label values: one rule for what indexing stores, the same for CSV/TSV, JSON Lines and Parquet, and the
preview shows exactly that."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from core import source_table
from core.source_base import stored_label, whole_number_column, whole_number_text
from core.source_table import TextTable
from core.table_preview import preview_table

TEXTS = [f"a sentence about topic number {i} and more" for i in range(8)]
#: An int label column with gaps (pandas makes it float: 1.0, NaN) and a string label column.
FL = [1, 0, None, 1, 0, 0, None, 1]
FL_STORED = ["1", "0", None, "1", "0", "0", None, "1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.0", "1"), ("0.0", "0"), ("2", "2"), ("-2.00", "-2"), ("+3.0", "3"), ("1e3", "1000"), ("10.", "10"),
        ("007", "007"), ("-0.0", "0"), ("123456789012345678901234567890.0", "123456789012345678901234567890"),
        ("1.5", None), (" 1 ", None), ("1 ", None), ("a", None), ("", None), ("nan", None), ("inf", None),
        ("1_000", None), ("0x10", None), ("１", None), ("1e-3", None), ("1e999999", None), (".", None),
    ],
)
def test_whole_number_text(text, expected):
    assert whole_number_text(text) == expected


def test_a_text_column_is_whole_numbers_only_when_every_non_empty_cell_is_one():
    assert whole_number_column(["1.0", "0.0", None, "", float("nan"), "2"])
    assert not whole_number_column(["1.0", "1.5"])
    assert not whole_number_column(["1.0", "a"])
    assert not whole_number_column(["1.0", " 1 "])
    assert not whole_number_column([None, ""])  # no value at all: nothing to normalise
    def stored_labels(values, text_cells=False):  # a whole column, as indexing stores it
        whole = text_cells and whole_number_column(values)
        return [stored_label(v, whole) for v in values]

    assert stored_labels(["1.0", None, "0.0"], text_cells=True) == ["1", None, "0"]
    assert stored_labels(["1.0", "1.5", "x"], text_cells=True) == ["1.0", "1.5", "x"]
    assert stored_labels(["1.0", "0.0"]) == ["1.0", "0.0"]  # values that are not cells of a text table: as is


def test_stored_label_of_values_as_parquet_and_json_give_them():
    assert stored_label(pd.NA) is None and stored_label(float("nan")) is None and stored_label(None) is None
    assert stored_label(1) == stored_label(1.0) == stored_label("1") == "1"
    assert stored_label(1.5) == "1.5" and stored_label(True) == "True"
    assert stored_label(["a", None, 2.0]) == "a,2"


def _write(path: Path, columns: dict[str, list]) -> Path:
    """The same table as CSV/TSV (as pandas writes it), JSON Lines or Parquet (nullable ints, as pandas writes)."""
    frame = pd.DataFrame(columns)
    for name, values in columns.items():
        if any(isinstance(v, int) and not isinstance(v, bool) for v in values):
            frame[name] = pd.array(values, dtype="Int64")
    if path.suffix == ".csv":
        frame.astype({c: "float64" for c in frame.columns if str(frame[c].dtype) == "Int64"}).to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.astype({c: "float64" for c in frame.columns if str(frame[c].dtype) == "Int64"}).to_csv(
            path, sep="\t", index=False)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(columns, row, strict=True))) + "\n"
                                for row in zip(*columns.values(), strict=True)))
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_the_same_numbers_are_the_same_labels_in_every_format(tmp_path, suffix):
    path = _write(tmp_path / f"t{suffix}", {"text": TEXTS, "fl": FL})
    if suffix in (".csv", ".tsv"):
        assert "1.0" in path.read_text()  # what pandas writes for an int column with missing values
    source = TextTable(path, label_column="fl")
    assert [r.label for r in source] == FL_STORED


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_the_preview_shows_labels_as_indexing_stores_them(tmp_path, suffix):
    path = _write(tmp_path / f"t{suffix}", {"text": TEXTS, "label": FL, "kind": ["x", "y"] * 4})
    preview = preview_table(path.name, path)
    assert preview.label_columns == ["label", "kind"]
    stored = [r.labels for r in TextTable(path, label_columns=["label", "kind"])]
    assert [(row["label"], row["kind"]) for row in preview.rows] == stored
    assert [row["label"] for row in preview.rows] == FL_STORED  # not '<NA>' (Parquet) nor '0.0' (JSON Lines)


def test_preview_of_parquet_nulls_is_none_not_na_text(tmp_path):
    path = _write(tmp_path / "t.parquet", {"text": TEXTS, "label": FL})
    assert "<NA>" not in {row["label"] for row in preview_table(path.name, path).rows}


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_columns_with_other_values_keep_their_text_and_ids_and_texts_are_untouched(tmp_path):
    rows = [["1.0", "1.0", "1.0", "1.0", "1.0", "007", "1.0", "train"],
            ["2.0", "1.5", "a", " 1 ", "", "010", "2.0", "validation"],
            ["3.0", "0.0", "0.0", "0.0", "0.0", "1.0", "3.0", "2.0"]]
    path = _csv(tmp_path / "t.csv", ["id", "half", "word", "space", "whole", "padded", "text", "split"], rows)
    source = TextTable(path, label_columns=["half", "word", "space", "whole", "padded"], id_column="id",
                       split_column="split")
    records = list(source)
    assert [r.id for r in records] == ["1.0", "2.0", "3.0"]  # ids are not labels: their text as is
    assert [r.text for r in records] == ["1.0", "2.0", "3.0"]
    assert [r.labels for r in records] == [
        ("1.0", "1.0", "1.0", "1", "007"),
        ("1.5", "a", " 1 ", None, "010"),
        ("0.0", "0.0", "0.0", "0", "1"),
    ]
    assert source.whole_number_labels() == {"whole", "padded"}


def test_a_column_used_as_id_and_label_is_normalised_only_as_the_label(tmp_path):
    path = _csv(tmp_path / "t.csv", ["text", "code"], [["some text", "1.0"], ["more text", "2.0"]])
    records = list(TextTable(path, label_column="code", id_column="code"))
    assert [(r.id, r.label) for r in records] == [("1.0", "1"), ("2.0", "2")]


def test_the_whole_csv_decides_not_just_the_first_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(source_table, "CHUNK_ROWS", 4)
    rows = [[f"text {i}", "1.0" if i % 2 else "0.0"] for i in range(20)] + [["last", "maybe"]]
    path = _csv(tmp_path / "t.csv", ["text", "label"], rows)
    labels = [r.label for r in TextTable(path)]
    assert labels[:2] == ["0.0", "1.0"] and labels[-1] == "maybe"
    path = _csv(tmp_path / "u.csv", ["text", "label"], rows[:-1])
    assert [r.label for r in TextTable(path)][:2] == ["0", "1"]


@pytest.mark.parametrize("upload", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".csv.gz"])
def test_the_preview_decides_whole_numbers_over_the_whole_file_like_indexing(tmp_path, suffix, upload):
    import gzip

    from core.table_preview import PREVIEW_ROWS

    sep = "\t" if suffix == ".tsv" else ","
    lines = [f"text {i}{sep}{i % 2}.0{sep}{i % 3}.0" for i in range(PREVIEW_ROWS + 300)]
    for tail, whole in ((["last" + sep + "maybe" + sep + "2"], {"b"}), ([], {"a", "b"})):
        data = "\n".join([f"text{sep}a{sep}b", *lines, *tail]).encode() + b"\n"
        path = tmp_path / f"t{suffix}"
        path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
        source = TextTable(path, label_columns=["a", "b"])
        assert source.whole_number_labels() == whole
        stored = [r.labels for r in source][:PREVIEW_ROWS]
        preview = preview_table(path.name, path.read_bytes() if upload else path)
        assert preview.label_columns == ["a", "b"]
        assert [(row["a"], row["b"]) for row in preview.rows] == stored  # '0.0' kept when a later row says 'maybe'
        assert set(preview.whole_number_columns) == whole and preview.whole_numbers_from_rows is None


def test_a_long_file_is_decided_from_its_first_rows_and_says_so(tmp_path, monkeypatch):
    from core import table_preview

    monkeypatch.setattr(table_preview, "WHOLE_CHECK_ROWS", 250)
    monkeypatch.setattr(table_preview, "_CHECK_CHUNK", 20)
    rows = [[f"text {i}", f"{i % 2}.0", "x"] for i in range(400)]
    path = _csv(tmp_path / "t.csv", ["text", "label", "word"], rows)
    preview = preview_table(path.name, path, n_rows=50)
    assert preview.whole_number_columns == ["label"] and preview.whole_numbers_from_rows == 250
    assert preview.rows[0]["label"] == "0"
    rows[220][1] = "maybe"  # within the rows checked: decided, and nothing to say
    path = _csv(tmp_path / "u.csv", ["text", "label", "word"], rows)
    preview = preview_table(path.name, path, n_rows=50)
    assert preview.whole_number_columns == [] and preview.whole_numbers_from_rows is None
    assert preview.rows[0]["label"] == "0.0"


def test_a_later_row_the_preview_cannot_read_leaves_the_decision_to_the_first_rows(tmp_path):
    rows = [[f"text {i}", f"{i % 2}.0"] for i in range(300)] + [["a", "1.0", "extra", "fields"]]
    path = _csv(tmp_path / "t.csv", ["text", "label"], rows)
    preview = preview_table(path.name, path)
    assert len(preview.rows) == 200 and preview.rows[0]["label"] == "0"
    assert preview.whole_number_columns == ["label"] and 200 <= preview.whole_numbers_from_rows < 300
