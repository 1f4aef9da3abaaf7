"""CLIP through transformers: images and text into one shared, unit-length space.

Private to ``core.embedders`` (use ``load_embedder("clip:...")``). Imported only when a CLIP embedder
is built, because torch and transformers take seconds to import.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from core._embedder_base import (
    ALTERNATIVES,
    BaseEmbedder,
    default_batch_size,
    hub_kwargs,
    load_error,
    pick_device,
    require_config,
    resolve_checkpoint,
    unit_rows,
)
from core.errors import EmbedderError
from core.image_prep import CenterCrop

_WHAT = "CLIP checkpoint"


def _features(output: Any) -> Any:
    """The projected embedding, whatever ``get_*_features`` returned.

    transformers 4.x returns a tensor; 5.x returns a ModelOutput whose ``pooler_output`` holds the
    projected embedding (the same direction as the full model's ``image_embeds`` / ``text_embeds``).
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    return output[0]


def _load_processor(checkpoint: str, **hub: bool) -> Any:
    """The checkpoint's processor, with the fast (torchvision) image processor where it is available.

    transformers 5.x picks the torchvision backend by itself when torchvision is installed and warns
    that ``use_fast`` is deprecated, so it is only passed to 4.x.
    """
    import transformers
    from transformers import AutoProcessor

    if int(transformers.__version__.split(".")[0]) >= 5:
        return AutoProcessor.from_pretrained(checkpoint, **hub)
    try:
        return AutoProcessor.from_pretrained(checkpoint, use_fast=True, **hub)
    except (ImportError, ValueError, TypeError):
        return AutoProcessor.from_pretrained(checkpoint, **hub)


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


class ClipEmbedder(BaseEmbedder):
    """A CLIP model: ``embed_images`` and ``embed_texts`` land in the same space, so a text prompt can
    seed a classifier for images."""

    kind = "clip"
    modalities = frozenset({"image", "text"})

    def __init__(self, checkpoint: str, device: str | None = None, batch_size: int | None = None) -> None:
        checkpoint, is_local = resolve_checkpoint(checkpoint)
        if is_local:
            require_config(checkpoint, _WHAT)
        import torch
        from transformers import AutoConfig, CLIPModel

        hub = hub_kwargs(is_local)  # no hub now: the local cache at once, not 30 s of retries
        try:
            config = AutoConfig.from_pretrained(checkpoint, **hub)
        except Exception as error:  # hub, file and format errors all surface here first
            raise load_error(_WHAT, checkpoint, is_local, error) from error
        if getattr(config, "model_type", None) != "clip":
            raise EmbedderError(
                f"{checkpoint!r} is a {getattr(config, 'model_type', 'unknown')!r} model, not CLIP. "
                f"Use st:{checkpoint} for a sentence-transformers text model, or a CLIP checkpoint. " + ALTERNATIVES
            )
        try:
            model = CLIPModel.from_pretrained(checkpoint, config=config, **hub)
            processor = _load_processor(checkpoint, **hub)
        except Exception as error:
            raise load_error(_WHAT, checkpoint, is_local, error) from error
        tokenizer = getattr(processor, "tokenizer", None)
        image_processor = getattr(processor, "image_processor", None)
        if tokenizer is None or image_processor is None:
            raise EmbedderError(
                f"could not load {_WHAT} {checkpoint!r}: it lacks a tokenizer or an image processor "
                "(tokenizer.json / preprocessor_config.json). " + ALTERNATIVES
            )

        self.device = pick_device(device)
        self._dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        try:
            self._model = model.to(device=self.device, dtype=self._dtype).eval()
        except (RuntimeError, AssertionError) as error:
            raise EmbedderError(
                f"cannot use device {self.device!r} for CLIP ({error}). Leave the device unset to pick "
                "the GPU when there is one and the CPU otherwise."
            ) from error
        self._tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()  # fast tokenizers fail when two threads share one
        self._image_processor = image_processor
        limits = [config.text_config.max_position_embeddings]
        if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
            limits.append(int(tokenizer.model_max_length))
        self._max_length = min(limits)

        self.checkpoint = checkpoint
        self.spec = f"clip:{checkpoint}"
        self.dim = int(config.projection_dim)
        # The model's input side: a decoder may shrink large images towards it (JPEG draft mode,
        # Image.reduce) in its worker threads, which is where end-to-end speed is won on a GPU.
        self.image_size = int(config.vision_config.image_size)
        self.batch_size = int(batch_size or default_batch_size(self.device))
        side, height, width, resample = self._geometry()
        self.image_preparer = CenterCrop(side, height, width, int(resample))

    def _geometry(self) -> tuple[int, int, int, Any]:
        """(shortest edge, crop height, crop width, PIL resample) from the checkpoint's image processor."""
        processor = self._image_processor
        size = getattr(processor, "size", None) or {}
        crop = getattr(processor, "crop_size", None) or {}
        side = int(size.get("shortest_edge") or size.get("height") or self.image_size)
        height = int(crop.get("height") or side) if getattr(processor, "do_center_crop", True) else side
        width = int(crop.get("width") or side) if getattr(processor, "do_center_crop", True) else side
        resample = getattr(processor, "resample", None)
        try:
            resample = Image.Resampling(int(resample))
        except (TypeError, ValueError):
            resample = Image.Resampling.BICUBIC
        return side, height, width, resample

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        """CLIP's geometry on the CPU: shortest side resized, centre crop, as (H, W, 3) uint8.

        Free of torch and picklable (``image_preparer``), so indexing runs it in its decoding
        workers; only the normalisation and the model run in ``embed_prepared``. Matches the image
        processor's own resize-and-crop (PIL bicubic by default).
        """
        return self.image_preparer(image)

    def embed_prepared(self, pixels: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit rows from (n, H, W, 3) uint8 ``prepare_image`` outputs."""
        import torch

        if len(pixels) == 0:
            return self._empty()
        processor = self._image_processor
        mean = torch.tensor(getattr(processor, "image_mean", None) or [0.48145466, 0.4578275, 0.40821073])
        std = torch.tensor(getattr(processor, "image_std", None) or [0.26862954, 0.26130258, 0.27577711])
        scale = float(getattr(processor, "rescale_factor", 1 / 255))
        mean = mean.to(self.device).view(1, 3, 1, 1)
        std = std.to(self.device).view(1, 3, 1, 1)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(pixels), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(pixels[start : start + self.batch_size]))
                if self.device.startswith("cuda"):
                    batch = batch.pin_memory().to(self.device, non_blocking=True)
                values = (batch.permute(0, 3, 1, 2).float() * scale - mean) / std
                features = _features(self._model.get_image_features(pixel_values=values.to(self._dtype)))
                chunks.append(features.float().cpu().numpy())
        return unit_rows(np.concatenate(chunks))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit rows for RGB PIL images (other modes are converted)."""
        self._require("image")
        if len(images) == 0:
            return self._empty()
        return self.embed_prepared(np.stack([self.prepare_image(image) for image in images]))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit rows; each text is truncated to the model's context length."""
        import torch

        self._require("text")
        if len(texts) == 0:
            return self._empty()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = [str(text) for text in texts[start : start + self.batch_size]]
                with self._tokenizer_lock:
                    tokens = self._tokenizer(
                        batch, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
                    )
                features = _features(
                    self._model.get_text_features(
                        input_ids=tokens["input_ids"].to(self.device),
                        attention_mask=tokens["attention_mask"].to(self.device),
                    )
                )
                chunks.append(features.float().cpu().numpy())
        return unit_rows(np.concatenate(chunks))
