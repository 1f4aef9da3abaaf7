"""Wall time of ``python -m core teach submit`` (a real process, imports included) on the digits.

Prints ``cli_submit_s=`` (median of 5), ``cli_help_s=`` and the heaviest top-level imports of one
submit from ``python -X importtime``. Usage: python benchmarks/cli_start.py
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="cli-start-"))
    env = {**os.environ, "FEWSHOT_HOME": str(root), "HF_HUB_OFFLINE": "1"}
    os.environ["FEWSHOT_HOME"] = str(root)
    from core.session import TeachSession
    from core.store import Store
    from tests.helpers.workspaces import indexed_digits

    indexed_digits(root)
    TeachSession.create("digits", "three", store=Store(root), target_label="3")
    submit = ["-m", "core", "teach", "submit", "--index", "digits", "--concept", "three", "--ratings"]
    times = [timed([*submit, f"digits-{i}=1,digits-{i + 100}=-1"], env) for i in range(5)]
    print(f"cli_submit_s={statistics.median(times):.2f}")
    print(f"cli_help_s={timed(['-m', 'core', '--help'], env):.2f}")
    done = subprocess.run([sys.executable, "-X", "importtime", *submit, "digits-7=1"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    top = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if found and len(found.group(2)) <= 1:
            top.append((int(found.group(1)) / 1e6, found.group(3)))
    for seconds, name in sorted(top, reverse=True)[:6]:
        print(f"import_{name}_s={seconds:.2f}")


if __name__ == "__main__":
    main()
