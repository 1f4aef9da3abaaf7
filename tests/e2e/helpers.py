"""Small Playwright helpers for driving a Streamlit app; every wait is bounded and says what it waited for."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

APP = '[data-testid="stApp"]'
MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
EXCEPTION = '[data-testid="stException"]'


def _fail(message: str, page: Page) -> AssertionError:
    return AssertionError(f"{message} (url {page.url})")


def wait_for_app(page: Page, timeout: float = 30.0, settle: float = 0.3) -> None:
    """Wait until the app is connected, its script has finished running, and the main block is drawn.

    A run must stay finished for ``settle`` seconds: a click can start a rerun a moment later, and a
    ``run_every`` fragment reruns on its own, so a single "not running" sample is not enough.
    """
    deadline = time.monotonic() + timeout
    try:
        page.locator(f'{APP}[data-test-connection-state="CONNECTED"]').wait_for(timeout=timeout * 1000)
        page.locator(f"{MAIN} [data-testid='stMainBlockContainer']").wait_for(
            timeout=max(deadline - time.monotonic(), 0.1) * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"the Streamlit app did not connect and draw its main block within {timeout:.0f}s", page) from exc
    idle_since = None
    while True:
        state = page.locator(APP).get_attribute("data-test-script-state")
        running = state in ("initial", "running", "rerunRequested") or page.locator(
            '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]').count() > 0
        now = time.monotonic()
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= settle:
            return
        if now > deadline:
            raise _fail(f"the Streamlit script was still running after {timeout:.0f}s (state {state!r})", page)
        page.wait_for_timeout(50)


def button(page: Page, label: str, scope: str = MAIN) -> Locator:
    """The button labelled exactly ``label`` in ``scope`` (the main block by default)."""
    return page.locator(scope).get_by_role("button", name=label, exact=True)


def click_button(page: Page, label: str, scope: str = MAIN, timeout: float = 15.0) -> None:
    """Click the button labelled ``label`` and wait for the rerun it triggers to finish."""
    target = button(page, label, scope)
    try:
        target.first.wait_for(state="visible", timeout=timeout * 1000)
        target.first.click(timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no clickable button {label!r} within {timeout:.0f}s", page) from exc
    wait_for_app(page)


def fill_text(page: Page, label: str, value: str, scope: str = MAIN, timeout: float = 15.0) -> None:
    """Type ``value`` into the text input labelled ``label`` and commit it (Enter), then wait for the rerun."""
    field = page.locator(scope).get_by_label(label, exact=True)
    try:
        field.first.wait_for(state="visible", timeout=timeout * 1000)
        field.first.fill(value, timeout=timeout * 1000)
        field.first.press("Enter", timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no text input labelled {label!r} within {timeout:.0f}s", page) from exc
    wait_for_app(page)


def choose_radio(page: Page, option: str, scope: str = MAIN, timeout: float = 15.0) -> None:
    """Pick the radio option whose label is ``option``, then wait for the rerun."""
    radio = page.get_by_role("radio", name=option, exact=True)
    try:
        # Streamlit hides the native input behind a styled label: click the label.
        page.locator(scope).locator("label", has=radio).first.click(timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no radio option {option!r} within {timeout:.0f}s", page) from exc
    wait_for_app(page)
    if not page.locator(scope).get_by_role("radio", name=option, exact=True).first.is_checked():
        raise _fail(f"the radio option {option!r} is not selected after clicking it", page)


def goto_page(page: Page, base_url: str, title: str, timeout: float = 15.0) -> None:
    """Open the app if needed, then go to the page titled ``title`` through the sidebar navigation."""
    if not page.url.startswith(base_url):
        page.goto(base_url, timeout=timeout * 1000)
        wait_for_app(page)
    links = page.locator(f'{SIDEBAR} [data-testid="stSidebarNavLink"]')
    # Each link holds a material icon (its ligature name is text too) and a span labelled with the title.
    link = links.filter(has=page.locator(f"span[label={json.dumps(title)}]"))
    try:
        link.first.click(timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        titles = [links.nth(i).locator("span[label]").first.get_attribute("label") for i in range(links.count())]
        raise _fail(f"no sidebar link to the page {title!r} within {timeout:.0f}s; links: {titles}", page) from exc
    wait_for_app(page)


def assert_no_exception(page: Page) -> None:
    """Fail with the traceback's text when the page shows a Python exception."""
    errors = page.locator(EXCEPTION)
    if errors.count():
        raise _fail(f"the page shows an exception: {errors.first.inner_text()[:2000]}", page)


def screenshot(page: Page, folder, name: str, max_height: int = 4000) -> None:
    """Save the whole page as ``folder/name.png``.

    Streamlit scrolls its main block, not the document, so ``full_page`` alone only shows the viewport:
    the viewport is made as tall as the main block's content (up to ``max_height``) for the shot.
    """
    try:  # images still loading would show as gaps
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=5000)
    except PlaywrightTimeout:
        pass
    size = page.viewport_size
    height = page.evaluate(
        f"() => {{ const m = document.querySelector({json.dumps(MAIN)}); return m ? m.scrollHeight : 0; }}")
    tall = size is not None and height > size["height"]
    if tall:
        page.set_viewport_size({"width": size["width"], "height": min(int(height) + 8, max_height)})
        page.wait_for_timeout(150)  # let the layout settle at the new height
    try:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    finally:
        if tall:
            page.set_viewport_size(size)
            page.wait_for_timeout(50)


