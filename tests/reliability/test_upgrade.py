"""Labels and classifiers survive an app upgrade: a workspace in the old schema (written here with
pyarrow/LanceDB directly, as the old app wrote it) opens with the current code, migrated; a workspace
or classifier from a newer app is refused with a message and left untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from safetensors.numpy import save_file

from core import schema
from core.classifier import FORMAT_NAME, ClassifierFileError, LinearHead, load_classifier, save_classifier
from core.errors import FewshotError
from core.session import TeachSession
from core.store import Store
from core.teach_store import TeachStore
from tests.reliability.conftest import record

V1_LABELS = pa.schema([pa.field("index", pa.string()), pa.field("concept", pa.string()),
                       pa.field("item_id", pa.string()), pa.field("rating", pa.float32()),
                       pa.field("round", pa.int32()), pa.field("created_at", pa.string())])
V1_CHECKPOINTS = pa.schema([pa.field("index", pa.string()), pa.field("concept", pa.string()),
                            pa.field("round", pa.int32()), pa.field("w", pa.list_(pa.float32())),
                            pa.field("bias", pa.float32()), pa.field("metrics", pa.string()),
                            pa.field("created_at", pa.string())])
V1_CONCEPTS = pa.schema([pa.field("key", pa.string()), pa.field("index", pa.string()),
                         pa.field("concept", pa.string()), pa.field("info", pa.string())])


def _write_v1_workspace(store: Store) -> dict:
    """Three rounds of ratings on ``digits`` in the version-1 layout: no ``seq``, no ``meta`` table,
    concept JSON without the fields added since (embedder, seen_after_round). Round 3 re-rates an
    item of round 1 in the same second: only row order says which rating is the latest."""
    view = store.vectors("digits")
    train = [str(i) for i in view.ids[view.rows("train")]][:30]
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    labels = []
    for round_ in (1, 2, 3):
        stamp = (start + timedelta(seconds=10 * round_)).isoformat(timespec="seconds")
        for k, item in enumerate(train[(round_ - 1) * 10 : round_ * 10]):
            rating = None if k == 9 else (1.0 if k % 2 else -1.0)
            labels.append({"index": "digits", "concept": "old", "item_id": item, "rating": rating, "round": round_,
                           "created_at": stamp})
    labels.append({"index": "digits", "concept": "old", "item_id": train[0], "rating": 0.5, "round": 3,
                   "created_at": (start + timedelta(seconds=30)).isoformat(timespec="seconds")})
    rng = np.random.default_rng(0)
    checkpoints = [{"index": "digits", "concept": "old", "round": r, "w": rng.standard_normal(256).astype(np.float32),
                    "bias": 0.1 * r, "metrics": json.dumps({"n_ratings": 9 * r}),
                    "created_at": (start + timedelta(seconds=10 * r + 1)).isoformat(timespec="seconds")}
                   for r in range(4)]
    info = {"index": "digits", "name": "old", "prompt": None, "init": "examples", "examples": train[:2],
            "strategy": "boundary", "batch_size": 10, "train": {}, "target_label": "3",
            "created": start.isoformat(), "updated": start.isoformat()}
    db = store.db
    db.create_table("labels", pa.Table.from_pylist(labels, schema=V1_LABELS), schema=V1_LABELS)
    db.create_table("checkpoints", pa.Table.from_pylist(checkpoints, schema=V1_CHECKPOINTS), schema=V1_CHECKPOINTS)
    db.create_table("concepts", pa.table({"key": ["digits/old"], "index": ["digits"], "concept": ["old"],
                                          "info": [json.dumps(info)]}, schema=V1_CONCEPTS), schema=V1_CONCEPTS)
    return {"train": train, "checkpoints": checkpoints}


def test_v1_workspace_is_migrated_with_every_rating_concept_and_checkpoint(digits_store):
    old = _write_v1_workspace(digits_store)
    assert schema.read_version(digits_store) is None and schema.detect_version(digits_store) == 1
    store = Store()  # the upgraded app opening the workspace
    session = TeachSession.open("digits", "old", store=store)
    assert schema.read_version(store) == schema.SCHEMA_VERSION
    assert "seq" in store.db.open_table("labels").schema.names
    assert "seq" in store.db.open_table("checkpoints").schema.names
    ratings = dict(zip(session.ratings().item_ids, session.ratings().ratings, strict=True))
    train = old["train"]
    assert len(ratings) == 27  # 3 rounds x 9 ratings (one skip each); the re-rated item counted once
    assert ratings[train[0]] == pytest.approx(0.5)  # the later rating of the same second wins
    assert len(session.seen_ids()) == 30
    history = session.history()
    assert [c.round for c in history] == [0, 1, 2, 3]
    for checkpoint, written in zip(history, old["checkpoints"], strict=True):
        np.testing.assert_array_equal(checkpoint.w, written["w"])
        assert checkpoint.bias == pytest.approx(written["bias"])
    assert session.round == 3 and np.array_equal(session.head.w, old["checkpoints"][3]["w"])
    concept = TeachStore(store).concept("digits", "old")
    assert concept.strategy == "boundary" and concept.target_label == "3" and concept.seen_after_round == 0
    assert session.submit({c.item_id: -1.0 for c in session.next_batch(10)}).round == 4  # and it goes on
    assert len(session.ratings()) == 37
    record("upgrade_migrations_tested")


def test_a_migration_cut_short_runs_again_and_loses_nothing(digits_store, monkeypatch):
    _write_v1_workspace(digits_store)
    real = schema._add_seq

    def crash_on_checkpoints(store, name, target):
        if name == "checkpoints":
            raise KeyboardInterrupt("killed mid-migration")
        real(store, name, target)

    monkeypatch.setattr(schema, "_add_seq", crash_on_checkpoints)
    with pytest.raises(KeyboardInterrupt):
        TeachStore(Store())
    assert schema.read_version(Store()) is None  # not stamped: the next open migrates again
    monkeypatch.setattr(schema, "_add_seq", real)
    session = TeachSession.open("digits", "old", store=Store())
    assert len(session.ratings()) == 27 and session.round == 3
    record("faults_injected_migration_interrupted")
    record("faults_survived_migration_interrupted")


def test_a_workspace_from_a_newer_app_is_refused_untouched(digits_store):
    TeachSession.create("digits", "c", store=digits_store)
    schema.write_version(digits_store, schema.SCHEMA_VERSION + 1)
    versions = {n: digits_store.db.open_table(n).version for n in ("labels", "checkpoints", "concepts")}
    with pytest.raises(schema.WorkspaceTooNew, match="newer version of this app.*Upgrade the app"):
        TeachSession.open("digits", "c", store=Store())
    assert {n: Store().db.open_table(n).version for n in versions} == versions
    record("bad_inputs_tried")


def test_an_index_from_a_newer_app_is_refused(digits_store):
    info = digits_store.get_index("digits")
    info.schema_version = 99
    digits_store.save_index_info(info)
    with pytest.raises(FewshotError, match="newer version of this app"):
        Store().get_index("digits")
    record("bad_inputs_tried")


def _classifier_file(path, meta: dict, tensors: dict | None = None) -> None:
    tensors = tensors or {"w": np.ones(4, np.float32) / 2, "b": np.zeros(1, np.float32)}
    save_file(tensors, str(path), metadata={"format": FORMAT_NAME, "fewshot": json.dumps(meta)})


def test_classifier_format_1_loads_even_without_the_later_optional_fields(tmp_path):
    path = tmp_path / "v1.safetensors"
    _classifier_file(path, {"format_version": 1, "dim": 4, "embedder": "pixels:2", "concept": "x"})
    head, meta = load_classifier(path, expect_dim=4, expect_embedder="pixels:2")
    assert head.dim == 4 and np.allclose(head.w, 0.5) and meta["concept"] == "x"
    saved = tmp_path / "current.safetensors"
    save_classifier(saved, LinearHead.init_from_vector(np.ones(4), 4), {"embedder": "pixels:2"})
    assert load_classifier(saved)[1]["format_version"] == 1
    record("upgrade_migrations_tested")


@pytest.mark.parametrize("version", [2, 99, 0, "1", None, True])
def test_classifier_of_a_future_or_unknown_format_is_refused_with_a_reason(tmp_path, version):
    path = tmp_path / "c.safetensors"
    _classifier_file(path, {"format_version": version, "dim": 4, "embedder": "pixels:2"})
    with pytest.raises(ClassifierFileError) as caught:
        load_classifier(path)
    message = str(caught.value)
    if isinstance(version, int) and not isinstance(version, bool) and version > 1:
        assert "newer version of this app" in message and "Upgrade the app" in message
    else:
        assert "unknown classifier format version" in message and "Export the concept again" in message
    record("bad_inputs_tried")
