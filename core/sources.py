"""Datasets -> ``Record``s: the built-in digits demo, image folders, text tables, Hugging Face.

This module is the public face; each kind of source lives in its own small module. Heavy
libraries (datasets, sklearn, pandas, pyarrow) are imported only when a source is used, so
importing ``core.sources`` stays cheap for the app's start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from core.config import VALIDATION_FRACTION, check_data_path, data_roots
from core.errors import SourceError
from core.records import TRAIN, VALIDATION, Record
from core.source_base import Source, hash_split, map_split_name
from core.source_folder import IMAGE_EXTENSIONS, ImageFolder
from core.source_hf import HuggingFaceDataset
from core.source_table import TextTable

__all__ = [
    "IMAGE_EXTENSIONS",
    "DigitsDemo",
    "HuggingFaceDataset",
    "ImageFolder",
    "Source",
    "TextTable",
    "hash_split",
    "looks_local",
    "map_split_name",
    "parse_source",
]

SPEC_FORMS = (
    "demo:digits (built-in, offline), folder:PATH (a folder of images), "
    "file:PATH (a CSV/TSV/Parquet/JSONL table of texts), hf:ID (a Hugging Face dataset, e.g. hf:frgfm/imagenette)"
)
DEMOS = ("digits",)
DIGITS_SIZE = 32
DIGITS_SEED = 0


class DigitsDemo:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, labels "0".."9"), offline.

    Upscaled to 32x32 RGB with dark ink on white (the raw data is ink intensity 0..16), so
    image models see something like a written digit. The split is stratified per digit with
    a fixed seed: the same ~20% of each digit is validation on every run and machine.
    """

    spec = "demo:digits"
    modality: Literal["image", "text"] = "image"

    def __init__(self, validation_fraction: float = VALIDATION_FRACTION) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        self.label_columns: list[str] = ["label"]  # one label: the class
        self._images = np.asarray(digits.images, dtype=np.float32)
        self._labels = [str(int(t)) for t in digits.target]
        self.validation_fraction = validation_fraction
        self._splits = _stratified_split(np.asarray(digits.target), validation_fraction, DIGITS_SEED)

    def __iter__(self) -> Iterator[Record]:
        for i, label in enumerate(self._labels):
            yield Record(
                id=f"digits-{i}",
                split=self._splits[i],
                uri=f"demo:digits#{i}",
                label=label,
                load_image=partial(_digit_image, self._images[i]),
            )

    def count(self) -> int:
        return len(self._labels)

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "demo",
            "name": "digits",
            "image_size": DIGITS_SIZE,
            "validation_fraction": self.validation_fraction,
            "seed": DIGITS_SEED,
        }


def _stratified_split(targets: np.ndarray, fraction: float, seed: int) -> list[str]:
    """Per class, a seeded permutation's first round(fraction * n) items are validation."""
    splits = [TRAIN] * len(targets)
    rng = np.random.default_rng(seed)
    for cls in np.unique(targets):
        members = np.flatnonzero(targets == cls)
        chosen = rng.permutation(members)[: int(round(fraction * len(members)))]
        for i in chosen:
            splits[int(i)] = VALIDATION
    return splits


def _digit_image(pixels: np.ndarray, draft_size: int | None = None) -> Image.Image:
    """8x8 ink values 0..16 -> 32x32 RGB, dark ink on white (``draft_size`` is moot at this size)."""
    grey = (255.0 - np.clip(pixels, 0, 16) * (255.0 / 16.0)).round().astype(np.uint8)
    small = Image.fromarray(grey)
    return small.resize((DIGITS_SIZE, DIGITS_SIZE), Image.Resampling.BICUBIC).convert("RGB")


