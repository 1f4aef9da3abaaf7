"""What the Map page draws around the figure: the fit job, cached positions, selection and rating.

The UMAP fit is a ``core.jobs.Job`` kept per (workspace, index) in ``st.cache_resource``, so it
survives reruns and page changes; a ``run_every`` fragment shows its progress and reruns the whole
page when it ends. Until a fitted map exists an instant PCA view stands in (labelled as such).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app.items import plain, render_item
from app.map_figure import (
    COLOR_MODES,
    MAX_POINTS,
    Trajectory,
    ValidationOverlay,
    build_map_figure,
    draw_rows,
    hover_texts,
)
from app.state import get_store
from core.errors import FewshotError
from core.jobs import CANCELLED, FAILED, Job
from core.projection import (
    DEFAULT_SAMPLE_THRESHOLD,
    FitCancelled,
    Projection,
    fingerprint,
    load_projection,
    pca_view,
    place_directions,
    projection_location,
)
from core.projection_fit import fit_in_subprocess
from core.records import VALIDATION
from core.vectors import score_all

SAMPLE_KEY, EPOCHS_KEY, SELECTED_KEY, EVENT_KEY = "map_sample_threshold", "map_fit_epochs", "map_selected_ids", \
    "map_selection_seen"
MAX_PANEL = 50
RATING_OPTIONS: dict[str, float | None] = {"−1": -1.0, "−½": -0.5, "0": 0.0, "+½": 0.5, "+1": 1.0, "skip": None}


@st.cache_resource
def _jobs() -> dict[str, Job]:
    """Map fits of this server process, keyed by workspace and index."""
    return {}


def fit_job(root: str, index: str) -> Job | None:
    return _jobs().get(f"{root}/{index}")


def start_fit(root: str, index: str, sample_threshold: int, n_epochs: int | None) -> Job:
    """Fit the UMAP map in a child process watched by a background job (cancel terminates the child)."""
    view = get_store().vectors(index)

    def work(progress, should_cancel) -> Projection | None:
        try:
            return fit_in_subprocess(root, index, view, sample_threshold=sample_threshold, n_epochs=n_epochs,
                                     progress=progress, should_cancel=should_cancel)
        except FitCancelled:
            return None

    job = Job(f"map-{index}", work).start()
    _jobs()[f"{root}/{index}"] = job
    return job


def _file_stamp(root: str, index: str, version: int) -> int:
    return projection_location(index, version, root).stamp()


@st.cache_resource(max_entries=4, show_spinner=False)
def _load(root: str, index: str, version: int, stamp: int, content: str) -> Projection | None:
    return load_projection(index, get_store().vectors(index), root)


def cached_projection(root: str, index: str, view: Any) -> Projection | None:
    """The fitted map of this index's content, or None.

    The key holds the file's mtime (a finished fit is picked up) and the content fingerprint (a
    rebuilt index can repeat a table version number).
    """
    stamp = _file_stamp(root, index, view.version)
    return _load(root, index, view.version, stamp, fingerprint(view.ids, view.matrix))


@st.cache_resource(max_entries=4, show_spinner="Computing the PCA view…")
def pca_positions(root: str, index: str, version: int) -> np.ndarray:
    """The instant stand-in map (PCA of the vectors), one per index version."""
    return pca_view(get_store().vectors(index).matrix)


@st.cache_resource(max_entries=4, show_spinner=False)
def item_texts(root: str, index: str, version: int) -> np.ndarray | None:
    """Every item's text in view order, for hover (None for image indexes)."""
    store = get_store()
    if store.get_index(index).modality != "text":
        return None
    table = store.items_table(index).search().select(["id", "text"]).limit(None).to_arrow()
    by_id = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
    return np.asarray([by_id.get(i) for i in store.vectors(index).ids], dtype=object)


@st.fragment(run_every=0.5)
def fit_progress(root: str, index: str) -> None:
    """The running fit's progress bar and Cancel; reruns the whole page when the job ends."""
    job = fit_job(root, index)
    if job is None or not job.running:
        st.rerun()
        return
    p = job.progress
    st.progress(p.fraction if p is not None else 0.0,
                text="Computing the UMAP map: " + (p.describe() if p is not None else "starting…"))
    if st.button("Cancel", key="map_fit_cancel"):
        job.cancel()


