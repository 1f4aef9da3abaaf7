"""How fast the Teach page answers a fast labeller, measured in a real browser (headless Debian chromium).

Indexes the digits demo (raw pixels) into a scratch workspace (with ``FEWSHOT_AUTO_MAP=0``: no background
UMAP fit competing with the measured rounds; ``--with-map-fit`` lets it run, at its lower priority, as for a
person who teaches right after indexing), starts the app, opens the Teach page at
1280x720 and, for ``--rounds`` rounds, types a batch (``a``, ``x``, ``1``-``5``, ``space``, ``backspace``,
``--gap-ms`` apart) and Enter. Then leaves the page open and idle for ``--idle-s`` seconds.

Measured in the page (the browser's clock, not Playwright's round trips):
- ``key_to_paint_ms``: keydown (the event's own time stamp) to the frame after the rating is drawn
  (``requestAnimationFrame`` then a task: the paint has happened);
- ``enter_to_next_batch_ms``: Enter's keydown to the frame after the next batch's token is drawn (seen by
  a MutationObserver on the component's shadow root, where the batch is drawn);
and on the server: ``idle_server_cpu_percent`` (psutil, the server process and its children, over the idle
time). Prints ``name=value`` lines; ``load_avg_1m`` says how busy the machine was.

    .venv/bin/python benchmarks/browser_latency.py [--rounds 20] [--idle-s 60]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
COMPONENT = "[data-testid=stBidiComponentIsolated]"

# Installed once in the page: timings go to window.__bench (keys and submits).
PROBE = """(() => {
  if (window.__bench) return;
  const bench = window.__bench = {keys: [], enters: [], pending: null};
  const root = () => { const host = document.querySelector('COMPONENT'); return host && host.shadowRoot; };
  const after = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
  window.addEventListener('keydown', (e) => {
    const t0 = e.timeStamp;
    if (e.key === 'Enter') {
      const box = root().querySelector('.teach');
      bench.pending = {t0, token: box.getAttribute('data-token')};
      return;
    }
    after(() => bench.keys.push(performance.now() - t0));
  }, true);
  // The batch is drawn inside the component's shadow root, which an observer of document.body does not
  // see: observe that root too (and any new one), or a new batch would only be noticed at the page's
  // next light-DOM change.
  const options = {subtree: true, childList: true, attributes: true};
  const watched = new WeakSet();
  const observer = new MutationObserver(() => {
    const shadow = root();
    if (shadow && !watched.has(shadow)) { watched.add(shadow); observer.observe(shadow, options); }
    const p = bench.pending;
    if (!p) return;
    const box = shadow && shadow.querySelector('.teach');
    if (box && box.getAttribute('data-token') !== p.token && box.querySelector('.card, .focus')) {
      bench.pending = null;
      after(() => bench.enters.push(performance.now() - p.t0));
    }
  });
  observer.observe(document.body, options);
  watched.add(root());
  observer.observe(root(), options);
})();""".replace("COMPONENT", COMPONENT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(workspace: Path, map_fit: bool = False) -> None:
    os.environ["FEWSHOT_HOME"] = str(workspace)
    # Indexing starts a detached UMAP fit (core.projection_auto) that runs through the measured rounds
    # (~20 s of a core, niced): by default this measures rating alone, not rating beside the map's fit.
    os.environ["FEWSHOT_AUTO_MAP"] = "1" if map_fit else "0"
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    store = Store(workspace)
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    TeachSession.create("digits", "three", store=store, target_label="3", strategy="mixed")


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the server did not answer")


def _keys(rng: random.Random, n: int) -> list[str]:
    """A batch's worth of keys: ratings of every kind, now and then a backspace right after a rating."""
    out: list[str] = []
    while len([k for k in out if k != "Backspace"]) - out.count("Backspace") < n:
        out.append(rng.choice(["a", "x", "1", "2", "3", "4", "5", "Space", "a", "x"]))
        if rng.random() < 0.15:
            out.append("Backspace")
    return out


def _server_cpu(pid: int, seconds: float) -> float:
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in procs:
        p.cpu_percent(None)
    time.sleep(seconds)
    return sum(p.cpu_percent(None) for p in procs if p.is_running())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gap-ms", type=int, default=10)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-map-fit", action="store_true", help="let indexing's background UMAP fit run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="fewshot-browser-latency-") as tmp:
        workspace = Path(tmp) / "workspace"
        _prepare(workspace, args.with_map_fit)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FEWSHOT_HOME": str(workspace), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        log = open(os.environ.get("BENCH_LOG", str(Path(tmp) / "server.log")), "wb")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(url, server)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"{url}/teach")
                page.locator(f"{COMPONENT} .teach .card").first.wait_for(timeout=120_000)
                page.evaluate(PROBE)
                # The first submit imports torch (the page warms it up in the background): not a fair sample.
                for round_no in range(args.rounds + 1):
                    for key in _keys(rng, 10):
                        page.keyboard.press(key)
                        page.wait_for_timeout(args.gap_ms)
                    page.keyboard.press("Enter")
                    page.wait_for_function("() => window.__bench.pending === null", timeout=60_000, polling=20)
                    if round_no == 0:
                        page.evaluate("() => { window.__bench.enters.length = 0; }")
                keys = np.asarray(page.evaluate("() => window.__bench.keys"))
                enters = np.asarray(page.evaluate("() => window.__bench.enters"))
                idle = _server_cpu(server.pid, args.idle_s)
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
            log.close()
    if os.environ.get("BENCH_VERBOSE"):
        print("enter_ms_by_round=" + ",".join(f"{v:.0f}" for v in enters))
        print("key_ms_in_order=" + ",".join(f"{v:.0f}" for v in keys))
    print(f"rounds={args.rounds}")
    print(f"keys_measured={len(keys)}")
    print(f"key_to_paint_ms_p50={np.percentile(keys, 50):.1f}")
    print(f"key_to_paint_ms_p95={np.percentile(keys, 95):.1f}")
    print(f"enter_to_next_batch_ms_p50={np.percentile(enters, 50):.0f}")
    print(f"enter_to_next_batch_ms_p95={np.percentile(enters, 95):.0f}")
    print(f"idle_server_cpu_percent={idle:.2f}")
    print(f"load_avg_1m={os.getloadavg()[0]:.2f}")
    print(f"cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
