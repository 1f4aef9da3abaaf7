"""Indexing on Ray Data: the same sources, embedders and table layout as ``core.indexing``, on a cluster.

The driver lists the source (cheap: records carry loaders, not pixels), drops ids already indexed or
skipped (resume), and sends the rest in chunks through ``map_batches`` on a pool of ``_Embed`` actors:
one model load per actor, ``num_gpus=1`` each when the cluster has GPUs. Each chunk is written to the
index's Lance table with ``lance_ray.write_lance`` (workers write fragments, one commit per chunk), so
an interrupted run keeps every finished chunk and a rerun goes on from there. Decoding, thumbnails and
embedding reuse ``core.indexing``'s per-item code, so rows equal the local engine's (the order of rows
in the table may differ). Skipped items and progress counts go to a small ``_Tally`` actor that the
driver polls.

Not Ray's own ``Dataset.write_lance``: it fails with current pylance (ray-project/ray#65129).
"""

from __future__ import annotations

import pickle
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from core.errors import EmptySourceError, FewshotError
from core.indexing import (
    IndexReport,
    Progress,
    SkippedItem,
    _check_compatible,
    _labels_of,
    _prepare,
    keep_resumed_label_spelling,
    reconcile_label_columns,
)
from core.scale.ray_shards import connect_ray
from core.store import IndexInfo, Store, items_schema, validate_index_name

DEFAULT_CHUNK = 50_000  # items per commit: what a crash can cost at most


class _Tally:
    """Counts and skipped items reported by the embedding actors (a Ray actor)."""

    def __init__(self) -> None:
        self.added, self.skipped, self.any_label = 0, [], False

    def report(self, added: int, skipped: list[dict[str, str]], any_label: bool = False) -> None:
        self.added += added
        self.skipped.extend(skipped)
        self.any_label = self.any_label or any_label

    def labelled(self) -> bool:
        return self.any_label

    def counts(self) -> tuple[int, int]:
        return self.added, len(self.skipped)

    def take_skipped(self) -> list[dict[str, str]]:
        out, self.skipped = self.skipped, []
        return out


class _Embed:
    """A ``map_batches`` actor: loads the embedder once, then decodes and embeds batch after batch."""

    def __init__(self, spec: str, device: str | None, batch_size: int | None, tally: Any, dim: int,
                 columns: list[str], n_label_columns: int) -> None:
        from core.embedders import load_embedder

        self.embedder = load_embedder(spec, device=device, batch_size=batch_size)
        self.tally, self.dim, self.columns, self.n_label_columns = tally, dim, columns, n_label_columns
        image_size = getattr(self.embedder, "image_size", None)
        from core.config import THUMBNAIL_SIZE

        self.draft_size = max(image_size, THUMBNAIL_SIZE) if image_size else None

    def __call__(self, batch: pa.Table) -> pa.Table:
        column = batch.column("record").to_pylist()
        records = [pickle.loads(b) for b in column]  # trusted-pickle: records this job's driver pickled, never a file
        prepare = getattr(self.embedder, "image_preparer", None)
        prepared = [_prepare(r, self.draft_size, prepare if r.load_image is not None else None) for r in records]
        good = [(r, payload, thumb) for r, payload, thumb, reason in prepared if reason is None]
        skipped = [{"id": r.id, "uri": r.uri, "reason": reason} for r, _, _, reason in prepared if reason is not None]
        vectors = np.empty((0, self.dim), dtype=np.float32)
        if good:
            payloads = [g[1] for g in good]
            if good[0][0].modality == "image" and hasattr(self.embedder, "embed_prepared"):
                vectors = self.embedder.embed_prepared(np.stack(payloads))
            elif good[0][0].modality == "image":
                vectors = self.embedder.embed_images(payloads)
            else:
                vectors = self.embedder.embed_texts(payloads)
        table, any_label = rows_table([g[0] for g in good], np.asarray(vectors, dtype=np.float32),
                                      [g[2] for g in good], self.dim, self.n_label_columns)
        self.tally.report.remote(len(good), skipped, any_label)
        return table.select(self.columns)


