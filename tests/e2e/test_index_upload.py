"""First five minutes in a real browser at 1280x720: upload a table, see its first rows, keep two label columns,
watch progress (rate and time left) in view, then "Teach this index" against the second label column."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from core.session import TeachSession
from core.store import Store
from tests.e2e.helpers import (
    MAIN,
    assert_no_exception,
    choose_option,
    choose_radio,
    click_button,
    fill_text,
    screenshot,
    wait_for_app,
)
from tests.helpers.pypi import write_pypi_csv

pytestmark = pytest.mark.e2e

UPLOAD = "Upload: a table of texts or a zip of images"
SUCCESS = '[data-testid="stAlertContentSuccess"]'
BUILD_TIMEOUT_S = 600  # 2,000 MiniLM texts plus the one-time ONNX export, on 2 shared cores
SMALL_SCREEN = {"width": 1280, "height": 720}


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= SMALL_SCREEN["height"]


def test_upload_preview_progress_and_teach_this_index(app_server, page, screenshot_dir, tmp_path):
    table = write_pypi_csv(tmp_path / "pypi_slice.csv", 2_000, ("id", "text", "split", "flask", "pytest", "napari"),
                           positives_of=("flask", "pytest"), per_column=150)
    page.set_viewport_size(SMALL_SCREEN)
    page.goto(app_server.url)
    wait_for_app(page)
    main = page.locator(MAIN)
    expect(main.get_by_label("Index name", exact=True)).to_have_value("digits")  # a value, not a placeholder

    choose_radio(page, UPLOAD)
    main.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(table))
    expect(main.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=30_000)
    wait_for_app(page)
    assert_no_exception(page)
    expect(main.get_by_label("Index name", exact=True)).to_have_value("pypi_slice")
    labels = main.locator(".st-key-index_col_labels")
    for column in ("flask", "pytest", "napari"):
        expect(labels).to_contain_text(column)
    screenshot(page, screenshot_dir, "01-preview")

    # Keep two label columns: Backspace in the picker removes the last one (napari).
    labels.locator("input").first.click()
    page.keyboard.press("Backspace")
    page.keyboard.press("Escape")
    wait_for_app(page)
    expect(labels).not_to_contain_text("napari")
    expect(labels).to_contain_text("pytest")

    click_button(page, "Build index")
    progress = main.locator('[data-testid="stProgress"]').filter(has_text="items/s")
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    seen_rate = False
    while time.monotonic() < deadline:
        if main.locator(SUCCESS).filter(has_text="pypi_slice holds").count():
            break
        if progress.count():
            try:
                text = progress.first.inner_text(timeout=1_000)
            except PlaywrightTimeoutError:  # the bar went away between count() and reading it: the build ended
                continue
            if re.search(r"\d+ (s|min \d+ s) left", text) and "%" in text and not seen_rate:
                assert _in_view(page, progress.first), "the progress bar is below the fold at 1280x720"
                screenshot(page, screenshot_dir, "02-progress")
                seen_rate = True
        page.wait_for_timeout(300)
    expect(main.locator(SUCCESS).filter(has_text="pypi_slice holds 2,000 items")).to_be_visible(timeout=5_000)
    assert seen_rate, "no progress with a rate and time left was visible while indexing"
    teach = main.get_by_role("button", name=re.compile("Teach this index"))
    expect(teach).to_be_visible()
    assert _in_view(page, teach)
    # The form kept its fields through the build (the upload too); the name moved on to a free one.
    expect(main.get_by_label("Index name", exact=True)).to_have_value("pypi_slice-2")
    expect(main).to_contain_text("pypi_slice.csv")
    screenshot(page, screenshot_dir, "03-done")

    teach.click()
    wait_for_app(page)
    assert_no_exception(page)
    expect(main.get_by_role("heading", name=re.compile("Start a concept on pypi_slice"))).to_be_visible()
    choose_option(page, "Ground-truth column (for AP by round)", "pytest")
    choose_option(page, "Ground-truth label it means (for AP by round)", "1")
    expect(main.get_by_label("Concept name", exact=True)).to_have_value("pytest")
    fill_text(page, "Prompt", "a pytest plugin")
    screenshot(page, screenshot_dir, "04-start-form")
    click_button(page, "Start teaching", timeout=60)
    assert_no_exception(page)
    expect(main.get_by_role("heading", name="Teach · pytest")).to_be_visible(timeout=30_000)
    session = TeachSession.open("pypi_slice", "pytest", Store(app_server.workspace))
    assert session.concept.target_column == "pytest" and session.concept.target_label == "1"
    assert "ap" in session.history()[0].metrics
    screenshot(page, screenshot_dir, "05-teaching")
