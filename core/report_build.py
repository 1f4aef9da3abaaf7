"""Assemble the offline report of one concept: ``write_report`` is what the CLI and the Map button call."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.drift import drift_by_round, round_scores, weights
from core.files import write_atomic
from core.records import VALIDATION
from core.replay import build_replay, draw_rows, map_positions, round_caption
from core.report import (
    HOVER_ID_CHARS,
    HOVER_MAX_POINTS,
    REPORT_MAX_POINTS,
    ReportResult,
    _fmt,
    _json_for_script,
    _table,
    _top_positives,
    ap_figure,
    map_png,
)
from core.text_safety import escape, shorten

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.6em;margin-bottom:0} .sub{color:#555;margin-top:4px} .note{color:#555;font-size:.9em}
table{border-collapse:collapse;margin:8px 0 16px} td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f4f4f4} .grid{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:180px;border:1px solid #ddd;padding:4px;font-size:.8em;overflow-wrap:anywhere}
figure img{width:100%;image-rendering:pixelated} .text{max-height:9em;overflow:hidden;white-space:pre-wrap}
"""


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _figure_json(fig: Any) -> str:
    import plotly.io as pio

    return pio.to_json(fig, validate=False)


def write_report(store: Any, index: str, concept: str, out: Path | str, *, png: Path | str | None = None,
                 threshold: float | None = None, max_points: int = REPORT_MAX_POINTS, xy: np.ndarray | None = None,
                 root: Path | str | None = None) -> ReportResult:
    """Write the report of ``concept`` on ``index`` to ``out`` (HTML) and, when asked, ``png`` (the map).

    threshold: None = the concept's own (``TeachSession.threshold``).
    xy: the map positions to use (default: the cached UMAP map, else the PCA view).
    """
    from core.evaluate import evaluate_split
    from core.session import TeachSession

    session = TeachSession.open(index, concept, store=store)
    threshold = session.threshold if threshold is None else float(threshold)
    view = store.vectors(index)
    n = len(view.ids)
    positions, method = (xy, "given") if xy is not None else map_positions(index, view, root or store.root)
    history = session.history()
    seen = np.asarray(sorted({i for i, item in enumerate(view.ids) if item in session.seen_ids()}), dtype=np.int64)
    rows = draw_rows(n, seen, max_points=max_points)
    replay = build_replay(view.matrix, positions, history, rows, threshold)
    from core.replay_figure import replay_figure

    column = getattr(session.concept, "target_column", None)
    labels = _labels(view, column)
    hover = None
    if len(rows) <= HOVER_MAX_POINTS:
        def line(r: int) -> str:  # id and label cut: a 3,000-character id drew a hover box 12,000 px wide
            label = "" if labels[r] is None else " · label " + escape(shorten(str(labels[r]), HOVER_ID_CHARS))
            return escape(shorten(str(view.ids[r]), HOVER_ID_CHARS)) + label

        hover = np.asarray([line(r) for r in rows], dtype=object)
    figures = {"map": replay_figure(replay, None, hover, height=720)}
    if replay.rounds and any(a is not None for a in replay.ap):
        figures["ap"] = ap_figure(replay)
    target = session.concept.target_label
    ev = evaluate_split(store, index, session.head, VALIDATION, target, threshold, target_column=column) \
        if n else None
    sections = [_header(session, index, concept, replay, n, len(rows), method, threshold)]
    sections.append('<h2>The map, round by round</h2><p class="note">Press ▶ Play or drag the slider: each round '
                    "colours the items by that round's score (blue positive, orange negative), draws that round's "
                    "predicted positives on top, marks the items that flipped since the round before (black "
                    "diamonds), and draws w's path so far (purple, beside the items it points at).</p>"
                    '<div id="fig-map" class="fig"></div>')
    if "ap" in figures:
        sections.append('<h2>Average precision by round</h2><div id="fig-ap" class="fig"></div>')
    sections.append(_validation_section(ev, threshold))
    sections.append(_drift_section(view, history, threshold))
    if replay.rounds:
        scores = view.matrix @ np.asarray(session.head.w, np.float32) + float(session.head.b)
        current = session.ratings()
        rated = dict(zip(map(str, current.item_ids.tolist()), current.ratings.tolist(), strict=True))
        top = np.argsort(-scores)[:min(24, n)]
        n_rated = sum(str(view.ids[r]) in rated for r in top)
        sections.append(f"<h2>Top {min(24, n)} items by the latest score</h2>"
                        f'<p class="note">Every split; {n_rated} of them rated for this concept (marked "rated": '
                        "the classifier was trained on those).</p>"
                        + _top_positives(store, index, view, scores, labels=labels, rated=rated))
    scripts = "".join(
        f'<script type="application/json" id="data-{name}">{_json_for_script(_figure_json(fig))}</script>'
        for name, fig in figures.items())
    boot = ("<script>for (const el of document.querySelectorAll('script[type=\"application/json\"]')) {"
            "const fig = JSON.parse(el.textContent); const div = document.getElementById('fig-' + el.id.slice(5));"
            "Plotly.newPlot(div, {data: fig.data, layout: fig.layout, frames: fig.frames || [],"
            " config: {displaylogo: false, responsive: true, modeBarButtonsToRemove: ['select2d', 'lasso2d']}})"
            ".then(() => { div.dataset.ready = '1'; }); }</script>")
    title = escape(f"{concept} on {index}")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style>'
            f'<script>{_plotly_js()}</script></head><body>{"".join(sections)}{scripts}{boot}</body></html>')
    data = page.encode("utf-8")
    write_atomic(out, data)
    png_path = map_png(replay, len(replay.rounds) - 1, Path(png)) if png is not None and replay.rounds else None
    return ReportResult(Path(out), png_path, len(data), len(rows), n, len(replay.rounds))