def choose_option(page: Page, label: str, option: str, scope: str = MAIN, timeout: float = 15.0) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, then wait for the rerun."""
    box = page.locator(scope).get_by_role("combobox", name=label, exact=True)
    try:
        box.first.wait_for(state="visible", timeout=timeout * 1000)
        page.wait_for_timeout(200)  # an expander or popover that just opened may still be moving
        box.first.click(timeout=timeout * 1000)
        page.get_by_role("option", name=option, exact=True).first.click(timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no option {option!r} in a selectbox labelled {label!r} within {timeout:.0f}s", page) from exc
    wait_for_app(page)


def choose_segment(page: Page, key: str, option: str, timeout: float = 15.0) -> None:
    """Pick ``option`` in the segmented control (or pills) whose widget key is ``key``, then wait for the rerun."""
    segment = page.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True)
    try:
        segment.first.click(timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no option {option!r} in the segmented control {key!r} within {timeout:.0f}s", page) from exc
    wait_for_app(page)
    if segment.first.get_attribute("aria-checked") != "true":
        raise _fail(f"the option {option!r} of {key!r} is not selected after clicking it", page)


def set_toggle(page: Page, label: str, on: bool = True, scope: str = MAIN, timeout: float = 15.0) -> None:
    """Switch the toggle (or checkbox) labelled ``label`` on or off, waiting for the rerun if it changed."""
    # st.toggle is an input with role "switch", st.checkbox a plain checkbox; both hidden behind a styled label.
    inner = page.get_by_role("switch", name=label, exact=True).or_(page.get_by_role("checkbox", name=label, exact=True))
    box = page.locator(scope).locator("label", has=inner).first
    try:
        box.wait_for(state="visible", timeout=timeout * 1000)
        if box.is_checked() != on:
            box.click(timeout=timeout * 1000)
            wait_for_app(page)
    except PlaywrightTimeout as exc:
        raise _fail(f"no toggle labelled {label!r} within {timeout:.0f}s", page) from exc
    if box.is_checked() != on:
        raise _fail(f"the toggle {label!r} is not {'on' if on else 'off'} after clicking it", page)


def metric_value(page: Page, label: str, scope: str = MAIN, timeout: float = 15.0) -> str:
    """The value shown by the ``st.metric`` labelled exactly ``label``."""
    metrics = page.locator(scope).locator('[data-testid="stMetric"]')
    label_el = page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    metric = metrics.filter(has=label_el).first
    try:
        metric.wait_for(state="visible", timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        labels = [m.locator('[data-testid="stMetricLabel"]').inner_text() for m in metrics.all()]
        raise _fail(f"no metric labelled {label!r} within {timeout:.0f}s; metrics: {labels}", page) from exc
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def press_key(page: Page, key: str) -> None:
    """Press ``key`` (Playwright's names: "a", "Enter", "Backspace", "ArrowRight") and wait for the rerun."""
    page.keyboard.press(key)
    wait_for_app(page)


def build_digits_index(page: Page, base_url: str, name: str = "digits", timeout: float = 60.0) -> None:
    """From the Index page, build the offline digits demo with the default raw-pixel embedder and wait for it.

    Ends with the success panel dismissed, so the page and the sidebar show the new index.
    """
    if not page.url.startswith(base_url):
        page.goto(base_url)
        wait_for_app(page)
    main = page.locator(MAIN)
    choose_radio(page, "Built-in demo: handwritten digits (offline)")
    fill_text(page, "Index name", name)
    click_button(page, "Build index")
    success = main.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="1,797 items")
    try:
        success.first.wait_for(state="visible", timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"building the digits index did not succeed within {timeout:.0f}s", page) from exc
    click_button(page, "Dismiss")


def dataframe_rows(page: Page, scope: str = MAIN, timeout: float = 15.0) -> list[dict[str, str]]:
    """The rows of the first ``st.dataframe`` in ``scope`` as {column: cell text}.

    The grid is drawn on a canvas; its accessible table (inside the canvas) holds the visible rows' text.
    """
    grid = page.locator(scope).locator('[data-testid="stDataFrame"] table[role="grid"]').first
    try:
        grid.locator('[role="gridcell"]').first.wait_for(state="attached", timeout=timeout * 1000)
    except PlaywrightTimeout as exc:
        raise _fail(f"no dataframe with rows within {timeout:.0f}s", page) from exc
    header = [(h.text_content() or "").strip() for h in grid.locator('[role="columnheader"]').all()]
    rows = []
    for row in grid.locator('tbody [role="row"]').all():
        cells = [(c.text_content() or "").strip() for c in row.locator('[role="gridcell"]').all()]
        rows.append(dict(zip(header, cells, strict=False)))
    return rows
