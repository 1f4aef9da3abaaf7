"""A workspace in a bucket, end to end: the map, clear storage failures, deleting an index, bad URIs."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_fit_process(monkeypatch):
    """Record the background map fits started instead of running UMAP (its own tests run it)."""
    import core.projection_auto as auto

    started: list[list[str]] = []

    def fake_popen(command, **kwargs):
        started.append(command)
        return types.SimpleNamespace(pid=2**22 + 7, poll=lambda: 0)

    monkeypatch.setattr(auto, "subprocess", types.SimpleNamespace(Popen=fake_popen, DEVNULL=subprocess.DEVNULL))
    monkeypatch.setenv("FEWSHOT_AUTO_MAP", "1")
    return started


def test_local_engine_build_into_a_bucket_starts_its_map_and_succeeds(s3_workspace, tmp_path, monkeypatch,
                                                                      no_fit_process, capsys):
    from core.cli import main
    from core.projection_auto import read_status, status_path

    monkeypatch.setenv("FEWSHOT_LOCAL_DIR", str(tmp_path / "local"))
    assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels"]) == 0
    assert "object storage" not in capsys.readouterr().err
    assert len(no_fit_process) == 1 and s3_workspace in no_fit_process[0]
    status = read_status("digits", s3_workspace)  # the fit's status file is on this machine
    assert status is not None and status.n_items == 1797
    assert status_path("digits", s3_workspace).is_relative_to(tmp_path / "local")


def test_map_page_works_on_a_bucket_workspace(s3_workspace, tmp_path, monkeypatch):
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    monkeypatch.setenv("FEWSHOT_LOCAL_DIR", str(tmp_path / "local"))
    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    session = TeachSession.create("digits", "three", store=store, target_label="3")
    batch = session.next_batch(10, seed=0)
    session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in batch})
    at = AppTest.from_file(str(ROOT / "views" / "map.py"), default_timeout=60)
    at.session_state["selected_index"] = "digits"
    at.session_state["selected_concept"] = "three"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_storage_failures_are_one_line_naming_the_uri_and_the_cause(s3_env, monkeypatch, capsys):
    from core.cli import main
    from core.lance_db import LanceDatabase
    from core.os_errors import RemoteStorageError
    from core.storage import Location

    monkeypatch.setenv("FEWSHOT_HOME", "s3://no-such-bucket-here/ws")
    for argv in (["list"], ["index", "--name", "d", "--source", "demo:digits", "--embedder", "pixels"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("error: ") and "s3://no-such-bucket-here/ws" in err, err
        assert "does not exist" in err and "<?xml" not in err and "not found" not in err, err
    gone = f"http://127.0.0.1:{_closed_port()}"  # the endpoint died (e.g. mid-build): not a missing table
    monkeypatch.setenv("AWS_ENDPOINT", gone)
    monkeypatch.setenv("FEWSHOT_HOME", "s3://some-bucket/ws")
    with pytest.raises(RemoteStorageError, match="could not be reached") as caught:
        LanceDatabase(Location("s3://some-bucket/ws/lancedb")).open_table("items_digits")
    assert gone in str(caught.value) and "not found" not in str(caught.value)
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and gone in err and "s3://some-bucket/ws" in err, err


def test_missing_credentials_message_is_recognised():
    from core.os_errors import explain_remote
    from core.storage import Location

    lance_text = ("LanceError(IO): Generic N/A error: LanceError(IO): Failed to get AWS credentials: ProviderError("
                  "ProviderError { source: FailedToLoadToken ... StatusCode(403) ... Forbidden")
    error = explain_remote(ValueError(lance_text), Location("s3://bkt/ws"))
    assert error is not None and "no credentials" in str(error) and "s3://bkt/ws" in str(error)
    assert explain_remote(ValueError("Dataset at path x was not found"), Location("s3://bkt/ws")) is None


def test_delete_index_from_the_command_line_needs_yes(s3_workspace, capsys):
    from core.cli import main
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store
    from core.teach_store import TeachStore

    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    build_index("other", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    from core.session import TeachSession

    TeachSession.create("digits", "three", store=store, target_label="3")
    capsys.readouterr()
    assert main(["delete-index", "digits"]) == 2
    assert "--yes" in capsys.readouterr().err and "digits" in {i.name for i in Store().list_indexes()}
    assert main(["delete-index", "digits", "--yes"]) == 0
    assert "deleted index 'digits' and 1 concept(s): three" in capsys.readouterr().out
    fresh = Store()
    assert {i.name for i in fresh.list_indexes()} == {"other"}
    assert TeachStore(fresh).concepts("digits") == [] and "items_digits" not in fresh.table_names()
    assert main(["delete-index", "digits", "--yes"]) == 2
    assert "no index named 'digits'" in capsys.readouterr().err


def test_index_page_deletes_an_index_in_a_bucket(s3_workspace):
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store
    from core.teach_store import TeachStore

    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=store)
    TeachSession.create("digits", "three", store=store, target_label="3")
    at = AppTest.from_file(str(ROOT / "views" / "indexes.py"), default_timeout=60).run()
    at.checkbox(key="index_delete_confirm").check().run()
    at.button(key="index_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert Store().list_indexes() == [] and TeachStore(Store()).concepts("digits") == []


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/bkt/ws", "ftp://host/ws", "s3://", "s3:///ws", "s3://bkt//ws",
                                 "s3://bkt/../etc", "s3://bkt/a/./b", "s3://-bad-/ws", "s3://bkt/ws?x=1#y"])
def test_hostile_workspace_uris_are_refused_in_one_line(uri, tmp_path, monkeypatch, capsys):
    from core.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEWSHOT_HOME", uri)
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and repr(uri) in err, err
    assert list(tmp_path.iterdir()) == []  # no local folder named "http:"


def test_ordinary_workspace_uris_are_accepted(tmp_path):
    from core.storage import Location

    assert Location("s3://bkt/ws/").uri == "s3://bkt/ws"
    assert Location("s3://Legacy_Bucket/ws").uri == "s3://Legacy_Bucket/ws"  # pre-2018 S3 names are still valid
    assert Location("s3://my.bucket-1/with space/ünïcode").uri == "s3://my.bucket-1/with space/ünïcode"
    assert Location(f"file://{tmp_path}/ws").uri == str(tmp_path / "ws")
    assert Location("gs://bkt/ws").uri == "gs://bkt/ws" and Location("az://container/ws").uri == "az://container/ws"


def test_store_messages_an_outside_tester_found_wanting(monkeypatch, capsys, tmp_path):
    """Wrong credentials in pyarrow's spelling got no advice; an endpoint's user:password was shown; a Ray timeout
    re-raised `from None` read as an unreachable endpoint; Azure without an account was a TypeError traceback;
    a mistyped bucket URI became a local folder in the working directory."""
    from core.cli import main
    from core.os_errors import explain_remote
    from core.storage import Location

    where = Location("s3://bkt/ws", {"aws_endpoint": "http://user:PassInUrl77@127.0.0.1:9"})
    for code in ("SIGNATURE_DOES_NOT_MATCH", "INVALID_ACCESS_KEY_ID"):
        error = explain_remote(OSError(f"When listing objects: AWS Error {code} during ListObjectsV2"), where)
        assert error is not None and "access was refused; check the credentials" in str(error)
    error = explain_remote(OSError("error sending request: connection refused"), where)
    assert "could not be reached" in str(error) and "PassInUrl77" not in str(error) and "127.0.0.1:9" in str(error)

    def ray_timeout():
        try:
            raise TimeoutError("Get timed out: some object(s) not ready")
        except TimeoutError:
            raise RuntimeError("Ray did not answer within 40 s; use fewer shards (FEWSHOT_RAY_SHARDS)") from None

    with pytest.raises(RuntimeError) as caught:
        ray_timeout()
    assert explain_remote(caught.value, where) is None  # its own message stays

    monkeypatch.chdir(tmp_path)
    for key in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "FEWSHOT_STORAGE_OPTIONS"):
        monkeypatch.delenv(key, raising=False)
    for home, said in (("az://cont/ws", "no Azure storage account was given"),
                       ("s3:/bkt/ws", "looks like a mistyped s3:// URI"), ("s3//bkt/ws", "mistyped s3://"),
                       (" s3://bkt/ws", "mistyped s3://"), ("gs:bkt", "mistyped gs://")):
        monkeypatch.setenv("FEWSHOT_HOME", home)
        assert main(["list"]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # no folder named s3: or s3 left in the working directory


def test_the_app_says_an_unreachable_bucket_in_one_line(monkeypatch):
    """An outside tester: the Index, Teach and Validate pages showed the one-line storage error as an uncaught
    exception (with Streamlit's traceback under it)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("AWS_ENDPOINT", f"http://user:PassInUrl77@127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("FEWSHOT_HOME", "s3://some-bucket/ws")
    monkeypatch.setenv("FEWSHOT_AUTO_MAP", "0")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value.replace("\\", "").replace("\u200b", "") for e in at.error]  # the Markdown source, unescaped
    assert any("could not be reached" in e and "s3://some-bucket/ws" in e for e in shown), shown
    assert not any("PassInUrl77" in e for e in shown)


