"""Validate page: the selected concept's current head scored on a split, with metrics where labels exist."""

from __future__ import annotations

import streamlit as st

from app import safe_text
from app.items import plain
from app.sidebar import render_sidebar
from app.state import get_store, selected_concept, selected_index
from app.thresholds import (
    KEEP_ERROR,
    keep_with_concept,
    remember_validate_threshold,
    validate_threshold,
)
from app.validate_view import (
    SPLIT_CHOICES,
    at_threshold,
    clamp_state,
    confusion_figure,
    histogram_figure,
    label_options,
    pr_figure,
    predictions_csv,
    rare,
    render_metrics,
    render_top,
    score_split,
    sigmoid,
    threshold_range,
)
from core.config import workspace_uri
from core.errors import FewshotError
from core.session import TeachSession

TARGET_KEY, TARGET_OWNER_KEY, THRESHOLD_KEY = "validate_target", "validate_target_for", "validate_threshold"
# Plain copies of the widgets (whose state Streamlit drops once another page runs). Only the threshold is
# shared, per concept (``app.thresholds``: the Map's overlay and the Teach page's export follow it); the column
# and target label chosen here are this page's own: the Map measures and colours by the concept's own ground
# truth, so its AP and colours agree.
THRESHOLD_OWNER_KEY, KEPT_TARGET_KEY = "validate_threshold_for", "validate_target_kept"
COLUMN_KEY, KEPT_COLUMN_KEY = "validate_target_column", "validate_column_kept"

render_sidebar()
st.title("Validate")
index, concept = selected_index(), selected_concept()
if not index:
    st.info("No index yet: build one on the Index page (the digits demo works offline).")
    st.stop()
if not concept:
    st.info("No concept on this index yet: start one on the Teach page, rate a few batches, then come back here.")
    st.stop()

store, root = get_store(), workspace_uri()
try:
    session = TeachSession.open(index, concept, store=store)
    version = store.vectors(index).version
    columns = session.info.label_columns
    own_column = session.concept.target_column or (columns[0] if columns else None)
    column = session.concept.target_column
    owner = f"{index}/{concept}"
    fresh = st.session_state.get(TARGET_OWNER_KEY) != owner  # another concept (or the first visit)
    if len(columns) > 1:  # the ground-truth column; the concept's own by default
        if fresh or st.session_state.get(COLUMN_KEY) not in columns:  # new concept, or widget state dropped
            kept = None if fresh else st.session_state.get(KEPT_COLUMN_KEY)
            st.session_state[COLUMN_KEY] = kept if kept in columns else \
                own_column if own_column in columns else columns[0]
        column = st.selectbox("Ground-truth column", columns, key=COLUMN_KEY, format_func=safe_text.choices(columns),
                              help="The index's label column the metrics compare against.")
    st.session_state[KEPT_COLUMN_KEY] = column
    labels = label_options(root, index, version, column)
except FewshotError as exc:
    st.error(plain(str(exc)))
    st.stop()

st.caption(plain(f"Concept {concept} on index {index}, round {session.round}, "
                 f"scored with its current classifier ({session.info.embedder})."))
c1, c2, c3 = st.columns([3, 2, 3], gap="medium")  # the split control whole at 1280 px (it lost "all")
split_name = c1.segmented_control("Split", list(SPLIT_CHOICES), default="validation", required=True,
                                  key="validate_split") or "validation"
target = None
if fresh:
    default = session.concept.target_label if (column or own_column) == own_column else None
    st.session_state[KEPT_TARGET_KEY] = default if default in labels else None
    st.session_state[TARGET_OWNER_KEY] = owner
    st.session_state.pop(TARGET_KEY, None)
if labels:
    if st.session_state.get(TARGET_KEY, 0) not in [None, *labels]:  # widget state dropped on another page
        kept = st.session_state.get(KEPT_TARGET_KEY)
        st.session_state[TARGET_KEY] = kept if kept in labels else None
    # None ("no target") is its own option, shown "(none)"; a real label "(none)" stays choosable as itself.
    options = [None, *labels]
    target = c2.selectbox("Target label", options, key=TARGET_KEY, format_func=safe_text.choices(options),
                          help="The ground-truth label this concept means; metrics compare against it.")
    st.session_state[KEPT_TARGET_KEY] = target

try:
    scored = score_split(root, index, version, session.head.w, float(session.head.b), SPLIT_CHOICES[split_name],
                         target, column)
except FewshotError as exc:
    st.error(plain(str(exc)))
    st.stop()
