"""Slices of the shared real-text table (``pypi_summaries.csv.gz``: id, text, split, six 0/1 concept columns)."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (
    os.environ.get("FEWSHOT_SHARED_DATA", ""),
    "/work/shared/data",
    str(REPO.parent / "shared" / "data"),
    str(REPO / "shared" / "data"),
)
NAME = "pypi_summaries.csv.gz"


def pypi_path() -> Path | None:
    for folder in CANDIDATES:
        if folder and (Path(folder) / NAME).is_file():
            return Path(folder) / NAME
    return None


def pypi_rows(n: int, positives_of: tuple[str, ...] = ("flask", "pytest"), per_column: int | None = None) -> list[dict]:
    """``n`` rows: the positives of ``positives_of`` (up to ``per_column`` each), then rows in file order.

    The concepts are rare (0.1-0.3%), so a plain head of the file would hold almost no positives.
    Skips the test when the shared table is not on this machine.
    """
    path = pypi_path()
    if path is None:
        pytest.skip(f"{NAME} not found (set FEWSHOT_SHARED_DATA to its folder)")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked: dict[str, dict] = {}
    for column in positives_of:
        found = [r for r in rows if r[column] == "1"]
        for row in found[:per_column]:
            picked.setdefault(row["id"], row)
    for row in rows:
        if len(picked) >= n:
            break
        picked.setdefault(row["id"], row)
    return list(picked.values())[:n]


def write_pypi_csv(path: Path, n: int, columns: tuple[str, ...], **kwargs) -> Path:
    """A CSV of ``pypi_rows(n)`` with only ``columns`` (e.g. id, text, split, flask, pytest)."""
    rows = pypi_rows(n, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
