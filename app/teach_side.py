"""Around the batch: its counters and the AP-by-round line (drawn by the rating component, so a submit
redraws them with the batch and nothing else), undo and the top results (in the batch's fragment: they
change with every round), and beside it what does not change when a batch is submitted (settings,
reset seen, export: drawn on full runs only)."""

from __future__ import annotations

import streamlit as st

from app.items import item_grid, plain
from app.safe_text import shorten, text
from app.state import get_store
from app.teach_rating import new_batch, round_metrics, shown_round, undo_round
from app.thresholds import export_threshold_input
from core.config import workspace
from core.drift import turn_degrees
from core.errors import FewshotError
from core.session import STRATEGIES, TeachSession

__all__ = ["counters", "counters_line", "new_batch", "render_settings", "render_side_actions", "render_top",
           "render_undo", "starving_hint"]  # new_batch: the Map page's too


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "–" if value is None or value != value else pattern.format(value)


def counters(session: TeachSession) -> dict:
    """Where the concept stands after the last round, for the component to draw (numbers, or None)."""
    history = round_metrics(session)
    metrics = history[-1] if history else {}
    points = [float(m["ap"]) for m in history if m.get("ap") is not None]
    ap = metrics.get("ap")
    timing = st.session_state.get("teach_last_timing")
    predicted, at = predicted_now(session, metrics)
    return {
        "round": int(session.round),
        "predicted_positive": predicted,
        "predicted_threshold": at,
        "predicted_of": len(session.view.ids),
        "n_positive": int(metrics.get("n_positive", 0)),
        "n_negative": int(metrics.get("n_negative", 0)),
        "loss": _number(metrics.get("loss")),
        "w_moved": turn_degrees(metrics.get("cosine_to_previous")),
        "ap": _number(ap),
        "ap_delta": points[-1] - points[-2] if ap is not None and len(points) >= 2 else None,
        "ap_points": points,
        "target": None if session.concept.target_label is None else text(session.concept.target_label),
        "timing_ms": None if not timing else round(float(timing)),
    }


STARVING_AFTER = 30  # ratings with no positive before the Teach page suggests another start


def starving_hint(session: TeachSession) -> str | None:
    """What to do when many ratings found no positive: a rare concept from a diverse (or poor) start, where
    exploring alone may not find one in hundreds of ratings."""
    history = round_metrics(session)
    last = history[-1] if history else {}
    n, positives = int(last.get("n_ratings", 0) or 0), int(last.get("n_positive", 0) or 0)
    if n < STARVING_AFTER or positives:
        return None
    how = ("a diverse sample rarely holds an item of a rare concept" if session.concept.init == "diverse"
           else "the start's top items were not the concept")
    starts = ("from a prompt that describes it or from example items you pick"
              if session.info.embedder_kind in ("clip", "st") else "from example items you pick")  # no text model
    return (f"No positive in {n} ratings: {how}. Start a new concept (*New concept*, top right) {starts}, or "
            "select a promising cluster on the Map and rate it there.")


def predicted_now(session: TeachSession, metrics: dict) -> tuple[int | None, float]:
    """(items of the index predicted positive, at which threshold): the round's count when it was made at the
    concept's threshold now, else counted again at it (an outside auditor saw Teach's 349 at the old threshold
    beside Validate's and the Map's 1,144 at the new one). None before the first rating: the start only ranks."""
    from app.thresholds import stored_threshold

    # the stored one: this page's session is kept across reruns, and the Validate slider may have moved it since
    stored_now = stored_threshold(session)
    threshold = 0.0 if stored_now is None else float(stored_now)
    if metrics.get("n_ratings") == 0:  # the start, or rounds of skips only: nothing fitted, nothing decided
        return None, threshold
    stored = metrics.get("predicted_threshold")
    if metrics.get("predicted_positive") is not None and float(stored or 0.0) == threshold:
        return int(metrics["predicted_positive"]), threshold
    return int((session.scores()[1] > threshold).sum()), threshold


