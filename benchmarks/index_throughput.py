"""Indexing throughput: the embedder alone against the whole pipeline (decode, embed, write).

Prints one ``name=value`` figure per line. The image case uses JPEG files written to a temporary folder
and, unless ``--clip`` names a real checkpoint, a CLIP with ViT-B/32's exact architecture and random
weights (same arithmetic, same speed; the hub is not reachable here). The text case uses the bundled
MiniLM. Run on a GPU machine too: ``--device cuda``.

    python benchmarks/index_throughput.py --images 2000 --texts 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_jpegs(folder: Path, n: int, size: tuple[int, int] = (320, 240), seed: int = 0) -> None:
    """Photo-like JPEGs (gradients and shapes, not noise: noise decodes unrealistically slowly)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = f"class{i % 10}"
        (folder / label).mkdir(parents=True, exist_ok=True)
        base = np.linspace(0, 255, size[0], dtype=np.float32)[None, :, None]
        tint = rng.uniform(0.3, 1.0, size=(1, 1, 3)).astype(np.float32)
        pixels = np.broadcast_to(base * tint, (size[1], size[0], 3)).astype(np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for _ in range(5):
            x, y = rng.integers(0, size[0] - 40), rng.integers(0, size[1] - 40)
            draw.ellipse([x, y, x + 40, y + 40], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        image.save(folder / label / f"{i:06d}.jpg", quality=90)


def save_b32_shaped_clip(directory: Path) -> Path:
    """A CLIP with openai/clip-vit-base-patch32's architecture and random weights, saved like a checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from tests.helpers.tiny_clip import _tokenizer

    tokenizer = _tokenizer()
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 77,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"image_size": 224, "patch_size": 32},
        projection_dim=512,
    )
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(directory)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(directory)
    return directory


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def bench_images(n: int, device: str | None, clip: str | None, batch_size: int | None, tag: str) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        make_jpegs(tmp_path / "images", n)
        checkpoint = clip or str(save_b32_shaped_clip(tmp_path / "clip-b32"))
        embedder = load_embedder(f"clip:{checkpoint}", device=device, batch_size=batch_size)
        source = parse_source(f"folder:{tmp_path / 'images'}")
        records = list(source)
        images = [r.load_image() for r in records[: min(n, 512)]]
        embedder.embed_images(images[: embedder.batch_size])  # warm-up
        seconds, _ = _timed(embedder.embed_images, images)
        print(f"index_embed_images_pil_per_s_{tag}={len(images) / seconds:.1f}")  # one thread prepares
        prepared = np.stack([embedder.prepare_image(image) for image in images])
        seconds, _ = _timed(embedder.embed_prepared, prepared)
        print(f"index_embedder_only_images_per_s_{tag}={len(images) / seconds:.1f}")  # the model's own speed
        seconds, report = _timed(build_index, "bench", source, embedder, store=Store(tmp_path / "ws"))
        print(f"index_pipeline_images_per_s_{tag}={report.added / seconds:.1f}")
        print(f"index_pipeline_images_n_{tag}={report.added}")


def bench_texts(n: int, device: str | None, batch_size: int | None, tag: str) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    rng = np.random.default_rng(0)
    words = "the a cat dog film movie great terrible plot actor scene music love hate boring moving".split()
    texts = [" ".join(rng.choice(words, size=rng.integers(8, 30))) for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.csv"
        path.write_text("text\n" + "\n".join(f'"{t}"' for t in texts), encoding="utf-8")
        embedder = load_embedder("st:minilm", device=device, batch_size=batch_size)
        embedder.embed_texts(texts[:64])
        seconds, _ = _timed(embedder.embed_texts, texts)
        print(f"index_embedder_only_texts_per_s_{tag}={n / seconds:.1f}")
        source = parse_source(f"file:{path}")
        seconds, report = _timed(build_index, "bench", source, embedder, store=Store(Path(tmp) / "ws"))
        print(f"index_pipeline_texts_per_s_{tag}={report.added / seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--device", default=None)
    parser.add_argument("--clip", default=None, help="a real CLIP checkpoint (hub id or folder)")
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tag = f"{device}_{torch.get_num_threads()}threads" if device == "cpu" else device
    print(f"device={device}")
    if args.images:
        bench_images(args.images, device, args.clip, args.batch_size, tag)
    if args.texts:
        bench_texts(args.texts, device, args.batch_size, tag)


if __name__ == "__main__":
    main()
