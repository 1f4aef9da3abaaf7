"""The local engine stays the default and never imports Ray; the CLI explains what --engine ray needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
