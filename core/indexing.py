"""Source + embedder -> rows in LanceDB, with progress, cancel and resume.

Decoding runs in a thread pool one batch ahead of the embedder, so the model is not left waiting on
JPEG decoding. Rows are buffered and written in large appends (each LanceDB append is a table
version; many tiny appends slow reads). A rerun skips ids already indexed or already skipped, so an
interrupted or cancelled run resumes without duplicates.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.config import THUMBNAIL_SIZE
from core.embedders import Embedder
from core.errors import (
    EmbedderError,
    EmbedderMismatch,
    EmptySourceError,
    FewshotError,
    SourceError,
    UnreadableItem,
)
from core.images import make_thumbnail
from core.os_errors import explain_storage
from core.records import Record
from core.sources import Source
from core.store import IndexInfo, Store, items_schema, label_list_element, validate_index_name
from core.text_safety import quoted


@dataclass
class Progress:
    """A snapshot for progress bars: items handled so far (indexed, skipped or already present).

    ``stage`` says what happens before items flow (loading the model, counting rows); it is empty while
    items are being embedded, when ``rate`` (items per second) and ``eta_s`` are meaningful.
    """

    done: int
    total: int | None
    added: int
    skipped: int
    elapsed_s: float
    rate: float
    stage: str = ""

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.total is None or self.rate <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    def describe(self) -> str:
        if self.stage:
            return self.stage
        total = f"/{self.total:,}" if self.total is not None else ""
        percent = f" ({self.fraction:.0%})" if self.total else ""
        present = self.done - self.added - self.skipped  # a resumed build's items already in the index
        if present and not self.added and not self.skipped:
            if self.total is not None and self.done >= self.total:
                return f"all {self.done:,} items already indexed"
            return f"{self.done:,}{total} items{percent}: {present:,} already indexed, reading on to the new ones"
        eta = f", {_duration(self.eta_s)} left" if self.eta_s is not None else ""
        kept = f", {present:,} already indexed" if present else ""
        return f"{self.done:,}{total} items{percent}, {self.rate:,.0f} items/s{eta}, {self.skipped:,} skipped{kept}"


def _duration(seconds: float) -> str:
    """"42 s", "3 min 5 s", "2 h 10 min": a time left a person reads at a glance."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass
class SkippedItem:
    id: str
    uri: str
    reason: str


@dataclass
class IndexReport:
    name: str
    added: int
    already_present: int
    skipped: list[SkippedItem] = field(default_factory=list)
    elapsed_s: float = 0.0
    cancelled: bool = False
    info: IndexInfo | None = None
    #: the map's background fit started for this build (``core.projection_auto``), or None
    map_fit: Any = None

    @property
    def rate(self) -> float:
        return self.added / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def keep_new(self, records: Iterable[Record], known: set[str], seen_ids: set[str]) -> list[Record]:
        """The records to embed: an id already indexed counts as present, one repeated in the source is
        skipped with its reason (both engines, so a resume and a Ray build agree on what is new)."""
        out = []
        for record in records:
            if record.id in known:
                self.already_present += 1
            elif record.id in seen_ids:
                self.skipped.append(SkippedItem(record.id, record.uri, "duplicate id in source"))
            else:
                seen_ids.add(record.id)
                out.append(record)
        return out


ProgressCallback = Callable[[Progress], None]
FIRST_FLUSH = 256  # rows of a build's first append; each later one doubles, up to flush_every
SKIP_PROGRESS_EVERY_S = 0.2  # while a resume reads past the items it has: often enough to see, rarely enough to be free
TEXT_CHUNK = 256  # texts per model call inside a batch: progress every ~1 s on 2 cores, padding as low as 1,024
CancelCheck = Callable[[], bool]


