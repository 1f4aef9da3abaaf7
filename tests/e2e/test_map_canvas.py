"""The canvas map in a real browser (the threshold set to 0, so the 1,797 digits use it): the map's own
round slider recolours in the browser (the page's metrics follow), ▶ plays, the wheel zooms, a tab switch
keeps the round, and a lasso selects items that are then rated "all +1" as one round.

Screenshots of the map at round 1, mid-way and last go to the test's artifacts folder.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import MAIN, assert_no_exception, screenshot, wait_for_app
from tests.e2e.test_map_page import _prepare_workspace

pytestmark = pytest.mark.e2e

ROOT = ".fsmap-root"
PIXELS_JS = """(root) => { const c = root.querySelector('canvas.fsmap-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7) % 1000000007;
  return h; }"""


@pytest.fixture
def canvas_always(monkeypatch):
    """Requested before ``app_server`` so the server has it. The first payload holds the latest round only
    (as above 200k points), so the browser's request for every round is exercised too."""
    monkeypatch.setenv("FEWSHOT_MAP_CANVAS_ABOVE", "0")
    monkeypatch.setenv("FEWSHOT_MAP_FULL_ROUNDS_UP_TO", "0")


def _state(page) -> dict:
    root = page.locator(ROOT)
    return {"round": root.get_attribute("data-round"), "paints": int(root.get_attribute("data-paints") or 0),
            "pixels": root.evaluate(PIXELS_JS), "caption": root.locator(".fsmap-caption").inner_text()}


def _canvas_slider(page, value: int) -> None:
    """Move the map's own round slider (rounds 0..3 are positions 0..3) with the keyboard."""
    slider = page.locator(f"{ROOT} input[type=range]")
    slider.focus()
    for _ in range(8):
        now = int(slider.input_value())
        if now == value:
            return
        page.keyboard.press("ArrowLeft" if now > value else "ArrowRight")
    raise AssertionError(f"the map's slider did not reach {value}")


def test_canvas_map_replays_zooms_and_rates_a_lasso(canvas_always, app_server, page, screenshot_dir):
    _prepare_workspace(app_server.workspace)
    page.goto(app_server.url + "/map")
    wait_for_app(page)
    root = page.locator(ROOT)
    page.wait_for_selector(f"{ROOT}[data-painted-at]", timeout=60_000)
    assert_no_exception(page)
    assert root.get_attribute("data-points") == "1797" and root.get_attribute("data-rounds") == "4"
    # painted from the latest round's colours, then every round arrives by itself
    page.wait_for_function("(r) => r.dataset.codesFrom === '0'", arg=root.element_handle(), timeout=30_000)
    wait_for_app(page)
    expect(root.locator("input[type=range]")).to_be_enabled()
    last = _state(page)
    assert last["round"] == "3" and last["caption"] == root.locator(".fsmap-caption").inner_text()
    assert last["caption"].startswith("Round 3 of 3") and "loading" not in last["caption"]
    root.screenshot(path=str(screenshot_dir / "map-round-3-last.png"))

    _canvas_slider(page, 1)  # drawn in the browser; the page's metrics follow with a rerun
    page.wait_for_function("(r) => r.dataset.round === '1'", arg=root.element_handle())
    first = _state(page)
    assert first["caption"].startswith("Round 1 of 3") and first["pixels"] != last["pixels"]
    wait_for_app(page)
    expect(page.locator(MAIN).get_by_text("1 of 3", exact=True)).to_be_visible()
    assert _state(page)["pixels"] == first["pixels"]  # the rerun kept the round (same bytes, no redraw)
    root.screenshot(path=str(screenshot_dir / "map-round-1.png"))
    _canvas_slider(page, 2)
    page.wait_for_function("(r) => r.dataset.round === '2'", arg=root.element_handle())
    mid = _state(page)
    assert mid["pixels"] not in (first["pixels"], last["pixels"])
    root.screenshot(path=str(screenshot_dir / "map-round-2-mid.png"))

    root.get_by_role("button", name="▶ Play").click()  # every round in turn, then it stops at the last
    page.wait_for_function("(r) => r.dataset.round === '3'", arg=root.element_handle(), timeout=15_000)

    box = root.locator("canvas.fsmap-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)  # zoom in around the cursor
    page.wait_for_function("(a) => Number(a[0].dataset.paints) > a[1]",
                           arg=[root.element_handle(), _state(page)["paints"] - 1])
    page.wait_for_timeout(200)
    zoomed = _state(page)["pixels"]
    root.get_by_role("button", name="Reset view").click()
    page.wait_for_timeout(300)
    assert _state(page)["pixels"] != zoomed

    # a tab switch keeps the round (the browser remembers it per map) and the metrics agree
    _canvas_slider(page, 2)
    wait_for_app(page)
    page.locator(MAIN).get_by_role("tab", name="Drift").click()
    wait_for_app(page)
    page.locator(MAIN).get_by_role("tab", name="Map").click()
    wait_for_app(page)
    page.wait_for_selector(f"{ROOT}[data-painted-at]", timeout=30_000)
    assert root.get_attribute("data-round") == "2"
    expect(page.locator(MAIN).get_by_text("2 of 3", exact=True)).to_be_visible()
    box = root.locator("canvas.fsmap-canvas").bounding_box()

    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    r = min(box["width"], box["height"]) / 4
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)):
        page.mouse.move(x, y, steps=5)
    page.mouse.up()
    wait_for_app(page)
    main = page.locator(MAIN)
    rate_all = main.get_by_text("(one round, undoable)", exact=False)
    expect(rate_all.first).to_be_visible(timeout=15_000)
    n_selected = int(rate_all.first.inner_text().split("Rate all", 1)[1].split("unrated selected", 1)[0]
                     .replace(",", "").strip())
    # the lasso took both splits: validation items are left out of rating, and the panel says how many; so are the
    # items rated already, which keep their ratings
    held_out = main.get_by_text("in the validation split", exact=False).first.inner_text().split(" selected", 1)[0]
    kept = main.get_by_text("already rated keep", exact=False)
    n_kept = int(kept.first.inner_text().split(" selected", 1)[0].replace(",", "")) if kept.count() else 0
    assert 0 < n_selected and n_selected + n_kept + int(held_out.replace(",", "")) == int(
        root.get_attribute("data-selected"))
    main.get_by_role("button", name="all +1", exact=True).click()
    wait_for_app(page)
    assert_no_exception(page)
    expect(main.get_by_text(f"Rated {n_selected:,} selected items +1", exact=False)).to_be_visible()
    page.wait_for_function("(r) => r.dataset.rounds === '5' && r.dataset.round === '4'",
                           arg=page.locator(ROOT).element_handle(), timeout=30_000)

    from core.session import TeachSession
    from core.store import Store

    session = TeachSession.open("digits", "three", store=Store(app_server.workspace))
    rows = [r for r in session.teach.label_rows("digits", "three") if r["round"] == 4]
    assert len(rows) == n_selected and {r["rating"] for r in rows} == {1.0}
    screenshot(page, screenshot_dir, "canvas-after-bulk-rating")
