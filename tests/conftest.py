"""Shared fixtures: no network, a private workspace per test, one tiny CLIP and one MiniLM per test session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("FEWSHOT_AUTO_MAP", "0")  # no background UMAP fits unless a test asks (core/projection_auto)
_OWN_FOLDERS: list[str] = []  # made by this process (not inherited from a parent run): removed at exit


def _session_folder(variable: str, prefix: str) -> None:
    if variable not in os.environ:
        os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
        _OWN_FOLDERS.append(os.environ[variable])


# datasets writes lock files into its cache even for local data: keep them out of the home folder.
_session_folder("HF_DATASETS_CACHE", "fewshot-hf-datasets-")
# The int8 ONNX text model is exported once per test session (not once per test's workspace); the browser
# tests' servers inherit this too.
_session_folder("FEWSHOT_MODEL_CACHE", "fewshot-models-")
_CREATOR_PID = os.getpid()
atexit.register(lambda: os.getpid() == _CREATOR_PID and [shutil.rmtree(f, ignore_errors=True) for f in _OWN_FOLDERS])


@pytest.fixture(autouse=True)
def workspace_dir(tmp_path, monkeypatch):
    """Point FEWSHOT_HOME at a fresh directory so no test sees another's data."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("FEWSHOT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def minilm():
    """The bundled offline text model (``st:minilm``), loaded once for every test that indexes real text."""
    from core.embedders import load_embedder

    return load_embedder("st:minilm")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A randomly initialised CLIP saved like a hub checkpoint, loaded through the real code path."""
    from tests.helpers.tiny_clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))
