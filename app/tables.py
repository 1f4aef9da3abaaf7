"""Plain rows and CSV bytes for tables and downloads the pages show."""

from __future__ import annotations

import csv
import io

from core import csv_safe


def index_rows(infos) -> list[dict]:
    return [
        {
            "name": i.name,
            "items": i.n_items,
            "train": i.counts.get("train", 0),
            "validation": i.counts.get("validation", 0),
            "skipped": i.n_skipped,
            "embedder": i.embedder,
            "dim": i.dim,
            "modality": i.modality,
            "status": i.status,
            "created": i.created,
        }
        for i in infos
    ]


def skipped_csv(skipped) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "uri", "reason"])
    writer.writerows(csv_safe.row([s.id, s.uri, s.reason]) for s in skipped)
    return buffer.getvalue().encode("utf-8")
