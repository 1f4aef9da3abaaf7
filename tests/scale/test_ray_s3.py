"""Lance on a local S3 server and a local Ray: indexing with --engine ray equals the local engine row by row,
the three scoring backends return identical batches, and a teach session in the bucket survives a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.session import TeachSession
from core.store import Store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _rows(store: Store, name: str):
    return store.items_table(name).to_arrow().sort_by("id")


@pytest.fixture(scope="module")
def module_s3(s3_endpoint):
    """A bucket holding the digits indexed with --engine ray (built once for the module)."""
    from tests.scale.conftest import CREDENTIALS, make_bucket

    return f"s3://{make_bucket(s3_endpoint)}/workspace", {**CREDENTIALS, "AWS_ENDPOINT": s3_endpoint}


@pytest.fixture
def digits_bucket(module_s3, ray_local, monkeypatch, tmp_path):
    uri, env = module_s3
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FEWSHOT_HOME", uri)
    store = Store()
    if not store.has_index("digits"):
        assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels",
                     "--engine", "ray", "--actors", "1"]) == 0
    return uri


def test_digits_indexed_on_ray_into_s3_equal_the_local_engine_row_by_row(digits_bucket, tmp_path, capsys):
    remote = Store()
    assert str(remote.root).startswith("s3://") and remote.get_index("digits").status == "complete"
    local_root = tmp_path / "local"
    os.environ["FEWSHOT_HOME"] = str(local_root)
    assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels"]) == 0
    a, b = _rows(remote, "digits"), _rows(Store(local_root), "digits")
    assert a.num_rows == b.num_rows == 1797
    assert a.schema == b.schema and a.equals(b)
    assert remote.get_index("digits").counts == Store(local_root).get_index("digits").counts
    # resumable: a second run finds everything present and adds nothing
    os.environ["FEWSHOT_HOME"] = digits_bucket
    capsys.readouterr()
    assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels",
                 "--engine", "ray", "--actors", "1"]) == 0
    assert "added 0" in capsys.readouterr().out and remote.items_table("digits").count_rows() == 1797


def test_three_scoring_backends_return_identical_batches_on_the_bucket(digits_bucket):
    store = Store()
    session = TeachSession.create("digits", "three", store=store, target_label="3")
    seen_batches = []
    for round_ in range(3):
        batches = {}
        for kind in ("numpy", "torch", "ray"):
            session.scoring = kind
            batches[kind] = {name: [c.item_id for c in session.next_batch(12, strategy=name, seed=round_)]
                             for name in ("nearest", "boundary", "mixed", "random", "diverse")}
        assert batches["numpy"] == batches["torch"] == batches["ray"], round_
        seen_batches.append(batches["numpy"])
        session.scoring = "ray"
        rated = session.next_batch(10, strategy="mixed", seed=round_)
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in rated})
    from core.scale import backend_for

    backend, view = backend_for(store, "digits", "ray")
    assert backend.name == "ray" and len(backend.actors) == 2
    assert isinstance(view.matrix, __import__("core.scale", fromlist=["RemoteMatrix"]).RemoteMatrix)
    assert seen_batches[0]["nearest"] != seen_batches[2]["nearest"]  # w moved: the test could fail


def test_teach_session_in_the_bucket_survives_a_kill(digits_bucket, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "tests.reliability.child", "teach", "digits", "killed", "50",
                              "7"], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    committed = []
    watchdog = threading.Timer(240, child.kill)  # a hung child fails the test instead of hanging it
    watchdog.start()
    for line in child.stdout:
        if line.startswith("committed "):
            committed.append(json.loads(line.split(" ", 1)[1]))
            if len(committed) == 3:
                child.send_signal(signal.SIGKILL)  # mid-way through round 4
                break
    watchdog.cancel()
    child.wait(timeout=60)
    assert len(committed) == 3, "the child stopped before three rounds"
    session = TeachSession.open("digits", "killed")
    assert session.round >= 3
    ratings = session.ratings()
    on_disk = dict(zip(ratings.item_ids, ratings.ratings.tolist(), strict=True))
    for entry in committed:
        for item_id, value in entry["ratings"].items():
            if value is not None:
                assert on_disk[item_id] == pytest.approx(value)
    before = session.round
    assert session.undo() == before - 1
    batch = session.next_batch(10, seed=1)
    assert session.submit({c.item_id: -1.0 for c in batch}).round == before
    from core.export import export_session

    path = export_session(session, tmp_path / "three.safetensors")
    assert Path(path).stat().st_size > 0
    reopened = TeachSession.open("digits", "killed")
    assert reopened.round == before and np.allclose(reopened.head.w, session.head.w)


def test_lock_on_object_storage_is_a_compare_and_set(digits_bucket):
    from core.errors import FewshotError
    from core.storage import _lance_lock, workspace_location

    location = workspace_location()
    with location.lock("demo"):
        assert location.child("_lock_demo.lance").exists()
        with pytest.raises(FewshotError, match="held by another process"):  # what a second process meets
            with _lance_lock(location.child("_lock_demo.lance"), timeout_s=0.5):
                pass
    assert not location.child("_lock_demo.lance").exists()
    with location.lock("demo"):  # free again
        pass


def _tiny_folder(root: Path, n: int) -> Path:
    """n tiny PNGs in ten class folders, plus two files that are not images (skipped, with the reason)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    (root / "class0" / "broken-a.png").write_bytes(b"not a png")
    (root / "class1" / "broken-b.jpg").write_bytes(b"\xff\xd8 truncated")
    return root