if len(scored.evaluation.scores) == 0:
    st.info(f"The {split_name} split of this index is empty: choose another split.")
    st.stop()

lo, hi = threshold_range(scored.evaluation.scores)
# Written every run, not only when the widget state was dropped (on other pages): the bounds follow the scores
# (another split, another round), and Streamlit makes a slider with new bounds a new widget that starts at its
# minimum (every item predicted positive) unless its value is set here.
# Another concept starts at its own threshold (the one chosen for it earlier, else 0), never the last one's.
# the session was opened this run, so its stored threshold is current
kept_threshold = validate_threshold(index, session.concept.identity, session.concept.threshold)
kept_threshold = 0.0 if kept_threshold is None else kept_threshold
if st.session_state.get(THRESHOLD_OWNER_KEY) != (index, concept):
    st.session_state[THRESHOLD_KEY] = kept_threshold
    st.session_state[THRESHOLD_OWNER_KEY] = (index, concept)
st.session_state[THRESHOLD_KEY] = float(st.session_state.get(THRESHOLD_KEY, kept_threshold))
clamp_state(THRESHOLD_KEY, lo, hi)
clamped = session.concept.threshold is not None and not lo <= session.concept.threshold <= hi \
    and st.session_state[THRESHOLD_KEY] != session.concept.threshold
with c3:
    threshold = st.slider("Threshold (logit)", lo, hi, step=0.05, key=THRESHOLD_KEY,
                          on_change=keep_with_concept, args=(session, THRESHOLD_KEY),
                          help="Items scoring above it are predicted positive; 0 is probability 0.5. Kept with "
                               "the concept: the export, the report and the Map follow it.")
    st.caption(f"Logit {threshold:+.2f} = probability {sigmoid(threshold):.3f}")
    if clamped:  # set beyond the scores (`concept set-threshold`): said, not silently shown as another value
        st.caption(f"The concept's threshold is {session.concept.threshold:+.2f}, beyond this split's scores: the "
                   f"slider shows the nearest it can. Export, the report and the Map use "
                   f"{session.concept.threshold:+.2f} until you move it.")
    if st.session_state.get(KEEP_ERROR):
        st.warning(plain(f"This threshold was not kept with the concept: {st.session_state.pop(KEEP_ERROR)}"))
# this concept's: the Map's overlay and the Teach export
remember_validate_threshold(index, session.concept.identity, threshold)
ev = at_threshold(scored, threshold)

if not len(session.ratings()):  # the start (or skips only): a ranking by the prompt or examples, no threshold learnt
    st.info("No rating yet: this is the start, a ranking by the prompt or examples. Its predictions at a threshold "
            "mean little (a prompt's start calls most items positive) until the first ratings; AP ranks already.")
elif split_name != "validation":  # as `predict --split train` says it
    st.info(f"The {split_name} split holds the {len(session.ratings()):,} items rated for this concept, which it "
            "was trained on: its metrics flatter the classifier. The validation split is the held-out measure.")
if ev.has_metrics:
    render_metrics(ev)
elif not labels:
    st.caption("This index has no ground-truth labels: scores and predictions only.")
elif target is None:
    st.caption("Choose a target label to compare the predictions with the ground truth.")
else:
    st.caption(f"No labelled items in the {split_name} split: scores and predictions only.")

if ev.has_metrics:
    left, middle, right = st.columns([5, 4, 3])
else:
    left, middle, right = st.container(), None, None
with left:
    st.caption("Scores of the split, coloured by ground truth" if ev.has_metrics else "Scores of the split")
    log_y = st.toggle("Log scale", value=rare(scored.positive, scored.known), key="validate_hist_log",
                      help="Counts on a log axis, so a few positives beside thousands of negatives show; on by "
                           "default when the positives are under 5% of the labelled items")
    st.plotly_chart(histogram_figure(ev, scored.positive, scored.known, log_y=log_y), key="validate_histogram")
if middle is not None and right is not None:
    with middle:
        st.caption("Precision–recall curve; × marks the threshold")
        st.plotly_chart(pr_figure(ev), key="validate_pr")
    with right:
        st.caption("Confusion matrix at the threshold")
        st.plotly_chart(confusion_figure(ev), key="validate_confusion")

st.download_button(
    "Download predictions (CSV)", data=lambda: predictions_csv(ev), mime="text/csv", key="validate_download",
    file_name=f"{index}-{concept}-{split_name}-round{session.round}.csv", on_click="ignore",
)
st.subheader("Top positives")
render_top(root, version, ev)
