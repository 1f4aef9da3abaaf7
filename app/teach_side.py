"""Beside the batch: counters, the AP-by-round chart, settings between rounds, undo, reset, export."""

from __future__ import annotations

import streamlit as st

from app.items import item_grid
from app.state import get_store
from core.config import workspace
from core.errors import FewshotError
from core.session import STRATEGIES, TeachSession


def new_batch() -> None:
    """Forget the batch on screen, so the next run asks the session for a fresh one."""
    st.session_state["teach_batch_no"] = st.session_state.get("teach_batch_no", 0) + 1


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "–" if value is None or value != value else pattern.format(value)


def render_counters(session: TeachSession) -> None:
    history = session.history()
    metrics = history[-1].metrics if history else {}
    c1, c2 = st.columns(2)
    c1.metric("Ratings +", metrics.get("n_positive", 0))
    c2.metric("Ratings −", metrics.get("n_negative", 0))
    c1.metric("Loss", _fmt(metrics.get("loss")))
    c2.metric("cos(w, previous w)", _fmt(metrics.get("cosine_to_previous")),
              help="How far w moved this round: 1 = not at all")
    c1.metric("Predicted positive", metrics.get("predicted_positive", "–"), help="items of the index with p > 0.5")
    c2.metric("Round", session.round)
    if "ap" in metrics:
        st.metric(f"Validation AP ({session.concept.target_label})", _fmt(metrics.get("ap")))
        points = [(c.metrics.get("n_ratings", 0), c.metrics["ap"]) for c in history if "ap" in c.metrics]
        if len(points) > 1:
            st.line_chart({"ratings": [p[0] for p in points], "AP": [p[1] for p in points]}, x="ratings", y="AP",
                          height=160)
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
                st.error(str(exc))


def render_actions(session: TeachSession) -> None:
    c1, c2 = st.columns(2)
    if c1.button("Undo last round", key="teach_undo", disabled=session.round == 0, width="stretch"):
        try:
            session.undo()
            new_batch()
            st.rerun()
        except FewshotError as exc:
            st.error(str(exc))
    if c2.button("Reset seen", key="teach_reset_seen", width="stretch",
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
                st.error(str(exc))
        exported = st.session_state.get("teach_export_path")
        if exported:
            from pathlib import Path

            st.caption(f"Saved to `{exported}`")
            st.download_button("Download classifier", Path(exported).read_bytes(),
                               file_name=Path(exported).name, key="teach_export_download")
