"""Take a trained concept out of the app: save its head to a file, score an index with a saved file.

The file is safetensors plus JSON metadata (``core.classifier``), never a pickle, so a classifier
received from someone else can be loaded without running code. The metadata names the embedder, so
scoring an index built with another embedder fails with a message instead of producing nonsense.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.errors import FewshotError

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _table_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise FewshotError(
            f"cannot write predictions to {Path(path).name!r}: use a .csv or .parquet file name"
        )
    return TABLE_FORMATS[suffix]


def app_export_path(workspace: str | Path, index: str, concept: str) -> Path:
    """Where the app saves a concept's classifier: ``exports/<index>/<concept>.safetensors``. One folder per
    index, since names hold ``-``: ``<index>-<concept>`` would give index ``a-b`` with concept ``c`` and index
    ``a`` with concept ``b-c`` one file, each export overwriting the other's."""
    from core.store import validate_index_name

    return Path(workspace) / "exports" / validate_index_name(index) / classifier_file_name(concept)


def classifier_file_name(concept: str) -> str:
    """``<concept>.safetensors``, the name checked as a concept name (the app's exports, ``export --out DIR``)."""
    from core.store import validate_index_name

    return f"{validate_index_name(concept, 'concept')}.safetensors"


def export_session(session: Any, path: str | Path, threshold: float | None = None) -> Path:
    """Save ``session``'s current head (a ``TeachSession``) with what is needed to use it later.

    ``threshold`` is the logit above which ``predict`` calls an item positive (0.0 = p 0.5); None = the
    concept's own (chosen on the Validate page or with ``concept set-threshold``; 0 until one is).
    Returns the path written.
    """
    if threshold is None:
        threshold = session.threshold
    if not math.isfinite(float(threshold)):  # predict would refuse the file as damaged
        raise FewshotError(f"the threshold must be a finite number (a logit), got {threshold}")
    from core.classifier import save_classifier
    from core.store import now_iso

    path = Path(path)
    if path.is_dir():  # `--out exports/`: the concept's file inside it (it wrote exports.safetensors beside it)
        path = path / classifier_file_name(session.concept.name)
    elif not path.suffix:
        path = path.with_name(path.name + ".safetensors")
    concept, info = session.concept, session.info
    metadata: dict[str, Any] = {
        "concept": concept.name,
        "index": info.name,
        "embedder": info.embedder,
        "embedder_kind": info.embedder_kind,
        "checkpoint": info.checkpoint,
        "modality": info.modality,
        "dim": int(info.dim),
        "threshold": float(threshold),
        "n_ratings": int(len(session.ratings())),
        "round": int(session.round),
        "created": now_iso(),
        "prompt": concept.prompt,
        "init": concept.init,
        "target_label": concept.target_label,
        "target_column": concept.target_column,
    }
    try:
        save_classifier(path, session.head, metadata)
    except OSError as exc:
        raise FewshotError(f"could not write the classifier to {path}: {exc}") from exc
    return path


def predict(
    classifier_path: str | Path,
    index: str,
    split: str | None = "validation",
    store: Any = None,
    out: str | Path | None = None,
) -> Any:
    """Score every item of ``split`` (None = all) of ``index`` with a saved classifier.

    ``table.attrs["metrics"]``: AP and the threshold's precision/recall against the concept's ground truth,
    on the validation items when every item is scored (train items may have been rated).

    Returns a DataFrame (id, split, score, probability, predicted, label: the concept's label column when
    the index has it, and ``label_<column>`` for each label column of an index with several); writes it to ``out``
    (``.csv`` or ``.parquet``) when given. ``table.attrs["note"]`` says when ``label`` is not the classifier's
    own column (another index without it). A classifier from another embedder or dimension raises
    ``EmbedderMismatch``.
    """
    from core.classifier import load_classifier
    from core.evaluate import evaluate_split, predictions_table
    from core.store import Store

    fmt = _table_format(out) if out is not None else None  # fail before any work
    store = store or Store()
    info = store.get_index(index)
    head, meta = load_classifier(classifier_path, expect_dim=info.dim, expect_embedder=info.embedder)
    threshold = float(meta.get("threshold", 0.0) or 0.0)
    column, columns = meta.get("target_column"), store.vectors(index).label_columns
    note = None
    if column not in columns:
        if column is not None:  # scoring another index: its first label column, and say so
            from core.text_safety import quoted

            used = f"its first label column {quoted(columns[0])}" if columns else "empty (the index has no labels)"
            note = (f"the classifier's ground-truth column {quoted(column)} is not in index {quoted(index)}; "
                    f"'label' is {used}")
        column = None
    # the concept's own ground truth, where this index has its column: the same AP the Teach page reported
    own_column = column is not None or (meta.get("target_column") is None and bool(columns))
    target = meta.get("target_label") if own_column else None
    evaluation = evaluate_split(store, index, head, split=split, threshold=threshold, target_column=column,
                                target_label=None if target is None else str(target))
    table = predictions_table(evaluation)
    table.attrs["note"] = note
    measured = evaluation
    if target is not None and split is None and info.counts.get("validation"):
        # every item scored, but AP only where no rating was given: the held-out split
        measured = evaluate_split(store, index, head, split="validation", threshold=threshold, target_column=column,
                                  target_label=str(target))
    table.attrs["metrics"] = _metrics_of(measured, column or columns[0]) if target is not None else None
    if table.attrs["metrics"]:
        table.attrs["metrics"]["split"] = "validation" if measured is not evaluation else (split or "all")
    if out is not None:
        write_table(table, out, fmt)
    return table


def _metrics_of(evaluation: Any, column: str) -> dict[str, Any] | None:
    """What ``predict`` reports beside the table: AP and the threshold's precision/recall, with what they rest on
    (None when no scored item has a label)."""
    if not evaluation.n_labelled:
        return None
    return {"target_column": column, "target_label": evaluation.target_label,
            "n_labelled": evaluation.n_labelled, "n_positive": evaluation.n_positive, "ap": evaluation.ap,
            "auc": evaluation.auc, "precision": evaluation.precision, "recall": evaluation.recall,
            "threshold": evaluation.threshold}


def write_table(table: Any, path: str | Path, fmt: str | None = None) -> Path:
    """Write a DataFrame as CSV or Parquet, chosen by the file extension, whole or not at all: a process
    killed mid-write left a 0-byte or cut file where the previous good one was (an outside tester's)."""
    import io

    from core.files import write_atomic

    path = Path(path)
    fmt = fmt or _table_format(path)
    try:
        if fmt == "csv":
            from core import csv_safe

            data = csv_safe.to_csv(table).encode("utf-8")  # ids/labels never run as spreadsheet formulas
        else:
            buffer = io.BytesIO()
            table.to_parquet(buffer, index=False)
            data = buffer.getvalue()
        write_atomic(path, data)
    except OSError as exc:
        raise FewshotError(f"could not write {path}: {exc}") from exc
    return path
