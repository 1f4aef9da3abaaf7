"""Start-up time of ``scripts/app.sh``: to the address line, and to the first page drawn in a browser.

Runs the script ``--starts`` times in a row (the first may install; later ones must not) on a free port
with a throwaway workspace, opens the address in headless chromium and waits for the Index page's title.
Prints ``app_start_N_to_url_s`` and ``app_start_N_to_first_page_s`` per start, and whether pip ran.

    python benchmarks/app_start.py --starts 2
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_start(n: int, browser, workspace: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FEWSHOT_HOME": str(workspace), "FEWSHOT_PORT": str(port), "FEWSHOT_ADDRESS": "127.0.0.1"}
    start = time.perf_counter()
    process = subprocess.Popen(["bash", "scripts/app.sh"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line.rstrip())
            if "Open http" in line:
                break
        to_url = time.perf_counter() - start
        url = lines[-1].rsplit(" ", 1)[-1]
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("heading", name="Index a dataset").wait_for(timeout=60_000)
        to_page = time.perf_counter() - start
        page.get_by_role("heading", name="Indexes in this workspace").wait_for(timeout=60_000)
        to_full = time.perf_counter() - start
        page.close()
        print(f"app_start_{n}_to_url_s={to_url:.2f}")
        print(f"app_start_{n}_to_first_page_s={to_page:.2f}")  # the page's title and form are drawn
        print(f"app_start_{n}_to_full_page_s={to_full:.2f}")  # ...and the sidebar and the index list
        print(f"app_start_{n}_installed={int(any('installing' in x for x in lines))}")
        print(f"app_start_{n}_lines_before_url={len(lines) - 1}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=2)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        for n in range(1, args.starts + 1):
            one_start(n, browser, Path(tmp) / "workspace")
        browser.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
