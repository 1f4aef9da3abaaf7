"""The Map page as a person meets it: a real Streamlit server, headless Chromium, a real workspace.

Prints ``name=value`` lines for n points (a synthetic 512-d index, 10 taught rounds, a stored map):

    map_workspace_s_<n>=...        # building the index + 10 rounds + storing the map (not a page figure)
    page_first_ms_<n>=...          # the first page after the server started: reads the vectors, computes every
                                   # round's scores and the payload (cached afterwards): navigation -> map painted
    page_nav_ms_<n>=...            # p50: in the app, "Map" clicked in the sidebar -> map painted
    page_reload_ms_<n>=...         # p50: the Map page reloaded (F5; the browser has the app's files) -> map painted
    page_every_round_ms_<n>=...    # p50, the same reloads: navigation -> every round's colours in (the replay works;
                                   # above 200k points the latest round is painted first, the rest follows)
    page_load_new_profile_ms_<n>=. # p50: a new browser profile (nothing cached: Streamlit's ~5 MB of JS fetched
                                   # and compiled) -> map painted
    page_heading_new_profile_ms_<n>=...       # the same tabs: navigation -> the page's title drawn (Streamlit alone)
    page_map_received_new_profile_ms_<n>=...  # the same tabs: navigation -> the map's bytes reached its script
    replay_step_ms_<n>=...         # p50: the map's round slider moved -> recoloured map painted (in the browser)
    replay_step_metrics_ms_<n>=... # p50: the same step by keyboard -> the page's metrics (a rerun) show that round
    pan_frame_ms_<n>=...           # p50: one wheel zoom / drag step -> repainted
    lasso_ms_<n>=...               # a lasso over the middle -> its points picked and sent (browser side)

Run alone: ``python benchmarks/map_page_browser.py 100000 [WORKSPACE]`` (a WORKSPACE folder is prepared once
and reused by later runs); ``... 1000000 WORKSPACE --screenshots`` saves the map at round 1, mid-way and last
under ``artifacts/map-screenshots/`` (not committed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
CANVAS = ".fsmap-root canvas.fsmap-canvas"
VIEWPORT = {"width": 1400, "height": 1000}


def prepare(n: int, root: str) -> float:
    """Index ``n`` synthetic items, teach 10 rounds, store a map (a random projection: a cached map's page load
    does not depend on how it was fitted). Returns the seconds it took."""
    from benchmarks.map_latency import ROUNDS, synthetic, write_index
    from core.projection import Projection, fingerprint, save_projection
    from core.session import TeachSession

    started = time.perf_counter()
    os.environ["FEWSHOT_AUTO_MAP"] = "0"
    view = synthetic(n)
    store = write_index(view, root)
    session = TeachSession.create("bench", "three", store=store, target_label="3", strategy="random")
    for round_ in range(ROUNDS):
        batch = session.next_batch(k=20, seed=round_)
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in batch})
    stored = store.vectors("bench")
    xy = stored.matrix @ np.random.default_rng(2).standard_normal((stored.matrix.shape[1], 2)).astype(np.float32)
    save_projection("bench", Projection(xy.astype(np.float32), "umap", stored.version,
                                        fingerprint(stored.ids, stored.matrix), n, 1.0), root)
    return time.perf_counter() - started


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(root: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "FEWSHOT_HOME": root, "FEWSHOT_AUTO_MAP": "0", "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start:\n" + log.read_text()[-2000:])


def _heading(page) -> float:
    """ms from navigation start until the page's heading is drawn (Streamlit itself, before the map)."""
    page.wait_for_selector("h1", timeout=300_000)
    return float(page.evaluate("performance.now()"))


def _painted(page, timeout_ms: float = 300_000) -> float:
    """ms from navigation start until the canvas first painted (performance.now() at that paint)."""
    page.wait_for_selector(".fsmap-root[data-painted-at]", timeout=timeout_ms)
    return float(page.locator(".fsmap-root").get_attribute("data-painted-at"))


STEP_JS = """async (root, target) => {
  const slider = root.querySelector('input[type=range]');
  const t = performance.now();
  slider.value = String(target); slider.dispatchEvent(new Event('input', {bubbles: true}));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (root.dataset.round === undefined) throw new Error('not painted');
  return performance.now() - t; }"""
ZOOM_JS = """async (root, i) => {
  const c = root.querySelector('canvas.fsmap-canvas'), b = c.getBoundingClientRect();
  const t = performance.now();
  c.dispatchEvent(new WheelEvent('wheel', {deltaY: i % 2 ? 120 : -120, clientX: b.x + b.width / 2,
                                           clientY: b.y + b.height / 2, bubbles: true, cancelable: true}));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t; }"""


