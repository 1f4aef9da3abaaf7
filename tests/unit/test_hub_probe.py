"""A hub model load on a machine that cannot reach the hub: it reads the local cache, or fails, at once.

Before, ``huggingface_hub`` retried every request five times with back-off, so an offline machine waited about
30 s on a folder source's default CLIP before the message. The loads run in a subprocess without
``HF_HUB_OFFLINE`` (the hub library reads it once, at import) against a closed local port as the hub.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from core.hub_probe import hub_reachable

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_probe_tells_an_open_port_from_a_closed_one(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert hub_reachable(f"http://127.0.0.1:{server.getsockname()[1]}")
    assert not hub_reachable(f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")  # behind a proxy a direct probe would be wrong
    assert hub_reachable(f"http://127.0.0.1:{_closed_port()}")


def _cache_as_hub_download(model_dir: Path, hf_home: Path, repo: str) -> None:
    """Lay ``model_dir`` out the way ``huggingface_hub`` caches a downloaded repository."""
    revision = "0" * 40
    cached = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (cached / "refs").mkdir(parents=True)
    (cached / "refs" / "main").write_text(revision)
    shutil.copytree(model_dir, cached / "snapshots" / revision)


_LOAD = """
import sys
from core.embedders import load_embedder
from core.errors import FewshotError
try:
    embedder = load_embedder(sys.argv[1])
    print("LOADED", embedder.embed_texts(["a photo of a cat"]).shape)
except FewshotError as exc:
    print("REFUSED", exc)
"""


def _load_without_hub(spec: str, hf_home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE") and "PROXY" not in k.upper()}
    env.update(HF_HOME=str(hf_home), HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _LOAD, spec], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_a_cached_hub_model_loads_and_an_uncached_one_is_refused_without_retries(tiny_clip_dir, tmp_path):
    hf_home = tmp_path / "hf"
    _cache_as_hub_download(Path(tiny_clip_dir), hf_home, "tester/tiny-clip")

    cached = _load_without_hub("clip:tester/tiny-clip", hf_home)
    assert "LOADED (1, 16)" in cached.stdout, cached.stdout + cached.stderr
    assert "Retrying" not in cached.stderr, cached.stderr

    missing = _load_without_hub("clip:tester/not-downloaded", hf_home)
    assert "REFUSED" in missing.stdout and "no internet connection" in missing.stdout, missing.stdout + missing.stderr
    assert "Retrying" not in missing.stderr, missing.stderr

    text = _load_without_hub("st:tester/not-downloaded", hf_home)
    assert "REFUSED" in text.stdout and "no internet connection" in text.stdout, text.stdout + text.stderr
    assert "Retrying" not in text.stderr, text.stderr
