"""Files in a workspace after many quick teaching rounds (old table versions must not pile up).

Prints ``rounds=``, ``workspace_files=`` and ``workspace_mb=`` after N rounds of one rating each on
the digits (pixels:16), as fast as the loop goes. Usage: python benchmarks/workspace_versions.py [N]
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def count(root: Path) -> tuple[int, float]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="versions-"))
    os.environ["FEWSHOT_HOME"] = str(root)
    from core.session import TeachSession
    from core.store import Store
    from tests.helpers.workspaces import indexed_digits

    indexed_digits(root)
    session = TeachSession.create("digits", "three", store=Store(root), target_label="3")
    start = time.perf_counter()
    for r in range(rounds):
        batch = session.next_batch(k=1, seed=r)
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in batch})
    elapsed = time.perf_counter() - start
    files, mb = count(root)
    print(f"rounds={rounds}")
    print(f"round_ms={1000 * elapsed / rounds:.1f}")
    print(f"workspace_files={files}")
    print(f"workspace_mb={mb:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