def counters_line(session: TeachSession) -> str:
    """The same counters as one line of text (shown when there is no batch to draw them with)."""
    c = counters(session)
    predicted = "–" if c["predicted_positive"] is None else c["predicted_positive"]
    line = (f"Round {c['round']} · predicted + {predicted} · ratings + {c['n_positive']} / − {c['n_negative']}"
            f" · loss {_fmt(c['loss'])}")
    if c["ap"] is not None:
        line += f" · validation AP {_fmt(c['ap'])}"
    return line


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)


def render_settings(session: TeachSession) -> None:
    concept = session.concept
    with st.expander("Settings (apply from the next batch)"):
        strategy = st.selectbox("Strategy", STRATEGIES, index=STRATEGIES.index(concept.strategy),
                                key="teach_set_strategy")
        batch = st.number_input("Batch size", 1, 100, int(concept.batch_size), key="teach_set_batch")
        lr = st.number_input("Learning rate", 0.001, 100.0, float(session.train_config.lr), format="%.3f",
                             key="teach_set_lr")
        if st.button("Apply", key="teach_set_apply"):
            # The batch on screen stays, with whatever is rated in it (a new one here threw that draft away):
            # the settings choose the next batch, as the heading says.
            try:
                session.update_settings(keep_batch=True, strategy=strategy, batch_size=int(batch), lr=float(lr))
            except FewshotError as exc:
                st.error(plain(str(exc)))
            else:  # a toast: it goes by itself (a message in the panel outlived the batch it spoke of)
                st.toast(f"Saved: the next batch is {int(batch)} items by {strategy}; the batch on screen stays "
                         "as it is.", icon=":material/check:")


def render_undo(session: TeachSession) -> None:
    """Undo the last round: its ratings come back as the draft (in the batch's fragment: after the first
    submit it must turn on without a full rerun)."""
    if st.button("Undo last round", key="teach_undo", disabled=session.round == 0, width="stretch",
                 help="Take the last batch back: its ratings come back as the draft to edit and submit again"):
        try:
            undo_round(session, expected_round=shown_round(session))
        except FewshotError as exc:  # e.g. another tab or process moved on: show the message and the current batch
            st.session_state["teach_message"] = str(exc)
            new_batch()
        st.rerun()  # the whole page: the side panel's settings may change with the round


def render_top(session: TeachSession) -> None:
    with st.expander("Top results now"):
        if st.toggle("Show what the classifier ranks highest (seen or not)", key="teach_top_show"):
            top = session.top(20)
            rows = {r["id"]: r for r in get_store().fetch_items(session.index, [c.item_id for c in top])}
            item_grid([rows.get(c.item_id, {"id": c.item_id}) for c in top],
                      [f"{shorten(c.item_id, 60)} · p={c.probability:.2f}"
                       + (f" · label {c.label}" if c.label is not None else "") for c in top],
                      columns=4)


def render_side_actions(session: TeachSession) -> None:
    if st.button("Reset seen", key="teach_reset_seen", width="stretch",
                 help="Show already rated items again (from the next batch); their ratings are kept"):
        session.reset_seen(keep_batch=True)  # the batch on screen stays (after a reload too), with its draft
        st.toast("Rated items can be proposed again from the next batch; the batch on screen stays as it is.",
                 icon=":material/check:")
    with st.expander("Export classifier"):
        owner = (session.index, session.concept.name)
        threshold = export_threshold_input(session)  # the Validate page's for this concept, unless typed here
        if st.button("Export", key="teach_export"):
            from core.export import app_export_path, export_session

            path = app_export_path(workspace(), *owner)
            try:
                st.session_state["teach_export_path"] = (*owner, str(export_session(session, path, threshold)))
            except FewshotError as exc:
                st.error(plain(str(exc)))
        kept = st.session_state.get("teach_export_path")
        exported = kept[2] if isinstance(kept, tuple) and kept[:2] == owner else None  # this concept's file only
        if exported:
            from pathlib import Path

            st.caption(f"Saved to `{exported}`")
            st.download_button("Download classifier", Path(exported).read_bytes(),
                               file_name=f"{session.index}-{session.concept.name}.safetensors",
                               key="teach_export_download")
