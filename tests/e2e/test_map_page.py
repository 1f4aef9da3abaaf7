"""The Map page in a real browser: PCA stand-in first, then the UMAP fit (a background job with
progress), then the map coloured by label with the numbered ``w`` trajectory, and the Drift tab.

The workspace is prepared in Python before the page opens: the digits indexed with raw pixels and a
concept taught for three rounds by an annotator who first marks 5s as positive, then changes their
mind to 3s, so ``w`` visibly crosses the map (5s -> between -> 3s).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import MAIN, assert_no_exception, goto_page, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

CHART = '[data-testid="stPlotlyChart"]'
FIT_TIMEOUT_S = 300  # cold `import umap` + numba compilation in the server process, on 2 shared cores


def _prepare_workspace(root) -> None:
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.session import TeachSession
    from core.sources import parse_source
    from core.store import Store

    store = Store(root)
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    session = TeachSession.create("digits", "three", store=store, target_label="3", strategy="random")
    for round_, positive in enumerate(["5", "3", "3"]):
        batch = session.next_batch(k=20, seed=round_)
        session.submit({c.item_id: 1.0 if c.label == positive else -1.0 for c in batch})


def _colour_by(page, mode: str) -> None:
    page.locator(MAIN).get_by_role("radiogroup", name="Colour by").get_by_role("radio", name=mode, exact=True).click()
    wait_for_app(page)


def test_map_page_pca_then_umap_with_trajectory(app_server, page, screenshot_dir):
    _prepare_workspace(app_server.workspace)
    page.goto(app_server.url)
    wait_for_app(page)
    goto_page(page, app_server.url, "Map")
    assert_no_exception(page)
    main = page.locator(MAIN)
    expect(main.get_by_role("heading", name="Map")).to_be_visible()
    expect(main.get_by_text("PCA stand-in", exact=False).first).to_be_visible()
    expect(main.locator(CHART).first).to_be_visible()
    screenshot(page, screenshot_dir, "01-pca-stand-in")

    main.get_by_role("button", name="Compute the UMAP map").click()
    main.page.get_by_role("button", name="Compute UMAP map", exact=True).click()
    expect(main.get_by_text("Computing the UMAP map", exact=False).first).to_be_visible(timeout=20_000)
    screenshot(page, screenshot_dir, "02-fitting")
    deadline = time.monotonic() + FIT_TIMEOUT_S
    done = main.get_by_text("UMAP map (cosine) of 1,797 items", exact=False)
    while done.count() == 0:
        assert time.monotonic() < deadline, f"the UMAP fit did not finish in {FIT_TIMEOUT_S} s\n{app_server.log_tail()}"
        page.wait_for_timeout(500)
    wait_for_app(page)
    assert_no_exception(page)
    expect(main.get_by_text("PCA stand-in", exact=False)).to_have_count(0)

    _colour_by(page, "Label")
    chart = main.locator(CHART).first
    expect(chart.get_by_text("w now (round 3)")).to_be_visible()
    expect(chart.get_by_text("label 3", exact=True)).to_be_visible()
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # WebGL points draw a frame after the script ends
    chart.screenshot(path=str(screenshot_dir / "03-umap-trajectory.png"))
    screenshot(page, screenshot_dir, "04-umap-page")

    _colour_by(page, "Score")
    main.get_by_text("Validation predictions", exact=True).click()
    wait_for_app(page)
    expect(chart.get_by_text("predicted +, right (TP)")).to_be_visible()
    chart.screenshot(path=str(screenshot_dir / "05-score-validation.png"))

    main.get_by_role("tab", name="Drift").click()
    expect(main.get_by_text("Compare two rounds")).to_be_visible()
    expect(main.get_by_text("Positive in both")).to_be_visible()
    assert_no_exception(page)
    screenshot(page, screenshot_dir, "06-drift")
