"""Oracle replay: run the real teaching loop with ground-truth labels standing in for a person.

Why: which strategy (and learner) reaches a good classifier with the fewest ratings has to be
measured on data, not assumed (DESIGN.md, label efficiency). The replay drives a real
``TeachSession`` (the same code the app runs, LanceDB writes included) under a throwaway concept,
so what it measures is what a person would get. The linear probe trained on every train label is
the ceiling the curves are judged against.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FewshotError, PoolExhausted
from core.files import write_atomic
from core.records import TRAIN, VALIDATION

ROW_KEYS = ("strategy", "round", "n_ratings", "ap", "auc", "n_positive", "new_positive", "policy")
RoundCallback = Callable[[dict[str, Any]], None]


def _store(store: Any) -> Any:
    from core.store import Store

    return store or Store()


def check_label(store: Any, index: str, positive_label: str | None, label_column: str | None = None) -> list[str]:
    """The labels of one label column (None = the first), sorted; raises when the index has no such
    column, the column has no labels, or ``positive_label`` is not one of them."""
    from core.ground_truth import check_target, column_place

    return check_target(store.vectors(index), label_column, positive_label, column_place(index, label_column),
                        no_labels=", so there is no oracle to replay; index a source with labels (e.g. demo:digits, "
                                  "or a folder with class subfolders)")


def _row(strategy: str, round_: int, metrics: dict[str, Any], new_positive: int = 0,
         policy: str | None = None) -> dict[str, Any]:
    """One replay round: ``n_positive`` positives found so far, ``new_positive`` in this round's batch,
    ``policy`` what chose the batch (the strategy, or the default policy's reason)."""
    return {
        "strategy": strategy,
        "round": int(round_),
        "n_ratings": int(metrics.get("n_ratings", 0)),
        "ap": metrics.get("ap"),
        "auc": metrics.get("auc"),
        "n_positive": int(metrics.get("n_positive", 0)),
        "new_positive": int(new_positive),
        "policy": policy,
    }


def simulate(
    index: str,
    positive_label: str,
    strategy: str,
    rounds: int,
    batch: int,
    prompt: str | None = None,
    store: Any = None,
    train: dict[str, Any] | None = None,
    seed: int = 0,
    keep: bool = False,
    on_round: RoundCallback | None = None,
    embedder: Any = None,
    label_column: str | None = None,
) -> list[dict[str, Any]]:
    """Replay ``rounds`` rounds of ``batch`` oracle ratings (+1 if the label matches, else -1).

    ``label_column`` is the index's label column the oracle reads (None = the first). Returns one row
    per round, round 0 (before any rating) first: strategy, round, n_ratings, validation ap, auc,
    n_positive (positives found so far), new_positive (found in that round), policy (what chose the
    batch). Stops early when the train split runs out of unseen items. The concept is deleted
    afterwards unless ``keep``.
    """
    store = _store(store)
    check_label(store, index, positive_label, label_column)
    if rounds < 0 or batch < 1:
        raise FewshotError(f"rounds must be >= 0 and batch >= 1 (got rounds={rounds}, batch={batch})")
    positive = str(positive_label)
    name = f"sim-{strategy}-{uuid.uuid4().hex[:8]}"
    remove_abandoned_replays(store, index)
    marker = _replay_marker(store, index, name, keep)
    with contextlib.ExitStack() as held:
        if marker is not None:  # held while the replay runs: its owner is alive (a --keep one's has another name)
            from core.storage import file_lock

            held.enter_context(file_lock(marker))
        try:
            return _replay(store, index, name, positive, strategy, rounds, batch, prompt, train, seed, keep,
                           on_round, embedder, label_column)
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)


