"""Metrics and predictions on a split: what the Validate page, ``predict`` and the oracle replay report.

Everything here works on indexes without ground truth: the scores and predictions are always
there, the metrics are simply ``None`` when there is nothing to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import EmbedderMismatch, FewshotError
from core.records import SPLITS


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Average precision and ROC AUC; empty when only one class is present (they are undefined).

    y_true: (n,) bool; scores: (n,) float, higher = more positive. Computed in NumPy exactly as
    sklearn's ``average_precision_score`` and ``roc_auc_score`` do (ties grouped), because importing
    sklearn.metrics costs ~2 s and every ``teach submit`` reports these.
    """
    y_true = np.asarray(y_true, dtype=bool)
    if y_true.all() or not y_true.any():
        return {}
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], y_true[order]
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last index of each tied group
    tps = np.cumsum(hits)[ends].astype(np.float64)
    fps = (ends + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    tpr, fpr = np.r_[0.0, recall], np.r_[0.0, fps / fps[-1]]
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    return {"ap": ap, "auc": auc}


@dataclass
class Evaluation:
    """A head's scores on one split of an index, with metrics when a target label is known.

    ids, splits, labels: (n,) object arrays (labels: the ``target_column``'s values, None where unknown);
    scores: (n,) float32 logits; probabilities: (n,) float32; predicted: (n,) bool, ``score > threshold``.
    Metrics are computed over the items whose label is known, and are None when undefined (no labels, one class only).
    pr_precision / pr_recall / pr_thresholds are sklearn's ``precision_recall_curve`` arrays.
    """

    index: str
    split: str | None
    threshold: float
    target_label: str | None
    ids: np.ndarray
    splits: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray
    n_labelled: int = 0
    n_positive: int = 0
    ap: float | None = None
    auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    tn: int | None = None
    fp: int | None = None
    fn: int | None = None
    tp: int | None = None
    pr_precision: np.ndarray | None = None
    pr_recall: np.ndarray | None = None
    pr_thresholds: np.ndarray | None = None
    target_column: str | None = None
    label_columns: dict[str, np.ndarray] | None = None  # every label column's values, when the index has several

    @property
    def has_metrics(self) -> bool:
        return self.tp is not None

    def summary(self) -> dict[str, Any]:
        """The scalar figures, JSON-able: for a CLI line, a page's counters or a CSV row."""
        keys = ("index", "split", "threshold", "target_column", "target_label", "n_labelled", "n_positive", "ap", "auc",
                "precision", "recall", "f1", "tn", "fp", "fn", "tp")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out["n_items"] = int(len(self.ids))
        out["n_predicted_positive"] = int(self.predicted.sum())
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * z.astype(np.float64)))).astype(np.float32)


def evaluate_split(
    store: Any,
    index: str,
    head: Any,
    split: str | None = "validation",
    target_label: str | None = None,
    threshold: float = 0.0,
    target_column: str | None = None,
) -> Evaluation:
    """Score every item of ``split`` (None = all) with ``head`` and compare with ground truth.

    ``head`` is anything with ``w`` (dim,) and ``b`` (a ``LinearHead``); its dimension must match
    the index's. ``threshold`` is on the logit (0.0 = probability 0.5). ``target_column`` is the label
    column holding ``target_label`` (None = the index's first).
    """
    from core.vectors import score_all

    if split is not None and split not in SPLITS:
        raise FewshotError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)} (or all)")
    view = store.vectors(index)
    w = np.asarray(head.w, dtype=np.float32).reshape(-1)
    if w.shape[0] != view.matrix.shape[1]:
        raise EmbedderMismatch(
            f"the classifier has {w.shape[0]} dimensions but index {index!r} holds {view.matrix.shape[1]}-d vectors"
        )
    rows = view.rows(split)
    scores = score_all(view.matrix[rows], w, float(head.b)) if len(rows) else np.empty(0, np.float32)
    threshold = float(threshold)
    result = Evaluation(
        index=index, split=split, threshold=threshold, target_label=target_label,
        ids=view.ids[rows], splits=view.split[rows], scores=scores, probabilities=_sigmoid(scores),
        predicted=scores > threshold, labels=view.label_values(target_column)[rows], target_column=target_column,
        label_columns={c: view.label_values(c)[rows] for c in view.label_columns} if len(view.label_columns) > 1
        else None,
    )
    if target_label is not None:
        _add_metrics(result)
    return result


def _add_metrics(result: Evaluation) -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_curve, precision_recall_fscore_support

    known = np.not_equal(result.labels, None).astype(bool, copy=False)
    result.n_labelled = int(known.sum())
    if not known.any():
        return
    y = np.equal(result.labels[known], str(result.target_label)).astype(bool, copy=False)
    scores, predicted = result.scores[known], result.predicted[known]
    result.n_positive = int(y.sum())
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[False, True]).ravel()
    result.tn, result.fp, result.fn, result.tp = int(tn), int(fp), int(fn), int(tp)
    p, r, f, _ = precision_recall_fscore_support(y, predicted, average="binary", zero_division=0.0)
    # undefined stays None ("-" when shown): recall with no positive, precision with nothing predicted positive
    result.precision = float(p) if tp + fp else None
    result.recall = float(r) if tp + fn else None
    result.f1 = float(f) if tp + fp and tp + fn else None
    ranking = ranking_metrics(y, scores)
    result.ap, result.auc = ranking.get("ap"), ranking.get("auc")
    if y.any():
        result.pr_precision, result.pr_recall, result.pr_thresholds = precision_recall_curve(y, scores)


def predictions_table(evaluation: Evaluation) -> Any:
    """One row per item: id, split, score (logit), probability, predicted, label (a pandas DataFrame).

    ``label`` is the evaluated label column; an index with several label columns adds one
    ``label_<column>`` per column, in the index's order.
    """
    import pandas as pd

    others = {f"label_{c}": pd.array(list(v), dtype="string") for c, v in (evaluation.label_columns or {}).items()}
    return pd.DataFrame(
        {
            "id": pd.array([str(i) for i in evaluation.ids], dtype="string"),
            "split": pd.array([str(x) for x in evaluation.splits], dtype="string"),
            "score": evaluation.scores.astype(np.float32),
            "probability": evaluation.probabilities.astype(np.float32),
            "predicted": evaluation.predicted.astype(bool),
            "label": pd.array(list(evaluation.labels), dtype="string"),
            **others,
        }
    )

