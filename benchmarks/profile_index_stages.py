"""Where indexing time goes: each stage of the image pipeline timed alone, over a thread pool.

    python benchmarks/profile_index_stages.py --images 5000 [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.index_throughput import make_jpegs, save_b32_shaped_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    from core.embedders import load_embedder
    from core.images import make_thumbnail
    from core.sources import parse_source

    workers = min(32, os.cpu_count() or 2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        make_jpegs(folder, args.images)
        embedder = load_embedder(f"clip:{save_b32_shaped_clip(Path(tmp) / 'clip')}", device=args.device)
        start = time.perf_counter()
        records = list(parse_source(f"folder:{folder}"))
        print(f"stage_list_source_per_s={len(records) / (time.perf_counter() - start):.0f}")
        draft = max(embedder.image_size, 160)
        stages = {
            "decode": lambda r: r.load_image(draft_size=draft),
            "decode_thumb": lambda r: make_thumbnail(r.load_image(draft_size=draft)),
            "decode_prepare": lambda r: embedder.prepare_image(r.load_image(draft_size=draft)),
            "decode_thumb_prepare": lambda r: (lambda im: (make_thumbnail(im), embedder.prepare_image(im)))(
                r.load_image(draft_size=draft)
            ),
        }
        for name, fn in stages.items():
            with ThreadPoolExecutor(workers) as pool:
                start = time.perf_counter()
                list(pool.map(fn, records, chunksize=16))
                print(f"stage_{name}_{workers}threads_per_s={len(records) / (time.perf_counter() - start):.0f}")
        import numpy as np

        prepared = np.stack([embedder.prepare_image(records[i % len(records)].load_image()) for i in range(1024)])
        embedder.embed_prepared(prepared[:256])
        start = time.perf_counter()
        for _ in range(4):
            embedder.embed_prepared(prepared)
        print(f"stage_embed_prepared_per_s={4096 / (time.perf_counter() - start):.0f}")


if __name__ == "__main__":
    main()