def _labels(view: Any, column: str | None) -> np.ndarray:
    """The ground-truth column the concept names (core.ground_truth's column; the first when absent)."""
    from core.errors import FewshotError

    try:
        return view.label_values(column)
    except FewshotError:
        return view.labels


def _header(session: Any, index: str, concept: str, replay: Any, n: int, drawn: int, method: str,
            threshold: float) -> str:
    info = session.concept
    sample = (f" The map shows a random sample of {drawn:,} of the {n:,} items (every rated item included), "
              "so that this file stays small." if drawn < n else "")
    latest = escape(round_caption(replay, len(replay.rounds) - 1)) if replay.rounds else "No rounds yet."
    prompt = f" · prompt “{escape(info.prompt)}”" if info.prompt else ""
    return (f"<h1>{escape(concept)}</h1><p class=\"sub\">index {escape(index)} · {n:,} items{prompt} · "
            f"target label {escape(str(info.target_label)) if info.target_label is not None else '(none)'}"
            f"</p><p>{latest}</p><p class=\"note\">Map: {escape(method)}. Threshold {threshold:+.2f} "
            f"(probability {_sigmoid(threshold):.2f}). Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"opens offline, no server needed.{sample}</p>")


def _validation_section(ev: Any, threshold: float) -> str:
    if ev is None:
        return ""
    if not ev.has_metrics:
        return (f"<h2>Validation</h2><p class=\"note\">{len(ev.ids):,} validation items; no ground-truth labels "
                f"for this concept, so no metrics. Predicted positive: {int(ev.predicted.sum()):,}.</p>")
    rows = [[_fmt(ev.ap), _fmt(ev.auc), _fmt(ev.precision), _fmt(ev.recall), _fmt(ev.f1),
             f"{ev.n_positive:,} / {ev.n_labelled:,}", f"{int(ev.predicted.sum()):,}"]]
    return ("<h2>Validation</h2>" + _table(["Average precision", "ROC AUC", "precision", "recall", "F1",
                                            "positives / labelled", "predicted positive"], rows)
            + f'<p class="note">At threshold {threshold:+.2f} (probability {_sigmoid(threshold):.2f}).</p>')


def _drift_section(view: Any, history: list[Any], threshold: float) -> str:
    val = view.rows(VALIDATION)
    if len(history) < 2 or len(val) == 0:
        return ""
    W, b, rounds = weights(history)
    drift = drift_by_round(round_scores(view.matrix[val], W, b), W, rounds, [c.metrics for c in history], threshold)
    rows = [[str(d.round), _fmt(d.n_ratings, "{:,}"), _fmt(d.ap), _fmt(d.cosine_to_previous), _fmt(d.flips, "{:,}"),
             _fmt(d.flips_to_positive, "{:,}"), _fmt(d.flips_to_negative, "{:,}"), _fmt(d.n_predicted_positive, "{:,}")]
            for d in drift]
    return ("<h2>Drift on the validation split</h2>"
            + _table(["round", "ratings", "AP", "cos to previous w", "flips", "→ positive", "→ negative",
                      "predicted positive"], rows))
