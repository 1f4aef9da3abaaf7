"""The local engine stays the default and never imports Ray; the CLI explains what --engine ray needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from core.cli import main
assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels"]) == 0
from core.session import TeachSession
session = TeachSession.create("digits", "three", target_label="3")
for name in ("nearest", "boundary", "mixed", "random", "diverse"):
    assert len(session.next_batch(5, strategy=name, seed=0)) == 5
session.submit({c.item_id: 1.0 for c in session.next_batch(5, seed=1)})
assert session.scoring_backend()[0].name == "numpy"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "lance_ray"))
print("LOADED", loaded)
assert not loaded, loaded
"""


def test_local_indexing_and_teaching_import_no_ray(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "FEWSHOT_HOME": str(tmp_path / "ws"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stdout


def test_ray_options_without_the_ray_engine_are_refused(capsys):
    from core.cli import main

    assert main(["index", "--name", "x", "--source", "demo:digits", "--embedder", "pixels", "--actors", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_a_ray_address_that_cannot_be_reached_is_one_line_and_leaves_no_index(workspace_dir, capsys):
    """``--ray-address auto`` with no Ray running used to end in a Ray traceback and leave an empty index
    listed as "building"; the connection is now made before anything is written."""
    ray = pytest.importorskip("ray", reason="pip install -r requirements-scale.txt")
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process")
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():  # what "auto" looks for: another process on this machine runs a Ray cluster
        pytest.skip("a Ray cluster runs on this machine, so 'auto' reaches it")
    from core.cli import main
    from core.store import Store

    code = main(["index", "--name", "nowhere", "--source", "demo:digits", "--embedder", "pixels", "--engine", "ray",
                 "--ray-address", "auto"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot connect to Ray at 'auto'" in err and "Traceback" not in err
    assert not Store().has_index("nowhere") and Store().list_indexes() == []


def test_an_interrupted_ray_build_says_only_finished_chunks_are_kept(workspace_dir, capsys, monkeypatch):
    """Ray commits chunks of 50,000: "what was embedded is kept" promised work that a smaller run loses."""
    pytest.importorskip("ray", reason="pip install -r requirements-scale.txt")
    import core.scale.ray_index as ray_index
    from core.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_index, "build_index_ray", interrupted)
    code = main(["index", "--name", "x", "--source", "demo:digits", "--embedder", "pixels", "--engine", "ray"])
    assert code == 130 and "finished chunks of 50,000 items are kept" in capsys.readouterr().err


def test_a_ray_address_where_nothing_answers_fails_at_once(workspace_dir, capsys, monkeypatch):
    """An outside tester: --ray-address 127.0.0.1:6999 sat at 0% for 6.8 minutes with only Ray's own warnings;
    FEWSHOT_SCORING=ray without Ray installed was an 11-frame ImportError traceback."""
    import socket
    import time

    pytest.importorskip("ray", reason="pip install -r requirements-scale.txt")
    from core.cli import main
    from core.errors import FewshotError
    from core.scale.ray_shards import connect_ray

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code = main(["index", "--name", "far", "--source", "demo:digits", "--embedder", "pixels", "--engine", "ray",
                 "--ray-address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - started < 30
    assert f"cannot connect to Ray at '127.0.0.1:{port}'" in err and "Traceback" not in err, err
    assert err.count("cannot connect to Ray") == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(FewshotError, match="Ray is not installed here: pip install -r requirements-scale.txt"):
        connect_ray(None)