def measure(n: int, name: str, workspace: str | None = None) -> dict[str, float]:
    """The figures for ``n`` points; ``workspace``: one ``prepare`` already wrote (kept between runs)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace or tmp
        prepared_s = _prepared(n, root)
        if prepared_s is not None:
            out[f"map_workspace_s_{name}"] = round(prepared_s, 1)
        with _app_and_browser(root) as (browser, url):
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url + "/map")
            out[f"page_first_ms_{name}"] = round(_painted(page))
            page.close()
            loads, shells, received = [], [], []
            for _ in range(3):  # a new browser profile each time: Streamlit's own files fetched and compiled
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url + "/map")
                shells.append(_heading(page))
                loads.append(_painted(page))
                received.append(float(page.locator(".fsmap-root").get_attribute("data-received-at")))
                page.close()
            out[f"page_load_new_profile_ms_{name}"] = round(statistics.median(loads))
            out[f"page_heading_new_profile_ms_{name}"] = round(statistics.median(shells))
            out[f"page_map_received_new_profile_ms_{name}"] = round(statistics.median(received))
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(url + "/map")
            _painted(page)
            reloads, every = [], []
            for _ in range(3):  # F5 in a browser that has the app's files cached
                page.reload()
                reloads.append(_painted(page))
                every.append(_every_round(page))
            out[f"page_reload_ms_{name}"] = round(statistics.median(reloads))
            out[f"page_every_round_ms_{name}"] = round(statistics.median(every))
            out[f"page_nav_ms_{name}"] = round(_navigations(page))
            context.close()
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url + "/map")
            _painted(page)
            _every_round(page)
            page.wait_for_timeout(500)
            root = page.locator('.fsmap-root')
            steps = [root.evaluate(STEP_JS, i % 10) for i in (3, 4, 5, 6, 7, 8, 2)]
            out[f"replay_step_ms_{name}"] = round(statistics.median(steps))
            zooms = [root.evaluate(ZOOM_JS, i) for i in range(6)]
            out[f"pan_frame_ms_{name}"] = round(statistics.median(zooms))
            out[f"replay_step_metrics_ms_{name}"] = round(_metric_steps(page))
            out[f"lasso_ms_{name}"] = round(_lasso(page))
    return out


def _prepared(n: int, root: str) -> float | None:
    """Write the benchmark workspace unless ``root`` holds one already; the seconds it took (None: kept)."""
    if (Path(root) / "bench-ready").exists():
        return None
    seconds = prepare(n, root)
    (Path(root) / "bench-ready").touch()
    return seconds


@contextlib.contextmanager
def _app_and_browser(root: str) -> Iterator[tuple]:
    """The app serving ``root`` and a headless Chromium; both stopped afterwards."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        process, url = serve(root, Path(tmp) / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
                try:
                    yield browser, url
                finally:
                    browser.close()
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)


def _every_round(page) -> float:
    """ms from navigation start until every round's colours are in the map (above 200k points the first
    payload holds the latest round only); the time of the check, to within ~20 ms."""
    _wait(lambda: page.locator(".fsmap-root").get_attribute("data-codes-from") == "0", poll=0.02)
    return float(page.evaluate("performance.now()"))


def _navigations(page) -> float:
    """p50 ms: in the app, the sidebar's "Map" clicked (from the Index page) -> the map painted."""
    times = []
    for _ in range(3):
        page.locator('[data-testid="stSidebarNavLink"]').filter(has=page.locator('span[label="Index"]')).first.click()
        page.wait_for_selector("h1:has-text('Index')", timeout=60_000)
        page.wait_for_timeout(300)
        started = page.evaluate("performance.now()")
        page.locator('[data-testid="stSidebarNavLink"]').filter(has=page.locator('span[label="Map"]')).first.click()
        _wait(lambda started=started: _painted_after(page, started))
        times.append(float(page.locator(".fsmap-root").get_attribute("data-painted-at")) - started)
    return statistics.median(times)


def _painted_after(page, started: float) -> bool:
    root = page.locator(".fsmap-root")
    if root.count() == 0:
        return False
    value = root.get_attribute("data-painted-at")
    return value is not None and float(value) > started


def _metric_steps(page) -> float:
    """The map's round slider moved with the keyboard -> the page's metrics (a rerun) show that round."""
    slider = page.locator(".fsmap-root input[type=range]")
    metric = page.locator('[data-testid="stMetricValue"]').first
    times = []
    for key in ("ArrowLeft", "ArrowLeft", "ArrowRight"):
        slider.focus()
        expected = int(page.locator(".fsmap-root").get_attribute("data-round")) + (-1 if key == "ArrowLeft" else 1)
        started = time.perf_counter()
        page.keyboard.press(key)
        _wait(lambda expected=expected: page.locator(".fsmap-root").get_attribute("data-round") == str(expected)
              and metric.inner_text().strip().startswith(f"{expected} of"))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _wait(done, timeout: float = 120.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the map did not answer")
        time.sleep(poll)


def _lasso(page) -> float:
    box = page.locator(CANVAS).bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 6
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)):
        page.mouse.move(x, y, steps=4)
    started = time.perf_counter()
    page.mouse.up()
    _wait(lambda: page.locator(".fsmap-root").get_attribute("data-selected") is not None, poll=0.005)
    return (time.perf_counter() - started) * 1000


def screenshots(n: int, workspace: str, folder: Path) -> list[Path]:
    """The map at its first round, mid-way and last (``n`` points, every one drawn) as PNGs in ``folder``."""
    _prepared(n, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with _app_and_browser(workspace) as (browser, url):
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url + "/map")
        _painted(page)
        _every_round(page)
        root = page.locator(".fsmap-root")
        last = int(root.get_attribute("data-rounds")) - 1
        for position, name in ((1, "round-1"), (last // 2, "mid-way"), (last, "last")):
            root.evaluate(STEP_JS, position)
            page.wait_for_timeout(300)
            out.append(folder / f"map-{n}-{name}.png")
            root.screenshot(path=str(out[-1]))
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    label = f"{count // 1000}k" if count < 1_000_000 else f"{count // 1_000_000}m"
    if len(sys.argv) > 3 and sys.argv[3] == "--screenshots":
        for shot in screenshots(count, sys.argv[2], ROOT / "artifacts" / "map-screenshots"):
            print(f"screenshot={shot}")
        sys.exit(0)
    for key, value in measure(count, label, sys.argv[2] if len(sys.argv) > 2 else None).items():
        print(f"{key}={value}", flush=True)
