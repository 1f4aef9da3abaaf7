"""Decode any image a user may bring into a loaded, EXIF-oriented RGB picture, or say why not.

Every failure (empty file, not an image, truncated, decompression bomb) becomes ``UnreadableItem``
with a short reason, because indexing skips such items and reports the reason to the person.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.config import THUMBNAIL_SIZE
from core.errors import UnreadableItem

#: Largest image (width x height) we decode; PIL's own default (~89M pixels). Raise it here for
#: huge scans; above twice ``PIL.Image.MAX_IMAGE_PIXELS`` PIL itself refuses, so raise that too.
MAX_IMAGE_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485

ImageSource = str | Path | bytes | bytearray | memoryview | Image.Image

#: Peak bytes per decoded pixel: the decoded picture plus the orientation/RGB/alpha copies (RGBA ~4x4).
BYTES_PER_DECODED_PIXEL = 16
#: Non-JPEG pictures above this many pixels are reduced by a whole factor right after decoding.
REDUCE_ABOVE_PIXELS = 16_000_000
DECODE_MEMORY_ENV = "FEWSHOT_DECODE_MEMORY_MB"

_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def open_image(
    src: ImageSource,
    *,
    max_pixels: int | None = None,
    draft_size: int | None = None,
) -> Image.Image:
    """A fully loaded RGB image from a path, bytes or a PIL image, with EXIF orientation applied.

    max_pixels: the decompression-bomb limit (default ``MAX_IMAGE_PIXELS``).
    draft_size: when set, JPEGs are decoded at a reduced scale that still keeps both sides
    >= draft_size (much faster for thumbnails and model inputs); other formats ignore it.
    Raises ``UnreadableItem`` with a short reason for anything that cannot be used.
    """
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    if isinstance(src, Image.Image):
        _check_size(src.size, limit)
        return _finish(src, draft_size)
    fp, close = _open_stream(src)
    try:
        try:
            img = Image.open(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # The warning is raised only where warnings are turned into errors.
            raise UnreadableItem(_too_large_from_pil(exc, limit)) from exc
        except UnidentifiedImageError as exc:
            raise UnreadableItem("not an image file") from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise UnreadableItem(_damage_reason(exc)) from exc
        with img:
            _check_size(img.size, limit)
            return _finish(img, draft_size)
    finally:
        if close:
            fp.close()


def make_thumbnail(img: Image.Image, size: int = THUMBNAIL_SIZE, quality: int = 85) -> bytes:
    """JPEG bytes of ``img`` shrunk so its longest side is <= ``size`` (never enlarged)."""
    thumb = _to_rgb(img) if img.mode != "RGB" else img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _open_stream(src: str | Path | bytes | bytearray | memoryview) -> tuple[io.IOBase, bool]:
    """A binary stream over the source, refusing empty and missing files with a clear reason."""
    if isinstance(src, bytes | bytearray | memoryview):
        if len(src) == 0:
            raise UnreadableItem("empty file")
        return io.BytesIO(bytes(src)), True
    path = Path(src).expanduser()
    try:
        if path.stat().st_size == 0:
            raise UnreadableItem("empty file")
        return open(path, "rb"), True  # noqa: SIM115 - closed by the caller
    except FileNotFoundError as exc:
        raise UnreadableItem(f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise UnreadableItem(f"is a folder, not an image: {path}") from exc
    except OSError as exc:
        raise UnreadableItem(f"cannot read file: {exc.strerror or exc}") from exc


def _finish(img: Image.Image, draft_size: int | None) -> Image.Image:
    """Decode all pixels, then orient and convert; decoding errors become reasons.

    The decoded size is known before the pixels are (after JPEG draft mode), so the decode waits
    for its share of the process's decode memory budget (``DECODE_GATE``) whatever the worker count.
    """
    if draft_size and img.format == "JPEG":
        img.draft("RGB", (draft_size, draft_size))
    width, height = img.size
    with DECODE_GATE.hold(width * height * BYTES_PER_DECODED_PIXEL):
        return _decode(img, draft_size)


def _decode(img: Image.Image, draft_size: int | None) -> Image.Image:
    try:
        img.load()
    except Image.DecompressionBombError as exc:  # pragma: no cover - caught at open
        raise UnreadableItem(_too_large_from_pil(exc, MAX_IMAGE_PIXELS)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise UnreadableItem(_damage_reason(exc)) from exc
    img = _reduce_huge(img, draft_size)
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a malformed EXIF block should not lose the picture
        oriented = img
    return _to_rgb(oriented if oriented is not None else img)


def _reduce_huge(img: Image.Image, draft_size: int | None) -> Image.Image:
    """A huge non-JPEG picture (a 9400x9400 PNG) shrunk by a whole factor right after decoding, while
    both sides stay >= ``draft_size``: the orientation and colour copies that follow are then small."""
    width, height = img.size
    if not draft_size or width * height <= REDUCE_ABOVE_PIXELS:
        return img
    factor = min(width, height) // draft_size
    if factor < 2:
        return img
    try:
        reduced = img.reduce(factor)
    except (ValueError, OSError):  # modes reduce() does not support (e.g. "P", "I;16")
        return img
    reduced.info = dict(img.info)  # keeps EXIF orientation and transparency
    return reduced


class DecodeGate:
    """A memory budget shared by the decoding threads of one process.

    ``hold(cost)`` waits until ``cost`` bytes fit in the budget (a single image larger than the budget
    still goes, alone), so peak decode memory is bounded by the budget, not by workers x image size.
    """

    def __init__(self, budget: int) -> None:
        import threading

        self.budget = int(budget)
        self.in_use = 0
        self._cond = threading.Condition()

    def set_budget(self, budget: int) -> None:
        with self._cond:
            self.budget = int(budget)
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, cost: int):
        with self._cond:
            while self.in_use > 0 and self.in_use + cost > self.budget:
                self._cond.wait()
            self.in_use += cost
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= cost
                self._cond.notify_all()


def decode_budget() -> int:
    """Bytes all decoding in this process may use at once: ``FEWSHOT_DECODE_MEMORY_MB``, else a quarter
    of the memory available now, at most 2 GB and at least 256 MB."""
    raw = os.environ.get(DECODE_MEMORY_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw) * 2**20
    available = _available_memory()
    quarter = available // 4 if available else 2 * 2**30
    return max(256 * 2**20, min(2 * 2**30, quarter))


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


DECODE_GATE = DecodeGate(decode_budget())


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB for every PIL mode: alpha composited on white, 16/32-bit and float scaled to 8 bits."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img.copy()
    if mode in _WIDE_MODES:
        return Image.fromarray(_to_uint8(np.asarray(img))).convert("RGB")
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        return _on_white(img)
    try:
        return img.convert("RGB")
    except (ValueError, OSError):
        # Rare modes without a direct path to RGB: go through the first channel as grey.
        band = img.getchannel(0)
        if band.mode in _WIDE_MODES:
            return _to_rgb(band)
        return band.convert("L").convert("RGB")


def _on_white(img: Image.Image) -> Image.Image:
    """Composite a picture with transparency on a white background."""
    if img.mode == "La":
        img = img.convert("LA")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map 16-bit, 32-bit or float pixels to 0..255.

    Values already within 0..255 (or 0..1 for floats) keep their meaning; wider ranges are
    stretched from their own minimum to maximum, as viewers do, since 12- and 16-bit images
    rarely use the full range of their type and clipping would turn them white.
    """
    data = arr.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    data = np.where(finite, data, 0.0)
    lo, hi = float(data[finite].min()), float(data[finite].max())
    if arr.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        scaled = data * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = data
    elif hi > lo:
        scaled = (data - lo) * (255.0 / (hi - lo))
    else:  # a constant image outside 0..255: place it on its type's range
        top = 65535.0 if arr.dtype.itemsize == 2 else float(np.iinfo(np.int32).max)
        scaled = np.full(arr.shape, np.clip(lo / top, 0.0, 1.0) * 255.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _check_size(size: tuple[int, int], limit: int) -> None:
    width, height = size
    if limit and width * height > limit:
        raise UnreadableItem(f"image too large: {width}x{height} pixels exceeds the limit of {limit:,} pixels")


def _too_large_from_pil(exc: Exception, limit: int) -> str:
    """PIL refused before we saw the size; its message carries the pixel count."""
    import re

    found = re.search(r"\((\d+) pixels\)", str(exc))
    count = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"image too large: {count} exceeds the limit of {limit:,} pixels"


def _damage_reason(exc: BaseException) -> str:
    """A short reason for a decode failure: truncation is common enough to name."""
    text = str(exc).lower()
    if isinstance(exc, EOFError | struct.error) or "truncat" in text or "end of file" in text:
        return "truncated image"
    if "cannot identify" in text:
        return "not an image file"
    short = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return f"damaged image ({short})"
