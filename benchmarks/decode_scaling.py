"""Decode + thumbnail + CLIP resize per image: serial, threads and processes (is the GIL the limit?)."""

import multiprocessing as mp
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from PIL import Image

from benchmarks.index_throughput import make_jpegs
from core.images import make_thumbnail, open_image


def work(path):
    im = open_image(path, draft_size=224)
    th = make_thumbnail(im)
    w, h = im.size
    s = 224 / min(w, h)
    im2 = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.Resampling.BICUBIC)
    return th, np.asarray(im2.crop((0, 0, 224, 224)))


if __name__ == "__main__":
    import os

    n = os.cpu_count() or 2
    d = Path(tempfile.mkdtemp())
    make_jpegs(d / "img", 4000)
    files = sorted((d / "img").rglob("*.jpg"))
    t = time.perf_counter()
    [work(f) for f in files]
    print("serial", len(files) / (time.perf_counter() - t))
    with ThreadPoolExecutor(n) as p:
        t = time.perf_counter()
        list(p.map(work, files, chunksize=16))
        print(f"threads{n}", len(files) / (time.perf_counter() - t))
    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as p:
        list(p.map(work, files[:50], chunksize=16))
        t = time.perf_counter()
        list(p.map(work, files, chunksize=16))
        print(f"procs{n}", len(files) / (time.perf_counter() - t))
