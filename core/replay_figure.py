"""The replay as one Plotly figure with a frame per round: the browser steps and plays it on its own.

Why frames: a step then costs no server round trip (the Map page) and needs no server at all (the
offline report). Each frame sends only what changes: the items' colour codes (uint8, a typed array),
that round's predicted positives (drawn on top, capped), the flipped items, and ``w``'s path so far.

Colours (Okabe-Ito, colour-blind safe; no colour means two things): blue = positive / high score,
orange = negative / low score, grey = neutral, black outlines = flipped, reddish purple = ``w``.
No Streamlit here: the page, the report and ``benchmarks/map_latency.py`` build exactly this.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from core.replay import COLOR_LEVELS, Replay, round_caption
from core.text_safety import escape

POSITIVE, NEGATIVE, NEUTRAL = "#0072B2", "#E69F00", "#BBBBBB"
W_COLOR, FLIP_COLOR = "#CC79A7", "#000000"
SCORE_SCALE = [[0.0, NEGATIVE], [0.5, "#E8E8E8"], [1.0, POSITIVE]]
MAX_POSITIVES_DRAWN = 10_000  # per round; the top-scoring ones when more are predicted positive
MAX_FLIPS_DRAWN = 5_000
COMPACT_ABOVE = 200_000  # above this the items trace drops customdata: a selection names points by index
TRACE_NAMES = ("items (score at this round)", "predicted positive", "flipped since the round before",
               "w by round", "w at this round")


def _prebuilt(spec: dict[str, Any]) -> Any:
    """A Figure whose dict is ``spec`` as built here, never re-validated.

    Why: plotly's validators walk every frame's arrays; profiled, that cost ~1.5 s for 3k points and 10
    rounds, more than everything else. ``st.plotly_chart`` and ``plotly.io.to_json`` only call
    ``to_dict()`` on a Figure, so the spec (typed arrays already encoded) goes out as built.
    """
    import plotly.graph_objects as go

    class _Prebuilt(go.Figure):
        def __init__(self, raw: dict[str, Any]) -> None:
            super().__init__()
            self._raw = raw

        def to_dict(self) -> dict[str, Any]:
            return self._raw

        def to_plotly_json(self) -> dict[str, Any]:
            return self._raw

    return _Prebuilt(spec)


def typed(values: Any) -> Any:
    """A NumPy array as a Plotly typed array ({dtype, bdata}: base64 of the raw bytes); text as a list."""
    a = np.asarray(values)
    if a.dtype == object or a.dtype.kind in "US":
        return a.tolist()
    if a.dtype.kind == "f":
        a = a.astype(np.float32)
    elif a.dtype.kind in "iu":
        hi = int(a.max()) if a.size else 0
        lo = int(a.min()) if a.size else 0
        a = a.astype(np.uint8 if lo >= 0 and hi < 256 else np.uint16 if lo >= 0 and hi < 65536 else np.int32)
    elif a.dtype == bool:
        a = a.astype(np.uint8)
    code = {"float32": "f4", "uint8": "u1", "uint16": "u2", "int32": "i4"}[a.dtype.name]
    return {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")}


def marker_size(n: int) -> int:
    return 7 if n <= 5_000 else 5 if n <= 50_000 else 3 if n <= 300_000 else 2


def _capped(replay: Replay, picks: np.ndarray, i: int, cap: int) -> np.ndarray:
    if len(picks) <= cap:
        return picks
    top = np.argpartition(-replay.scores[i, picks], cap - 1)[:cap]
    return np.sort(picks[top])


def _ticks(span: float) -> list[str]:
    """The colour bar's labels for a span (at the codes 0, 1/4, 1/2, 3/4 and 1 of the scale)."""
    return [f"{v:+.2f}" if span >= 0.01 else f"{v:+.1g}" for v in (-span, -span / 2, 0.0, span / 2, span)]


