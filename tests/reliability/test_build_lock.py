"""Two builds of one index at once used to append every row twice (both saw the same ids as new): the second
is now refused at once, from another thread or another process, and a killed build never blocks the next."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from core.build_lock import BuildInProgress, build_lock
from core.embedders import load_embedder
from core.indexing import build_index
from core.sources import parse_source
from core.store import Store


def test_a_second_build_while_one_runs_is_refused_and_rows_are_never_doubled(workspace_dir):
    store = Store()
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def slow_progress(p) -> None:
        started.set()
        release.wait(30)

    def first() -> None:
        outcome["report"] = build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store,
                                        progress=slow_progress)

    worker = threading.Thread(target=first)
    worker.start()
    assert started.wait(30)
    with pytest.raises(BuildInProgress, match="'digits' is being built by another process or tab"):
        build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    release.set()
    worker.join(60)
    assert outcome["report"].added == 1797
    ids = store.vectors("digits").ids
    assert len(ids) == len(set(ids)) == 1797
    again = build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)  # free again
    assert again.added == 0 and again.already_present == 1797


def test_a_build_in_another_process_holds_the_lock_until_that_process_dies(workspace_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from core.build_lock import build_lock\n"
         f"with build_lock({str(workspace_dir)!r}, 'digits'):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BuildInProgress):
            build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=Store())
        assert not Store().has_index("digits")  # refused before anything was written
    finally:
        holder.kill()  # SIGKILL: the kernel releases the flock
        holder.wait(10)
    deadline = time.monotonic() + 10
    while True:
        try:
            with build_lock(workspace_dir, "digits"):
                break
        except BuildInProgress:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=Store()).added == 1797


def test_an_index_being_built_cannot_be_deleted_and_a_second_build_is_refused_before_its_model_loads(
        workspace_dir, capsys, monkeypatch):
    """``delete-index`` during a build used to succeed; the build then ran on and ended in "no items yet"."""
    import core.embedders
    from core.cli import main
    from core.teach_store import TeachStore

    store = Store()
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    loaded: list[str] = []
    real_load = core.embedders.load_embedder
    monkeypatch.setattr(core.embedders, "load_embedder", lambda *a, **k: loaded.append("model") or real_load(*a, **k))
    with build_lock(workspace_dir, "digits"):  # a build running in this process
        with pytest.raises(BuildInProgress):
            TeachStore(store).delete_index("digits")
        assert main(["delete-index", "digits", "--yes"]) == 2
        assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels"]) == 2
        assert "being built by another process or tab" in capsys.readouterr().err and loaded == []
    assert store.has_index("digits") and len(store.vectors("digits").ids) == 1797
    assert main(["delete-index", "digits", "--yes"]) == 0 and not Store().has_index("digits")
