"""Peak memory of indexing 8 large (9400x9400) PNG images with 8 decoding workers.

Decoding memory must be bounded by the decode budget (``FEWSHOT_DECODE_MEMORY_MB``), not by
workers x image size. Prints ``images=``, ``workers=``, ``peak_rss_mb=`` and ``seconds=``.
Usage: python benchmarks/decode_memory.py [FOLDER]  (the images are made once in FOLDER)
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIDE = 9400
N = 8


def make_images(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N):
        path = folder / f"big-{i}.png"
        if path.exists():
            continue
        gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
        Image.merge("RGB", (gradient, gradient.rotate(90), gradient.rotate(45 * i))).save(path, compress_level=1)
        del gradient


def index_once(folder: Path) -> None:
    sys.path.insert(0, str(REPO))
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source
    from core.store import Store

    start = time.perf_counter()
    report = build_index("big", parse_source(f"folder:{folder}"), load_embedder("pixels"),
                         store=Store(tempfile.mkdtemp()), workers=N)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"images={report.added}")
    print(f"skipped={len(report.skipped)}")
    print(f"workers={N}")
    print(f"peak_rss_mb={peak:.0f}")
    print(f"seconds={time.perf_counter() - start:.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        index_once(Path(sys.argv[2]))
        sys.exit(0)
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "fewshot-big-images"
    make_images(folder)
    env = {**os.environ, "FEWSHOT_DECODE_PROCESSES": "0"}
    subprocess.run([sys.executable, __file__, "--child", str(folder)], check=True, env=env)
