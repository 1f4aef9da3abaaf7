"""Browser tests: the real app in a Streamlit server, driven by Debian's chromium through Playwright.

Fixtures
- ``chromium_path``: ``/usr/bin/chromium`` (skips the test when Debian's package is missing).
- ``app_server``: a fresh ``streamlit run streamlit_app.py`` per test on a free localhost port, with
  its own empty workspace (``FEWSHOT_HOME``); yields an ``AppServer`` (``url``, ``workspace``,
  ``log``) and kills the server's whole process group afterwards.
- ``browser``: one headless chromium per test session (Playwright's own download is never used).
- ``page``: a fresh context and page (1400x1000) per test, closed afterwards; when the test failed, a
  full-page ``failure.png`` goes to the test's screenshot folder first.
- ``screenshot_dir``: where tests save full-page screenshots (``artifacts/e2e-screenshots/<test>``
  under the repo root, or ``$FEWSHOT_SCREENSHOTS/<test>``); printed when the test ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AppServer:
    url: str  # base URL, e.g. http://127.0.0.1:41234 (no trailing slash)
    workspace: Path  # the server's FEWSHOT_HOME
    log: Path  # the server's stdout and stderr

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no server log>"


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:  # children that outlived the leader (same group) go too
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(timeout=10)


@pytest.fixture
def chromium_path() -> str:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # CI installs it (scripts/test.sh): a missing browser is a failure there
            pytest.fail("Debian chromium is not installed although CI is set: apt-get install chromium")
        pytest.skip("Debian chromium is not installed: apt-get install chromium")
    return str(CHROMIUM)


@pytest.fixture
def app_server(tmp_path) -> Iterator[AppServer]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    log = tmp_path / "streamlit.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEWSHOT_HOME": str(workspace),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # others' edits must not rerun the app mid-test
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = AppServer(url=url, workspace=workspace, log=log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with code {process.returncode} before answering:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within "
                            f"{SERVER_START_TIMEOUT_S:.0f}s:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # CI installs it (scripts/test.sh): a missing browser is a failure there
            pytest.fail("Debian chromium is not installed although CI is set: apt-get install chromium")
        pytest.skip("Debian chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so ``page`` can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _screenshot_folder(request) -> Path:
    root = Path(os.environ.get("FEWSHOT_SCREENSHOTS") or REPO_ROOT / "artifacts" / "e2e-screenshots")
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)


@pytest.fixture
def page(chromium_path, browser, request):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = _screenshot_folder(request)
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / "failure.png"), full_page=True, timeout=10_000)
            print(f"failure screenshot: {folder / 'failure.png'}")
    finally:
        context.close()


@pytest.fixture
def screenshot_dir(request) -> Iterator[Path]:
    path = _screenshot_folder(request)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.png"):
        old.unlink()
    yield path
    print(f"screenshots: {path}")
