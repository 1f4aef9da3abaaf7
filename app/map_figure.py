"""The Map page's Plotly figure: items (WebGL), the ``w`` trajectory, the validation overlay.

No Streamlit here, so ``benchmarks/map_latency.py`` times exactly what the page builds. Every item
trace carries the items' row positions as ``customdata``: a box or lasso selection then names rows
directly, whatever the colouring. Plotly renders hover text as HTML, so dataset text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.safe_text import html as _escape
from app.safe_text import shorten
from core.replay import draw_rows  # noqa: F401  (re-exported: the page and the benchmark draw these rows)
from core.report import HOVER_ID_CHARS

MAX_POINTS = 200_000
HOVER_CHARS = 120
# Okabe-Ito (colour-blind safe), shared with core.replay_figure: blue = positive, orange = negative,
# grey = neutral, black = validation outcome outlines, reddish purple = w. No colour means two things.
POSITIVE, NEGATIVE, NEUTRAL, MISSED = "#0072B2", "#E69F00", "#BBBBBB", "#000000"
TRAJECTORY, LATEST = "#CC79A7", "#CC79A7"
DIVERGING = [[0.0, NEGATIVE], [0.5, "#E8E8E8"], [1.0, POSITIVE]]
SEEN = "#009E73"
MAX_LABEL_COLORS = 20
MAX_ARROWS = 40
COLOR_MODES = ("Score", "Label", "Rating", "Seen")


@dataclass
class Trajectory:
    """Map positions of each round's ``w`` (NaN rows: zero vector, nothing to place), in round order."""

    xy: np.ndarray
    rounds: list[int]
    n_ratings: list[int | None]
    ap: list[float | None]


@dataclass
class ValidationOverlay:
    """Validation items among the drawn rows and their predictions at ``threshold``.

    rows, predicted: (m,); actual/known: (m,) bool when a target label is known, else None.
    """

    rows: np.ndarray
    predicted: np.ndarray
    threshold: float
    actual: np.ndarray | None = None
    known: np.ndarray | None = None


def hover_texts(
    rows: np.ndarray, ids: np.ndarray, labels: np.ndarray, scores: np.ndarray | None, texts: np.ndarray | None,
    chars: int = HOVER_CHARS,
) -> np.ndarray:
    """HTML-safe hover text per drawn row (object array aligned with ``rows``): id, label, score, text."""
    out = np.empty(len(rows), dtype=object)
    for j, r in enumerate(rows):
        parts = [f"<b>{_escape(shorten(str(ids[r]), HOVER_ID_CHARS))}</b>"]
        if labels[r] is not None:
            parts.append(f"label {_escape(shorten(str(labels[r]), HOVER_ID_CHARS))}")
        if scores is not None:
            parts.append(f"score {scores[r]:+.2f}")
        line = " · ".join(parts)
        if texts is not None and texts[r]:
            text = " ".join(str(texts[r]).split())
            line += "<br>" + _escape(shorten(text, chars))
        out[j] = line
    return out


def _marker_size(n: int) -> int:
    return 7 if n <= 5_000 else 5 if n <= 50_000 else 3


def _points(go: Any, xy: np.ndarray, rows: np.ndarray, hover: np.ndarray, name: str, **marker: Any) -> Any:
    return go.Scattergl(
        x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name, customdata=rows, text=hover,
        hovertemplate="%{text}<extra></extra>", marker=marker,
    )


def _colorbar(title: str) -> dict[str, Any]:
    """A horizontal colour bar under the plot, so it never covers the legend on the right."""
    return {"title": {"text": title, "side": "top"}, "orientation": "h", "thickness": 12, "len": 0.35,
            "x": 0.5, "xanchor": "center", "y": -0.01, "yanchor": "top"}


def _item_traces(go: Any, mode: str, xy: np.ndarray, rows: np.ndarray, hover_of: np.ndarray,
                 size: int, labels: np.ndarray, scores: np.ndarray | None, ratings: np.ndarray | None,
                 seen: np.ndarray | None, emphasise: str | None = None) -> list[Any]:
    """The items coloured by ``mode``; emphasised items (rated, seen) drawn last, on top."""
    def hv(subset: np.ndarray) -> np.ndarray:
        return hover_of[np.searchsorted(rows, subset)]

    if mode == "Score" and scores is not None:
        s = scores[rows]
        span = float(max(np.quantile(np.abs(s), 0.99), 1e-3)) if len(s) else 1.0
        return [_points(go, xy, rows, hv(rows), "items (score)", size=size, color=s, colorscale=DIVERGING,
                        cmin=-span, cmax=span, opacity=0.8,
                        colorbar=_colorbar("score (logit)"))]
    if mode == "Rating" and ratings is not None:
        rated = rows[~np.isnan(ratings[rows])]
        unrated = rows[np.isnan(ratings[rows])]
        return [
            _points(go, xy, unrated, hv(unrated), "not rated", size=size, color=NEUTRAL, opacity=0.35),
            _points(go, xy, rated, hv(rated), "rated (−1 … +1)", size=size + 5, color=ratings[rated],
                    colorscale=DIVERGING, cmin=-1, cmax=1, line={"width": 1, "color": "#212121"},
                    colorbar=_colorbar("rating")),
        ]
    if mode == "Seen" and seen is not None:
        yes, no = rows[seen[rows]], rows[~seen[rows]]
        return [
            _points(go, xy, no, hv(no), "unseen", size=size, color=NEUTRAL, opacity=0.35),
            _points(go, xy, yes, hv(yes), "seen (rated or skipped)", size=size + 4, color=SEEN,
                    line={"width": 1, "color": "white"}),
        ]
    return _label_traces(go, xy, rows, hv, size, labels, emphasise)


