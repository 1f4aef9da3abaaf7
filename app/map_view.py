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
    Trajectory,
    ValidationOverlay,
)
from app.map_settings import follow_latest
from app.safe_text import shorten
from app.state import get_store
from core.errors import FewshotError
from core.projection import (
    DEFAULT_SAMPLE_THRESHOLD,
    Projection,
    fingerprint,
    load_projection,
    pca_view,
    place_directions,
    projection_location,
)
from core.projection_auto import (
    CANCELLED,
    FAILED,
    auto_enabled,
    cancel_background_fit,
    read_status,
    reap,
    start_background_fit,
)
from core.records import VALIDATION
from core.session import ORIGIN_MAP_ALL

SAMPLE_KEY, EPOCHS_KEY, SELECTED_KEY, EVENT_KEY = "map_sample_threshold", "map_fit_epochs", "map_selected_ids", \
    "map_selection_seen"
MAX_PANEL = 50
RATING_OPTIONS: dict[str, float | None] = {"−1": -1.0, "−½": -0.5, "0": 0.0, "+½": 0.5, "+1": 1.0, "skip": None}


_PER_VIEW: dict[tuple[str, int], tuple[Any, Any]] = {}


def per_view(view: Any, name: str, compute: Any) -> Any:
    """``compute(view)`` once per loaded vectors (the store keeps one VectorView per table version, so its
    ``ids`` array is the same object until the index changes): at 1M items the ids' fingerprint and the
    id -> row lookup cost ~0.2 s and ~0.7 s, on every rerun before this."""
    import weakref

    key = (name, id(view.ids))
    hit = _PER_VIEW.get(key)
    if hit is not None and hit[0]() is view.ids:
        return hit[1]
    for stale in [k for k, (ref, _) in _PER_VIEW.items() if ref() is None]:
        del _PER_VIEW[stale]
    value = compute(view)
    _PER_VIEW[key] = (weakref.ref(view.ids), value)
    return value


def view_fingerprint(view: Any) -> str:
    """``core.projection.fingerprint`` of a loaded index, computed once per VectorView."""
    return per_view(view, "fingerprint", lambda v: fingerprint(v.ids, v.matrix))


def row_lookup(view: Any) -> dict[str, int]:
    """item id -> row of a loaded index, built once per VectorView."""
    return per_view(view, "rows", lambda v: {item_id: i for i, item_id in enumerate(v.ids)})


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
    return _load(root, index, view.version, stamp, view_fingerprint(view))


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


@st.fragment(run_every=2.0)
def fit_progress(root: str, index: str) -> None:
    """The background fit's progress and time left; reruns the whole page (PCA -> UMAP) when it ends."""
    reap()
    status = read_status(index, root)
    if status is None or not status.alive:
        st.rerun()
        return
    left = status.seconds_left()
    st.progress(status.fraction, text=plain(f"Computing the UMAP map: {status.stage} ({status.fraction:.0%}) · "
                                            f"ready in ~{left:.0f} s"))
    if st.button("Cancel", key="map_fit_cancel"):
        cancel_background_fit(root, index)
        st.rerun()


def render_fit_panel(root: str, index: str, view: Any, projection: Projection | None) -> None:
    """Say which map is shown; the UMAP fit starts by itself (in the background) when none exists.

    Until it is ready the PCA view stands in, with "UMAP ready in ~N s"; the page swaps when it is.
    """
    n_items = len(view.ids)
    threshold = int(st.session_state.get(SAMPLE_KEY, DEFAULT_SAMPLE_THRESHOLD))
    status = read_status(index, root)
    if projection is None and auto_enabled() and (status is None or not status.alive):
        started = start_background_fit(root, index, view, sample_threshold=threshold,
                                       n_epochs=st.session_state.get(EPOCHS_KEY))
        status = started or status
    if status is not None and status.alive:
        if projection is None:
            st.info(f"**PCA stand-in** (a quick linear view) until the UMAP map is ready in "
                    f"~{status.seconds_left():.0f} s: it is computing in the background and replaces this view "
                    "by itself.")
        else:
            st.caption("Recomputing the UMAP map in the background; the current map stays until it is ready.")
        fit_progress(root, index)
        return
    if status is not None and status.state == FAILED and status.fingerprint == view_fingerprint(view):
        st.error(plain(f"Computing the map failed: {status.error}"))
    elif status is not None and status.state == CANCELLED and projection is None:
        st.caption("The map fit was cancelled.")
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
            start_background_fit(root, index, view, sample_threshold=int(st.session_state.get(SAMPLE_KEY, threshold)),
                                 n_epochs=st.session_state.get(EPOCHS_KEY), force=True)
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
    labels = shown_labels(view, column)[val]
    known = np.asarray([lab is not None for lab in labels], dtype=bool)
    actual = np.asarray([lab is not None and str(lab) == str(target) for lab in labels], dtype=bool)
    return ValidationOverlay(val, predicted, threshold, actual, known)


