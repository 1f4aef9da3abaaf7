"""Shared pieces of the fault and bad-input suite, and the figures it reports.

Every test that injects a fault or tries a bad input records it in ``FIGURES``; the totals are
printed at the end of the run (``faults injected / survived``, ``bad inputs tried``, ``ratings
lost``), so the note's figures come from the suite itself. Tests marked ``slow`` run only with
``FEWSHOT_SLOW=1``.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from core.store import Store
from tests.helpers.workspaces import indexed_digits, use_workspace

FIGURES: Counter[str] = Counter()


def record(key: str, n: int = 1) -> None:
    FIGURES[key] += n


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FEWSHOT_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set FEWSHOT_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords and "tests/reliability" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}={FIGURES[key]}")


@pytest.fixture(scope="session")
def digits_template(tmp_path_factory):
    """A workspace holding ``digits`` (pixels:16, 1,797 items), built once and copied per test."""
    return indexed_digits(tmp_path_factory.mktemp("reliability-digits"))


@pytest.fixture
def digits_store(digits_template, workspace_dir) -> Store:
    return use_workspace(digits_template, workspace_dir)
