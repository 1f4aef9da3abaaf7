"""Several label columns per index: indexing keeps each, a concept names its column, every reader follows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.cli import main
from core.errors import FewshotError
from core.evaluate import evaluate_split
from core.ground_truth import known_mask, label_set, truth
from core.indexing import build_index
from core.session import TeachSession
from core.simulate import check_label, linear_probe_ap, simulate
from core.sources import parse_source
from core.store import IndexInfo, Store, items_schema

TOPICS = ["a pytest plugin for fixtures", "a flask extension for login", "sphinx theme for documentation",
          "a napari plugin for microscopy", "driver for an adafruit sensor board", "a library to parse json"]


def _table(path: Path, n: int = 36) -> Path:
    """A CSV with text, split and three label columns (two 0/1 columns and a class name, some blank)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "split", "pytest", "flask", "kind"])
        for i in range(n):
            topic = i % len(TOPICS)
            writer.writerow([f"pkg-{i}", f"{TOPICS[topic]} number {i}", "validation" if i % 5 == 0 else "train",
                             int(topic == 0), int(topic == 1), "" if i == 5 else f"k{topic % 3}"])
    return path


@pytest.fixture
def indexed(tmp_path, minilm) -> Store:
    source = parse_source(f"file:{_table(tmp_path / 'pkgs.csv')}", split_column="split",
                          label_columns=["pytest", "flask", "kind"])
    store = Store()
    build_index("pkgs", source, minilm, store=store)
    return store


def test_table_source_yields_every_label_column(tmp_path):
    source = parse_source(f"file:{_table(tmp_path / 'pkgs.csv')}", label_column=["flask", "kind"])
    first = next(iter(source))
    assert source.label_columns == ["flask", "kind"] and source.label_column == "flask"
    assert first.label == "0" and first.labels == ("0", "k0")
    assert source.describe()["label_columns"] == ["flask", "kind"]
    with pytest.raises(FewshotError, match="nope"):
        parse_source(f"file:{tmp_path / 'pkgs.csv'}", label_columns=["pytest", "nope"])


def test_index_keeps_every_label_column_and_label_is_the_first(indexed):
    info = indexed.get_index("pkgs")
    assert info.label_columns == ["pytest", "flask", "kind"]
    rows = indexed.items_table("pkgs").to_arrow().select(["id", "label", "labels"]).to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert by_id["pkg-1"]["labels"] == ["0", "1", "k1"] and by_id["pkg-1"]["label"] == "0"
    assert by_id["pkg-5"]["labels"] == ["0", "0", None]
    view = indexed.vectors("pkgs")
    assert view.label_columns == ["pytest", "flask", "kind"]
    row = {item: i for i, item in enumerate(view.ids)}
    assert view.label_values("flask")[row["pkg-7"]] == "1"
    assert view.label_values("kind")[row["pkg-5"]] is None
    assert view.label_values(None) is view.labels and view.label_values("label") is view.labels
    flask = truth(view, "flask", "1")
    assert flask.dtype == bool and flask.sum() == 6 and flask[row["pkg-1"]] and not flask[row["pkg-0"]]
    assert truth(view, "kind", "k1").sum() == 12
    assert known_mask(view, "kind").sum() == 35
    assert truth(view, "flask", None) is None
    assert label_set(view, "kind") == ["k0", "k1", "k2"]
    with pytest.raises(FewshotError, match="no label column 'nope'"):
        truth(view, "nope", "1")


def test_concept_measures_ap_against_its_own_column(indexed, minilm):
    flask = TeachSession.create("pkgs", "flask", store=indexed, prompt="flask extension", embedder=minilm,
                                target_label="1", target_column="flask")
    pytest_ = TeachSession.create("pkgs", "pt", store=indexed, prompt="flask extension", embedder=minilm,
                                  target_label="1", target_column="pytest")
    # the same start vector, two ground truths: a flask prompt finds flask packages, not pytest ones
    assert flask.history()[0].metrics["ap"] > 0.9 > pytest_.history()[0].metrics["ap"]
    reopened = TeachSession.open("pkgs", "flask", store=indexed)
    assert reopened.concept.target_column == "flask"
    batch = reopened.next_batch(3, strategy="nearest")
    assert [c.label for c in batch] == ["1", "1", "1"]  # candidates carry the concept's column
    result = reopened.submit({c.item_id: 1.0 for c in batch})
    assert result.metrics["ap"] > 0.9
    ev = evaluate_split(indexed, "pkgs", reopened.head, "validation", "1", target_column="flask")
    assert ev.n_positive == 1 and ev.ap > 0.9 and set(ev.label_columns) == {"pytest", "flask", "kind"}
    with pytest.raises(FewshotError, match="no label column"):
        TeachSession.create("pkgs", "bad", store=indexed, target_label="1", target_column="nope")
    assert all(c.name != "bad" for c in reopened.teach.concepts("pkgs"))


