"""What the Validate page draws: cached scores, threshold-dependent figures, charts and the top items.

Scoring a split is cached per (workspace, index version, head weights, split, target label), so a
new round, an undo or a rebuilt index recomputes, while moving the threshold only recounts.
Plotly is imported inside the figure functions so the app starts fast.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import streamlit as st

from app import safe_text
from app.items import item_grid, plain
from app.safe_text import shorten
from app.state import get_store
from core.evaluate import Evaluation, evaluate_split, predictions_table

SPLIT_CHOICES = {"validation": "validation", "train": "train", "all": None}
PAGE_SIZES = (10, 20, 50, 100)
MAX_CURVE_POINTS = 2000
HIST_BINS = 60
POSITIVE_COLOR, NEGATIVE_COLOR, UNKNOWN_COLOR = "#0072B2", "#E69F00", "#BBBBBB"  # Okabe-Ito, as on the Map
# Legends sit under the plot: Plotly's mode bar (top right) never covers them.
LEGEND_BELOW = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.25, "yanchor": "top"}


@dataclasses.dataclass
class Scored:
    """A split scored at threshold 0, with the ground-truth masks the threshold recount needs.

    known, positive: (n,) bool over the evaluation's items (label known; label == target).
    """

    evaluation: Evaluation
    known: np.ndarray
    positive: np.ndarray


def sigmoid(x: float) -> float:
    """Probability of a logit."""
    return 0.5 * (1.0 + math.tanh(0.5 * x))


@st.cache_data(max_entries=16, show_spinner=False)
def label_options(root: str, index: str, version: int, column: str | None = None) -> list[str]:
    """The distinct ground-truth labels of one label column (None = the first), sorted (empty when none)."""
    from core.ground_truth import label_set

    return label_set(get_store().vectors(index), column)


@st.cache_data(max_entries=16, show_spinner="Scoring…")
def score_split(
    root: str, index: str, version: int, w: np.ndarray, b: float, split: str | None, target_label: str | None,
    target_column: str | None = None,
) -> Scored:
    """``core.evaluate.evaluate_split`` at threshold 0 (the arguments are the cache key)."""
    evaluation = evaluate_split(get_store(), index, SimpleNamespace(w=w, b=b), split, target_label, 0.0,
                                target_column=target_column)
    known = np.asarray([lab is not None for lab in evaluation.labels], dtype=bool)
    positive = np.asarray([lab is not None and lab == target_label for lab in evaluation.labels], dtype=bool)
    return Scored(evaluation, known, positive)


def at_threshold(scored: Scored, threshold: float) -> Evaluation:
    """The evaluation with ``predicted``, the confusion counts and precision/recall/F1 at ``threshold``.

    Same definitions as ``core.evaluate`` (``score > threshold``; metrics over labelled items;
    0 where undefined), without scoring again.
    """
    ev = scored.evaluation
    predicted = ev.scores > float(threshold)
    out = dataclasses.replace(ev, threshold=float(threshold), predicted=predicted)
    if not ev.has_metrics:
        return out
    known, positive = scored.known, scored.positive
    tp = int((predicted & positive).sum())
    fp = int((predicted & known & ~positive).sum())
    fn = int((~predicted & positive).sum())
    tn = int((~predicted & known & ~positive).sum())
    out.tp, out.fp, out.fn, out.tn = tp, fp, fn, tn
    out.precision = tp / (tp + fp) if tp + fp else None  # as core.evaluate: undefined is None, shown "-"
    out.recall = tp / (tp + fn) if tp + fn else None
    out.f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp and tp + fn else None
    return out


def threshold_range(scores: np.ndarray) -> tuple[float, float]:
    """Slider bounds covering every score and 0, on whole logits."""
    if len(scores) == 0:
        return -5.0, 5.0
    lo, hi = float(np.min(scores)), float(np.max(scores))
    return float(min(math.floor(lo), -1)), float(max(math.ceil(hi), 1))


def clamp_state(key: str, lo: float, hi: float) -> None:
    """Keep a widget's remembered value inside new bounds (before the widget is drawn)."""
    value = st.session_state.get(key)
    if value is not None and not lo <= value <= hi:
        st.session_state[key] = type(value)(min(max(value, lo), hi))


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_metrics(ev: Evaluation) -> None:
    """AP, ROC AUC and precision/recall/F1 at the threshold as metrics."""
    cols = st.columns(3) + st.columns(3)  # two rows of three: no label cut at 1280 px ("Average precision")
    cols[0].metric("Average precision", _fmt(ev.ap), help="Area under the PR curve; does not depend on the threshold")
    cols[1].metric("ROC AUC", _fmt(ev.auc), help="Does not depend on the threshold")
    cols[2].metric("Precision", _fmt(ev.precision), help="At the threshold: true positives / predicted positives")
    cols[3].metric("Recall", _fmt(ev.recall), help="At the threshold: true positives / actual positives")
    cols[4].metric("F1", _fmt(ev.f1), help="At the threshold")
    cols[5].metric("Predicted positive", f"{int(ev.predicted.sum())} / {len(ev.scores)}")
    if ev.ap is None:
        st.caption(
            f"AP and ROC AUC need both classes: this split has {ev.n_positive} of {ev.n_labelled} labelled items "
            f"with label {plain(ev.target_label)}."
        )


def rare(positive: np.ndarray, known: np.ndarray) -> bool:
    """Whether the positives are too few to see on a linear count axis (under 5% of the labelled items: an
    outside tester's 16 positives beside 3,000 negatives were invisible)."""
    return bool(known.any()) and int(positive.sum()) < 0.05 * int(known.sum())