def _round_traces(replay: Replay, i: int, size: int, hover: np.ndarray | None) -> list[dict[str, Any]]:
    """The five traces of round position ``i`` (the first only updates the colours and the colour bar's labels:
    each round's colours span its own scores, ``Replay.span``)."""
    span = replay.span(i)
    pos = _capped(replay, replay.positive[i], i, MAX_POSITIVES_DRAWN)
    flip = _capped(replay, replay.flipped[i], i, MAX_FLIPS_DRAWN)
    path = np.arange(i + 1)
    path = path[np.isfinite(replay.w_xy[path]).all(axis=1)]
    now = path[-1:] if len(path) and path[-1] == i else path[:0]
    text = [f"w, round {replay.rounds[j]}" + (f" · AP {replay.ap[j]:.3f}" if replay.ap[j] is not None else "")
            + (f" · {replay.n_ratings[j]} ratings" if replay.n_ratings[j] is not None else "") for j in path]

    def sub(picks: np.ndarray) -> dict[str, Any]:
        # No hover text here: these marks sit exactly on the items trace, whose hover (sent once) shows
        # through ("skip"); repeating the texts in every frame made the figure 5x larger.
        return {"x": typed(replay.xy[picks, 0]), "y": typed(replay.xy[picks, 1]),
                "customdata": typed(replay.rows[picks])}

    def xs(values: np.ndarray) -> list[float]:
        return [float(v) for v in values]

    return [
        {"marker": {"color": typed(replay.color_codes(i, span)), "colorbar": {"ticktext": _ticks(span)}}},
        {**sub(pos), "marker": {"size": size + 2, "color": POSITIVE, "line": {"width": 0.5, "color": "white"}}},
        {**sub(flip)},
        {"x": xs(replay.w_xy[path, 0]), "y": xs(replay.w_xy[path, 1]), "text": [str(replay.rounds[j]) for j in path],
         "hovertext": text},
        {"x": xs(replay.w_xy[now, 0]), "y": xs(replay.w_xy[now, 1]), "hovertext": [text[-1]] if len(now) else []},
    ]


