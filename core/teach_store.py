"""Teaching state in LanceDB: ratings, concepts and per-round checkpoints of ``w``.

Kept apart from the vectors table (DESIGN.md: updates there rewrite whole rows). ``labels`` is
append-only except for undo, which deletes the undone round's rows. Every table is keyed by
(index, concept) so several concepts on one index each have their own ratings and seen set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import FewshotError
from core.schema import ensure_schema
from core.store import Store, now_iso, validate_index_name, version_cutoff

log = logging.getLogger(__name__)

#: Compact the teaching tables once ``labels`` holds this many fragments (one per round without
#: compaction); ``FEWSHOT_COMPACT_EVERY`` overrides it, 0 turns compaction off.
COMPACT_EVERY_ENV = "FEWSHOT_COMPACT_EVERY"
DEFAULT_COMPACT_EVERY = 50
#: Versions older than this are deleted when compacting. A reader or writer in another process
#: works on a version for milliseconds, so ten minutes is a wide margin; newer versions are kept.
CLEANUP_OLDER_THAN = timedelta(minutes=10)

LABELS = "labels"
CONCEPTS = "concepts"
CHECKPOINTS = "checkpoints"

LABELS_SCHEMA = pa.schema(
    [
        pa.field("index", pa.string()),
        pa.field("concept", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("rating", pa.float32()),  # null = skipped
        pa.field("round", pa.int32()),
        pa.field("created_at", pa.string()),
        pa.field("seq", pa.int64()),  # nanosecond stamp: the latest rating of an item wins
    ]
)
CONCEPTS_SCHEMA = pa.schema(
    [pa.field("key", pa.string()), pa.field("index", pa.string()), pa.field("concept", pa.string()),
     pa.field("info", pa.string())]
)
CHECKPOINTS_SCHEMA = pa.schema(
    [
        pa.field("index", pa.string()),
        pa.field("concept", pa.string()),
        pa.field("round", pa.int32()),
        pa.field("w", pa.list_(pa.float32())),
        pa.field("bias", pa.float32()),
        pa.field("metrics", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("seq", pa.int64()),
    ]
)


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _where(index: str, concept: str) -> str:
    return f"`index` = {_quote(index)} AND concept = {_quote(concept)}"


@dataclass
class ConceptInfo:
    """A concept's definition and settings; what a UI shows and a session restores."""

    index: str
    name: str
    prompt: str | None = None
    init: str = "none"  # prompt | examples | diverse | none
    examples: list[str] = field(default_factory=list)
    strategy: str = "auto"  # core.policy
    batch_size: int = 10
    train: dict[str, Any] = field(default_factory=dict)
    target_label: str | None = None  # ground-truth label value this concept means, for AP by round
    target_column: str | None = None  # the index's label column holding it; None = the first
    embedder: str | None = None  # the index's embedder when the concept was created
    seen_after_round: int = 0  # ratings from rounds <= this are not "seen" (reset_seen)
    #: the decision threshold (logit) chosen on the Validate page or with ``concept set-threshold``; export,
    #: report and the Map's overlay follow it. None = never chosen (0, probability 0.5).
    threshold: float | None = None
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    #: the concept's identity across renames (a random hex set at creation; "" for concepts made before it),
    #: so what the browser keeps for it (the draft of a batch) survives a rename and never passes to a later
    #: concept that takes its old name
    uid: str = ""
    #: what chose the batch of round ``held_batch["round"]`` (strategy, batch_size, seen_after_round) when the
    #: Teach page changed them mid-round: that batch is proposed again (a reload keeps its draft) until the
    #: round moves on
    held_batch: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self.uid or self.name

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ConceptInfo:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _concept_row(info: ConceptInfo) -> pa.Table:
    """The ``concepts`` table's row for ``info`` (keyed by index and name)."""
    return pa.table({"key": [f"{info.index}/{info.name}"], "index": [info.index], "concept": [info.name],
                     "info": [info.to_json()]}, schema=CONCEPTS_SCHEMA)


@dataclass
class Checkpoint:
    round: int
    w: np.ndarray
    bias: float
    metrics: dict[str, Any]
    created_at: str


