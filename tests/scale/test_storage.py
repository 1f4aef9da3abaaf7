"""The workspace in a bucket: the database, the map cache and the locks all go through core.storage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import FewshotError
from core.storage import Location, storage_options_from_env


def test_local_location_reads_writes_lists_and_refuses_escapes(tmp_path):
    root = Location(tmp_path / "ws")
    cache = root.child("projections", "idx", "v1.npz")
    assert cache.read_bytes() is None and cache.stamp() == 0
    cache.write_bytes(b"abc")
    assert cache.read_bytes() == b"abc" and cache.stamp() > 0
    assert root.child("projections", "idx").list_names() == ["v1.npz"]
    cache.delete()
    assert not cache.exists()
    for bad in ("..", "a/b", "", "x\x00"):
        with pytest.raises(FewshotError):
            root.child(bad)


def test_storage_options_come_from_the_usual_variables(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FEWSHOT_STORAGE_OPTIONS", json.dumps({"aws_region": "eu-west-1"}))
    options = storage_options_from_env("s3")
    assert options == {"aws_access_key_id": "id", "aws_secret_access_key": "secret",
                       "aws_endpoint": "http://127.0.0.1:9", "allow_http": "true", "aws_region": "eu-west-1"}
    assert "secret" not in str(Location("s3://bucket/ws")) and "secret" not in repr(Location("s3://bucket/ws"))
    monkeypatch.setenv("FEWSHOT_STORAGE_OPTIONS", "{not json")
    with pytest.raises(FewshotError, match="not valid JSON"):
        storage_options_from_env("s3")


def test_index_teach_undo_and_map_cache_in_a_bucket(s3_workspace):
    from core.config import workspace_uri
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.projection import Projection, fingerprint, load_projection, save_projection
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    assert workspace_uri() == s3_workspace
    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    session = TeachSession.create("digits", "three", store=store, target_label="3")
    first = session.next_batch(10, seed=0)
    session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in first})
    assert session.undo() == 0 and len(session.ratings()) == 0
    view = store.vectors("digits")
    xy = np.random.default_rng(0).random((len(view.ids), 2)).astype(np.float32)
    saved = save_projection("digits", Projection(xy, "umap", view.version, fingerprint(view.ids, view.matrix), 10),
                            workspace_uri())
    assert str(saved).startswith("s3://")
    loaded = load_projection("digits", view, workspace_uri())
    assert loaded is not None and np.array_equal(loaded.xy, xy)
    reopened = TeachSession.open("digits", "three", store=Store())
    assert reopened.round == 0 and [c.item_id for c in reopened.next_batch(10, seed=0)] == [c.item_id for c in first]
