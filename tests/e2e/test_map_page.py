"""The Map page in a real browser: the UMAP fit starts by itself when the index is built (PCA with "UMAP
ready in ~N s" meanwhile, the page swaps by itself), the replay (the round slider moves w and recolours,
▶ plays in the browser), settings surviving a tab switch, a lasso rated "all +1" as one round, the Drift
tab; and the offline report opened from file:// with no server, showing the map at every round.

The workspace is prepared in Python: the digits indexed with raw pixels (with ``FEWSHOT_AUTO_MAP=1``,
so ``build_index`` itself starts the map fit) and a concept taught for three rounds by an annotator who
first marks 5s positive, then changes their mind to 3s, so ``w`` visibly crosses the map.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import MAIN, assert_no_exception, choose_segment, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

CHART = '[data-testid="stPlotlyChart"]'
FIT_TIMEOUT_S = 420  # cold `import umap` + numba compilation in a child process, on 2 shared cores
FIGURE_JS = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const byName = Object.fromEntries(gd._fullData.map(t => [t.name, t]));  // typed arrays decoded
  const colours = byName['items (score at this round)'].marker.color;
  let sum = 0; for (let i = 0; i < colours.length; i++) sum += colours[i] * (i % 7 + 1);
  return {title: gd.layout.title.text, wPath: Array.from(byName['w by round'].text || []),
          nPositive: byName['predicted positive']._length, colourHash: sum,
          frames: gd._transitionData._frames.length};
}"""


@pytest.fixture
def auto_map(monkeypatch):
    """The background map fit on (the suite turns it off); requested before ``app_server`` so the server has it."""
    monkeypatch.setenv("FEWSHOT_AUTO_MAP", "1")


def _prepare_workspace(root, rounds: int = 3) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    store = Store(root)
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    session = TeachSession.create("digits", "three", store=store, target_label="3", strategy="random")
    for round_, positive in enumerate(["5", "3", "3", "3", "3", "3"][:rounds]):
        batch = session.next_batch(k=20, seed=round_)
        session.submit({c.item_id: 1.0 if c.label == positive else -1.0 for c in batch})


def _figure(page) -> dict:
    return page.evaluate(FIGURE_JS)


def _set_round(page, value: int) -> None:
    """Move the Streamlit round slider with the keyboard until it shows ``value``."""
    thumb = page.locator(MAIN).get_by_role("slider", name="Round").first
    for _ in range(12):
        now = _round_shown(page)
        if now == value:
            return
        thumb.focus()
        page.keyboard.press("ArrowLeft" if now > value else "ArrowRight")
        wait_for_app(page)
    raise AssertionError(f"the round slider did not reach {value}")


def _round_shown(page) -> int:
    return int(page.locator(f'{MAIN} [data-testid="stSliderThumbValue"]').first.inner_text().strip())


def _lasso(page) -> None:
    """Drag a lasso over the middle of the map (the page's default drag mode)."""
    box = page.locator(f"{CHART} .nsewdrag").first.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 5
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r + 2)):
        page.mouse.move(x, y, steps=6)
    page.mouse.up()