def render_fit_panel(root: str, index: str, n_items: int, projection: Projection | None) -> None:
    """Say which map is shown; offer to compute (or recompute) the UMAP map, or show the fit's progress."""
    job = fit_job(root, index)
    if job is not None and job.running:
        st.caption("PCA stand-in (a quick linear view) while the UMAP map is being computed.")
        fit_progress(root, index)
        return
    if job is not None and job.status == FAILED:
        st.error(plain(f"Computing the map failed: {job.error}"))
    elif job is not None and job.status == CANCELLED and projection is None:
        st.caption("The map fit was cancelled.")
    threshold = int(st.session_state.get(SAMPLE_KEY, DEFAULT_SAMPLE_THRESHOLD))
    c1, c2 = st.columns([3, 2])
    with c1:
        if projection is None:
            st.info("**PCA stand-in**: a quick linear view of the index. The UMAP map shows clusters far better; "
                    "it is computed once per index and cached.")
        else:
            sampled = f", on a sample of {projection.n_fitted:,} (the rest placed by nearest neighbours)" \
                if projection.n_fitted < projection.n_items else ""
            st.caption(f"UMAP map (cosine) of {projection.n_items:,} items, computed in "
                       f"{projection.fit_seconds:.0f} s{sampled}.")
    with c2.popover("Map settings" if projection is not None else "Compute the UMAP map", width="stretch"):
        st.number_input("Fit UMAP on at most this many items", min_value=100, max_value=1_000_000, step=1000,
                        value=threshold, key=SAMPLE_KEY,
                        help="Above this, UMAP is fitted on a random sample and every other item is placed at "
                             "the weighted mean of its nearest fitted neighbours: much faster on large indexes.")
        if n_items > threshold:
            st.caption(f"This index has {n_items:,} items: UMAP sees {threshold:,} of them.")
        label = "Compute UMAP map" if projection is None else "Recompute the map"
        if st.button(label, type="primary", key="map_fit"):
            start_fit(root, index, int(st.session_state.get(SAMPLE_KEY, threshold)),
                      st.session_state.get(EPOCHS_KEY))
            st.rerun()


def trajectory(history: list[Any], matrix: np.ndarray, xy: np.ndarray) -> Trajectory:
    """Each checkpoint's ``w`` placed on the map (``core.projection.place_directions``)."""
    W = np.stack([np.asarray(c.w, dtype=np.float32) for c in history])
    return Trajectory(xy=place_directions(W, matrix, xy), rounds=[c.round for c in history],
                      n_ratings=[c.metrics.get("n_ratings") for c in history],
                      ap=[c.metrics.get("ap") for c in history])


def validation_overlay(view: Any, rows: np.ndarray, scores: np.ndarray, threshold: float,
                       target: str | None, column: str | None = None) -> ValidationOverlay:
    """The drawn validation items' predictions at ``threshold``, compared with ``target`` where labelled
    (``target`` is a value of the label column ``column``; None = the first)."""
    val = rows[view.split[rows] == VALIDATION]
    predicted = scores[val] > threshold
    if target is None:
        return ValidationOverlay(val, predicted, threshold)
    labels = _label_values(view, column)[val]
    known = np.asarray([lab is not None for lab in labels], dtype=bool)
    actual = np.asarray([lab is not None and str(lab) == str(target) for lab in labels], dtype=bool)
    return ValidationOverlay(val, predicted, threshold, actual, known)


def ratings_array(n: int, row_of: dict[str, int], ratings: Any) -> np.ndarray:
    """(n,) float32: each item's current rating, NaN where unrated."""
    out = np.full(n, np.nan, dtype=np.float32)
    rows = [row_of[i] for i in ratings.item_ids if i in row_of]
    out[rows] = [r for i, r in zip(ratings.item_ids, ratings.ratings, strict=True) if i in row_of]
    return out


def selected_ids(event: Any, ids: np.ndarray) -> list[str] | None:
    """Item ids of a chart selection event (None when the selection did not change since last run).

    Points carry their row as ``customdata``; the trajectory's points carry none and are ignored.
    """
    points = (event or {}).get("selection", {}).get("points", []) if hasattr(event, "get") else []
    rows: list[int] = []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, int | float) and 0 <= int(data) < len(ids):
            rows.append(int(data))
    signature = tuple(sorted(set(rows)))
    if st.session_state.get(EVENT_KEY, ()) == signature:  # unchanged (or still empty): keep the panel
        return None
    st.session_state[EVENT_KEY] = signature
    return [str(ids[r]) for r in dict.fromkeys(rows)]


def _rating_caption(row: dict, score: float | None, rating: float | None) -> str:
    parts = []
    if row.get("label") is not None:
        parts.append(f"label {row['label']}")
    if score is not None:
        parts.append(f"score {score:+.2f}")
    if rating is not None:
        parts.append(f"rated {rating:+g}")
    return " · ".join(parts) or str(row.get("id"))