def _label_traces(go: Any, xy: np.ndarray, rows: np.ndarray, hv: Any, size: int, labels: np.ndarray,
                  emphasise: str | None = None) -> list[Any]:
    """One trace per label; the concept's target label drawn last (on top), larger and outlined."""
    import plotly.express as px

    lab = labels[rows]
    known = np.asarray([v is not None for v in lab], dtype=bool)
    names, counts = np.unique(np.asarray([str(v) for v in lab[known]], dtype=object), return_counts=True)
    order = sorted(zip(names.tolist(), counts.tolist(), strict=True), key=lambda t: _label_key(t[0]))
    if len(order) > MAX_LABEL_COLORS:
        top = {name for name, _ in sorted(order, key=lambda t: -t[1])[: MAX_LABEL_COLORS - 1]}
        order = [t for t in order if t[0] in top]
    # Paul Tol's colour-blind-safe set (11 colours); the Alphabet set only beyond that
    palette = px.colors.qualitative.Safe if len(order) <= 11 else px.colors.qualitative.Alphabet
    traces, as_str = [], np.asarray([str(v) if v is not None else "" for v in lab], dtype=object)
    colored = np.zeros(len(rows), dtype=bool)
    for i, (name, _) in enumerate(order):
        mask = known & (as_str == name)
        colored |= mask
        extra = {"size": size + 3, "line": {"width": 1, "color": "#000000"}, "opacity": 1.0} \
            if emphasise is not None and name == str(emphasise) else {"size": size, "opacity": 0.8}
        traces.append(_points(go, xy, rows[mask], hv(rows[mask]), f"label {_escape(name)}",
                              color=palette[i % len(palette)], **extra))
    if emphasise is not None:
        target = [t for t in traces if t.name == f"label {_escape(str(emphasise))}"]
        traces = [t for t in traces if t.name != f"label {_escape(str(emphasise))}"] + target
    rest = rows[~colored]
    if len(rest):
        name = "other labels / no label" if known[~colored].any() else "no label"
        traces.insert(0, _points(go, xy, rest, hv(rest), name, size=size, color=NEUTRAL, opacity=0.5))
    return traces


def _label_key(name: str) -> tuple[int, float | str]:
    """Numeric labels in numeric order (2 before 10), then the rest alphabetically."""
    try:
        return 0, float(name)
    except ValueError:
        return 1, name


def overlay_traces(go: Any, xy: np.ndarray, overlay: ValidationOverlay, hover_of: np.ndarray | None,
                    rows: np.ndarray, size: int) -> list[Any]:
    """Validation predictions as black outlines (the shape says right/wrong where the target label is known).

    Black shapes only: the fills below (score, label colours) keep their meaning.
    """
    def trace(mask: np.ndarray, name: str, symbol: str, color: str, extra: int, visible: Any = True) -> Any:
        r = overlay.rows[mask]
        text = hover_of[np.searchsorted(rows, r)] if hover_of is not None else None
        return go.Scattergl(
            x=xy[r, 0], y=xy[r, 1], mode="markers", name=name, customdata=r, visible=visible, text=text,
            hovertemplate=("%{text}" if text is not None else "row %{customdata}") + "<extra>%{fullData.name}</extra>",
            marker={"symbol": symbol, "size": size + extra, "color": color, "line": {"width": 2, "color": color}},
        )

    p, t = overlay.predicted, overlay.threshold
    if overlay.actual is None or overlay.known is None or not overlay.known.any():
        return [trace(p, f"predicted + (score > {t:+.2f})", "circle-open", MISSED, 5),
                trace(~p, "predicted −", "circle-open", NEUTRAL, 2, "legendonly")]
    a, k = overlay.actual, overlay.known
    return [
        trace(k & ~p & ~a, "predicted −, right (TN)", "circle-open", NEUTRAL, 2, "legendonly"),
        trace(k & p & a, "predicted +, right (TP)", "circle-open", MISSED, 6),
        trace(k & p & ~a, "predicted +, wrong (FP)", "x-thin-open", MISSED, 6),
        trace(k & ~p & a, "predicted −, wrong (FN)", "triangle-up-open", MISSED, 5),
        trace(~k & p, "predicted +, no label", "square-open", MISSED, 5),
    ]