def _batched(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _prepare(
    record: Record, draft_size: int | None = None, prepare: Callable | None = None
) -> tuple[Record, object | None, bytes | None, str | None]:
    """Decode one record: (record, payload for the embedder, thumbnail, reason it was skipped).

    Runs in a worker thread; ``prepare`` (the embedder's CPU-side resize and crop) runs here too, so
    the main thread only stacks arrays and feeds the model.
    """
    try:
        if record.load_image is not None:
            image = record.load_image(draft_size=draft_size)
            payload = prepare(image) if prepare is not None else image
            return record, payload, make_thumbnail(image), None
        text = record.text
        if text is None or not str(text).strip():
            return record, None, None, "empty text"
        return record, str(text), None, None
    except UnreadableItem as exc:
        return record, None, None, str(exc) or "unreadable item"
    except Exception as exc:  # a broken file must never stop a long indexing run
        return record, None, None, f"unreadable item: {type(exc).__name__}: {exc}"


def _decode_pool(source: Source, workers: int) -> Executor:
    """Worker processes for images on machines with many cores (decoding in threads is held back by
    Python's lock), threads otherwise and for texts. ``FEWSHOT_DECODE_PROCESSES=0/1`` overrides."""
    setting = os.environ.get("FEWSHOT_DECODE_PROCESSES")
    use_processes = setting == "1" if setting in ("0", "1") else (os.cpu_count() or 1) >= 8
    if use_processes and source.modality == "image" and _picklable_records(source):
        import multiprocessing

        from core.images import decode_budget

        # Each process gets its share of the decode memory budget, so the total stays bounded.
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_share_decode_budget, initargs=(decode_budget() // workers,))
    return ThreadPoolExecutor(max_workers=workers)  # threads share one DECODE_GATE


def _share_decode_budget(budget: int) -> None:
    from core.images import DECODE_GATE

    DECODE_GATE.set_budget(budget)


def _picklable_records(source: Source) -> bool:
    """Whether the source's records can travel to a worker process (custom sources may hold lambdas)."""
    import pickle

    try:
        first = next(iter(source), None)
        pickle.dumps(first)
        return True
    except Exception:  # noqa: BLE001 - any failure just means: use threads
        return False


def _check_compatible(store: Store, name: str, embedder: Embedder, source: Source) -> IndexInfo | None:
    if source.modality not in embedder.modalities:
        raise EmbedderError(
            f"{embedder.spec} cannot embed {source.modality} items; "
            + ("use clip:... or pixels for images" if source.modality == "image" else "use st:minilm or clip:...")
        )
    if not store.has_index(name):
        return None
    info = store.get_index(name)
    if info.embedder != embedder.spec or info.dim != embedder.dim:
        raise EmbedderMismatch(
            f"index {name!r} already exists, built with {info.embedder} ({info.dim} dimensions); "
            f"it cannot take vectors from {embedder.spec} ({embedder.dim} dimensions). "
            "Pick another name, or delete the index first."
        )
    if info.modality != source.modality:
        raise FewshotError(f"index {name!r} holds {info.modality} items; this source gives {source.modality}")
    _check_same_source(info, source)
    return info


#: What a source's description may say differently on a resume: how it is named or read, not which items it
#: gives (label columns are reconciled on their own, with their own message).
_RESUME_MAY_DIFFER = {"spec", "label_column", "label_columns", "encoding", "layout", "streaming", "format"}


def _check_same_source(info: IndexInfo, source: Source) -> None:
    """A build onto an existing index resumes it: from another file, id column or split it merged two datasets
    under the first one's description (an outside tester: 2 rows of other.csv joined an index of tiny.csv)."""
    before, now = info.source or {}, source.describe()
    changed = sorted(k for k in set(before) & set(now) - _RESUME_MAY_DIFFER if before[k] != now[k])
    if changed:
        shown = "; ".join(f"{k} {quoted(before[k], 120)} before, {quoted(now[k], 120)} now" for k in changed[:4])
        raise FewshotError(
            f"index {info.name!r} was built from another source ({shown}). Building it again resumes it, and this "
            "would mix two datasets under one name. Use the same source and options to resume, or another index "
            "name (or delete this one first)."
        )


class _Writer:
    """Buffers rows and appends them to LanceDB in large chunks."""

    def __init__(self, store: Store, name: str, dim: int, flush_every: int, n_label_columns: int = 1) -> None:
        self.store, self.name, self.dim, self.flush_every = store, name, dim, flush_every
        # The first appends come sooner (256, 512, ... up to flush_every rows): a build killed in its first
        # minute (a slow image model takes minutes to reach 4,096 items) keeps what it embedded, for 4 more
        # table versions in all.
        self.next_flush = min(FIRST_FLUSH, flush_every)
        self.n_label_columns = n_label_columns
        self.rows: dict[str, list] = {k: [] for k in ("id", "split", "label", "labels", "text", "thumbnail", "uri")}
        self.vectors: list[np.ndarray] = []
        self.skipped: list[dict[str, str]] = []
        self.any_label = False  # whether any row written had a ground-truth value

    def add(self, records: list[Record], vectors: np.ndarray, thumbnails: list[bytes | None]) -> None:
        for record, thumb in zip(records, thumbnails, strict=True):
            labels = _labels_of(record, self.n_label_columns)
            self.any_label = self.any_label or any(v is not None for v in labels)
            self.rows["id"].append(record.id)
            self.rows["split"].append(record.split)
            self.rows["label"].append(labels[0] if labels else record.label)
            self.rows["labels"].append(list(labels) if labels else None)
            self.rows["text"].append(record.text)
            self.rows["thumbnail"].append(thumb)
            self.rows["uri"].append(record.uri)
        self.vectors.append(vectors)
        if len(self.rows["id"]) >= self.next_flush:
            self.flush()
            self.next_flush = min(self.next_flush * 2, self.flush_every)

    def flush(self) -> None:
        if self.rows["id"]:
            matrix = np.concatenate(self.vectors).astype(np.float32, copy=False)
            columns = dict(self.rows)
            columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), self.dim)
            schema = items_schema(self.dim)
            columns["labels"] = pa.array(columns["labels"], pa.list_(pa.string()))
            table = pa.table(columns).select(schema.names).cast(schema)
            existing = self.store.items_table(self.name).schema.names  # an index built before ``labels``
            self.store.add_items(self.name, table.select([c for c in schema.names if c in existing]))
            self.rows = {k: [] for k in self.rows}
            self.vectors = []
        self.store.add_skipped(self.name, self.skipped)
        self.skipped = []


