"""open_image: every PIL mode to RGB, EXIF orientation, damaged files and bombs as UnreadableItem."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core import images
from core.errors import UnreadableItem
from core.images import make_thumbnail, open_image

W, H = 24, 16


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _gradient(size=(W, H)) -> np.ndarray:
    w, h = size
    return np.tile(np.linspace(0, 1, w), (h, 1))


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (the pixel data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "mode",
    [
        "1",
        "L",
        "LA",
        "La",
        "P",
        "PA",
        "RGB",
        "RGBA",
        "RGBa",
        "RGBX",
        "CMYK",
        "YCbCr",
        "HSV",
        "LAB",
        "I",
        "I;16",
        "I;16B",
        "F",
    ],
)
def test_every_mode_becomes_rgb_of_the_same_size(mode):
    img = Image.new(mode, (W, H))
    out = open_image(img)
    assert out.mode == "RGB"
    assert out.size == (W, H)


@pytest.mark.parametrize(
    "mode, fmt",
    [
        ("1", "PNG"),
        ("L", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("CMYK", "JPEG"),
        ("CMYK", "TIFF"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("YCbCr", "JPEG"),
        ("L", "BMP"),
        ("RGB", "WEBP"),
        ("RGB", "GIF"),
    ],
)
def test_files_in_many_modes_and_formats_decode(mode, fmt, tmp_path):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new(mode, (W, H)).save(path, format=fmt)
    out = open_image(path)
    assert (out.mode, out.size) == ("RGB", (W, H))


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert open_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    assert 120 <= open_image(half).getpixel((0, 0))[0] <= 135
    la = Image.new("LA", (4, 4), (0, 0))
    assert open_image(la).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparent_index_is_white_behind(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    path = tmp_path / "t.png"
    pal.save(path, transparency=1)
    reopened = Image.open(path)
    assert reopened.mode == "P" and "transparency" in reopened.info
    assert open_image(path).getpixel((0, 0)) == (255, 255, 255)
    pal.save(tmp_path / "o.png")
    assert open_image(tmp_path / "o.png").getpixel((0, 0)) == (200, 0, 0)


def test_sixteen_bit_grayscale_is_scaled_not_clipped_to_white(tmp_path):
    values = (_gradient() * 65535).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(open_image(path))
    assert out[:, 0].max() < 10 and out[:, -1].min() > 245
    assert 100 < out.mean() < 155


def test_twelve_bit_data_is_stretched_and_float_in_unit_range_is_scaled():
    twelve = Image.fromarray((_gradient() * 4095).astype(np.uint16))
    out = np.asarray(open_image(twelve))
    assert out.max() == 255 and out.min() == 0
    floats = Image.fromarray((_gradient() * 0.5).astype(np.float32))
    assert 120 <= np.asarray(open_image(floats)).max() <= 130
    wide = Image.fromarray((_gradient() * 1e6 - 5e5).astype(np.float32))
    assert np.asarray(open_image(wide)).max() == 255


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif.tobytes())
    assert Image.open(path).size == (40, 20)
    assert open_image(path).size == (20, 40)
    assert open_image(path.read_bytes()).size == (20, 40)


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (W, H), color) for color in ("red", "blue", "green")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = open_image(path)
    assert out.size == (W, H)
    r, g, b = out.getpixel((0, 0))
    assert r > 200 and g < 50 and b < 50


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_rejected(fmt, tmp_path):
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableItem, match="truncated image"):
        open_image(path)


def test_empty_garbage_and_text_files_are_rejected(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableItem, match="empty file"):
        open_image(empty)
    with pytest.raises(UnreadableItem, match="empty file"):
        open_image(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n")
    with pytest.raises(UnreadableItem, match="not an image file"):
        open_image(text)
    with pytest.raises(UnreadableItem, match="not an image file"):
        open_image(bytes(range(256)) * 4)
    with pytest.raises(UnreadableItem, match="not found"):
        open_image(tmp_path / "missing.png")


def test_reasons_are_short_and_single_line(tmp_path):
    for bad in (b"", b"junk", _encode(Image.new("RGB", (50, 50)), "PNG")[:60]):
        with pytest.raises(UnreadableItem) as info:
            open_image(bad)
        assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_decompression_bomb_under_a_lowered_limit(monkeypatch):
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(UnreadableItem, match=r"image too large: 100x100 pixels exceeds the limit of 5,000"):
        open_image(data, max_pixels=5_000)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 5_000)
    with pytest.raises(UnreadableItem, match="image too large"):
        open_image(data)
    with pytest.raises(UnreadableItem, match="image too large"):
        open_image(Image.new("RGB", (100, 100)))
    assert open_image(data, max_pixels=10_000).size == (100, 100)


def test_real_bomb_headers_are_refused_without_decoding():
    # 10000x10000 is over our limit (PIL only warns); 20000x20000 is where PIL itself refuses.
    with pytest.warns(Image.DecompressionBombWarning):
        with pytest.raises(UnreadableItem, match="image too large: 10000x10000 pixels exceeds the limit"):
            open_image(_png_header(10_000, 10_000))
    with pytest.raises(UnreadableItem, match="image too large: 400,000,000 pixels exceeds the limit"):
        open_image(_png_header(20_000, 20_000))


def test_returns_an_independent_loaded_image(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (W, H), "blue").save(path)
    out = open_image(path)
    path.unlink()
    assert out.getpixel((1, 1)) == (0, 0, 255)
    src = Image.new("RGB", (W, H))
    assert open_image(src) is not src


def test_draft_size_decodes_big_jpegs_smaller_but_not_below_the_request():
    data = _encode(Image.new("RGB", (800, 600), "green"), "JPEG")
    out = open_image(data, draft_size=150)
    assert 150 <= min(out.size) < 600


def test_thumbnails_are_jpeg_and_fit_the_size():
    big = Image.new("RGBA", (500, 200), (0, 128, 0, 255))
    data = make_thumbnail(big, size=100)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG" and max(thumb.size) <= 100 and thumb.size == (100, 40)
    small = make_thumbnail(Image.new("L", (30, 20)))
    assert Image.open(io.BytesIO(small)).size == (30, 20)
    default = Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", (1000, 1000)))))
    assert max(default.size) <= images.THUMBNAIL_SIZE