def replay_figure(replay: Replay, start: int | None = None, hover: np.ndarray | None = None,
                  height: int = 680, frames: bool = True) -> Any:
    """The map at round position ``start`` (default: the latest) with a frame, slider step and play per round.

    hover: (m,) HTML-safe texts aligned with ``replay.rows``, or None (large maps: row numbers only).
    Returns a Figure whose ``to_dict()`` is the spec built here (see ``_prebuilt``).
    """
    n_rounds = len(replay.rounds)
    start = n_rounds - 1 if start is None else int(np.clip(start, 0, max(n_rounds - 1, 0)))
    size = marker_size(len(replay.rows))
    item_hover = "%{text}<extra></extra>" if hover is not None else "row %{customdata}<extra></extra>"
    ticks = [0, COLOR_LEVELS / 4, COLOR_LEVELS / 2, 3 * COLOR_LEVELS / 4, COLOR_LEVELS]
    items: dict[str, Any] = {
        "type": "scattergl", "mode": "markers", "name": TRACE_NAMES[0], "x": typed(replay.xy[:, 0]),
        "y": typed(replay.xy[:, 1]), "hovertemplate": item_hover,
        "marker": {"size": size, "colorscale": SCORE_SCALE, "cmin": 0, "cmax": COLOR_LEVELS, "opacity": 0.75,
                   "colorbar": {"title": {"text": "score (logit)", "side": "top"}, "orientation": "v",
                                "thickness": 12, "len": 0.4, "x": 1.02, "xanchor": "left", "y": 0.0,
                                "yanchor": "bottom", "tickvals": ticks,
                                "ticktext": _ticks(1.0)}},  # the shown round's, merged below
    }
    if len(replay.rows) <= COMPACT_ABOVE:
        items["customdata"] = typed(replay.rows)
    else:
        items["hovertemplate"] = "item %{pointNumber}<extra></extra>" if hover is None else item_hover
    if hover is not None:
        items["text"] = hover.tolist()
    data: list[dict[str, Any]] = [
        items,
        {"type": "scattergl", "mode": "markers", "name": TRACE_NAMES[1], "hoverinfo": "skip"},
        {"type": "scattergl", "mode": "markers", "name": TRACE_NAMES[2], "hoverinfo": "skip",
         "marker": {"symbol": "diamond-open", "size": size + 5, "color": FLIP_COLOR, "opacity": 0.8,
                    "line": {"width": 1, "color": FLIP_COLOR}}},
        {"type": "scatter", "mode": "lines+markers+text", "name": TRACE_NAMES[3], "textposition": "top right",
         "textfont": {"size": 12, "color": "#000000"}, "hovertemplate": "%{hovertext}<extra></extra>",
         "line": {"color": W_COLOR, "width": 2},
         "marker": {"size": 9, "color": W_COLOR, "line": {"width": 1.5, "color": "#000000"}}},
        {"type": "scatter", "mode": "markers", "name": TRACE_NAMES[4], "hovertemplate": "%{hovertext}<extra></extra>",
         "marker": {"symbol": "star", "size": 15, "color": W_COLOR, "line": {"width": 2, "color": "#000000"}}},
    ]
    if n_rounds:
        for trace, update in zip(data, _round_traces(replay, start, size, hover), strict=True):
            _merge(trace, update)
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "title": {"text": ""}}
    layout: dict[str, Any] = {
        "height": height, "margin": {"l": 10, "r": 10, "t": 40, "b": 90}, "plot_bgcolor": "white",
        "dragmode": "lasso", "xaxis": {**axis, "range": _range(replay.xy[:, 0], replay.w_xy[:, 0])},
        "yaxis": {**axis, "range": _range(replay.xy[:, 1], replay.w_xy[:, 1]), "scaleanchor": "x", "scaleratio": 1},
        "legend": {"itemsizing": "constant", "bgcolor": "rgba(255,255,255,0.85)", "x": 1.0, "xanchor": "left",
                   "y": 1.0},
        "title": {"text": escape(round_caption(replay, start)) if n_rounds else "No rounds yet", "x": 0.01,
                  "font": {"size": 14}},
        "hoverlabel": {"align": "left"}, "uirevision": "map",
    }
    spec: dict[str, Any] = {"data": data, "layout": layout}
    if frames and n_rounds > 1:
        _add_frames(spec, replay, start, size, hover)
    return _prebuilt(spec)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and "bdata" not in value:
            _merge(base[key], value)
        else:
            base[key] = value


def _range(values: np.ndarray, extra: np.ndarray) -> list[float]:
    """Axis range over items and every ``w`` position, fixed for all frames (no jumping while playing)."""
    both = np.concatenate([values, extra[np.isfinite(extra)]]) if len(values) else np.zeros(1)
    lo, hi = float(both.min()), float(both.max())
    pad = 0.04 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


def _add_frames(spec: dict[str, Any], replay: Replay, start: int, size: int, hover: np.ndarray | None) -> None:
    step_args = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate", "transition": {"duration": 0}}
    spec["frames"] = [
        {"name": str(r), "data": _round_traces(replay, i, size, hover), "traces": [0, 1, 2, 3, 4],
         "layout": {"title": {"text": escape(round_caption(replay, i))}}}
        for i, r in enumerate(replay.rounds)
    ]
    play = {"frame": {"duration": 900, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0},
            "mode": "immediate"}
    spec["layout"]["updatemenus"] = [
        {"type": "buttons", "direction": "left", "x": 0.0, "y": -0.06, "xanchor": "left", "yanchor": "top",
         "pad": {"t": 0, "r": 8}, "showactive": False,
         "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                     {"label": "❚❚ Pause", "method": "animate", "args": [[None], step_args]}]}]
    spec["layout"]["sliders"] = [
        {"active": start, "x": 0.22, "len": 0.78, "y": -0.04, "yanchor": "top", "pad": {"t": 0},
         "currentvalue": {"prefix": "round ", "font": {"size": 12}},
         "steps": [{"label": str(r), "method": "animate", "args": [[str(r)], step_args]} for r in replay.rounds]}]
