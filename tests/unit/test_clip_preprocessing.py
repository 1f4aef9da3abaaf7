"""The pipeline's own CLIP preprocessing (resize and crop in worker threads) matches the processor's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.embedders import load_embedder


@pytest.mark.parametrize("size", [(50, 40), (32, 32), (20, 90), (300, 200)])
def test_prepared_pixels_match_the_image_processor(tiny_clip_dir, size):
    import torch

    embedder = load_embedder(f"clip:{tiny_clip_dir}", device="cpu")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    ours = np.array(embedder.prepare_image(image))
    assert ours.dtype == np.uint8 and ours.shape == (embedder.image_size, embedder.image_size, 3)
    processor = embedder._image_processor
    reference = processor(images=[image], return_tensors="pt")["pixel_values"][0]
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_std).view(3, 1, 1)
    ours_normalised = (torch.from_numpy(ours).permute(2, 0, 1).float() / 255 - mean) / std
    # identical geometry; values may differ by one step of 8-bit rounding
    assert torch.allclose(ours_normalised, reference, atol=2.5 / 255 / min(processor.image_std))


def test_embed_images_equals_embed_prepared(tiny_clip_dir):
    embedder = load_embedder(f"clip:{tiny_clip_dir}", device="cpu")
    images = [Image.new("RGB", (40 + i, 33), (i * 20, 100, 200 - i * 10)) for i in range(5)]
    direct = embedder.embed_images(images)
    prepared = embedder.embed_prepared(np.stack([embedder.prepare_image(i) for i in images]))
    np.testing.assert_allclose(direct, prepared, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(direct, axis=1), 1.0, atol=1e-5)
