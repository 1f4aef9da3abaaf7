"""The replay as one Plotly figure with a frame per round: the browser steps and plays it on its own.

Why frames: a step then costs no server round trip (the Map page) and needs no server at all (the
offline report). Each frame sends only what changes: the items' colour codes (uint8, a typed array),
that round's predicted positives (drawn on top, capped), the flipped items, and ``w``'s path so far.

Colours (Okabe-Ito, colour-blind safe; no colour means two things): blue = positive / high score,
orange = negative / low score, grey = neutral, black outlines = flipped, reddish purple = ``w``.
No Streamlit here: the page, the report and ``benchmarks/map_latency.py`` build exactly this.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from core.replay import COLOR_LEVELS, Replay, round_caption

POSITIVE, NEGATIVE, NEUTRAL = "#0072B2", "#E69F00", "#BBBBBB"
W_COLOR, FLIP_COLOR = "#CC79A7", "#000000"
SCORE_SCALE = [[0.0, NEGATIVE], [0.5, "#E8E8E8"], [1.0, POSITIVE]]
MAX_POSITIVES_DRAWN = 20_000  # per round; the top-scoring ones when more are predicted positive
MAX_FLIPS_DRAWN = 5_000
TRACE_NAMES = ("items (score at this round)", "predicted positive", "flipped since the round before",
               "w by round", "w at this round")


def marker_size(n: int) -> int:
    return 7 if n <= 5_000 else 5 if n <= 50_000 else 3 if n <= 300_000 else 2


def _capped(replay: Replay, picks: np.ndarray, i: int, cap: int) -> np.ndarray:
    if len(picks) <= cap:
        return picks
    top = np.argpartition(-replay.scores[i, picks], cap - 1)[:cap]
    return np.sort(picks[top])


def _round_traces(replay: Replay, i: int, size: int, span: float, hover: np.ndarray | None) -> list[dict[str, Any]]:
    """The five traces of round position ``i`` (the first only updates the colours)."""
    pos = _capped(replay, replay.positive[i], i, MAX_POSITIVES_DRAWN)
    flip = _capped(replay, replay.flipped[i], i, MAX_FLIPS_DRAWN)
    path = np.arange(i + 1)
    path = path[np.isfinite(replay.w_xy[path]).all(axis=1)]
    now = path[-1:] if len(path) and path[-1] == i else path[:0]
    text = [f"w, round {replay.rounds[j]}" + (f" · AP {replay.ap[j]:.3f}" if replay.ap[j] is not None else "")
            + (f" · {replay.n_ratings[j]} ratings" if replay.n_ratings[j] is not None else "") for j in path]

    def sub(picks: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"x": replay.xy[picks, 0], "y": replay.xy[picks, 1], "customdata": replay.rows[picks]}
        if hover is not None:
            out["text"] = hover[picks]
        return out

    return [
        {"marker": {"color": replay.color_codes(i, span)}},
        {**sub(pos), "marker": {"size": size + 2, "color": POSITIVE, "line": {"width": 0.5, "color": "white"}}},
        {**sub(flip)},
        {"x": replay.w_xy[path, 0], "y": replay.w_xy[path, 1], "text": [str(replay.rounds[j]) for j in path],
         "hovertext": text},
        {"x": replay.w_xy[now, 0], "y": replay.w_xy[now, 1], "hovertext": [text[-1]] if len(now) else []},
    ]


def replay_figure(replay: Replay, start: int | None = None, hover: np.ndarray | None = None,
                  height: int = 680, frames: bool = True) -> Any:
    """The map at round position ``start`` (default: the latest) with a frame, slider step and play per round.

    hover: (m,) HTML-safe texts aligned with ``replay.rows``, or None (large maps: row numbers only).
    """
    import plotly.graph_objects as go

    n_rounds = len(replay.rounds)
    start = n_rounds - 1 if start is None else int(np.clip(start, 0, max(n_rounds - 1, 0)))
    size, span = marker_size(len(replay.rows)), replay.span()
    item_hover = "%{text}<extra></extra>" if hover is not None else "row %{customdata}<extra></extra>"
    ticks = [0, COLOR_LEVELS / 4, COLOR_LEVELS / 2, 3 * COLOR_LEVELS / 4, COLOR_LEVELS]
    base = [
        go.Scattergl(x=replay.xy[:, 0], y=replay.xy[:, 1], mode="markers", name=TRACE_NAMES[0],
                     customdata=replay.rows, text=hover, hovertemplate=item_hover,
                     marker={"size": size, "colorscale": SCORE_SCALE, "cmin": 0, "cmax": COLOR_LEVELS,
                             "opacity": 0.75, "colorbar": {
                                 "title": {"text": "score (logit)", "side": "top"}, "orientation": "v",
                                 "thickness": 12, "len": 0.4, "x": 1.02, "xanchor": "left", "y": 0.0,
                                 "yanchor": "bottom", "tickvals": ticks,
                                 "ticktext": [f"{v:+.1f}" for v in (-span, -span / 2, 0, span / 2, span)]}}),
        go.Scattergl(mode="markers", name=TRACE_NAMES[1], hovertemplate=item_hover),
        go.Scattergl(mode="markers", name=TRACE_NAMES[2], hovertemplate=item_hover,
                     marker={"symbol": "diamond-open", "size": size + 5, "color": FLIP_COLOR, "opacity": 0.8,
                             "line": {"width": 1, "color": FLIP_COLOR}}),
        go.Scatter(mode="lines+markers+text", name=TRACE_NAMES[3], textposition="top center",
                   textfont={"size": 12, "color": "#000000"}, hovertemplate="%{hovertext}<extra></extra>",
                   line={"color": W_COLOR, "width": 2},
                   marker={"size": 9, "color": W_COLOR, "line": {"width": 1.5, "color": "#000000"}}),
        go.Scatter(mode="markers", name=TRACE_NAMES[4], hovertemplate="%{hovertext}<extra></extra>",
                   marker={"symbol": "star", "size": 17, "color": W_COLOR, "line": {"width": 2, "color": "#000000"}}),
    ]
    fig = go.Figure(data=base)
    if n_rounds:
        for trace, update in zip(fig.data, _round_traces(replay, start, size, span, hover), strict=True):
            trace.update(update)
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "title": None}
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 90}, plot_bgcolor="white", dragmode="lasso",
        xaxis={**axis, "range": _range(replay.xy[:, 0], replay.w_xy[:, 0])},
        yaxis={**axis, "range": _range(replay.xy[:, 1], replay.w_xy[:, 1]), "scaleanchor": "x", "scaleratio": 1},
        legend={"itemsizing": "constant", "bgcolor": "rgba(255,255,255,0.85)", "x": 1.0, "xanchor": "left", "y": 1.0},
        title={"text": html.escape(round_caption(replay, start)) if n_rounds else "No rounds yet", "x": 0.01,
               "font": {"size": 14}},
        hoverlabel={"align": "left"}, uirevision="map",
    )
    if frames and n_rounds > 1:
        _add_frames(fig, replay, start, size, span, hover)
    return fig


def _range(values: np.ndarray, extra: np.ndarray) -> list[float]:
    """Axis range over items and every ``w`` position, fixed for all frames (no jumping while playing)."""
    both = np.concatenate([values, extra[np.isfinite(extra)]]) if len(values) else np.zeros(1)
    lo, hi = float(both.min()), float(both.max())
    pad = 0.04 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


def _add_frames(fig: Any, replay: Replay, start: int, size: int, span: float, hover: np.ndarray | None) -> None:
    import plotly.graph_objects as go

    step_args = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate", "transition": {"duration": 0}}
    fig.frames = [
        go.Frame(name=str(r), data=_round_traces(replay, i, size, span, hover), traces=[0, 1, 2, 3, 4],
                 layout={"title": {"text": html.escape(round_caption(replay, i))}})
        for i, r in enumerate(replay.rounds)
    ]
    play = {"frame": {"duration": 900, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0},
            "mode": "immediate"}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.06, "xanchor": "left",
                      "yanchor": "top", "pad": {"t": 0, "r": 8}, "showactive": False,
                      "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ Pause", "method": "animate", "args": [[None], step_args]}]}],
        sliders=[{"active": start, "x": 0.22, "len": 0.78, "y": -0.04, "yanchor": "top", "pad": {"t": 0},
                  "currentvalue": {"prefix": "round ", "font": {"size": 12}},
                  "steps": [{"label": str(r), "method": "animate", "args": [[str(r)], step_args]}
                            for r in replay.rounds]}],
    )