def _replay(store: Any, index: str, name: str, positive: str, strategy: str, rounds: int, batch: int,
            prompt: str | None, train: dict[str, Any] | None, seed: int, keep: bool,
            on_round: RoundCallback | None, embedder: Any, label_column: str | None) -> list[dict[str, Any]]:
    """``simulate``'s rounds on a new concept ``name``, deleted at the end unless ``keep``."""
    from core.session import TeachSession
    from core.teach_store import TeachStore

    session = TeachSession.create(
        index, name, store=store, prompt=prompt, strategy=strategy, batch_size=batch, train=train,
        target_label=positive, embedder=embedder, target_column=label_column,
    )
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_round is not None:
            on_round(row)

    try:
        start = session.history()[0]
        record(_row(strategy, start.round, start.metrics))
        for r in range(1, rounds + 1):
            try:
                proposed = session.next_batch(batch, seed=seed * 1_000_003 + r)
            except PoolExhausted:
                break
            policy = session.last_policy_reason
            ratings = {c.item_id: None if c.label is None else (1.0 if str(c.label) == positive else -1.0)
                       for c in proposed}
            result = session.submit(ratings)
            found = sum(1 for v in ratings.values() if v is not None and v > 0)
            record(_row(strategy, result.round, result.metrics, found, policy))
    finally:
        if not keep:
            TeachStore(store).delete_concept(index, name)
            from core.teach_lock import lock_path

            lock = lock_path(store.root, index, name)  # its name is random: nobody else will ever take this lock
            if lock is not None:
                lock.unlink(missing_ok=True)
    return rows


#: a replay's throwaway concept: ``sim-<strategy>-<8 hex digits>``
THROWAWAY_NAME = re.compile(r"sim-[a-z_+]+-[0-9a-f]{8}")


def _replay_marker(store: Any, index: str, name: str, keep: bool = False) -> Path | None:
    """The file a replay holds locked while it runs (None on object storage: no file locks). A throwaway's
    marks its concept as one; a ``--keep`` replay's only keeps the sweep off its first writes."""
    from core.teach_lock import workspace_lock_path

    return workspace_lock_path(store.root, "replay-keep" if keep else "replay", f"{index}\0{name}")


