"""Indexing throughput: the embedder alone against the whole pipeline (decode, embed, write).

Prints one ``name=value`` figure per line. The image case uses JPEG files written to a temporary folder
and, unless ``--clip`` names a real checkpoint, a CLIP with ViT-B/32's exact architecture and random
weights (same arithmetic, same speed; the hub is not reachable here). The text case uses the bundled
MiniLM on 5,000 real package summaries, through today's PyTorch path and the int8 ONNX one
(``st:minilm@onnx-int8``), with the quality check: cosine between the two backends' vectors and the AP
an oracle replay (and a linear probe) reaches on three concepts. Run on a GPU machine too: ``--device cuda``.

    python benchmarks/index_throughput.py --images 0 --texts 5000 --repeats 3
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


TEXT_LABELS = ("flask", "pytest", "docs_plugin")
TEXT_PROMPTS = {
    "flask": "an extension for Flask web apps",
    "pytest": "a pytest plugin",
    "docs_plugin": "a documentation theme or plugin",
}


def text_slice(n: int, folder: Path, data: Path | None) -> Path:
    """The same ``n`` real package summaries for every backend: the positives of three concepts, then
    rows in file order (a plain head would hold almost no positives); synthetic texts without the data."""
    path = folder / "texts.csv"
    if data is None or not data.is_file():
        rng = np.random.default_rng(0)
        words = "the a cat dog film movie great terrible plot actor scene music love hate boring moving".split()
        texts = [" ".join(rng.choice(words, size=rng.integers(8, 30))) for _ in range(n)]
        path.write_text("text\n" + "\n".join(f'"{t}"' for t in texts), encoding="utf-8")
        print("text_data=synthetic")
        return path
    import pandas as pd

    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    positive = frame[(frame[list(TEXT_LABELS)] == "1").any(axis=1)].head(n // 3)
    rest = frame.drop(positive.index).head(n - len(positive))
    pd.concat([positive, rest])[["id", "text", "split", *TEXT_LABELS]].to_csv(path, index=False)
    print(f"text_data={data.name}")
    print(f"text_positives={len(positive)}")
    return path


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}..{max(values):.1f}"


def bench_texts(n: int, device: str | None, batch_size: int | None, tag: str, repeats: int, data: Path | None,
                rounds: int) -> None:
    """Today's path (PyTorch) against int8 ONNX on the same texts: texts/s (median and spread over
    ``repeats`` interleaved runs: other work on the machine moves both alike) and quality (cosine between
    the two backends' vectors, AP of an oracle replay and of a linear probe per concept)."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    backends = {"torch": "st:minilm", "onnx": "st:minilm@onnx-int8"}
    with tempfile.TemporaryDirectory() as tmp:
        path = text_slice(n, Path(tmp), data)
        real = data is not None and data.is_file()
        options = {"label_columns": list(TEXT_LABELS), "id_column": "id", "split_column": "split"} if real else {}
        texts = [r.text for r in parse_source(f"file:{path}", **options)]
        seconds, _ = _timed(load_embedder, backends["onnx"], device="cpu", batch_size=batch_size)
        print(f"index_onnx_load_or_export_s={seconds:.1f}")  # includes the one-time export on a fresh cache
        embedders = {k: load_embedder(spec, device=device if k == "torch" else "cpu", batch_size=batch_size)
                     for k, spec in backends.items()}
        for embedder in embedders.values():
            embedder.embed_texts(texts[:64])  # warm-up
        rates: dict[str, list[float]] = {k: [] for k in backends}
        stores: dict[str, Store] = {}
        for r in range(repeats):
            for key, embedder in embedders.items():
                store = Store(Path(tmp) / f"ws-{key}-{r}")
                seconds, report = _timed(build_index, "bench", parse_source(f"file:{path}", **options), embedder,
                                         store=store)
                rates[key].append(report.added / seconds)
                print(f"index_pipeline_texts_per_s_{key}_run{r}_{tag}={rates[key][-1]:.1f}", flush=True)
                stores[key] = store
        for key in backends:
            print(f"index_pipeline_texts_per_s_{key}_{tag}={float(np.median(rates[key])):.1f}")
            print(f"index_pipeline_texts_per_s_{key}_spread={_spread(rates[key])}")
        speedups = [o / t for o, t in zip(rates["onnx"], rates["torch"], strict=True)]
        print(f"index_text_speedup_onnx_over_torch={float(np.median(speedups)):.2f}")
        print(f"index_text_speedup_spread={min(speedups):.2f}..{max(speedups):.2f}")
        views = {k: s.vectors("bench") for k, s in stores.items()}
        order = {i: j for j, i in enumerate(views["onnx"].ids)}
        onnx = views["onnx"].matrix[[order[i] for i in views["torch"].ids]]
        cosine = (views["torch"].matrix * onnx).sum(axis=1)
        print(f"text_cosine_torch_onnx_mean={cosine.mean():.4f}")
        print(f"text_cosine_torch_onnx_p01={np.percentile(cosine, 1):.4f}")
        print(f"text_cosine_torch_onnx_min={cosine.min():.4f}")
        if real:
            ap_quality(stores, embedders, rounds)


def ap_quality(stores: dict, embedders: dict, rounds: int) -> None:
    """Per concept: the AP an oracle replay from a typed prompt reaches, and the linear-probe AP, per backend."""
    from core.simulate import linear_probe_ap, simulate

    diffs, probe_diffs = [], []
    for label in TEXT_LABELS:
        ap, probe = {}, {}
        for key, store in stores.items():
            rows = simulate("bench", "1", "mixed", rounds, 10, prompt=TEXT_PROMPTS[label], store=store,
                            embedder=embedders[key], label_column=label)
            ap[key] = float(rows[-1]["ap"])
            probe[key] = linear_probe_ap(store, "bench", "1", label_column=label)
            print(f"text_simulate_ap_{label}_{key}={ap[key]:.4f}")
            print(f"text_probe_ap_{label}_{key}={probe[key]:.4f}")
        diffs.append(ap["onnx"] - ap["torch"])
        probe_diffs.append(probe["onnx"] - probe["torch"])
        print(f"text_simulate_ap_diff_{label}={diffs[-1]:+.4f}")
    print(f"text_simulate_ap_diff_mean={float(np.mean(diffs)):+.4f}")
    print(f"text_simulate_ap_diff_max_abs={float(np.max(np.abs(diffs))):.4f}")
    print(f"text_probe_ap_diff_mean={float(np.mean(probe_diffs)):+.4f}")
    print(f"text_probe_ap_diff_max_abs={float(np.max(np.abs(probe_diffs))):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--device", default=None)
    parser.add_argument("--clip", default=None, help="a real CLIP checkpoint (hub id or folder)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per text backend")
    parser.add_argument("--rounds", type=int, default=10, help="oracle-replay rounds of 10 for the AP check")
    parser.add_argument("--text-data", type=Path, default=Path("/work/shared/data/pypi_summaries.csv.gz"),
                        help="the real texts (id, text, split, 0/1 concept columns); synthetic texts if missing")
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tag = f"{device}_{torch.get_num_threads()}threads" if device == "cpu" else device
    print(f"device={device}")
    if args.images:
        bench_images(args.images, device, args.clip, args.batch_size, tag)
    if args.texts:
        bench_texts(args.texts, device, args.batch_size, tag, args.repeats, args.text_data, args.rounds)


if __name__ == "__main__":
    main()
