"""Every page, in the real browser, with hostile strings in the data: nothing is interpreted.

A workspace is seeded through ``core`` with ids, labels and texts that would be an element, a link,
bold text, a coloured span, LaTeX or reversed text if any page rendered them as Markdown or HTML;
their URLs point at a local HTTP server that records every request. The sweep is page-agnostic: it
follows every sidebar link, clicks every radio option and tab and opens every selectbox it finds,
and checks the DOM (shadow roots included) after each step. So it can be re-run unchanged when the
pages are rewritten.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.helpers import MAIN, SIDEBAR, assert_no_exception, wait_for_app

MARKERS = ("zqpic", "zqbold", "zqred", "zqmath", "zqlink", "zqanchor", "zqtag", "zqimg")

CHECK_DOM = r"""
([host, markers]) => {
  const bad = [];
  const urlAttributes = ['src', 'href', 'xlink:href', 'srcset', 'action', 'formaction', 'poster', 'data',
                         'background', 'style', 'ping'];
  const roots = [document];
  const texts = [];
  while (roots.length) {
    const root = roots.pop();
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.attributes) {  // attributes that load or link (plain text in a value is fine)
        const loads = urlAttributes.includes(attr.name.toLowerCase()) || /url\(/i.test(attr.value);
        if (loads && attr.value.includes(host)) bad.push(`${el.tagName} ${attr.name}=${attr.value.slice(0, 120)}`);
      }
      const own = (el.textContent || '').trim();
      if (markers.includes(own) && el.tagName !== 'TEXTAREA' && el.tagName !== 'INPUT') {
        bad.push(`rendered <${el.tagName.toLowerCase()}> ${own}`);
      }
      if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    if (root.querySelectorAll('.katex, math').length) bad.push('LaTeX rendered');
    const body = root.body || root;
    texts.push(body.innerText || body.textContent || '');
  }
  if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/.test(texts.join(' '))) bad.push('bidi control shown raw');
  return bad;
}
"""


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).requests.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def recorder():
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Recorder.requests
    finally:
        server.shutdown()


def hostile_strings(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}"
    return [
        f"<img src={url}/zqimg.png>",
        f"![zqpic]({url}/pic.png)",
        f"[zqlink]({url}/link)",
        "**zqbold**",
        ":red[zqred]",
        "$zqmath$",
        "\u202ezqrtl-gpj.exe",
        f'<a href="{url}/a">zqanchor</a>',
        "<b>zqtag</b>",
        f'=HYPERLINK("{url}/f")',
        "\u2066iso\u2069 \u200fmark\u061c",
    ]


def seed(workspace, port: int) -> None:
    """A text index (st:minilm) whose ids, labels and texts are all hostile, and a concept on it whose
    target label and prompt are hostile too, with two rounds of ratings."""
    import csv
    import os

    from core.embedders import load_embedder
    from core.errors import FewshotError
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    os.environ["FEWSHOT_HOME"] = str(workspace)
    strings = hostile_strings(port)
    table = workspace / "hostile.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i in range(60):
            s = strings[i % len(strings)]
            writer.writerow([f"{s} #{i}", f"{s} some words about item {i} {strings[(i + 3) % len(strings)]}",
                             strings[i % 4]])
    store = Store(workspace)
    embedder = load_embedder("st:minilm")
    build_index("hostile", parse_source(f"file:{table}", label_column="label"), embedder, store=store)
    with pytest.raises(FewshotError):  # concept and index names are validated: no markup gets in there
        TeachSession.create("hostile", "<img src=x>", store=store)
    session = TeachSession.create("hostile", "evil", store=store, prompt=strings[1], target_label=strings[0],
                                  embedder=embedder)
    for r in range(2):
        batch = session.next_batch(seed=r)
        session.submit({c.item_id: 1.0 if c.label == strings[0] else -1.0 for c in batch})


def _check(page, port: int, where: str) -> None:
    assert_no_exception(page)
    bad = page.evaluate(CHECK_DOM, [f"127.0.0.1:{port}", list(MARKERS)])
    assert not bad, f"{where}: {bad[:10]}"


def _sweep_widgets(page, port: int, where: str) -> int:
    """Click every tab and radio option and open every selectbox in the main block; check after each."""
    steps = 0
    tabs = page.locator(f'{MAIN} [role="tab"]')
    for i in range(min(tabs.count(), 6)):
        tabs.nth(i).click()
        wait_for_app(page)
        _check(page, port, f"{where}, tab {i}")
        steps += 1
    toggles = page.locator(f'{MAIN} [data-testid="stCheckbox"] label')
    for i in range(min(toggles.count(), 6)):
        try:
            toggles.nth(i).click(timeout=5_000)
        except Exception:  # noqa: BLE001 - a disabled or re-drawn toggle
            continue
        wait_for_app(page)
        _check(page, port, f"{where}, toggle {i}")
        steps += 1
    radios = page.locator(f'{MAIN} [role="radiogroup"] label')
    for i in range(min(radios.count(), 12)):
        try:
            radios.nth(i).click(timeout=5_000)
        except Exception:  # noqa: BLE001 - a radio re-drawn away by the previous click
            continue
        wait_for_app(page)
        _check(page, port, f"{where}, radio {i}")
        steps += 1
    for scope in (MAIN, SIDEBAR):
        boxes = page.locator(f'{scope} [data-testid="stSelectbox"]')
        for i in range(min(boxes.count(), 8)):
            try:
                boxes.nth(i).click(timeout=5_000)
                page.wait_for_timeout(300)
                _check(page, port, f"{where}, selectbox {i} open")
                page.keyboard.press("Escape")
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001 - a disabled or re-drawn selectbox
                continue
            steps += 1
    return steps


def test_no_page_interprets_hostile_strings(app_server, page, recorder, screenshot_dir):
    port, requests = recorder
    seed(app_server.workspace, port)
    page.goto(app_server.url)
    wait_for_app(page, timeout=60)
    links = page.locator(f'{SIDEBAR} [data-testid="stSidebarNavLink"]')
    titles = [links.nth(i).locator("span[label]").first.get_attribute("label") for i in range(links.count())]
    assert len(titles) >= 4, titles
    steps = 0
    for title in titles:
        links.filter(has=page.locator(f'span[label="{title}"]')).first.click()
        wait_for_app(page, timeout=60)
        page.wait_for_timeout(1_000)  # fragments and charts draw after the run
        _check(page, port, title)
        steps += 1 + _sweep_widgets(page, port, title)
        page.screenshot(path=str(screenshot_dir / f"{title}.png"), full_page=True)
    page.wait_for_timeout(1_000)
    assert requests == [], f"the browser fetched {requests}"
    assert steps >= 8, steps