def render_rating_panel(session: Any, ids: list[str], scores: dict[str, float] | None = None,
                        columns: int = 5) -> None:
    """The selected items, each with a rating control; "Submit ratings" feeds the Teach session."""
    from app.teach_side import new_batch

    if not ids:
        st.caption("Select points on the map (box or lasso) to see and rate them here.")
        return
    shown = ids[:MAX_PANEL]
    st.caption(f"{len(ids)} selected" + (f"; showing the first {MAX_PANEL}." if len(ids) > MAX_PANEL else "."))
    current = session.ratings()
    rated = dict(zip(current.item_ids, current.ratings.tolist(), strict=True))
    rows = {r["id"]: r for r in session.store.fetch_items(session.index, shown)}
    for start in range(0, len(shown), columns):
        cells = st.columns(columns)
        for cell, item_id in zip(cells, shown[start : start + columns], strict=False):
            with cell.container(border=True):
                row = rows.get(item_id, {"id": item_id})
                render_item(row, _rating_caption(row, (scores or {}).get(item_id), rated.get(item_id)))
                st.segmented_control("Rating", list(RATING_OPTIONS), key=f"map_rate_{item_id}",
                                     label_visibility="collapsed")
    if st.button("Submit ratings", type="primary", key="map_submit"):
        chosen = {i: RATING_OPTIONS[st.session_state[f"map_rate_{i}"]] for i in shown
                  if st.session_state.get(f"map_rate_{i}") is not None}
        if not chosen:
            st.warning("Rate (or skip) at least one selected item first.")
            return
        try:
            result = session.submit(chosen)
        except FewshotError as exc:
            st.error(plain(str(exc)))
            return
        for i in shown:
            st.session_state.pop(f"map_rate_{i}", None)
        new_batch()  # the Teach page proposes a fresh batch for the retrained classifier
        skips = sum(v is None for v in chosen.values())
        skipped = f" and {skips} skip{'s' * (skips != 1)}" if skips else ""
        st.session_state["map_flash"] = (f"Submitted {len(chosen) - skips} ratings{skipped}: "
                                         f"the classifier retrained, round {result.round}.")
        st.rerun()


def flash() -> None:
    """A one-off success message left by the previous run (after a submit)."""
    message = st.session_state.pop("map_flash", None)
    if message:
        st.success(plain(message))


def _label_values(view: Any, column: str | None) -> np.ndarray:
    """One label column's values (the first when ``column`` is None or the index lacks it)."""
    try:
        return view.label_values(column)
    except FewshotError:
        return view.labels


def render_map_tab(root: str, index: str, view: Any, session: Any, threshold: float, target: str | None,
                   column: str | None = None) -> None:
    """The map with its controls, then the selected items' rating panel (labels from ``column``)."""
    n = len(view.ids)
    labels = _label_values(view, column)
    projection = cached_projection(root, index, view)
    render_fit_panel(root, index, n, projection)
    xy = projection.xy if projection is not None else pca_positions(root, index, view.version)
    has_labels = any(lab is not None for lab in labels)
    modes = [m for m in COLOR_MODES if (m == "Label" and has_labels) or (m != "Label" and session is not None)]
    if not modes:
        modes = ["Label"]
    if st.session_state.get("map_color") not in modes:
        st.session_state["map_color"] = modes[0]
    c1, c2, c3 = st.columns([3, 2, 2])
    mode = c1.segmented_control("Colour by", modes, key="map_color", required=True) or modes[0]
    show_path = c2.toggle("Show the w trajectory", value=True, key="map_show_trajectory", disabled=session is None)
    show_val = c3.toggle("Validation predictions", key="map_show_validation",
                         disabled=session is None,
                         help=f"Validation items predicted positive at the Validate page's threshold "
                              f"({threshold:+.2f}), and whether that is right where they have ground-truth labels.")

    scores = ratings = seen = None
    row_of: dict[str, int] = {}
    keep = np.zeros(0, dtype=np.int64)
    if session is not None:
        scores = score_all(view.matrix, session.head.w, float(session.head.b))
        row_of = {item_id: i for i, item_id in enumerate(view.ids)}
        ratings = ratings_array(n, row_of, session.ratings())
        seen = np.zeros(n, dtype=bool)
        seen[[row_of[i] for i in session.seen_ids() if i in row_of]] = True
        keep = np.flatnonzero(seen)
    rows = draw_rows(n, keep)
    hover = hover_texts(rows, view.ids, labels, scores, item_texts(root, index, view.version))
    path = trajectory(session.history(), view.matrix, xy) if session is not None and show_path else None
    overlay = validation_overlay(view, rows, scores, threshold, target, column) \
        if show_val and scores is not None else None
    fig = build_map_figure(xy, rows, hover, mode, labels, scores, ratings, seen, path, overlay)
    what = "UMAP" if projection is not None else "PCA stand-in"
    sample = f" (a random sample of {len(rows):,} of {n:,} items; rated items always shown)" if n > MAX_POINTS else ""
    st.caption(f"{what}{sample}. Box or lasso-select points to see and rate them below; "
               "double-click the map to clear the selection.")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map_chart",
                            config={"scrollZoom": True, "displaylogo": False})
    picked = selected_ids(event, view.ids)
    if picked is not None:
        st.session_state[SELECTED_KEY] = picked
    st.subheader("Selected items")
    ids = [i for i in st.session_state.get(SELECTED_KEY, []) if i in row_of or session is None]
    if session is None:
        st.caption("Select a concept (or start one on the Teach page) to rate items from the map.")
    else:
        render_rating_panel(session, ids, {i: float(scores[row_of[i]]) for i in ids} if scores is not None else None)

