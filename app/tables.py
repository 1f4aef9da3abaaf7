"""Plain rows and CSV bytes for tables and downloads the pages show."""

from __future__ import annotations

import csv
import io

from app import safe_text
from core import csv_safe

#: The status shown for an unfinished build this server is not running (the stored status says "building").
CUT_SHORT = "interrupted (or building elsewhere)"


def index_rows(infos, stored: dict[str, int] | None = None, running: set[str] | frozenset = frozenset(),
               splits: dict[str, dict[str, int]] | None = None) -> list[dict]:
    """One row per index. ``stored``: items per index (``Store.stored_items``: an unfinished build's rows so far);
    ``running``: indexes this server is building now, so any other unfinished one reads as interrupted;
    ``splits``: items per split (``Store.stored_counts``, likewise)."""
    stored, splits = stored or {}, splits or {}
    return [
        {
            "name": i.name,
            "items": stored.get(i.name, i.n_items),
            "train": splits.get(i.name, i.counts).get("train", 0),
            "validation": splits.get(i.name, i.counts).get("validation", 0),
            "skipped": i.n_skipped,
            "embedder": i.embedder,
            "dim": i.dim,
            "modality": i.modality,
            "status": CUT_SHORT if i.status == "building" and i.name not in running else i.status,
            "created": i.created,
        }
        for i in infos
    ]


def skipped_rows(skipped) -> list[dict]:
    """Skipped items for a table: id, uri and reason as plain text (file names come from whoever filled the
    folder: a U+202E in one showed ``photo\u202egpj.png`` as ``photognp.jpg``)."""
    def field(s, name: str):
        return s.get(name) if isinstance(s, dict) else getattr(s, name, None)

    return [{name: None if field(s, name) is None else safe_text.text(field(s, name))
             for name in ("id", "uri", "reason")} for s in skipped]


def skipped_csv(skipped) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "uri", "reason"])
    writer.writerows(csv_safe.row([s.id, s.uri, s.reason]) for s in skipped)
    return buffer.getvalue().encode("utf-8")