def _round_groups(xy: np.ndarray, merge_distance: float) -> list[list[int]]:
    """Consecutive rounds closer than ``merge_distance`` share one marker (their numbers would overlap)."""
    groups: list[list[int]] = []
    for i in range(len(xy)):
        if groups and np.hypot(*(xy[i] - xy[groups[-1][-1]])) < merge_distance:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _trajectory_traces(go: Any, trajectory: Trajectory, extent: float) -> tuple[list[Any], list[dict[str, Any]]]:
    """Numbered markers joined by arrows, the latest round on a star; hover: round, ratings, AP.

    Rounds whose ``w`` landed within 2% of the map's extent of the previous one share a marker
    numbered "first–last", so the numbers stay readable when ``w`` settles.
    """
    ok = np.flatnonzero(np.isfinite(trajectory.xy).all(axis=1))
    if len(ok) == 0:
        return [], []
    xy = trajectory.xy[ok]
    lines = []
    for i in ok:
        parts = [f"<b>w, round {trajectory.rounds[i]}</b>"]
        if trajectory.n_ratings[i] is not None:
            parts.append(f"{trajectory.n_ratings[i]} ratings")
        if trajectory.ap[i] is not None:
            parts.append(f"AP {trajectory.ap[i]:.3f}")
        lines.append(" · ".join(parts))
    groups = _round_groups(xy, 0.02 * extent)
    numbers = [[trajectory.rounds[ok[i]] for i in g] for g in groups]
    text = [str(n[0]) if len(n) == 1 else f"{n[0]}–{n[-1]}" for n in numbers]
    gxy = np.asarray([xy[g[-1]] for g in groups])
    hover = ["<br>".join(lines[i] for i in g) for g in groups]
    sizes = [20 if len(t) <= 2 else 14 + 5 * len(t) for t in text]
    star = go.Scattergl(  # drawn first: the latest round's numbered marker sits on the star
        x=gxy[-1:, 0], y=gxy[-1:, 1], mode="markers", name=f"w now (round {numbers[-1][-1]})",
        marker={"symbol": "star", "size": max(34, sizes[-1] + 14), "color": LATEST, "opacity": 1.0,
                "line": {"width": 2, "color": TRAJECTORY}},
        hovertext=hover[-1:], hovertemplate="%{hovertext}<extra></extra>",
    )
    path = go.Scattergl(
        x=gxy[:, 0], y=gxy[:, 1], mode="markers+text", name="w by round (numbered)", text=text,
        textposition="middle center", textfont={"color": "white", "size": 11},
        marker={"size": sizes, "color": TRAJECTORY, "opacity": 1.0, "line": {"width": 1.5, "color": "white"}},
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
    )
    arrows = [
        {"x": float(gxy[i + 1, 0]), "y": float(gxy[i + 1, 1]), "ax": float(gxy[i, 0]), "ay": float(gxy[i, 1]),
         "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "", "showarrow": True,
         "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 3, "arrowcolor": TRAJECTORY,
         "standoff": sizes[i + 1] / 2 + 2, "startstandoff": sizes[i] / 2}
        for i in range(max(0, len(gxy) - 1 - MAX_ARROWS), len(gxy) - 1)
    ]
    return [star, path], arrows


def build_map_figure(
    xy: np.ndarray,
    rows: np.ndarray,
    hover: np.ndarray,
    mode: str,
    labels: np.ndarray,
    scores: np.ndarray | None = None,
    ratings: np.ndarray | None = None,
    seen: np.ndarray | None = None,
    trajectory: Trajectory | None = None,
    overlay: ValidationOverlay | None = None,
    height: int = 680,
    emphasise: str | None = None,
) -> Any:
    """The map. xy: (n, 2) every item; rows: sorted drawn rows; hover: (len(rows),) texts for them.

    scores, ratings (NaN = unrated), seen: (n,) per item, or None when there is no concept.
    """
    import plotly.graph_objects as go

    size = _marker_size(len(rows))
    data = _item_traces(go, mode, xy, rows, hover, size, labels, scores, ratings, seen, emphasise)
    if overlay is not None:
        data += overlay_traces(go, xy, overlay, hover, rows, size)
    annotations: list[dict[str, Any]] = []
    if trajectory is not None:
        extent = float(np.ptp(xy[rows], axis=0).max()) if len(rows) else 1.0
        traces, annotations = _trajectory_traces(go, trajectory, extent)
        data += traces
    fig = go.Figure(data=data)
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "title": None}
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 50}, plot_bgcolor="white", dragmode="lasso",
        xaxis=axis, yaxis={**axis, "scaleanchor": "x", "scaleratio": 1}, annotations=annotations,
        legend={"itemsizing": "constant", "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 13},
                "x": 1.0, "xanchor": "left", "y": 1.0}, hoverlabel={"align": "left"},
    )
    return fig
