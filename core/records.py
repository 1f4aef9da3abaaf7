"""The unit every source yields and indexing consumes.

Decoding is deferred: a record carries a loader for its image, not pixels, so resuming an index
skips already-indexed items without opening them, and decoding can run in worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from PIL import Image

Modality = Literal["image", "text"]
TRAIN = "train"
VALIDATION = "validation"
SPLITS = (TRAIN, VALIDATION)


@dataclass
class Record:
    """One item of a source.

    id: stable across runs of the same source (used to resume without duplicates).
    split: ``"train"`` or ``"validation"``.
    label: ground-truth label as a string, or None when the source has none (the first label column's value).
    labels: one value per label column of the source (``Source.label_columns``), in order, when it has
        several; None means ``(label,)``.
    text: the text, for text sources.
    load_image: returns an RGB, EXIF-oriented PIL image; raises ``UnreadableItem``. Takes an optional
        ``draft_size`` keyword: JPEGs may then decode at a reduced scale keeping both sides >= it.
    uri: where the original lives (path, ``hf://...``, ``demo:digits#i``).
    """

    id: str
    split: str
    uri: str
    label: str | None = None
    text: str | None = None
    load_image: Callable[..., Image.Image] | None = None
    labels: tuple[str | None, ...] | None = None

    @property
    def modality(self) -> Modality:
        return "text" if self.load_image is None else "image"
