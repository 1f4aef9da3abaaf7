"""Pieces every embedder shares: unit-length float32 rows, device choice, and load errors a person can act on.

Private to ``core.embedders``; kept apart so the CLIP module and the public one can both use them
without importing each other. Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EmbedderError

ALTERNATIVES = (
    "Use a local directory (clip:/path/to/model or st:/path/to/model), or one that works offline: pixels for images "
    "(grey pixels, a baseline) or st:minilm for texts (bundled)."
)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", re.ASCII)  # used with fullmatch


class BaseEmbedder:
    """Attributes and checks common to every embedder; subclasses set them and embed."""

    spec: str
    kind: str
    checkpoint: str
    dim: int
    modalities: frozenset[str]
    batch_size: int
    device: str
    image_size: int | None  # side of the model's image input (None: text only); a hint for decoders

    def describe(self) -> dict[str, Any]:
        """What an index records about the embedder that built it."""
        return {"spec": self.spec, "kind": self.kind, "checkpoint": self.checkpoint, "dim": self.dim}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} dim={self.dim} device={self.device}>"

    def _require(self, modality: str) -> None:
        if modality not in self.modalities:
            can = " and ".join(sorted(self.modalities))
            raise EmbedderError(
                f"the {self.spec} embedder cannot embed {modality}s, only {can}. "
                f"Pick an embedder that handles {modality}s (clip handles both images and text)."
            )

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)


def unit_rows(vectors: Any) -> np.ndarray:
    """Rows scaled to unit length as C-contiguous float32; an all-zero row becomes a fixed unit vector.

    Every consumer (cosine search, the linear head) assumes unit rows, so this is enforced here once
    rather than trusted to each model's own normalisation.
    """
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    degenerate = ~np.isfinite(norms[:, 0]) | (norms[:, 0] < 1e-12)
    safe = np.where(degenerate[:, None], 1.0, norms)
    array = array / safe
    if degenerate.any():
        array[degenerate] = 1.0 / np.sqrt(array.shape[1])
    return np.ascontiguousarray(array, dtype=np.float32)


_DEVICE = re.compile(r"(cpu|cuda|mps)(:\d{1,3})?")


def pick_device(device: str | None) -> str:
    """``device`` if given and usable, else ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    An unusable one is refused by name: ``--device cuda`` on a machine without CUDA used to surface as "the
    bundled model is not a usable sentence-transformers model"."""
    import torch

    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = device.strip().lower()
    if not _DEVICE.fullmatch(device):
        raise EmbedderError(f"unknown device {device[:40]!r}: use cpu, cuda (or cuda:N for the N-th GPU), or leave "
                            "it out to use a GPU when there is one")
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            found = f"{count} CUDA GPU{'s' * (count != 1)}" if count else "no CUDA GPU that torch can use"
            raise EmbedderError(f"device {device!r}: this machine has {found}; use --device cpu, or leave --device "
                                "out to use a GPU when there is one")
    if device == "mps" and not torch.backends.mps.is_available():
        raise EmbedderError("device 'mps': this machine has no Apple GPU that torch can use; use --device cpu")
    return device


def default_batch_size(device: str) -> int:
    return 256 if device.startswith("cuda") else 64


def is_hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_kwargs(is_local: bool) -> dict[str, bool]:
    """``local_files_only=True`` for a hub id when the hub cannot be reached now (``core.hub_probe``): the load
    reads the local cache at once, or fails at once, instead of after ~30 s of retries. Empty otherwise."""
    if is_local or is_hub_offline():
        return {}
    from core.hub_probe import hub_reachable

    return {} if hub_reachable() else {"local_files_only": True}


def resolve_checkpoint(checkpoint: str) -> tuple[str, bool]:
    """(checkpoint, is_local): an existing or path-like checkpoint becomes an absolute directory path.

    A hub id stays as written. Anything that looks like a path but does not exist is refused here, so
    the person reads "directory not found" instead of a hub error about an invalid repo id.
    """
    text = checkpoint.strip()
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise EmbedderError(
                f"{text!r} is a file, not a model directory. Point at the folder that holds config.json. "
                + ALTERNATIVES
            )
        return str(path.resolve()), True
    if _HUB_ID.fullmatch(text) and not text.startswith("."):
        return text, False
    raise EmbedderError(f"model directory {text!r} not found. Check the path. " + ALTERNATIVES)