def _labels_of(record: Record, n_columns: int) -> tuple[str | None, ...]:
    """A record's value per label column (exactly ``n_columns`` of them)."""
    if n_columns == 0:
        return ()
    values = tuple(record.labels) if record.labels is not None else (record.label,)
    if len(values) != n_columns:
        values = (values + (None,) * n_columns)[:n_columns]
    return values


def source_label_columns(source: Source) -> list[str]:
    """The label columns a source gives (``label_columns``, else its single ``label_column``)."""
    columns = getattr(source, "label_columns", None)
    if columns is None:
        single = getattr(source, "label_column", None)
        columns = [single] if single else ["label"]  # a custom source: its ``Record.label``
    return [str(c) for c in columns]


def reconcile_label_columns(info: IndexInfo, source: Source, fresh_index: bool,
                            has_labels_column: bool) -> tuple[list[str], bool]:
    """The label columns this build writes, and whether the index already had some; sets ``info.label_columns``
    while building (emptied at the end if no item has a label). Both engines follow these rules."""
    label_columns = source_label_columns(source)
    if not fresh_index and not has_labels_column:
        # an index built before ``labels``: it keeps its one label column (the source's first)
        label_columns = (info.label_columns or label_columns)[:1]
    elif not fresh_index and info.label_columns and info.label_columns != label_columns:
        raise FewshotError(
            f"index {info.name!r} was built with label columns {info.label_columns}; resuming it with "
            f"{label_columns} would mix them. Use the same label columns, or another index name."
        )
    elif not fresh_index and not info.label_columns and label_columns and has_labels_column:
        # built without labels (or none of its items had one): the stored items would stay unlabelled, the rerun
        # said "done", and a concept on the new column then found no such column (an outside tester)
        raise FewshotError(
            f"index {info.name!r} was built without label columns, so the items it holds have none; a rerun adds "
            f"new items only and cannot label them with {label_columns}. Build the labels into a new index (another "
            "name), or delete this one first."
        )
    had_labels = not fresh_index and bool(info.label_columns)
    if not had_labels:
        info.label_columns = label_columns
    return label_columns, had_labels


def keep_resumed_label_spelling(store: Store, name: str, source: Source, label_columns: list[str],
                                fresh_index: bool, has_labels_column: bool) -> list[str]:
    """On a resume, the label columns whose stored labels write a whole number otherwise than as integer text
    (``'1.0'``: rows indexed before CSV whole numbers were stored as ``'1'``); the source then keeps those
    columns' cells as written, so one column never holds both ``'1.0'`` and ``'1'``. Both engines call this.
    Returns the columns kept as written."""
    keep = getattr(source, "keep_label_text", None)
    if fresh_index or keep is None or not label_columns:
        return []
    from core.source_base import whole_number_text

    table = store.read_columns(name, ["labels"] if has_labels_column else ["label"])
    if has_labels_column:
        columns = [label_list_element(table.column("labels"), j, len(label_columns)) for j in range(len(label_columns))]
    else:
        columns = [table.column("label")]
    written = [column for column, values in zip(label_columns, columns, strict=False)
               if any((whole := whole_number_text(v)) is not None and whole != v
                      for v in pc.unique(values).to_pylist() if v is not None)]
    keep(written)
    return written