def rows_table(records: list, vectors: np.ndarray, thumbnails: list, dim: int, n_label_columns: int = 1
               ) -> tuple[pa.Table, bool]:
    """(rows of the items table as ``core.indexing._Writer`` writes them, whether any row has a label)."""
    schema = items_schema(dim)
    labels = [_labels_of(r, n_label_columns) for r in records]
    columns = {
        "id": [r.id for r in records], "split": [r.split for r in records],
        "label": [v[0] if v else r.label for r, v in zip(records, labels, strict=True)],
        "labels": pa.array([list(v) if v else None for v in labels], pa.list_(pa.string())),
        "text": [r.text for r in records], "thumbnail": list(thumbnails), "uri": [r.uri for r in records],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim),
    }
    any_label = any(x is not None for v in labels for x in v)
    return pa.table({name: columns[name] for name in schema.names}).cast(schema), any_label


def build_index_ray(
    name: str,
    source: Any,
    embedder_spec: str,
    store: Store | None = None,
    *,
    ray_address: str | None = None,
    actors: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> IndexReport:
    """Embed ``source`` into index ``name`` on Ray (``ray_address``: ``"auto"``, ``ray://...`` or None for
    a local Ray); resumes like ``core.indexing.build_index``. ``actors``: embedding actors (default: one
    per GPU, else one per CPU less one, at least 1)."""
    from core.build_lock import build_lock

    validate_index_name(name)
    store = store or Store()
    with build_lock(store.root, name):  # a second build of this index at once is refused, not run twice
        return _build_index_ray(name, source, embedder_spec, store, ray_address=ray_address, actors=actors,
                                batch_size=batch_size, device=device, chunk_size=chunk_size, progress=progress,
                                should_cancel=should_cancel)


def _build_index_ray(name: str, source: Any, embedder_spec: str, store: Store, *, ray_address: str | None,
                     actors: int | None, batch_size: int | None, device: str | None, chunk_size: int,
                     progress: Callable[[Progress], None] | None,
                     should_cancel: Callable[[], bool] | None) -> IndexReport:
    from core.embedders import load_embedder

    probe = load_embedder(embedder_spec, device="cpu")  # name, dimension, modalities; the actors embed
    ray = _connect(ray_address)  # before anything is written: a wrong address leaves no empty index behind
    info = _check_compatible(store, name, probe, source)
    fresh_index = info is None
    if info is None:
        store.drop_orphan_tables(name)  # a delete killed part-way left them: they are not this build's to resume
        info = IndexInfo(name=name, embedder=probe.spec, embedder_kind=probe.kind, checkpoint=probe.checkpoint,
                         dim=probe.dim, modality=source.modality, source=source.describe())
    table = store.items_table(name, dim=probe.dim)
    label_columns, had_labels = reconcile_label_columns(info, source, fresh_index, "labels" in table.schema.names)
    keep_resumed_label_spelling(store, name, source, label_columns, fresh_index, "labels" in table.schema.names)
    info.status = "building"
    store.save_index_info(info)
    dataset_uri, table_schema = table.to_lance().uri, table.schema  # an older index may lack ``labels``
    known = store.item_ids(name) | {row["id"] for row in store.skipped(name)}

    report = IndexReport(name=name, added=0, already_present=0)
    todo = report.keep_new(source, known, set())
    store.add_skipped(name, [{"id": s.id, "uri": s.uri, "reason": s.reason} for s in report.skipped])

    import lance_ray
    from ray.data import ActorPoolStrategy, DataContext

    DataContext.get_current().enable_progress_bars = False  # ours is the one progress report
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    n_actors = actors or (gpus if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) - 1))
    batch_size = batch_size or probe.batch_size
    tally = ray.remote(num_cpus=0)(_Tally).remote()
    total, start = len(todo) + report.already_present + len(report.skipped), time.perf_counter()

    def publish() -> None:
        if progress is None:
            return
        embedded, skipped = ray.get(tally.counts.remote())
        elapsed = time.perf_counter() - start
        done = embedded + skipped + report.already_present + len(report.skipped)
        rate = (embedded + skipped) / elapsed if elapsed > 0 else 0.0
        # "added" counts committed rows (a chunk's rows are committed when the chunk ends): an endpoint that died
        # mid-build showed "added=1797" for minutes while nothing was stored
        progress(Progress(done, total, report.added, skipped + len(report.skipped), elapsed, rate))

    try:
        for chunk_start in range(0, len(todo), chunk_size):
            chunk = todo[chunk_start : chunk_start + chunk_size]
            items = ray.data.from_items([{"record": pickle.dumps(r)} for r in chunk],
                                        override_num_blocks=max(1, min(len(chunk) // batch_size, 4 * n_actors)))
            embedded = items.map_batches(
                _Embed, fn_constructor_kwargs={"spec": embedder_spec, "device": device, "batch_size": batch_size,
                                               "tally": tally, "dim": probe.dim, "columns": table_schema.names,
                                               "n_label_columns": len(label_columns)},
                batch_size=batch_size, batch_format="pyarrow", compute=ActorPoolStrategy(size=n_actors),
                num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
            )
            error: list[BaseException] = []

            def write(data=embedded, errors=error) -> None:
                try:
                    lance_ray.write_lance(data, dataset_uri, schema=table_schema, mode="append",
                                          storage_options=store.location.storage_options or None,
                                          min_rows_per_file=max(1, min(chunk_size, 100_000) - 1),
                                          max_rows_per_file=max(2, min(chunk_size, 100_000)))
                except BaseException as exc:  # noqa: BLE001 - re-raised in the driver's thread below
                    errors.append(exc)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            while writer.is_alive():
                writer.join(timeout=0.5)
                publish()
            if error:
                raise _write_failed(error[0], store) from None
            skipped = ray.get(tally.take_skipped.remote())  # written after the chunk's rows: a resume skips them
            store.add_skipped(name, skipped)
            report.skipped.extend(SkippedItem(s["id"], s["uri"], s["reason"]) for s in skipped)
            report.added = ray.get(tally.counts.remote())[0]
            if should_cancel is not None and should_cancel():
                report.cancelled = True
                break
        publish()
        labelled = bool(ray.get(tally.labelled.remote()))
    finally:
        ray.kill(tally)

    report.elapsed_s = time.perf_counter() - start
    info.counts = store.split_counts(name) if store.item_ids(name) else {}
    info.n_skipped = len(store.skipped(name))
    if info.n_items == 0 and not report.cancelled:
        reasons = sorted({s.reason for s in report.skipped})[:5]
        if fresh_index:
            store.delete_index(name)
        detail = f" Reasons: {'; '.join(reasons)}." if reasons else ""
        raise EmptySourceError(f"nothing usable in {source.spec}: {len(report.skipped)} items skipped.{detail}")
    info.label_columns = label_columns if (labelled or had_labels) else []
    info.status = "cancelled" if report.cancelled else "complete"
    store.save_index_info(info)
    if not report.cancelled:
        store.compact(name)
    report.info = info
    return report


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _write_failed(error: BaseException, store) -> FewshotError:
    """One line for a failed Ray write: the storage cause where there is one (an endpoint that died mid-build was
    64 KB of remote tracebacks with terminal colour codes), else the error's first line."""
    from core.os_errors import explain_remote

    explained = explain_remote(error, store.location, "indexing on Ray")
    if explained is not None:
        return explained
    lines = [line.strip() for line in _ANSI.sub("", str(error)).splitlines() if line.strip()]
    first = next((line for line in reversed(lines) if "Error" in line), lines[0] if lines else "")
    return FewshotError(f"indexing on Ray failed: {type(error).__name__}: {first[:300]}; the items of this chunk "
                        "were not stored; run the same command again to resume")


def _connect(address: str | None):
    """``connect_ray``, with a cluster that cannot be reached said in one line (no Ray traceback)."""
    try:
        return connect_ray(address)
    except FewshotError:  # already one line (Ray missing, nothing answering at the address)
        raise
    except Exception as exc:  # noqa: BLE001 - ray.init raises ValueError, ConnectionError, RuntimeError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        hint = ""
        if str(address or "").startswith("ray://") and "ray[client]" in str(exc):
            hint = "; a ray:// address needs the Ray client: pip install 'ray[client]'"
        elif address == "auto":
            hint = "; 'auto' joins a Ray already running on this machine (ray start --head), or give its address"
        raise FewshotError(f"cannot connect to Ray at {address or 'a new local Ray'!r}: {first}{hint}") from None