def test_twenty_thousand_images_on_ray_into_s3_equal_the_local_engine(s3_workspace, ray_local, tmp_path, capsys):
    folder = _tiny_folder(tmp_path / "images", 20_000)
    command = ["index", "--name", "tiny", "--source", f"folder:{folder}", "--embedder", "pixels:4"]
    assert main([*command, "--engine", "ray", "--actors", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 skipped" in out and "broken-a.png" in out
    remote = Store()
    os.environ["FEWSHOT_HOME"] = str(tmp_path / "local")
    assert main(command) == 0
    local = Store()
    a, b = _rows(remote, "tiny"), _rows(local, "tiny")
    assert a.num_rows == b.num_rows == 20_000 and a.equals(b)
    assert sorted(s["id"] for s in remote.skipped("tiny")) == sorted(s["id"] for s in local.skipped("tiny"))
    assert remote.get_index("tiny").n_skipped == 2


def test_ray_indexing_stopped_after_a_chunk_resumes_to_the_same_rows(s3_workspace, ray_local, tmp_path):
    from core.scale.ray_index import build_index_ray
    from core.sources import parse_source

    seen = []
    first = build_index_ray("resumed", parse_source("demo:digits"), "pixels", Store(), actors=1, chunk_size=700,
                            progress=seen.append, should_cancel=lambda: True)
    assert first.cancelled and first.added == 700 and Store().items_table("resumed").count_rows() == 700
    assert Store().get_index("resumed").status == "cancelled"
    assert seen and seen[-1].added == 700 and seen[-1].total == 1797
    second = build_index_ray("resumed", parse_source("demo:digits"), "pixels", Store(), actors=1, chunk_size=700)
    assert second.already_present == 700 and second.added == 1097 and not second.cancelled
    os.environ["FEWSHOT_HOME"] = str(tmp_path / "local")
    assert main(["index", "--name", "resumed", "--source", "demo:digits", "--embedder", "pixels"]) == 0
    os.environ["FEWSHOT_HOME"] = s3_workspace
    assert _rows(Store(), "resumed").equals(_rows(Store(tmp_path / "local"), "resumed"))
    assert Store().get_index("resumed").status == "complete"


def test_a_dead_scoring_shard_is_one_message_and_the_next_request_starts_fresh_shards(digits_bucket):
    """One killed shard actor used to break every later requery of the process (the dead backend stayed cached)."""
    import ray

    from core.errors import FewshotError
    from core.scale import backend_for

    store = Store()
    session = TeachSession.create("digits", "shardkill", store=store, target_label="3")
    session.scoring = "ray"
    before = [c.item_id for c in session.next_batch(10, seed=1)]
    backend, _ = backend_for(store, "digits", "ray")
    ray.kill(backend.actors[0])
    with pytest.raises(FewshotError, match="a Ray scoring shard died"):
        session.next_batch(10, seed=1)
    assert backend.broken
    assert [c.item_id for c in session.next_batch(10, seed=1)] == before  # fresh shards, same answer
    assert backend_for(store, "digits", "ray")[0] is not backend
