"""The int8 ONNX text backend on the bundled MiniLM: offline, cached export, vectors close to PyTorch's, and its
spec keeps an index from mixing vectors of the two backends."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from core.embedders import ONNX_INT8, load_embedder, parse_embedder_spec, split_st_backend, text_spec
from core.errors import EmbedderError, EmbedderMismatch

TEXTS = [
    "A pytest plugin to randomise the order of tests",
    "Flask extension that adds CORS headers to your web app",
    "Sphinx theme for readable documentation",
    "napari plugin for segmenting cells in microscopy images",
    "CircuitPython driver for the BME280 temperature sensor",
    "Keyword library for Robot Framework to test REST APIs",
    "Add your description here",
    "x",
    "A very long summary " + "with many repeated words " * 80,
]


@pytest.fixture
def onnx_cache():
    """The session's export cache (tests/conftest.py): one export (~10 s on 2 idle cores) for every test."""
    from pathlib import Path

    return Path(os.environ["FEWSHOT_MODEL_CACHE"])


@pytest.fixture
def onnx_embedder(onnx_cache):
    return load_embedder(f"st:minilm@{ONNX_INT8}")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("st:minilm@onnx-int8", ("st", "minilm@onnx-int8")),
        ("st:minilm@ONNX-INT8 ", ("st", "minilm@onnx-int8")),
        ("st:minilm@torch", ("st", "minilm")),  # torch is the default: old indexes' "st:minilm" stays the same
        ("st:/models/me@home/minilm", ("st", "/models/me@home/minilm")),  # an @ that names no backend is a path
        ("st:@onnx-int8", None),
    ],
)
def test_backend_suffix_parsing(spec, expected):
    if expected is None:
        with pytest.raises(EmbedderError, match="no model before"):
            parse_embedder_spec(spec)
    else:
        assert parse_embedder_spec(spec) == expected


def test_text_spec_and_split_are_inverse():
    assert text_spec("minilm", ONNX_INT8) == "st:minilm@onnx-int8"
    assert text_spec("minilm", "torch") == "st:minilm"
    assert split_st_backend("minilm@onnx-int8") == ("minilm", ONNX_INT8)


def test_onnx_backend_loads_offline_and_records_its_backend(onnx_embedder, onnx_cache):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert onnx_embedder.spec == "st:minilm@onnx-int8"
    assert onnx_embedder.checkpoint.endswith("@onnx-int8")
    assert onnx_embedder.describe()["spec"].endswith("@onnx-int8")
    assert onnx_embedder.dim == 384 and onnx_embedder.device == "cpu"
    exported = list(onnx_cache.glob("onnx/minilm-*/model_int8.onnx"))
    assert len(exported) == 1
    vectors = onnx_embedder.embed_texts(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_export_is_reused_not_redone(onnx_embedder, onnx_cache, monkeypatch):
    exported = next(onnx_cache.glob("onnx/minilm-*/model_int8.onnx"))
    before = exported.stat().st_mtime_ns
    import core._st_onnx as st_onnx

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds the model")

    monkeypatch.setattr(st_onnx, "_export", no_export)
    again = load_embedder(f"st:minilm@{ONNX_INT8}")
    assert exported.stat().st_mtime_ns == before
    np.testing.assert_array_equal(again.embed_texts(TEXTS[:3]), onnx_embedder.embed_texts(TEXTS[:3]))


def test_vectors_agree_with_pytorch_and_keep_the_neighbours(onnx_embedder):
    torch_vectors = load_embedder("st:minilm", device="cpu").embed_texts(TEXTS)
    onnx_vectors = onnx_embedder.embed_texts(TEXTS)
    cosine = (torch_vectors * onnx_vectors).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98, cosine
    # Dynamic quantization scales activations per call, so a text embedded alone (a prompt) moves by about
    # as much as quantization itself moves it: still the same direction.
    alone = onnx_embedder.embed_texts([TEXTS[1]])[0]
    assert float(alone @ onnx_vectors[1]) > 0.97
    assert float(alone @ torch_vectors[1]) > 0.95
    # The nearest other text of each text is the same under both backends.
    sim_t, sim_o = torch_vectors @ torch_vectors.T, onnx_vectors @ onnx_vectors.T
    np.fill_diagonal(sim_t, -2)
    np.fill_diagonal(sim_o, -2)
    assert (sim_t.argmax(axis=1) == sim_o.argmax(axis=1)).mean() >= 0.85


def test_an_index_refuses_vectors_from_the_other_backend(onnx_embedder, tmp_path):
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    table = tmp_path / "t.csv"
    table.write_text("id,text\n" + "\n".join(f"r{i},{t.replace(',', ' ')}" for i, t in enumerate(TEXTS)) + "\n")
    store = Store(tmp_path / "ws")
    build_index("texts", parse_source(f"file:{table}"), onnx_embedder, store=store)
    assert store.get_index("texts").embedder == "st:minilm@onnx-int8"
    with pytest.raises(EmbedderMismatch, match="onnx-int8"):
        build_index("texts", parse_source(f"file:{table}"), load_embedder("st:minilm", device="cpu"), store=store)


def test_models_the_onnx_path_cannot_reproduce_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_MODEL_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "cls-model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(EmbedderError, match="mean pooling"):
        load_embedder(f"st:{model}@{ONNX_INT8}")
    with pytest.raises(EmbedderError, match="hub id"):
        load_embedder(f"st:someone/some-model@{ONNX_INT8}")
    assert not (tmp_path / "cache").exists()  # nothing exported for a refused model


def test_a_pooling_folder_outside_the_model_folder_is_neither_read_nor_probed(tmp_path, monkeypatch):
    """``modules.json`` is the model's (an upload, maybe): its Pooling path was read as given, so an absolute or
    ``../`` path showed keys of another folder's config.json and told a missing path from an existing one."""
    monkeypatch.setenv("FEWSHOT_MODEL_CACHE", str(tmp_path / "cache"))
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_KEY_x1": True}))
    (tmp_path / "link-target").mkdir()
    messages = []
    for name, path in [("abs", str(secret)), ("missing", str(tmp_path / "nothere")), ("up", "../secret"),
                       ("up-missing", "../nothere"), ("link", "linked")]:
        model = tmp_path / name
        model.mkdir()
        (model / "config.json").write_text("{}")
        (model / "linked").symlink_to(secret)
        (model / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": path, "type": "sentence_transformers.models.Pooling"},
        ]))
        with pytest.raises(EmbedderError) as caught:
            load_embedder(f"st:{model}@{ONNX_INT8}")
        messages.append(str(caught.value).replace(name, "NAME"))
    assert len(set(messages)) == 1, messages
    assert "outside the model folder" in messages[0] and "KEY" not in messages[0] and "Errno" not in messages[0]
