"""A shareable report: one self-contained HTML file (and a PNG of the map) for a concept.

Why one file with plotly.js inlined: it must open from an e-mail or a USB stick, offline, with no
server and no CDN. Figures travel as JSON inside ``<script type="application/json">`` blocks with
``<``, ``>`` and ``&`` escaped (dataset text can never close the tag); everything else a dataset
supplies (ids, labels, texts, names) goes through ``html.escape``. Thumbnails are ``data:`` URLs.

Size: plotly.js is ~4.7 MB; the map's points travel as typed arrays with 1-byte colour codes per
round, so 100k points and 10 rounds stay well under 20 MB. Above ``max_points`` the map is a
random sample (rated items always kept), and the file says so.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.files import write_atomic
from core.replay import Replay
from core.text_safety import escape

REPORT_MAX_POINTS = 100_000
HOVER_ID_CHARS = 80  # an id or label in a hover line: a 3,000-character id drew a box 12,000 px wide
HOVER_MAX_POINTS = 20_000  # per-point hover strings cost ~100 bytes each: beyond this, row numbers only
TOP_POSITIVES = 24


@dataclass
class ReportResult:
    path: Path
    png_path: Path | None
    n_bytes: int
    n_points: int
    n_items: int
    n_rounds: int


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a <script> element (no "</script>", no "<!--")."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    """Blank for missing values (never "None"/"nan")."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return pattern.format(value) if isinstance(value, int | float) else escape(str(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def ap_figure(replay: Replay) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=replay.rounds, y=replay.ap, mode="lines+markers", name="AP",
                               line={"color": "#0072B2"}, connectgaps=False))
    fig.update_layout(height=320, margin={"l": 60, "r": 20, "t": 30, "b": 50}, showlegend=False,
                      xaxis={"title": "round", "dtick": 1}, yaxis={"title": "Average precision", "range": [0, 1.02]})
    return fig


def map_png(replay: Replay, i: int, path: Path, size: int = 1200) -> Path:
    """A still of the map at round position ``i`` (PIL: no browser, no kaleido), for a slide deck."""
    from PIL import Image, ImageDraw

    from core.replay_figure import NEGATIVE, POSITIVE, W_COLOR

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    xy = replay.xy
    finite = np.isfinite(replay.w_xy).all(axis=1)
    both = np.concatenate([xy, replay.w_xy[finite]]) if len(xy) else np.zeros((1, 2))
    lo, hi = both.min(axis=0), both.max(axis=0)
    scale = (size - 80) / float(max(hi - lo)) if float(max(hi - lo)) > 0 else 1.0

    def px(p: np.ndarray) -> np.ndarray:
        q = (p - lo) * scale + 40
        return np.stack([q[:, 0], size - q[:, 1]], axis=1)

    codes = replay.color_codes(i).astype(np.float32) / 255.0
    neg, pos = np.array(_rgb(NEGATIVE), np.float32), np.array(_rgb(POSITIVE), np.float32)
    grey = np.array([232, 232, 232], np.float32)
    t = np.abs(codes - 0.5)[:, None] * 2
    colours = np.where((codes < 0.5)[:, None], grey * (1 - t) + neg * t, grey * (1 - t) + pos * t).astype(np.uint8)
    points = px(xy)
    order = np.argsort(replay.scores[i], kind="stable")  # high scores drawn last, on top
    r = 2 if len(xy) > 20_000 else 3
    for j in order:
        x, y = points[j]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in colours[j]))
    path_rows = [j for j in range(i + 1) if finite[j]]
    if path_rows:
        w = px(replay.w_xy[path_rows])
        draw.line([tuple(p) for p in w], fill=_rgb(W_COLOR), width=3)
        for k, (x, y) in enumerate(w):
            rr = 9 if k == len(w) - 1 else 6
            draw.ellipse((x - rr, y - rr, x + rr, y + rr), fill=_rgb(W_COLOR), outline="black", width=2)
            draw.text((x + rr + 2, y - rr - 10), str(replay.rounds[path_rows[k]]), fill="black")
    draw.text((12, 10), f"round {replay.rounds[i]} of {replay.rounds[-1]}", fill="black")
    buffer = __import__("io").BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    write_atomic(path, buffer.getvalue())
    return path


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _top_positives(store: Any, index: str, view: Any, scores: np.ndarray, k: int = TOP_POSITIVES,
                   labels: np.ndarray | None = None, rated: dict[str, float] | None = None) -> str:
    """The ``k`` top-scored items; ``labels``: each row's label in the concept's own column (a stored row's
    ``label`` is the index's first column, so a flask concept's items read "label 0" from the pytest column)."""
    top = np.argsort(-scores)[:k]
    ids = [str(view.ids[r]) for r in top]
    rows = {r["id"]: r for r in store.fetch_items(index, ids)}
    cells = []
    for r, item_id in zip(top, ids, strict=True):
        row = rows.get(item_id, {})
        caption = escape(item_id) + f" · score {scores[r]:+.2f}"
        label = row.get("label") if labels is None else labels[r]
        if label is not None:
            caption += " · label " + escape(str(label))
        if rated and item_id in rated:  # trained on: an auditor read 21 rated items of 24 as the classifier's finds
            caption += f" · rated {rated[item_id]:+g}"
        if row.get("thumbnail"):
            body = f'<img alt="" src="data:image/jpeg;base64,{base64.b64encode(row["thumbnail"]).decode()}">'
        else:
            body = f'<div class="text">{escape(str(row.get("text") or "")[:600])}</div>'
        cells.append(f'<figure>{body}<figcaption>{caption}</figcaption></figure>')
    return '<div class="grid">' + "".join(cells) + "</div>"