def build_index(
    name: str,
    source: Source,
    embedder: Embedder,
    store: Store | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    flush_every: int = 4096,
    workers: int | None = None,
) -> IndexReport:
    """Embed every item of ``source`` into index ``name``, resuming a previous run if there was one.

    Returns a report; ``report.cancelled`` is set when ``should_cancel()`` turned true (what was embedded
    so far is kept). Raises ``EmptySourceError`` when the source has nothing usable, and ``StorageError``
    when the workspace cannot be written (disk full, read-only): a new index is then removed again, a
    resumed one keeps what it had.
    """
    from core.build_lock import build_lock

    validate_index_name(name)
    store = store or Store()
    with build_lock(store.root, name):  # a second build of this index at once is refused, not run twice
        return _build_index_guarded(name, source, embedder, store, batch_size, progress, should_cancel,
                                    flush_every, workers)


def _build_index_guarded(name, source, embedder, store, batch_size, progress, should_cancel, flush_every,
                         workers) -> IndexReport:
    """``_build_index``, with storage failures explained and a new index that could not be written removed."""
    existed = store.has_index(name)
    try:
        return _build_index(name, source, embedder, store, batch_size, progress, should_cancel, flush_every, workers)
    except Exception as exc:
        storage = explain_storage(exc, f"indexing {name!r}")
        if storage is None:
            raise
        if not existed:
            with contextlib.suppress(Exception):  # freeing the space is best effort on a full disk
                store.delete_index(name)
        raise storage from exc


def _build_index(
    name: str,
    source: Source,
    embedder: Embedder,
    store: Store,
    batch_size: int | None,
    progress: ProgressCallback | None,
    should_cancel: CancelCheck | None,
    flush_every: int,
    workers: int | None,
) -> IndexReport:
    info = _check_compatible(store, name, embedder, source)
    fresh_index = info is None
    if info is None:
        store.drop_orphan_tables(name)  # a delete killed part-way left them: they are not this build's to resume
        info = IndexInfo(
            name=name,
            embedder=embedder.spec,
            embedder_kind=embedder.kind,
            checkpoint=embedder.checkpoint,
            dim=embedder.dim,
            modality=source.modality,
            source=source.describe(),
        )
    has_labels_column = "labels" in store.items_table(name, dim=embedder.dim).schema.names
    label_columns, had_labels = reconcile_label_columns(info, source, fresh_index, has_labels_column)
    keep_resumed_label_spelling(store, name, source, label_columns, fresh_index, has_labels_column)
    info.status = "building"
    store.save_index_info(info)
    store.items_table(name, dim=embedder.dim)
    known = store.item_ids(name) | {row["id"] for row in store.skipped(name)}
    batch_size = batch_size or embedder.batch_size
    if source.modality == "text":  # sentence-transformers sorts a call's texts by length: bigger calls pad less
        batch_size = max(batch_size, 1024)
    writer = _Writer(store, name, embedder.dim, flush_every, n_label_columns=len(label_columns))
    report = IndexReport(name=name, added=0, already_present=0)
    if progress is not None:
        progress(Progress(0, None, 0, 0, 0.0, 0.0, stage="Counting the items…"))
    total = source.count()
    seen_ids: set[str] = set()
    start = time.perf_counter()

    embedding_since: list[float] = []  # when the first new item came: the rate (and time left) counts from there

    def report_progress() -> None:
        if progress is not None:
            now = time.perf_counter()
            handled = report.added + len(report.skipped)
            since = now - (embedding_since[0] if embedding_since else now)
            done = handled + report.already_present
            rate = handled / since if since > 0 else 0.0
            progress(Progress(done, total, report.added, len(report.skipped), now - start, rate))

    report_progress()
    pool = _decode_pool(source, workers or min(32, (os.cpu_count() or 2)))

    # JPEGs decode at reduced scale when the model and the thumbnail need fewer pixels (2-4x faster).
    image_size = getattr(embedder, "image_size", None)
    draft_size = max(image_size, THUMBNAIL_SIZE) if image_size else None
    prepare = getattr(embedder, "image_preparer", None) if source.modality == "image" else None

    def submit(records: list[Record]) -> list[tuple[Record, Future]]:
        return [(r, pool.submit(_prepare, r, draft_size, prepare)) for r in records]

    def results(pending: list[tuple[Record, Future]]) -> list:
        nonlocal pool
        try:
            return [f.result() for _, f in pending]
        except BrokenProcessPool:  # a host whose worker processes cannot start: decode in threads
            pool.shutdown(wait=False, cancel_futures=True)
            pool = ThreadPoolExecutor(max_workers=workers or min(32, (os.cpu_count() or 2)))
            return [_prepare(r, draft_size, prepare) for r, _ in pending]

    try:
        try:
            batches = _new_batches(source, batch_size, report, known, seen_ids, report_progress, should_cancel,
                                   embedding_since)
            pending = submit(next(batches, []))
            while pending:
                prepared = results(pending)
                pending = submit(next(batches, []))  # decode the next batch while this one embeds
                _embed_batch(prepared, embedder, writer, report, on_chunk=report_progress)
                if should_cancel is not None and should_cancel():
                    report.cancelled = True
                    for _, future in pending:
                        future.cancel()
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            writer.flush()  # whatever was embedded is kept, also on Ctrl-C or a crash: a rerun resumes
        report_progress()  # the last count (a rerun with nothing new embeds nothing, so nothing else reports it)
    except SourceError:
        # Bad input found part-way (a malformed row deep in a CSV): the person must fix the file,
        # and rows from the broken file must not pass for an index. A resumed index keeps its rows.
        if fresh_index:
            store.delete_index(name)
        raise

    report.elapsed_s = time.perf_counter() - start
    info.counts = store.split_counts(name) if store.item_ids(name) else {}
    info.n_skipped = len(store.skipped(name))
    if info.n_items == 0 and not report.cancelled:
        reasons = sorted({s.reason for s in report.skipped})[:5]
        store.delete_index(name)
        detail = f" Reasons: {'; '.join(reasons)}." if reasons else ""
        raise EmptySourceError(f"nothing usable in {source.spec}: {len(report.skipped)} items skipped.{detail}")
    if writer.any_label or had_labels:
        info.label_columns = label_columns
    else:
        info.label_columns = []  # no item has ground truth
    info.status = "cancelled" if report.cancelled else "complete"
    store.save_index_info(info)
    if not report.cancelled:
        store.compact(name)
        from core.projection_auto import after_index_built

        report.map_fit = after_index_built(store.root, name)  # the UMAP map fits in the background (issue 12)
    report.info = info
    return report


