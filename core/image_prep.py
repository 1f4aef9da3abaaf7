"""Per-image preparation for the models, as small picklable objects.

Indexing runs these in worker processes beside decoding (threads are held back by Python's lock:
measured on a 16-core GPU host, decode+thumbnail+resize ran 842 images/s on 16 threads and 2,059/s
on 16 processes), so they hold only plain numbers, never a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CenterCrop:
    """CLIP's geometry: shortest side resized to ``side``, centre crop ``height`` x ``width``, uint8 RGB."""

    side: int
    height: int
    width: int
    resample: int = int(Image.Resampling.BICUBIC)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image if image.mode == "RGB" else image.convert("RGB")
        w, h = image.size
        scale = self.side / min(w, h)
        new_w, new_h = max(self.width, round(w * scale)), max(self.height, round(h * scale))
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), Image.Resampling(self.resample))
        left, top = (new_w - self.width) // 2, (new_h - self.height) // 2
        return np.asarray(image.crop((left, top, left + self.width, top + self.height)), dtype=np.uint8)


@dataclass(frozen=True)
class GrayThumb:
    """Grayscale ``size`` x ``size`` uint8 pixels (the raw-pixel embedder)."""

    size: int

    def __call__(self, image: Image.Image) -> np.ndarray:
        gray = image if image.mode == "L" else image.convert("L")
        return np.asarray(gray.resize((self.size, self.size), Image.Resampling.BILINEAR), dtype=np.uint8)