def test_map_auto_umap_replay_settings_and_lasso_rating(auto_map, app_server, page, screenshot_dir):
    _prepare_workspace(app_server.workspace)
    from core.projection_auto import read_status

    status = read_status("digits", app_server.workspace)
    assert status is not None, "building the index did not start the map fit"
    page.goto(app_server.url)
    wait_for_app(page)
    # Not goto_page: while the fit runs, its progress fragment reruns every 2 s, so on a loaded machine
    # the app is never idle long enough for wait_for_app; wait for what the page shows instead.
    page.locator('[data-testid="stSidebarNavLink"]').filter(has=page.locator('span[label="Map"]')).first.click()
    main = page.locator(MAIN)
    expect(main.get_by_role("heading", name="Map")).to_be_visible(timeout=30_000)
    expect(main.locator(CHART).first).to_be_visible(timeout=90_000)
    assert_no_exception(page)
    if read_status("digits", app_server.workspace).alive:
        expect(main.get_by_text("UMAP map is ready in ~", exact=False).first).to_be_visible()
        expect(main.get_by_text("Computing the UMAP map", exact=False).first).to_be_visible()
        screenshot(page, screenshot_dir, "01-pca-until-umap-ready")
    done = main.get_by_text("UMAP map (cosine) of 1,797 items", exact=False)
    deadline = time.monotonic() + FIT_TIMEOUT_S
    while done.count() == 0:  # no click: the page swaps to the UMAP map by itself
        assert time.monotonic() < deadline, f"the UMAP map did not appear in {FIT_TIMEOUT_S} s\n{app_server.log_tail()}"
        page.wait_for_timeout(500)
    wait_for_app(page)
    assert_no_exception(page)
    chart = main.locator(CHART).first
    expect(chart.get_by_text("w at this round")).to_be_visible()

    last = _figure(page)
    assert last["wPath"] == ["1", "2", "3"] and last["frames"] == 4 and "Round 3 of 3" in last["title"]
    chart.screenshot(path=str(screenshot_dir / "map-round-3-last.png"))
    _set_round(page, 1)
    first = _figure(page)
    assert first["wPath"] == ["1"] and "Round 1 of 3" in first["title"]
    assert first["colourHash"] != last["colourHash"]  # recoloured by round 1's scores
    page.wait_for_timeout(300)
    chart.screenshot(path=str(screenshot_dir / "map-round-1.png"))
    _set_round(page, 2)
    assert _figure(page)["wPath"] == ["1", "2"]
    page.wait_for_timeout(300)
    chart.screenshot(path=str(screenshot_dir / "map-round-2-mid.png"))

    chart.get_by_text("▶ Play").click()  # client side: no rerun, the frames play in the browser
    page.wait_for_function("() => document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')"
                           ".layout.title.text.includes('Round 3 of 3')", timeout=15_000)
    assert _figure(page)["wPath"] == ["1", "2", "3"]

    choose_segment(page, "map_color", "Label")
    main.get_by_role("tab", name="Drift").click()
    wait_for_app(page)
    expect(main.get_by_text("Compare two rounds")).to_be_visible()
    assert_no_exception(page)
    screenshot(page, screenshot_dir, "02-drift")
    main.get_by_role("tab", name="Map").click()
    wait_for_app(page)
    segment = page.locator(".st-key-map_color").get_by_role("radio", name="Label", exact=True)
    expect(segment).to_have_attribute("aria-checked", "true")  # kept across the tab switch
    assert _round_shown(page) == 2

    choose_segment(page, "map_color", "Score")
    chart.scroll_into_view_if_needed()
    _lasso(page)
    wait_for_app(page)
    rate_all = main.get_by_text("(one round, undoable)", exact=False)
    expect(rate_all.first).to_be_visible(timeout=15_000)
    text = rate_all.first.inner_text()
    n_selected = int(text.split("Rate all", 1)[1].split("unrated selected", 1)[0].replace(",", "").strip())
    assert n_selected > 0
    main.get_by_role("button", name="all +1", exact=True).click()
    wait_for_app(page)
    assert_no_exception(page)
    expect(main.get_by_text(f"Rated {n_selected:,} selected items +1", exact=False)).to_be_visible()

    from core.session import TeachSession
    from core.store import Store

    session = TeachSession.open("digits", "three", store=Store(app_server.workspace))
    assert session.round == 4
    rows = [r for r in session.teach.label_rows("digits", "three") if r["round"] == 4]
    assert len(rows) == n_selected and {r["rating"] for r in rows} == {1.0}
    screenshot(page, screenshot_dir, "03-after-bulk-rating")


def test_report_opens_offline_and_shows_every_round(tmp_path, page, screenshot_dir, monkeypatch):
    """No server at all: the HTML file from ``write_report`` opened from file:// in headless Chromium."""
    monkeypatch.setenv("FEWSHOT_HOME", str(tmp_path))
    _prepare_workspace(tmp_path, rounds=4)
    from core.report_build import write_report
    from core.store import Store

    result = write_report(Store(tmp_path), "digits", "three", tmp_path / "report.html", png=tmp_path / "map.png")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.context.route("http*://**", lambda route: (errors.append(route.request.url), route.abort()))
    page.goto(result.path.as_uri())
    page.wait_for_selector("#fig-map[data-ready='1']", timeout=60_000)
    page.wait_for_selector("#fig-ap[data-ready='1']", timeout=60_000)
    assert page.locator("text=Drift on the validation split").count() == 1
    shots: list[bytes] = []
    for r in range(5):
        page.evaluate(f"Plotly.animate('fig-map', ['{r}'], {{frame: {{duration: 0, redraw: true}}}})")
        page.wait_for_function(
            f"() => document.getElementById('fig-map').layout.title.text.startsWith('Round {r} of 4')")
        state = page.evaluate("""() => { const gd = document.getElementById('fig-map');
            const w = gd._fullData.find(t => t.name === 'w by round');
            return {points: gd._fullData[0]._length, w: Array.from(w.text || [])}; }""")
        assert state["points"] == 1797
        assert state["w"] == [str(k) for k in range(1, r + 1)]  # round 0: w = 0, nothing to draw yet
        page.wait_for_timeout(200)
        shots.append(page.locator("#fig-map").screenshot(path=str(screenshot_dir / f"report-round-{r}.png")))
    assert len(set(shots)) == 5  # every round draws a different map (colours, w, flips)
    assert not errors, errors  # no script error, no network request
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