def parse_source(spec: str, *, confine: bool = False, **options: Any) -> Source:
    """A source from its spec: ``demo:digits``, ``folder:PATH``, ``file:PATH`` or ``hf:ID``.

    Options (None means "not given"): text_column, label_column (one name or a list), label_columns,
    image_column, id_column,
    split_column, config, split (e.g. "train" or "train,validation"), validation_fraction,
    streaming. An option that does not apply to the kind of source is an error, so a typo
    never silently does nothing.

    confine: local paths (folder, file, or a local ``hf:`` dataset folder) must lie inside
    ``core.config.data_roots()`` after resolving symlinks, else ``SourceError``. The app sets it
    for paths a person types; the CLI, run by the machine's owner, does not.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise SourceError(f"cannot read the source {spec!r}; use one of: {SPEC_FORMS}")
    kind, _, rest = spec.strip().partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    given = {k: v for k, v in options.items() if v is not None}
    if kind not in {"demo", "folder", "file", "hf"}:
        raise SourceError(f"unknown source kind {kind!r} in {spec!r}; use one of: {SPEC_FORMS}")
    if not rest:
        raise SourceError(f"the source {spec!r} names nothing after '{kind}:'; use one of: {SPEC_FORMS}")
    if kind == "demo":
        _only(given, spec, {"validation_fraction"})
        if rest.lower() not in DEMOS:
            raise SourceError(f"unknown demo {rest!r}; built-in demos: {', '.join(DEMOS)}")
        return DigitsDemo(**given)
    if kind == "folder":
        _only(given, spec, {"validation_fraction"})
        # Links may lead into the data folders in the app; the command line follows them anywhere.
        return ImageFolder(_local_path(rest, confine), link_roots=tuple(data_roots()) if confine else None, **given)
    if kind == "file":
        _only(given, spec, {"text_column", "label_column", "label_columns", "id_column", "split_column",
                            "validation_fraction"})
        return TextTable(_local_path(rest, confine), **given)
    _only(given, spec, {"text_column", "label_column", "label_columns", "image_column", "config", "split",
                        "streaming"})
    config = str(given.get("config") or "")
    if confine and (".." in config or config.startswith(("/", "~", "\\")) or "\0" in config):
        raise SourceError(f"config {config[:80]!r} is not a config name; use a name such as 320px")
    split = given.pop("split", "train")
    splits = [s.strip() for s in split.split(",")] if isinstance(split, str) else list(split)
    return HuggingFaceDataset(_hf_id(rest, confine), splits=tuple(s for s in splits if s), confine=confine, **given)


def _only(given: dict[str, Any], spec: str, allowed: set[str]) -> None:
    extra = sorted(set(given) - allowed)
    if extra:
        raise SourceError(
            f"option(s) {', '.join(extra)} do not apply to {spec!r}"
            + (f"; it accepts: {', '.join(sorted(allowed))}" if allowed else "")
        )


def _local_path(text: str, confine: bool = False) -> Path:
    if confine:
        return check_data_path(text)
    return Path(text).expanduser().resolve()


def looks_local(text: str) -> bool:
    """Whether a dataset or model id names a local path rather than a hub id."""
    if text.startswith(("/", "~", ".")):
        return True
    try:
        return Path(text).expanduser().is_dir()
    except (OSError, ValueError):
        return False


def _hf_id(text: str, confine: bool = False) -> str:
    """Hub ids stay as they are; something that looks like a local path is expanded and resolved.

    Confined (the app): a folder inside the data roots or an ``owner/name`` hub id, never a builder
    name (``csv``, ``text``, ...) or a name the loader would find in the working directory.
    """
    if not confine:
        return str(_local_path(text)) if looks_local(text) else text
    from core.confine import ShadowedHubId, check_dataset_card, check_links_inside, local_or_hub
    from core.source_hf import hub_unavailable

    try:
        name, local = local_or_hub(text, "dataset", "frgfm/imagenette")
    except ShadowedHubId:
        raise SourceError(hub_unavailable(text.strip())) from None
    if local:
        check_dataset_card(name)
        check_links_inside(name)
    return name