def histogram_figure(ev: Evaluation, positive: np.ndarray, known: np.ndarray, log_y: bool = False) -> Any:
    """Score histogram (bars from numpy bins, so its size does not grow with the index), threshold line.

    ``log_y``: counts on a log axis, the groups overlaid (stacked bars on a log axis would misread)."""
    import plotly.graph_objects as go

    scores = ev.scores.astype(np.float64)
    lo, hi = (float(scores.min()), float(scores.max())) if len(scores) else (-1.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    if ev.target_label is not None and known.any():
        groups = [
            (f"label = {safe_text.html(ev.target_label)}", positive, POSITIVE_COLOR),
            ("other labels", known & ~positive, NEGATIVE_COLOR),
            ("no label", ~known, UNKNOWN_COLOR),
        ]
    else:
        groups = [("items", np.ones(len(scores), dtype=bool), "#1565c0")]
    fig = go.Figure()
    for name, mask, color in groups:
        if mask.any():
            counts, _ = np.histogram(scores[mask], bins=edges)
            fig.add_bar(x=centers, y=counts, width=width, name=name, marker_color=color, opacity=0.75)
    fig.add_vline(x=ev.threshold, line_dash="dash", line_color="black",
                  annotation_text=f"threshold (p={sigmoid(ev.threshold):.2f})")
    fig.update_layout(barmode="overlay" if log_y else "stack", xaxis_title="score (logit)",
                      yaxis_title="items (log scale)" if log_y else "items", height=360,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend=LEGEND_BELOW)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def pr_figure(ev: Evaluation) -> Any:
    """Precision-recall curve with the current threshold's point."""
    import plotly.graph_objects as go

    precision, recall = ev.pr_precision, ev.pr_recall
    fig = go.Figure()
    if precision is not None and recall is not None:
        if len(precision) > MAX_CURVE_POINTS:
            keep = np.unique(np.linspace(0, len(precision) - 1, MAX_CURVE_POINTS).astype(int))
            precision, recall = precision[keep], recall[keep]
        fig.add_scatter(x=recall, y=precision, mode="lines", name="PR curve", line_shape="hv")
    if ev.precision is not None and ev.recall is not None:
        fig.add_scatter(x=[ev.recall], y=[ev.precision], mode="markers",
                        name=f"threshold p={sigmoid(ev.threshold):.2f} (logit {ev.threshold:+.2f})",
                        marker={"size": 12, "color": "black", "symbol": "x"})
    fig.update_layout(xaxis_title="recall", yaxis_title="precision", height=360,
                      xaxis_range=[0, 1.02], yaxis_range=[0, 1.02],
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend=LEGEND_BELOW)
    return fig


def confusion_figure(ev: Evaluation) -> Any:
    """2x2 confusion matrix at the threshold as an annotated heatmap."""
    import plotly.graph_objects as go

    z = [[ev.tp or 0, ev.fn or 0], [ev.fp or 0, ev.tn or 0]]
    text = [[f"TP {z[0][0]}", f"FN {z[0][1]}"], [f"FP {z[1][0]}", f"TN {z[1][1]}"]]
    fig = go.Figure(go.Heatmap(
        z=z, text=text, texttemplate="%{text}", colorscale="Blues", showscale=False,
        x=["predicted +", "predicted −"], y=["actual +", "actual −"],
    ))
    fig.update_layout(height=320, yaxis_autorange="reversed", margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


@st.cache_data(max_entries=64, show_spinner=False)
def fetch_rows(root: str, index: str, version: int, ids: tuple[str, ...]) -> list[dict]:
    """Display rows (thumbnail or text, label) for ``ids``, in that order."""
    rows = {r["id"]: r for r in get_store().fetch_items(index, list(ids))}
    return [rows.get(i, {"id": i}) for i in ids]


def render_top(root: str, version: int, ev: Evaluation) -> None:
    """The items above the threshold, highest score first, a page at a time."""
    above = np.flatnonzero(ev.predicted)
    order = above[np.argsort(-ev.scores[above], kind="stable")]
    c1, c2 = st.columns([1, 3])
    size = c1.selectbox("Items per page", PAGE_SIZES, index=1, key="validate_page_size")
    if len(order) == 0:
        st.info("No item scores above the threshold: lower it to see the top of the ranking.")
        return
    pages = max(1, math.ceil(len(order) / size))
    clamp_state("validate_page", 1, pages)
    with c2:
        page = st.pagination(pages, key="validate_page") if pages > 1 else 1
    picked = order[(page - 1) * size : page * size]
    st.caption(f"{len(order)} items above the threshold; showing {(page - 1) * size + 1}–"
               f"{(page - 1) * size + len(picked)}, highest score first.")
    rows = fetch_rows(root, ev.index, version, tuple(str(ev.ids[i]) for i in picked))
    captions = [
        f"{shorten(str(ev.ids[i]), 60)} · {ev.scores[i]:+.2f} · p={ev.probabilities[i]:.2f}"
        + (f" · label {ev.labels[i]}" if ev.labels[i] is not None else "")
        for i in picked
    ]
    item_grid(rows, captions, columns=5)


def predictions_csv(ev: Evaluation) -> bytes:
    """The predictions table (id, split, score, probability, predicted, label) as CSV bytes."""
    from core import csv_safe

    return csv_safe.to_csv(predictions_table(ev)).encode("utf-8")