OWNER_KEY = "map_selection_owner"  # (index, concept identity) the selection was made for


def _owner(session: Any) -> tuple[str, str] | None:
    return None if session is None else (session.index, session.concept.identity)


def keep_selection(picked: list[str], session: Any) -> None:
    """Remember a new selection and the concept it was made for."""
    st.session_state[SELECTED_KEY] = picked
    st.session_state[OWNER_KEY] = _owner(session)


def current_selection(session: Any) -> list[str]:
    """The selection, if it was made for this very concept; else it is cleared and the page says why.

    An outside tester lassoed items for one concept, another tab renamed it away, the sidebar fell back to
    another concept, and "all −1" rated his selection into that one. A concept deleted and made again under its
    name has another identity, so a selection made for the old one is cleared too."""
    ids = list(st.session_state.get(SELECTED_KEY, []))
    owner = st.session_state.get(OWNER_KEY)
    if ids and session is not None and owner is not None and tuple(owner) != _owner(session):
        # EVENT_KEY stays: the chart keeps drawing the old lasso, and the next run must not take it for a new
        # selection of this concept (a re-tester's cleared selection came back one rerun later and was rated)
        st.session_state[SELECTED_KEY] = []
        st.info("The selection was made for another concept (switched, or renamed, deleted or replaced in another "
                "tab or process), so it was cleared and nothing was rated: select the items again.",
                icon=":material/deselect:")
        return []
    if ids and session is not None and owner is None:
        st.session_state[OWNER_KEY] = _owner(session)
    return ids


def ratings_array(n: int, row_of: dict[str, int], ratings: Any) -> np.ndarray:
    """(n,) float32: each item's current rating, NaN where unrated."""
    out = np.full(n, np.nan, dtype=np.float32)
    rows = [row_of[i] for i in ratings.item_ids if i in row_of]
    out[rows] = [r for i, r in zip(ratings.item_ids, ratings.ratings, strict=True) if i in row_of]
    return out


def selected_ids(event: Any, ids: np.ndarray, rows_of_first_trace: np.ndarray | None = None) -> list[str] | None:
    """Item ids of a chart selection event (None when the selection did not change since last run).

    Points carry their row as ``customdata``; the trajectory's points carry none and are ignored. On
    very large maps the items trace carries no customdata (5 MB less at 1M points): its points are
    then named by their index into ``rows_of_first_trace``.
    """
    points = (event or {}).get("selection", {}).get("points", []) if hasattr(event, "get") else []
    rows: list[int] = []
    for point in points:
        data = point.get("customdata")
        if data is None and rows_of_first_trace is not None and point.get("curve_number") == 0:
            data = point.get("point_index", point.get("point_number"))
            if isinstance(data, int) and 0 <= data < len(rows_of_first_trace):
                rows.append(int(rows_of_first_trace[data]))
            continue
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
    parts = [shorten(str(row.get("id")), 60)]  # which item it is (a package name, a file), not only its content
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
    ids, held_out = trainable(session, ids)
    if held_out:
        st.caption(f"{held_out:,} selected item{'s' * (held_out != 1)} in the validation split "
                   f"{'are' if held_out != 1 else 'is'} left out: validation is held out to measure the classifier, "
                   "so it is never rated.")
    if not ids:
        return
    current = session.ratings()
    rated = dict(zip(current.item_ids, current.ratings.tolist(), strict=True))
    render_bulk_rating(session, ids, rated)
    if scores:  # highest score first: a box over the positive cluster starts with its likeliest items
        ids = sorted(ids, key=lambda i: -scores.get(i, float("-inf")))
    shown = ids[:MAX_PANEL]
    order = " by score, highest first" if scores else ""
    st.caption(f"{len(ids)} selected{order}" + (f"; showing the first {MAX_PANEL}." if len(ids) > MAX_PANEL else "."))
    rows = {r["id"]: r for r in session.store.fetch_items(session.index, shown)}
    # the concept's own label column (a stored row's "label" is the index's first one: a flask concept's items
    # read "label 0" from the pytest column)
    concept_labels = {c.item_id: c.label for c in session.candidates(list(rows))}
    rows = {i: {**r, "label": concept_labels.get(i)} for i, r in rows.items()}
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
            result = submit_ratings(session, chosen)
        except FewshotError as exc:
            st.error(plain(str(exc)))
            return
        for i in shown:
            st.session_state.pop(f"map_rate_{i}", None)
        new_batch()  # the Teach page proposes a fresh batch for the retrained classifier
        follow_latest()
        skips = sum(v is None for v in chosen.values())
        skipped = f" and {skips} skip{'s' * (skips != 1)}" if skips else ""
        n = len(chosen) - skips
        st.session_state["map_flash"] = (f"Submitted {n} rating{'s' * (n != 1)}{skipped}: "
                                         f"the classifier retrained, round {result.round}.")
        st.rerun()


BULK = {"+1": 1.0, "−1": -1.0, "0": 0.0}