def test_report_top_items_show_the_concepts_own_column(indexed, minilm, tmp_path):
    """An outside tester: the report's top items read "label 0" for every flask package of a flask concept (the
    index's first column, pytest), while its map's hover said "label 1"."""
    from core.report_build import write_report

    session = TeachSession.create("pkgs", "flask", store=indexed, prompt="flask extension", embedder=minilm,
                                  target_label="1", target_column="flask")
    session.submit({c.item_id: 1.0 for c in session.next_batch(3, strategy="nearest")})
    write_report(indexed, "pkgs", "flask", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    top = html[html.index("by the latest score</h2>"):]
    captions = [c.split("</figcaption>")[0] for c in top.split("<figcaption>")[1:]]
    flask_ids = {f"pkg-{i}" for i in range(36) if i % len(TOPICS) == 1}
    rated = {c for c in captions if c.endswith(" · rated +1")}  # the 3 rated items are marked as such
    assert len(rated) == 3
    captions = [c.removesuffix(" · rated +1") for c in captions]
    first = [c for c in captions if c.split(" · ")[0] in flask_ids]
    assert first and all(c.endswith("label 1") for c in first), captions[:6]
    assert all(c.endswith("label 0") for c in captions if c.split(" · ")[0] not in flask_ids)


def test_simulate_reads_the_named_column_and_counts_positives(indexed, minilm):
    rows = simulate("pkgs", "1", "nearest", rounds=2, batch=3, prompt="a flask extension", store=indexed,
                    embedder=minilm, label_column="flask")
    assert [r["new_positive"] for r in rows] == [0, 3, 2]  # round 0, then 3 of 3, then the last 2 in train
    assert rows[-1]["n_positive"] == 5 and rows[-1]["ap"] > 0.9
    assert check_label(indexed, "pkgs", "k2", "kind") == ["k0", "k1", "k2"]
    with pytest.raises(FewshotError, match="label 'k9' is not in it"):
        check_label(indexed, "pkgs", "k9", "kind")
    assert linear_probe_ap(indexed, "pkgs", "1", "flask") > 0.9


def test_old_index_without_label_columns_keeps_working(tmp_path):
    """An index written before label columns: no ``labels`` column, no ``label_columns`` in its metadata."""
    store = Store()
    old_schema = pa.schema([f for f in items_schema(4) if f.name != "labels"])
    vectors = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]]
    table = pa.table({"id": [f"i{i}" for i in range(6)], "split": ["train"] * 4 + ["validation"] * 2,
                      "label": ["a", "b", "a", None, "a", "b"],
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 4),
                      "text": ["t"] * 6, "thumbnail": [None] * 6, "uri": ["u"] * 6}, schema=old_schema)
    store.db.create_table("items_old", table)
    info = IndexInfo(name="old", embedder="x", embedder_kind="x", checkpoint="x", dim=4, modality="text",
                     counts={"train": 4, "validation": 2}, status="complete")
    legacy = json.loads(info.to_json())
    legacy.pop("label_columns")
    store.save_index_info(info)
    store.db.open_table("indexes").update(where="name = 'old'", values={"info": json.dumps(legacy)})
    reread = Store()
    assert reread.get_index("old").label_columns == ["label"]
    view = reread.vectors("old")
    assert list(view.label_values(None)) == ["a", "b", "a", None, "a", "b"]
    assert truth(view, "label", "a").sum() == 3
    assert check_label(reread, "old", "a") == ["a", "b"]


def test_index_without_labels_has_no_label_columns(tmp_path, minilm):
    path = tmp_path / "plain.csv"
    path.write_text("text\nfirst text here\nsecond text here\nthird one\n", encoding="utf-8")
    store = Store()
    build_index("plain", parse_source(f"file:{path}"), minilm, store=store)
    assert store.get_index("plain").label_columns == []
    assert truth(store.vectors("plain"), None, "1") is None


def test_cli_label_columns_end_to_end(tmp_path, capsys):
    data = _table(tmp_path / "pkgs.csv")
    assert main(["index", "--name", "pkgs", "--source", f"file:{data}", "--embedder", "st:minilm",
                 "--split-column", "split", "--label-column", "pytest", "--label-column", "flask"]) == 0
    assert Store().get_index("pkgs").label_columns == ["pytest", "flask"]
    assert main(["concept", "create", "--index", "pkgs", "--concept", "fl", "--prompt", "flask extension",
                 "--target-column", "flask", "--target-label", "1"]) == 0
    assert main(["concept", "list", "--index", "pkgs"]) == 0
    assert "flask=1" in capsys.readouterr().out
    assert main(["simulate", "--index", "pkgs", "--label-column", "flask", "--positive", "1", "--strategy",
                 "nearest", "--rounds", "2", "--batch", "3", "--prompt", "flask extension", "--no-probe"]) == 0
    out = capsys.readouterr().out
    assert "positives found 5 (per round 3 2)" in out
    assert main(["simulate", "--index", "pkgs", "--label-column", "nope", "--positive", "1"]) == 2
    assert "no label column 'nope'" in capsys.readouterr().err
    classifier = tmp_path / "fl.safetensors"
    assert main(["export", "--index", "pkgs", "--concept", "fl", "--out", str(classifier)]) == 0
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", "--classifier", str(classifier), "--index", "pkgs", "--out", str(out_csv)]) == 0
    table = pd.read_csv(out_csv, dtype=str)
    assert {"label", "label_pytest", "label_flask"} <= set(table.columns)
    assert (table[table["split"] == "validation"]["label_flask"] == "1").sum() == 1  # every item scored


def test_a_rerun_cannot_add_a_label_column_to_an_index_built_without_one(tmp_path, minilm):
    """A re-tester: a rerun with an added --label-column said it succeeded, added nothing, and a concept on the
    column then found no such column."""
    path = _table(tmp_path / "pkgs.csv")
    store = Store()
    build_index("plain", parse_source(f"file:{path}", split_column="split", label_columns=[]), minilm, store=store)
    assert store.get_index("plain").label_columns == []
    with pytest.raises(FewshotError, match="was built without label columns"):
        build_index("plain", parse_source(f"file:{path}", split_column="split", label_columns=["flask"]), minilm,
                    store=store)