def test_a_second_build_of_a_bucket_index_is_refused_while_the_first_holds_its_lease(s3_workspace, monkeypatch):
    """An outside tester: two builds of one index into a bucket at once stored 3,338 rows for 1,797 ids and called
    the index complete. A build holds a renewed lease; a second one is refused; a dead build's lease goes stale."""
    import threading
    import time

    import core.build_lock as build_lock_module
    from core.build_lock import BuildInProgress, build_lock
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    store = Store()
    monkeypatch.setattr(build_lock_module, "RENEW_LEASE_S", 0.2)
    inside, release = threading.Event(), threading.Event()

    def first() -> None:
        with build_lock(store.root, "digits"):
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(30)
    other = Store()  # another process's view of the bucket: the in-process guard is not what refuses it
    build_lock_module._HELD.clear()
    try:
        time.sleep(0.6)  # renewed meanwhile
        with pytest.raises(BuildInProgress, match="being built by another process"):
            build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=other)
    finally:
        release.set()
        holder.join(30)
    report = build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=other)
    assert report.added == 1797 and len(other.item_ids("digits")) == 1797
    # a build killed while holding it: its lease is not renewed and goes stale
    monkeypatch.setattr(build_lock_module, "STALE_LEASE_S", 1.0)
    lease = store.root.child("_build_" + __import__("hashlib").sha256(b"digits").hexdigest()[:24] + ".lance")
    import lance
    import pyarrow as pa

    lance.write_dataset(pa.table({"renewed": [time.time()]}), lease.uri, mode="create",
                        storage_options=lease.storage_options or None)
    with pytest.raises(BuildInProgress):
        build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=other)
    time.sleep(1.2)
    assert build_index("digits", parse_source("demo:digits"), load_embedder("pixels:4"), store=other).added == 0


def test_a_bucket_uri_with_a_trailing_space_is_refused(monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setenv("FEWSHOT_HOME", "s3://bkt/ws ")
    assert main(["list"]) == 2
    assert "starts or ends with a space" in capsys.readouterr().err