def trainable(session: Any, ids: list[str]) -> tuple[list[str], int]:
    """The selected ids of train items, and how many validation items were left out (a lasso over the map took
    both, and rating validation items trained on what the AP is measured on)."""
    keep = session.rateable(ids)
    return keep, len(ids) - len(keep)


def submit_ratings(session: Any, ratings: dict[str, float | None], origin: str | None = None) -> Any:
    """``TeachSession.submit`` as one round, passing the round the page saw where ``submit`` takes it
    (INTERFACES.md: a second tab that submitted meanwhile makes this a clear StaleBatch, not a mixed round),
    and where the round came from (``ORIGIN_MAP_ALL``: an undo does not offer it back as a batch)."""
    import inspect

    params = inspect.signature(session.submit).parameters
    extra = {"expected_round": session.round} if "expected_round" in params else {}
    if origin and "origin" in params:
        extra["origin"] = origin
    return session.submit(ratings, **extra)


def render_bulk_rating(session: Any, ids: list[str], rated: dict[str, float]) -> None:
    """"Rate all selected +1 / −1 / 0": the selected items not rated yet, in one round (Undo on the Teach page
    removes it). Items already rated keep their ratings: an outside tester's box over a cluster turned 75 of
    his hand-made +1 ratings into −1 (AP 0.67 -> 0.18) with one click; those are changed one by one below."""
    from app.teach_side import new_batch

    unrated = [i for i in ids if i not in rated]
    kept = len(ids) - len(unrated)
    kept_note = (f"{kept:,} selected item{'s' * (kept != 1)} already rated keep{'s' * (kept == 1)} "
                 f"{'their ratings' if kept != 1 else 'its rating'} (change {'them' if kept != 1 else 'it'} "
                 "one by one below).") if kept else ""
    if not unrated:
        st.caption(f"Every selected item is rated already: {kept_note}")
        return
    cols = st.columns([2, 1, 1, 1])
    cols[0].markdown(f"**Rate all {len(unrated):,} unrated selected** (one round, undoable):")
    for col, (label, value) in zip(cols[1:], BULK.items(), strict=True):
        if col.button(f"all {label}", key=f"map_bulk_{'pos' if value > 0 else 'neg' if value < 0 else 'zero'}",
                      width="stretch"):
            try:
                result = submit_ratings(session, dict.fromkeys(unrated, value), origin=ORIGIN_MAP_ALL)
            except FewshotError as exc:
                st.error(plain(str(exc)))
                return
            new_batch()
            follow_latest()
            left = f" ({kept:,} already rated kept their ratings)" if kept else ""
            st.session_state["map_flash"] = (f"Rated {len(unrated):,} selected items {label}{left}: the classifier "
                                             f"retrained, round {result.round}.")
            st.rerun()
    if kept_note:
        st.caption(kept_note)


def flash() -> None:
    """A one-off success message left by the previous run (after a submit).

    Shown again on a run the page itself asked for (the canvas fetching every round's colours right after a
    new round, ``map_flash_keep``), so the message does not vanish a moment after it appeared.
    """
    message = st.session_state.pop("map_flash", None)
    if message is None and st.session_state.pop("map_flash_keep", False):
        message = st.session_state.get("map_flash_last")
    st.session_state["map_flash_last"] = message
    if message:
        st.success(plain(message))


def shown_labels(view: Any, column: str | None) -> np.ndarray:
    """One label column's values (the first when ``column`` is None or the index lacks it)."""
    try:
        return view.label_values(column)
    except FewshotError:
        return view.labels


def ground_truth(session: Any) -> tuple[str | None, str | None]:
    """(label column, target label) the Map colours, overlays and measures by: the concept's own, which its
    AP by round was measured against (None, None without a concept: the first column, no target)."""
    if session is None:
        return None, None
    return session.concept.target_column, session.concept.target_label


def shown_column(view: Any, column: str | None) -> str | None:
    """The name of the label column ``shown_labels(view, column)`` reads; None when the index has no labels."""
    names = list(getattr(view, "label_columns", None) or [])
    if column is not None and column in names:
        return column
    if names:
        return names[0]
    return "label" if any(lab is not None for lab in view.labels) else None


def ground_truth_caption(view: Any, session: Any, column: str | None, target: str | None) -> str:
    """One line (Markdown-safe) naming the ground truth the page uses: column and target label, each quoted
    and bounded (``core.text_safety.quoted``) so a long or odd name cannot hide the rest of the sentence."""
    from core.text_safety import quoted

    name = shown_column(view, column)
    if name is None:
        return "This index has no ground-truth labels."
    if session is None:
        return plain(f"Ground truth: label column {quoted(name)} (the Label colours).")
    if target is None:
        return plain(f"Ground truth: label column {quoted(name)}, the concept's own; the concept names no target "
                     "label, so there is no AP by round.")
    return plain(f"Ground truth: label column {quoted(name)}, target label {quoted(target)} (the concept's own): "
                 "the Label colours, the validation overlay and the AP all use it. A column or label chosen on the "
                 "Validate page applies there only.")
