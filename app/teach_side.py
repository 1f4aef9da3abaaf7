"""Beside the batch: counters, the AP-by-round chart, settings between rounds, undo, reset, export."""

from __future__ import annotations

import math

import streamlit as st

from app.items import item_grid, plain
from app.state import get_store
from app.teach_rating import new_batch, undo_round
from core.config import workspace
from core.errors import FewshotError
from core.session import STRATEGIES, TeachSession

__all__ = ["new_batch", "render_actions", "render_counters", "render_settings"]  # new_batch: the Map page's too


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "–" if value is None or value != value else pattern.format(value)


def _angle(cosine) -> float | None:
    """Degrees between ``w`` and the previous round's ``w`` (None before the first round)."""
    if cosine is None or cosine != cosine:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, float(cosine)))))


def render_counters(session: TeachSession) -> None:
    history = session.history()
    metrics = history[-1].metrics if history else {}
    c1, c2 = st.columns(2)
    c1.metric("Round", session.round, help="Batches submitted so far")
    c2.metric("Predicted +", metrics.get("predicted_positive", "–"),
              help="Items of the index the classifier now calls positive (p > 0.5)")
    c1.metric("Ratings +", metrics.get("n_positive", 0), help="Items rated above 0 so far")
    c2.metric("Ratings −", metrics.get("n_negative", 0), help="Items rated below 0 so far")
    c1.metric("Loss", _fmt(metrics.get("loss")), help="Training loss of this round's fit")
    c2.metric("w moved", _fmt(_angle(metrics.get("cosine_to_previous")), "{:.1f}°"),
              help="Angle between w and the previous round's w: how far this round moved the classifier")
    points = [c.metrics["ap"] for c in history if c.metrics.get("ap") is not None]
    if "ap" in metrics:
        delta = None if len(points) < 2 else f"{points[-1] - points[-2]:+.3f}"
        st.metric(f"Validation AP (label {session.concept.target_label})", _fmt(metrics.get("ap")), delta=delta,
                  chart_data=points if len(points) > 1 else None, chart_type="line",
                  help="Average precision on the validation split against the ground-truth label, by round")
    timing = st.session_state.get("teach_last_timing")
    if timing:
        st.caption(f"Last submit → next batch: {timing:.0f} ms")


def render_settings(session: TeachSession) -> None:
    concept = session.concept
    with st.expander("Settings (apply from the next batch)"):
        strategy = st.selectbox("Strategy", STRATEGIES, index=STRATEGIES.index(concept.strategy),
                                key="teach_set_strategy")
        batch = st.number_input("Batch size", 1, 100, int(concept.batch_size), key="teach_set_batch")
        lr = st.number_input("Learning rate", 0.001, 100.0, float(session.train_config.lr), format="%.3f",
                             key="teach_set_lr")
        if st.button("Apply", key="teach_set_apply"):
            try:
                session.update_settings(strategy=strategy, batch_size=int(batch), lr=float(lr))
                new_batch()
                st.rerun()
            except FewshotError as exc:
                st.error(plain(str(exc)))


def render_actions(session: TeachSession) -> None:
    if st.button("Undo last round", key="teach_undo", disabled=session.round == 0, width="stretch",
                 help="Take the last batch back: its ratings come back as the draft to edit and submit again"):
        try:
            undo_round(session)
            st.rerun()
        except FewshotError as exc:  # e.g. another tab or process moved on: show the message and the current batch
            st.session_state["teach_message"] = str(exc)
            new_batch()
            st.rerun()
    if st.button("Reset seen", key="teach_reset_seen", width="stretch",
                 help="Show already rated items again; their ratings are kept"):
        session.reset_seen()
        new_batch()
        st.rerun()
    with st.expander("Top results now"):
        if st.toggle("Show what the classifier ranks highest (seen or not)", key="teach_top_show"):
            top = session.top(20)
            rows = {r["id"]: r for r in get_store().fetch_items(session.index, [c.item_id for c in top])}
            item_grid([rows.get(c.item_id, {"id": c.item_id}) for c in top],
                      [f"p={c.probability:.2f}" + (f" · {c.label}" if c.label is not None else "") for c in top],
                      columns=4)
    with st.expander("Export classifier"):
        threshold = st.number_input("Threshold (logit; 0 = p 0.5)", value=0.0, key="teach_export_threshold")
        if st.button("Export", key="teach_export"):
            from core.export import export_session

            path = workspace() / "exports" / f"{session.index}-{session.concept.name}.safetensors"
            try:
                st.session_state["teach_export_path"] = str(export_session(session, path, threshold))
            except FewshotError as exc:
                st.error(plain(str(exc)))
        exported = st.session_state.get("teach_export_path")
        if exported:
            from pathlib import Path

            st.caption(f"Saved to `{exported}`")
            st.download_button("Download classifier", Path(exported).read_bytes(),
                               file_name=Path(exported).name, key="teach_export_download")