def _running(marker: Path | None) -> bool:
    """Whether a replay holds ``marker`` now (an existing file that cannot be locked)."""
    import fcntl

    if marker is None or not marker.exists():
        return False
    with open(marker, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def remove_abandoned_replays(store: Any, index: str) -> list[str]:
    """Delete the throwaway concepts of replays killed before they could (a SIGKILLed ``simulate`` left
    ``sim-auto-4e865f3c`` in every concept list): one is abandoned when its marker file exists and nobody
    holds it. A ``--keep`` replay has no marker, so it stays. Returns the names deleted."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return []
    from core.teach_store import TeachStore

    teach = TeachStore(store)
    listed = {c.name for c in teach.concepts(index)}
    removed: list[str] = []
    for name in sorted(listed | _unlisted_throwaways(teach, index, listed)):
        marker = _replay_marker(store, index, name) if THROWAWAY_NAME.fullmatch(name) else None
        if marker is None or (name in listed and not marker.exists()):  # listed with no marker: kept on purpose
            continue
        if name not in listed and _running(_replay_marker(store, index, name, keep=True)):
            continue  # a --keep replay between its first write and its concept's row
        with open(marker, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its replay is running
                continue
            if name in listed:
                teach.delete_concept(index, name)
            else:  # rows of a replay killed in its own cleanup, after its concept's row went
                from core.teach_lock import concept_lock

                with concept_lock(store.root, index, name):
                    teach.discard_orphans(index, name)
            marker.unlink(missing_ok=True)
            removed.append(name)
    return removed


def _unlisted_throwaways(teach: Any, index: str, listed: set[str]) -> set[str]:
    """Throwaway names with ratings or checkpoints stored but no concept (the replay was killed mid-cleanup)."""
    from core.teach_store import CHECKPOINTS, LABELS, _quote

    names: set[str] = set()
    tables = teach.store.table_names()
    for table in (LABELS, CHECKPOINTS):
        if table in tables:
            column = teach.db.open_table(table).search().where(f"`index` = {_quote(index)}").select(["concept"]) \
                .limit(None).to_arrow().column("concept").to_pylist()
            names |= {n for n in set(column) if THROWAWAY_NAME.fullmatch(str(n)) and n not in listed}
    return names


def compare(
    index: str,
    positive_label: str,
    strategies: Sequence[str],
    rounds: int,
    batch: int,
    prompt: str | None = None,
    store: Any = None,
    train: dict[str, Any] | None = None,
    seed: int = 0,
    keep: bool = False,
    on_round: RoundCallback | None = None,
    label_column: str | None = None,
) -> list[dict[str, Any]]:
    """``simulate`` once per strategy under the same settings; the rows of all runs, in order."""
    store = _store(store)
    check_label(store, index, positive_label, label_column)
    embedder = None
    if prompt:  # load the text model once, not once per strategy
        from core.embedders import load_embedder

        embedder = load_embedder(store.get_index(index).embedder)
    rows: list[dict[str, Any]] = []
    for strategy in strategies:
        rows += simulate(index, positive_label, strategy, rounds, batch, prompt=prompt, store=store, train=train,
                         seed=seed, keep=keep, on_round=on_round, embedder=embedder, label_column=label_column)
    return rows


def linear_probe_ap(store: Any, index: str, positive_label: str, label_column: str | None = None) -> float:
    """AP on validation of a logistic regression trained on every train label: the replay's ceiling.

    C is chosen by 3-fold cross-validation on train only (a fixed C under-fits unit vectors), so the
    ceiling is a fair one and validation stays unseen.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import GridSearchCV

    from core.ground_truth import known_mask, truth

    store = _store(store)
    check_label(store, index, positive_label, label_column)
    view = store.vectors(index)
    known = known_mask(view, label_column)
    y = truth(view, label_column, positive_label)
    train = known & (view.split == TRAIN)
    valid = known & (view.split == VALIDATION)
    if len(set(y[train])) < 2 or len(set(y[valid])) < 2:
        raise FewshotError(f"label {positive_label!r} needs positives and negatives in both train and validation")
    # tol: lbfgs's default (1e-4 on the mean loss's gradient) stops after ~10 iterations on a 0.1% concept
    # over 120,000 rows, at a model no better than chance (robotframework AP 0.005 instead of 0.64)
    model = GridSearchCV(LogisticRegression(max_iter=5000, tol=1e-8), {"C": [0.1, 1.0, 10.0, 100.0, 1000.0]}, cv=3,
                         scoring="average_precision")
    model.fit(view.matrix[train], y[train])
    return float(average_precision_score(y[valid], model.decision_function(view.matrix[valid])))


def summarize(rows: Sequence[dict[str, Any]], ap_target: float = 0.9) -> list[dict[str, Any]]:
    """Per strategy: final AP, ratings needed to first reach ``ap_target``, the largest drop between rounds,
    positives found (``n_positive``) and the ratings before the first one (``first_positive_at``, None = never)."""
    out = []
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        runs = [r for r in rows if r["strategy"] == strategy]
        aps = [r["ap"] for r in runs]
        reached = next((r["n_ratings"] for r in runs if r["ap"] is not None and r["ap"] >= ap_target), None)
        drops = [a - b for a, b in zip(aps, aps[1:], strict=False) if a is not None and b is not None]
        first = next((r["n_ratings"] for r in runs if r["n_positive"] > 0), None)
        out.append({
            "strategy": strategy,
            "rounds": runs[-1]["round"],
            "n_ratings": runs[-1]["n_ratings"],
            "n_positive": runs[-1]["n_positive"],
            "final_ap": aps[-1],
            "best_ap": max((a for a in aps if a is not None), default=None),
            "ratings_to_target": reached,
            "max_drop": max([0.0, *drops]),
            "first_positive_at": first,
            "positives_per_round": [int(r.get("new_positive", 0)) for r in runs[1:]],
        })
    return out


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write replay rows as CSV (one line per strategy and round)."""
    path = Path(path)
    keys = list(dict.fromkeys([*ROW_KEYS, *(k for r in rows for k in r)]))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    try:
        write_atomic(path, text.getvalue().encode("utf-8"))  # whole or not at all, as every file we write
    except OSError as exc:
        raise FewshotError(f"could not write {path}: {exc}") from exc
    return path


def plot_label_efficiency(
    rows: Sequence[dict[str, Any]], path: str | Path, probe_ap: float | None = None, title: str | None = None
) -> Path:
    """Save AP against the number of ratings, one line per strategy, the probe as a dashed ceiling.

    Uses matplotlib (Agg) when installed; otherwise draws the same chart with Pillow (PNG/JPEG) or
    as hand-written SVG (``.svg``), so the CLI never needs an extra dependency.
    """
    path = Path(path)
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.get("ap") is not None:
            series.setdefault(str(r["strategy"]), []).append((float(r["n_ratings"]), float(r["ap"])))
    if not series:
        raise FewshotError("nothing to plot: no round has a validation AP (the validation split needs positives "
                           "and negatives of the target label)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _line_chart(series, path, probe_ap, title or "label efficiency")
    except OSError as exc:
        raise FewshotError(f"could not write the plot to {path}: {exc}") from exc
    return path


# ----- drawing -----------------------------------------------------------------------------------
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_PROBE = "linear probe (all labels)"


def _line_chart(series: dict[str, list[tuple[float, float]]], path: Path, probe: float | None, title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        _fallback_chart(series, path, probe, title)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, (name, points) in enumerate(series.items()):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=3, color=_COLORS[i % len(_COLORS)], label=name)
    if probe is not None:
        ax.axhline(probe, color="black", linestyle="--", linewidth=1, label=f"{_PROBE}: {probe:.3f}")
    ax.set(xlabel="ratings", ylabel="validation AP", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fallback_chart(series: dict[str, list[tuple[float, float]]], path: Path, probe: float | None,
                    title: str) -> None:
    """The same chart without matplotlib: Pillow for raster formats, plain SVG for ``.svg``."""
    width, height, left, right, top, bottom = 800, 500, 60, 210, 40, 50
    x_max = max(max(x for x, _ in pts) for pts in series.values()) or 1.0
    box = (left, top, width - right, height - bottom)

    def xy(x: float, y: float) -> tuple[float, float]:
        return (left + x / x_max * (box[2] - left), top + (1 - y) * (box[3] - top))

    chart = {
        "size": (width, height), "box": box, "title": title,
        "lines": [(_COLORS[i % len(_COLORS)], [xy(x, y) for x, y in pts]) for i, pts in enumerate(series.values())],
        "yticks": [(f"{v:.1f}", xy(0, v)[1]) for v in np.linspace(0, 1, 6)],
        "xticks": [(f"{v:g}", xy(v, 0)[0]) for v in np.unique(np.linspace(0, x_max, 6).round())],
        "legend": [(name, _COLORS[i % len(_COLORS)]) for i, name in enumerate(series)]
        + ([(f"{_PROBE}: {probe:.3f}", "#000000")] if probe is not None else []),
        "probe_y": xy(0, probe)[1] if probe is not None else None,
    }
    (_svg if path.suffix.lower() == ".svg" else _pillow)(path, chart)


def _pillow(path: Path, chart: dict[str, Any]) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", chart["size"], "white")
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = chart["box"]
    for text, y in chart["yticks"]:
        draw.line([(x0, y), (x1, y)], fill="#e6e6e6")
        draw.text((x0 - 30, y - 6), text, fill="black")
    for text, x in chart["xticks"]:
        draw.text((x - 8, y1 + 6), text, fill="black")
    draw.rectangle(chart["box"], outline="#444444")
    draw.text(((x0 + x1) / 2 - 3 * len(chart["title"]), 12), chart["title"], fill="black")
    draw.text(((x0 + x1) / 2 - 20, chart["size"][1] - 22), "ratings", fill="black")
    draw.text((6, 14), "validation AP", fill="black")
    if chart["probe_y"] is not None:
        for xa in range(int(x0), int(x1), 12):
            draw.line([(xa, chart["probe_y"]), (min(xa + 6, x1), chart["probe_y"])], fill="black", width=1)
    for color, points in chart["lines"]:
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=color)
    for i, (name, color) in enumerate(chart["legend"]):
        y = y0 + 10 + 18 * i
        draw.line([(x1 + 12, y + 6), (x1 + 32, y + 6)], fill=color, width=2)
        draw.text((x1 + 38, y), name, fill="black")
    image.save(path)


def _svg(path: Path, chart: dict[str, Any]) -> None:
    from html import escape

    (x0, y0, x1, y1), (width, height) = chart["box"], chart["size"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif"'
             ' font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{(x0 + x1) / 2}" y="24" font-size="14" text-anchor="middle">{escape(chart["title"])}</text>',
             f'<text x="{(x0 + x1) / 2 - 20}" y="{height - 12}">ratings</text>',
             '<text x="6" y="26">validation AP</text>']
    for text, y in chart["yticks"]:
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e6e6e6"/>'
                     f'<text x="{x0 - 30}" y="{y + 4:.1f}">{text}</text>')
    for text, x in chart["xticks"]:
        parts.append(f'<text x="{x - 8:.1f}" y="{y1 + 18}">{text}</text>')
    parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#444"/>')
    if chart["probe_y"] is not None:
        y = chart["probe_y"]
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="black" stroke-dasharray="6 6"/>')
    for color, points in chart["lines"]:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
    for i, (name, color) in enumerate(chart["legend"]):
        y = y0 + 10 + 18 * i
        parts.append(f'<line x1="{x1 + 12}" y1="{y + 6}" x2="{x1 + 32}" y2="{y + 6}" stroke="{color}" '
                     f'stroke-width="2"/><text x="{x1 + 38}" y="{y + 10}">{escape(name)}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")