def _new_batches(source: Source, batch_size: int, report: IndexReport, known: set[str], seen_ids: set[str],
                 report_progress: Callable[[], None], should_cancel: CancelCheck | None,
                 started: list[float]) -> Iterator[list[Record]]:
    """The source's batches of records still to embed. A resumed build first reads past the items it
    already has, which embeds nothing, so the bar moves here instead of sitting at 0% (seconds on a big index),
    and *Cancel* works here too."""
    shown = time.perf_counter()
    for raw in _batched(source, batch_size):
        batch = report.keep_new(raw, known, seen_ids)
        if batch:
            if not started:
                started.append(time.perf_counter())  # items/s and time left count from the first new item
            yield batch
        elif time.perf_counter() - shown > SKIP_PROGRESS_EVERY_S:
            report_progress()
            shown = time.perf_counter()
            if should_cancel is not None and should_cancel():
                report.cancelled = True
                return


def _embed_batch(
    prepared: list, embedder: Embedder, writer: _Writer, report: IndexReport, on_chunk: Callable[[], None] | None = None
) -> None:
    """Embed one decoded batch and hand the rows to the writer; ``on_chunk()`` after each model call.

    Texts are sorted by length and embedded in chunks of ``TEXT_CHUNK``: neighbours of similar length
    pad as little as one big call would, and progress moves every few seconds instead of once a batch.
    """
    good = [(r, payload, thumb) for r, payload, thumb, reason in prepared if reason is None]
    for record, _, _, reason in prepared:
        if reason is not None:
            report.skipped.append(SkippedItem(record.id, record.uri, reason))
            writer.skipped.append({"id": record.id, "uri": record.uri, "reason": reason})
    if not good:
        if on_chunk is not None:
            on_chunk()
        return
    if good[0][0].modality == "image":
        chunks = [good]
    else:
        good.sort(key=lambda g: len(g[1]), reverse=True)
        chunks = [good[i : i + TEXT_CHUNK] for i in range(0, len(good), TEXT_CHUNK)]
    for chunk in chunks:
        records = [g[0] for g in chunk]
        payloads = [g[1] for g in chunk]
        if records[0].modality == "image" and hasattr(embedder, "embed_prepared"):
            vectors = embedder.embed_prepared(np.stack(payloads))
        elif records[0].modality == "image":
            vectors = embedder.embed_images(payloads)
        else:
            vectors = embedder.embed_texts(payloads)
        writer.add(records, vectors, [g[2] for g in chunk])
        report.added += len(records)
        if on_chunk is not None:
            on_chunk()
