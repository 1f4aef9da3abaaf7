"""The Map page's Drift tab: how the classifier's validation predictions moved from round to round.

Numbers come from ``core.drift``; the score distribution per round is drawn as box plots from
precomputed quantiles, so the figure stays small whatever the size of the validation split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app.items import item_grid, plain
from app.map_figure import NEGATIVE, POSITIVE, TRAJECTORY
from app.map_view import shown_labels
from core.drift import Comparison, compare_rounds, drift_by_round, round_scores, score_quantiles, weights
from core.records import VALIDATION

MAX_FLIPPED_SHOWN = 20


CHART_CONFIG = {"displayModeBar": False}  # the mode bar covered the legends; zoom still works by dragging
LEGEND_BELOW = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.3, "yanchor": "top"}


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    """Blank for a missing value (never "None" or "nan")."""
    return "" if value is None or value != value else pattern.format(value)


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + float(np.tanh(0.5 * x)))


def drift_rows(drift: list[Any]) -> list[dict[str, Any]]:
    """One table row per round, for ``st.dataframe``; missing values are blank text, not "None"."""
    return [
        {"round": d.round, "ratings": _fmt(d.n_ratings, "{:,}"), "AP": _fmt(d.ap),
         "cos to previous w": _fmt(d.cosine_to_previous), "flips": _fmt(d.flips, "{:,}"),
         "→ positive": _fmt(d.flips_to_positive, "{:,}"), "→ negative": _fmt(d.flips_to_negative, "{:,}"),
         "predicted positive": _fmt(d.n_predicted_positive, "{:,}")}
        for d in drift
    ]


def movement_figure(drift: list[Any]) -> Any:
    """Flips per round (bars) and the cosine between successive ``w`` (line, right axis)."""
    import plotly.graph_objects as go

    rounds = [d.round for d in drift[1:]]
    every = [d.round for d in drift]
    fig = go.Figure()
    fig.add_bar(x=rounds, y=[d.flips_to_positive for d in drift[1:]], name="flipped to positive",
                marker_color=POSITIVE)
    fig.add_bar(x=rounds, y=[d.flips_to_negative for d in drift[1:]], name="flipped to negative",
                marker_color=NEGATIVE)
    fig.add_scatter(x=every, y=[d.cosine_to_previous for d in drift], name="cos(w, previous w)",
                    yaxis="y2", mode="lines+markers", line={"color": TRAJECTORY, "width": 2}, connectgaps=True,
                    marker={"size": 8, "color": TRAJECTORY, "line": {"width": 1, "color": "#000000"}})
    fig.update_layout(
        barmode="stack", height=360, margin={"l": 10, "r": 10, "t": 20, "b": 10},
        xaxis={"title": "round", "dtick": 1, "range": [every[0] - 0.5, every[-1] + 0.5] if every else None},
        yaxis={"title": "items flipped"},
        yaxis2={"title": "cosine", "overlaying": "y", "side": "right", "range": [-1.05, 1.05],
                "tickvals": [-1, -0.5, 0, 0.5, 1], "showgrid": False},
        legend=LEGEND_BELOW,
    )
    return fig


def distribution_figure(rounds: list[int], scores: np.ndarray, threshold: float,
                        starts: set[int] | frozenset = frozenset()) -> Any:
    """Validation scores per round as boxes (5-25-50-75-95th percentiles) with the threshold. ``starts``: rounds
    fitted to no rating, labelled "(start)": their scores rank, the threshold does not apply to them."""
    import plotly.graph_objects as go

    q = score_quantiles(scores)
    fig = go.Figure()
    fig.add_trace(go.Box(
        x=[f"{r} (start)" if r in starts else str(r) for r in rounds],
        q1=q[:, 1], median=q[:, 2], q3=q[:, 3], lowerfence=q[:, 0], upperfence=q[:, 4],
        mean=scores.mean(axis=1) if scores.size else None, name="validation scores", marker_color=TRAJECTORY,
        hoverinfo="x+y",
    ))
    fig.add_hline(y=threshold, line_dash="dash", line_color="black",
                  annotation_text=f"threshold p={_sigmoid(threshold):.2f} (logit {threshold:+.2f})")
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis={"title": "round (box 25-75%, whiskers 5-95%)"}, yaxis={"title": "score (logit)"})
    return fig


def _round_picker(rounds: list[int]) -> tuple[int, int]:
    """Two selectboxes (default: the previous and the latest round), reset when they name a gone round."""
    for key, default in (("map_drift_a", rounds[-2] if len(rounds) > 1 else rounds[0]), ("map_drift_b", rounds[-1])):
        if st.session_state.get(key) not in rounds:
            st.session_state[key] = default
    c1, c2 = st.columns(2)
    a = c1.selectbox("Round A", rounds, key="map_drift_a")
    b = c2.selectbox("Round B", rounds, key="map_drift_b")
    return int(a), int(b)


def render_comparison(session: Any, view: Any, val_rows: np.ndarray, comparison: Comparison,
                      scores_a: np.ndarray, scores_b: np.ndarray) -> None:
    """The 2x2 agreement counts and the flipped items, largest score change first."""
    a, b = comparison.round_a, comparison.round_b
    cols = st.columns(4)
    cols[0].metric("Positive in both", comparison.both_positive)
    cols[1].metric(f"Only round {a}", comparison.only_a)
    cols[2].metric(f"Only round {b}", comparison.only_b)
    cols[3].metric("Negative in both", comparison.both_negative)
    flipped = comparison.flipped
    if len(flipped) == 0:
        st.caption("No validation item changed side between these rounds.")
        return
    shown = flipped[:MAX_FLIPPED_SHOWN]
    st.caption(f"{len(flipped)} items flipped; the {len(shown)} whose score moved most:")
    ids = [str(view.ids[val_rows[i]]) for i in shown]
    rows = {r["id"]: r for r in session.store.fetch_items(session.index, ids)}
    labels = shown_labels(view, session.concept.target_column)  # the page's one ground truth: the concept's
    captions = [
        f"{scores_a[i]:+.2f} → {scores_b[i]:+.2f}"
        + (f" · label {labels[val_rows[i]]}" if labels[val_rows[i]] is not None else "")
        for i in shown
    ]
    item_grid([rows.get(i, {"id": i}) for i in ids], captions, columns=5)


def render_drift(session: Any, view: Any, threshold: float) -> None:
    """Per-round drift on the validation split: table, movement chart, score boxes, two-round comparison."""
    history = session.history()
    val_rows = view.rows(VALIDATION)
    if len(history) < 2:
        st.info("Drift needs at least two rounds: rate a batch on the Teach page (or rate points on the map).")
        return
    if len(val_rows) == 0:
        st.info("This index has no validation split, so there are no held-out predictions to compare.")
        return
    W, b, rounds = weights(history)
    scores = round_scores(view.matrix[val_rows], W, b)
    drift = drift_by_round(scores, W, rounds, [c.metrics for c in history], threshold)
    st.caption(plain(f"Predictions on the {len(val_rows):,} validation items at threshold {threshold:+.2f} "
                     f"(probability {_sigmoid(threshold):.2f}, the concept's, set on the Validate page); "
                     "a flip is an item whose prediction changed since the previous round."))
    st.dataframe(drift_rows(drift), hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(movement_figure(drift), key="map_drift_movement", config=CHART_CONFIG)
    with right:
        starts = {d.round for d in drift if d.n_predicted_positive is None}  # the start ranks: no decision
        st.plotly_chart(distribution_figure(rounds, scores, threshold, starts), key="map_drift_scores",
                        config=CHART_CONFIG)
    st.subheader("Compare two rounds")
    a, b_round = _round_picker(rounds)
    ia, ib = rounds.index(a), rounds.index(b_round)
    comparison = compare_rounds(scores[ia], scores[ib], a, b_round, threshold)
    render_comparison(session, view, val_rows, comparison, scores[ia], scores[ib])
    st.caption(f"AP: round {a} {_fmt(drift[ia].ap) or 'n/a'}, round {b_round} {_fmt(drift[ib].ap) or 'n/a'}.")