def require_config(directory: str, what: str) -> None:
    """Refuse a local directory without config.json before a loader reports something obscure."""
    if not (Path(directory) / "config.json").is_file():
        raise EmbedderError(
            f"could not load {what} {directory!r}: the directory has no config.json, so it is not a model "
            "saved with save_pretrained. " + ALTERNATIVES
        )


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def load_error(what: str, checkpoint: str, is_local: bool, error: BaseException) -> EmbedderError:
    """Translate a loader's exception (hub, file or format trouble) into an actionable EmbedderError."""
    names = {type(e).__name__ for e in _chain(error)}
    text = " ".join(str(e) for e in _chain(error)).lower()
    subject = f"could not load {what} {checkpoint!r}"
    if is_local:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return EmbedderError(
            f"{subject}: the directory is not a usable {what} ({detail}). "
            "It should hold config.json, the weights and the tokenizer files, as saved by save_pretrained. "
            + ALTERNATIVES
        )
    if names & {"RepositoryNotFoundError", "HFValidationError"} or "is not a valid model identifier" in text:
        return EmbedderError(
            f"{subject}: no such model on the Hugging Face hub (or it is private). "
            "Check the spelling, or log in with `hf auth login` for a private model. " + ALTERNATIVES
        )
    if "GatedRepoError" in names:
        return EmbedderError(
            f"{subject}: the model is gated on the Hugging Face hub. Accept its terms on the hub and log in "
            "with `hf auth login`. " + ALTERNATIVES
        )
    offline = is_hub_offline() or names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled"}
    network = any(word in text for word in ("connect", "connection", "offline", "outgoing traffic", "timed out"))
    if offline or network:
        reason = (
            "the Hugging Face hub is offline (HF_HUB_OFFLINE=1)"
            if is_hub_offline()
            else "no internet connection to the Hugging Face hub"
        )
        return EmbedderError(
            f"{subject}: {reason} and no local copy in the cache. Connect once to download it, or "
            + ALTERNATIVES[0].lower()
            + ALTERNATIVES[1:]
        )
    if "EntryNotFoundError" in names:
        return EmbedderError(
            f"{subject}: the hub repository lacks a file the loader needs; it is probably not a "
            f"transformers {what}. " + ALTERNATIVES
        )
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return EmbedderError(f"{subject}: {detail}. " + ALTERNATIVES)


def confine_checkpoint(checkpoint: str, what: str) -> str:
    """For the app: an absolute model folder inside the data roots, or an ``owner/name`` hub id.

    Relative paths are looked up inside the roots, never the working directory; a refusal reads
    the same whether or not something exists outside the roots (see ``core.confine``).
    """
    from core.confine import ShadowedHubId, local_or_hub
    from core.errors import SourceError

    try:
        name, local = local_or_hub(checkpoint, what, "openai/clip-vit-base-patch32")
    except ShadowedHubId:
        raise _hub_refusal(what, checkpoint.strip()) from None
    except SourceError as exc:
        raise EmbedderError(str(exc)) from None
    if local:
        if not Path(name).is_dir():
            raise EmbedderError(
                f"{what} folder {name!r} not found inside the data folders (or it is a file). Point at the folder "
                "that holds config.json. " + ALTERNATIVES
            )
        require_config(name, what)
    return name


def _hub_refusal(what: str, checkpoint: str) -> EmbedderError:
    """What ``load_error`` says for a hub id the hub cannot provide on this server, offline or not."""
    if is_hub_offline():
        cause: BaseException = type("LocalEntryNotFoundError", (Exception,), {})("offline")
    else:
        from core.hub_probe import hub_reachable

        online = hub_reachable()
        cause = type("RepositoryNotFoundError" if online else "ConnectionError", (Exception,), {})("connection")
    return load_error(what, checkpoint, False, cause)