@dataclass
class Ratings:
    """The current rating of every item a concept has rated (latest wins), skips excluded.

    item_ids: (n,) object array; ratings: (n,) float32 in [-1, 1]; rounds: (n,) int.
    """

    item_ids: np.ndarray
    ratings: np.ndarray
    rounds: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)


class TeachStore:
    """Reads and writes one workspace's teaching state."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        ensure_schema(store)  # once per Store: migrate an older workspace, refuse a newer one
        self._read_cache: dict[tuple[str, str, str], tuple[int, Any]] = {}

    def _table(self, name: str, schema: pa.Schema):
        if name in self.store.table_names():
            return self.db.open_table(name)
        return self.db.create_table(name, schema=schema, exist_ok=True)

    # ----- concepts -----------------------------------------------------------------------------
    def save_concept(self, info: ConceptInfo) -> None:
        info.updated = now_iso()
        table = self._table(CONCEPTS, CONCEPTS_SCHEMA)
        table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(_concept_row(info))

    def concepts(self, index: str) -> list[ConceptInfo]:
        if CONCEPTS not in self.store.table_names():
            return []
        rows = self._query(CONCEPTS, f"`index` = {_quote(index)}", ["info"])
        return sorted((ConceptInfo.from_json(r["info"]) for r in rows), key=lambda c: (c.created, c.name))

    def concept(self, index: str, name: str) -> ConceptInfo | None:
        return next((c for c in self.concepts(index) if c.name == name), None)

    def delete_concept(self, index: str, name: str) -> None:
        """Delete the concept with its ratings and checkpoints, under its write lock (never mid-round)."""
        from core.teach_lock import concept_lock

        with concept_lock(self.store.root, index, name):
            self.delete_concept_locked(index, name)

    def delete_concept_locked(self, index: str, name: str) -> None:
        """``delete_concept`` for a caller that already holds the concept's lock (it is not reentrant).

        The concept's row goes first: that one write is the delete. A process killed after it leaves rows
        under a name no concept has, which nothing reads and the next concept of that name discards
        (``discard_orphans``); killed before it, the concept is whole.
        """
        if CONCEPTS in self.store.table_names():
            self.db.open_table(CONCEPTS).delete(_where(index, name))
        self.discard_orphans(index, name)

    def discard_orphans(self, index: str, name: str) -> None:
        """Ratings and checkpoints stored under a name that no concept has (the caller holds that name's lock
        and has checked): what a delete or rename killed part-way left. They are no concept's, and a new
        concept of that name must not start with them (an outside tester's killed rename did)."""
        self._delete_rows(_where(index, name), (LABELS, CHECKPOINTS))

    def _delete_rows(self, where: str, tables: tuple[str, ...]) -> None:
        """Delete the rows matching ``where`` from each of ``tables`` that exists and holds some (no empty commit)."""
        names = self.store.table_names()
        for table in tables:
            if table in names:
                handle = self.db.open_table(table)
                if handle.count_rows(where):
                    handle.delete(where)

    def delete_index(self, index: str) -> list[str]:
        """Delete ``index`` with its vectors and every concept taught on it (the Index page and
        ``python -m core delete-index``). Returns the deleted concepts' names.

        Refused (``BuildInProgress``) while the index is being built: the build would run on and end in
        "no items yet", its work lost. Its uploads and map files go too (exports are the person's files).
        """
        from core.build_lock import build_lock
        from core.errors import IndexNotFound

        try:
            self.store.get_index(index)  # IndexNotFound, naming the indexes there are
        except IndexNotFound:
            if not self.index_leftovers(index):
                raise
            # what a delete killed after its listing went left: still deletable (it said "no index" for good)
        with build_lock(self.store.root, index):
            deleted = [concept.name for concept in self.concepts(index)]
            for name in deleted:
                self.delete_concept(index, name)
            self._discard_index_rows(index)  # with what killed deletes or renames left under other names
            self.store.delete_index(index)
            # a concept created while this ran (its create checked the index before the listing went) goes too,
            # not left to come back as a ghost when the name is built again (a re-tester's race)
            self._discard_index_rows(index, CONCEPTS)
        _forget_files(self.store.root, index)
        return deleted

    def _discard_index_rows(self, index: str, *also: str) -> None:
        """Every rating and checkpoint stored for ``index`` (and the rows of the ``also`` tables)."""
        self._delete_rows(f"`index` = {_quote(index)}", (*also, LABELS, CHECKPOINTS))

    def index_leftovers(self, index: str) -> bool:
        """Whether tables or teaching rows of an index that is not listed remain (a delete killed part-way)."""
        names = self.store.table_names()
        if f"items_{index}" in names or f"skipped_{index}" in names:
            return True
        where = f"`index` = {_quote(index)}"
        return any(table in names and self.db.open_table(table).count_rows(where)
                   for table in (CONCEPTS, LABELS, CHECKPOINTS))

    def concepts_named(self, index: str) -> str:
        """The index's concepts for a message about one it lacks: "its concepts: 'a', 'b'" (or that it has none)."""
        from core.ground_truth import describe_labels

        names = [c.name for c in self.concepts(index)]
        return f"its concepts: {describe_labels(names)}" if names else "it has no concept yet"

    def rename_concept(self, index: str, old: str, new: str) -> None:
        validate_index_name(new, "concept")  # the same rule as at creation: no markup, no newline
        from core.teach_lock import concept_lock

        if new == old:  # nothing to move; an unknown concept is still said to be unknown
            if self.concept(index, old) is None:
                raise self._unknown_for_rename(index, old)
            return
        # Both names' locks, in one order for every caller: never mid-round on the old name, and two tabs
        # renaming two concepts to one new name cannot both find it free (the second is refused).
        first, second = sorted((old, new))
        with concept_lock(self.store.root, index, first), concept_lock(self.store.root, index, second):
            if self.concept(index, new) is not None:
                raise FewshotError(f"a concept named {new!r} already exists on index {index!r}; pick another name")
            self._rename_concept(index, old, new)

    def _unknown_for_rename(self, index: str, old: str) -> FewshotError:
        return FewshotError(f"no concept {old!r} on index {index!r} ({self.concepts_named(index)}; deleted or "
                            "renamed in another tab or process?); nothing was renamed")

    def _rename_concept(self, index: str, old: str, new: str) -> None:
        """Copy the ratings and checkpoints to the new name, swap the concept's row in one write, then drop
        the old name's rows. The swap is the rename: killed before it, the concept is whole under its old
        name (the copies are orphans the retry discards); killed after it, whole under the new one (the old
        name's rows are orphans). Four separate writes, as before, lost concepts to a kill at the wrong time.
        """
        info = self.concept(index, old)
        if info is None:
            raise self._unknown_for_rename(index, old)
        self.discard_orphans(index, new)  # a rename killed before its swap left copies here
        names = self.store.table_names()
        for table, schema in ((LABELS, LABELS_SCHEMA), (CHECKPOINTS, CHECKPOINTS_SCHEMA)):
            if table in names:
                rows = self.db.open_table(table).search().where(_where(index, old)).limit(None).to_arrow()
                if rows.num_rows:
                    rows = rows.select(schema.names).cast(schema)
                    column = pa.array([new] * rows.num_rows, pa.string())
                    self.db.open_table(table).add(rows.set_column(rows.schema.get_field_index("concept"), "concept",
                                                                  column))
        info.uid = info.identity  # an older concept keeps the identity its old name gave it
        info.name = new
        info.updated = now_iso()
        self.db.open_table(CONCEPTS).merge_insert("key").when_matched_update_all().when_not_matched_insert_all() \
            .when_not_matched_by_source_delete(f"key = {_quote(f'{index}/{old}')}").execute(_concept_row(info))
        self.discard_orphans(index, old)

    def _query(self, table: str, where: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
        query = self.db.open_table(table).search().where(where)
        if columns:
            query = query.select(columns)
        return query.limit(None).to_arrow().to_pylist()

    # ----- labels -------------------------------------------------------------------------------
    def add_ratings(self, index: str, concept: str, ratings: dict[str, float | None], round_: int) -> None:
        """Append ratings (None = skipped) in one write: all of them land, or none."""
        stamp = now_iso()
        base = time.time_ns()
        rows = {
            "index": [index] * len(ratings),
            "concept": [concept] * len(ratings),
            "item_id": list(ratings),
            "rating": [None if r is None else float(r) for r in ratings.values()],
            "round": [round_] * len(ratings),
            "created_at": [stamp] * len(ratings),
            "seq": [base + i for i in range(len(ratings))],
        }
        self._table(LABELS, LABELS_SCHEMA).add(pa.table(rows, schema=LABELS_SCHEMA))

    def _labels(self, index: str, concept: str) -> pa.Table:
        """A concept's label rows in ``seq`` order, read once per version of the ``labels`` table.

        A round reads them three times (the round number, the ratings to train on, the seen set);
        between two writes the table's version does not change, so two of the three come from here.
        Any write (this process, another tab, another process, a compaction) changes the version.
        """
        if LABELS not in self.store.table_names():
            return LABELS_SCHEMA.empty_table()
        return self._once_per_version(LABELS, index, concept, lambda rows: rows.to_arrow().sort_by("seq"))

    def _once_per_version(self, table_name: str, index: str, concept: str, read: Callable[[Any], Any]) -> Any:
        """``read(query)`` of a concept's rows of ``table_name``, run again only when the table's version moved.

        The query is the concept's filter over the whole table; a cached value is shared between callers,
        who must not change it.
        """
        table = self.db.open_table(table_name)
        key, version = (table_name, index, concept), table.version
        cached = self._read_cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        value = read(table.search().where(_where(index, concept)).limit(None))
        self._read_cache[key] = (version, value)
        return value

    def label_rows(self, index: str, concept: str) -> list[dict[str, Any]]:
        return self._labels(index, concept).to_pylist()

    def ratings(self, index: str, concept: str) -> Ratings:
        labels = self._labels(index, concept)
        latest: dict[str, tuple[float, int]] = {}
        columns = (labels.column(c).to_pylist() for c in ("item_id", "rating", "round"))
        for item_id, rating, round_ in zip(*columns, strict=True):  # a later skip does not erase a rating
            if rating is not None and not math.isnan(rating):
                latest[item_id] = (rating, round_)
        return Ratings(
            item_ids=np.asarray(list(latest), dtype=object),
            ratings=np.asarray([v[0] for v in latest.values()], dtype=np.float32),
            rounds=np.asarray([v[1] for v in latest.values()], dtype=np.int64),
        )

    def seen_ids(self, index: str, concept: str, after_round: int = 0, before_round: int | None = None) -> set[str]:
        """Items rated or skipped in rounds after ``after_round`` (and before ``before_round``, when given)."""
        labels = self._labels(index, concept)
        ids, rounds = labels.column("item_id").to_pylist(), labels.column("round").to_pylist()
        last = math.inf if before_round is None else before_round
        return {i for i, r in zip(ids, rounds, strict=True) if after_round < r < last}

    def max_label_round(self, index: str, concept: str) -> int:
        labels = self._labels(index, concept)
        return int(pc.max(labels.column("round")).as_py() or 0) if labels.num_rows else 0

    def round_ratings(self, index: str, concept: str, round_: int) -> dict[str, float | None]:
        """What round ``round_`` wrote, item -> rating (None = skipped), in the order it was written."""
        labels = self._labels(index, concept)
        out: dict[str, float | None] = {}
        columns = (labels.column(c).to_pylist() for c in ("item_id", "rating", "round"))
        for item_id, rating, r in zip(*columns, strict=True):
            if r == round_:
                out[item_id] = None if rating is None or math.isnan(rating) else float(rating)
        return out

    def checkpoint_round(self, index: str, concept: str) -> int:
        """The round of the concept's last checkpoint (-1 when it has none): reads one small column."""
        if CHECKPOINTS not in self.store.table_names():
            return -1
        query = self.db.open_table(CHECKPOINTS).search().where(_where(index, concept)).select(["round"])
        rounds = query.limit(None).to_arrow().column("round")
        return int(pc.max(rounds).as_py()) if len(rounds) else -1

    def delete_round(self, index: str, concept: str, round_: int) -> None:
        """The round's checkpoint, then its ratings: a process killed in between leaves ratings with no
        checkpoint, which the next open trains again (the round is back, whole). The other order left the
        round's classifier standing on ratings that were gone (an outside tester exported it so)."""
        names = self.store.table_names()
        where = f"{_where(index, concept)} AND round = {int(round_)}"
        for table in (CHECKPOINTS, LABELS):
            if table in names:
                self.db.open_table(table).delete(where)

    # ----- checkpoints --------------------------------------------------------------------------
    def add_checkpoint(self, index: str, concept: str, checkpoint: Checkpoint) -> None:
        row = pa.table(
            {
                "index": [index],
                "concept": [concept],
                "round": [checkpoint.round],
                "w": [np.asarray(checkpoint.w, dtype=np.float32).tolist()],
                "bias": [float(checkpoint.bias)],
                "metrics": [json.dumps(checkpoint.metrics, default=float)],
                "created_at": [checkpoint.created_at],
                "seq": [time.time_ns()],
            },
            schema=CHECKPOINTS_SCHEMA,
        )
        self._table(CHECKPOINTS, CHECKPOINTS_SCHEMA).add(row)
        self.maybe_compact()

    def checkpoints(self, index: str, concept: str) -> list[Checkpoint]:
        """One checkpoint per round, in round order (the latest written wins if a round repeats)."""
        if CHECKPOINTS not in self.store.table_names():
            return []
        # read once per version, as the labels (the policy and the Teach page read the history for every batch)
        return list(self._once_per_version(CHECKPOINTS, index, concept, _history))

    def maybe_compact(self) -> bool:
        """Compact when ``labels`` has gathered ``compact_every()`` fragments; True when it did.

        Each round appends one fragment to ``labels`` and one to ``checkpoints``; every read scans
        them all, so without this a query slows roughly linearly with the rounds taught (~19 ms at
        300 fragments vs ~2 ms compacted, for a one-row filter).
        """
        every = compact_every()
        if not every or LABELS not in self.store.table_names():
            return False
        try:
            fragments = self.db.open_table(LABELS).num_fragments()
        except Exception:  # noqa: BLE001 - statistics are an optimisation, never a failure
            return False
        if fragments < every:
            return False
        return self.compact()

    def compact(self) -> bool:
        """Merge the small fragments that many rounds leave behind, and drop versions older than
        ``CLEANUP_OLDER_THAN``. Best effort: a conflict with a concurrent writer (another tab or
        process) only means this compaction is skipped, the next one will do it; returns False then."""
        done = True
        for name in (LABELS, CHECKPOINTS, CONCEPTS):
            if name not in self.store.table_names():
                continue
            try:
                table = self.db.open_table(name)
                table.optimize(cleanup_older_than=version_cutoff(table, max_age=CLEANUP_OLDER_THAN))
            except Exception as exc:  # noqa: BLE001 - a skipped compaction loses nothing
                log.info("compacting %s skipped: %s", name, exc)
                done = False
        return done


def compact_every() -> int:
    """Fragments of ``labels`` that trigger a compaction (``FEWSHOT_COMPACT_EVERY``; 0 = never)."""
    raw = os.environ.get(COMPACT_EVERY_ENV, "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_COMPACT_EVERY
    except ValueError:
        return DEFAULT_COMPACT_EVERY


def _forget_files(root, index: str) -> None:
    """Best effort: the extracted uploads and the map cache of a deleted index (local workspaces)."""
    import shutil

    from core.uploads import discard_index_uploads

    discard_index_uploads(index)
    if "://" not in str(root):
        from core.projection import projection_dir

        with contextlib.suppress(Exception):
            shutil.rmtree(projection_dir(index, root), ignore_errors=True)


def _history(query) -> list[Checkpoint]:
    """One checkpoint per round, in round order, from a query of a concept's checkpoints (the latest written wins)."""
    by_round: dict[int, Checkpoint] = {}
    for r in sorted(query.to_arrow().to_pylist(), key=lambda r: r["seq"]):
        by_round[int(r["round"])] = Checkpoint(
            round=int(r["round"]),
            w=np.asarray(r["w"], dtype=np.float32),
            bias=float(r["bias"]),
            metrics=json.loads(r["metrics"]),
            created_at=r["created_at"],
        )
    return [by_round[k] for k in sorted(by_round)]
