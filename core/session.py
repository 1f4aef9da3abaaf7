"""One concept's rate -> retrain -> requery loop on one index, persisted and undoable.

Every rating is written to LanceDB before training, so a crash, a refresh or a second tab loses
nothing: ``TeachSession.open`` rebuilds the state from disk, and finishes a round whose ratings were
written but whose checkpoint was not.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.background import Background
from core.classifier import MAX_THRESHOLD, LinearHead, TrainConfig
from core.errors import (
    EmbedderError,
    EmbedderMismatch,
    FewshotError,
    InvalidRating,
    NothingChanged,
    PoolExhausted,
    StaleBatch,
)
from core.ground_truth import check_target, column_place
from core.policy import NAME as NAME_AUTO
from core.policy import Evidence, Plan, plan_batch
from core.records import TRAIN, VALIDATION
from core.scale import SPLIT_CODES, backend_for
from core.scale.exact import exact_scores
from core.scale.select import Query, run_plan, run_strategy
from core.selection import get_strategy
from core.store import Store, VectorView, now_iso, validate_index_name
from core.teach_lock import concept_lock
from core.teach_store import Checkpoint, ConceptInfo, TeachStore
from core.text_safety import quoted

STRATEGIES = ("auto", "nearest", "boundary", "mixed", "random", "diverse")
MAX_BATCH_SIZE = 10_000  # a round a person rates; the Map's "rate all selected" is not bound by it
UNDONE_REASON = "the undone round's items, offered again"
ORIGIN_MAP_ALL = "map-all"  # a round of the Map's "rate all selected": an undo does not offer it again as a batch
DEFAULT_STRATEGY = "auto"  # core.policy: the start's top items first, exploring only when they run dry


@dataclass
class Candidate:
    """An item proposed for rating, with what the classifier currently thinks of it."""

    item_id: str
    score: float  # logit w.x + b
    probability: float
    label: str | None


@dataclass
class RoundResult:
    """What a submit did. n_new: items rated (or skipped) for the first time; n_rerated: items that already
    had a rating, now replaced (resubmitting a batch is not new work)."""

    round: int
    n_new: int
    metrics: dict[str, Any] = field(default_factory=dict)
    n_rerated: int = 0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def batch_seed(index: str, concept: str, round_: int, seen_after: int, strategy: str, size: int) -> int:
    """The seed of a round's batch when the caller gives none: the same round proposes the same items, in the
    app (a reload, a restarted server: the draft kept in the browser still matches) and from the CLI
    (``teach next`` twice), until a rating, an undo or a reset of seen items moves the round on."""
    text = f"{index}\0{concept}\0{round_}\0{seen_after}\0{strategy}\0{size}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:4], "little")


class TeachSession:
    """Create with ``TeachSession.create`` or resume with ``TeachSession.open``."""

    def __init__(self, store: Store, concept: ConceptInfo) -> None:
        self.store = store
        self.teach = TeachStore(store)
        self.concept = concept
        self.index = concept.index
        self.info = store.get_index(concept.index)
        if concept.embedder is not None and concept.embedder != self.info.embedder:
            raise EmbedderMismatch(
                f"concept {concept.name!r} was taught on vectors from {concept.embedder}, but index "
                f"{concept.index!r} now holds vectors from {self.info.embedder} (it was rebuilt). "
                "Delete the concept and teach it again on the new index."
            )
        self._row_of: dict[str, int] | None = None
        self._row_version: int | None = None
        self._background_sample: tuple[tuple[int, int], Background] | None = None  # ((version, size), sample)
        self.last_policy_reason: str | None = None  # why the last batch was chosen (shown by the Teach page)
        history = self.teach.checkpoints(self.index, concept.name)
        if not history:
            raise FewshotError(
                f"concept {concept.name!r} was not fully created (the app stopped while creating it); "
                "create it again under the same name"
            )
        self.initial = history[0]
        last = history[-1]
        self.head = self._head_from(last)
        self.round = last.round
        #: What the last ``undo`` removed (item -> rating, None = skipped), to offer it again as a draft.
        self.undone: dict[str, float | None] = {}
        self.undone_origin: str | None = None  # where the round the last ``undo`` removed came from (``origin``)

    # ----- creation -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        index: str,
        concept: str,
        *,
        store: Store | None = None,
        prompt: str | None = None,
        examples: list[str] | None = None,
        strategy: str = DEFAULT_STRATEGY,
        batch_size: int = 10,
        train: dict[str, Any] | None = None,
        target_label: str | None = None,
        embedder=None,
        target_column: str | None = None,
    ) -> TeachSession:
        """Start a concept from a text prompt, from example item ids, or (neither) a diverse sample."""
        store = store or Store()
        validate_index_name(concept, "concept")
        info = store.get_index(index)
        teach = TeachStore(store)
        _check_free(teach, index, concept)  # at once, before the prompt is embedded; again under the lock
        if strategy not in STRATEGIES:
            raise FewshotError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        batch_size = checked_batch_size(batch_size)
        view = backend_for(store, index)[1]
        target_label = None if target_label is None else str(target_label)  # labels are text: 1 is '1'
        _check_target(view, index, target_column, target_label)  # before anything is written
        config = _train_config(train or {})
        if prompt is not None and not str(prompt).strip():
            raise FewshotError(f"the prompt is empty: type what the concept is (e.g. "
                               f"'{prompt_example(info.modality)}'), or start from example items or a diverse sample")
        vector, init = None, "diverse"
        if prompt:
            vector, init = _embed_prompt(info, prompt, embedder), "prompt"
        elif examples:
            vector, init = _mean_of_examples(store, index, examples), "examples"
        head = LinearHead.init_from_vector(vector, info.dim, config=config)
        concept_info = ConceptInfo(
            index=index, name=concept, prompt=prompt, init=init, examples=list(examples or []),
            strategy=strategy, batch_size=int(batch_size), train=dict(train or {}), target_label=target_label,
            embedder=info.embedder, target_column=target_column, uid=uuid.uuid4().hex,
        )
        backend, view = backend_for(store, index)
        metrics = {"n_ratings": 0, "n_positive": 0, "n_negative": 0, "init": init}
        logits = backend.scores(head.w, head.b)
        metrics.update(validation_metrics(view, target_label, logits, target_column))
        # Under the concept's lock: of two creators of one name (two tabs, two processes), the second is
        # refused instead of both reporting success and one losing its start.
        with concept_lock(store.root, index, concept):
            _check_free(teach, index, concept, locked=True)
            teach.discard_orphans(index, concept)  # a killed delete or rename's leftovers are not this concept's
            # The checkpoint first: a crash in between leaves an unlisted checkpoint that a new creation
            # supersedes, never a listed concept that cannot be opened.
            teach.add_checkpoint(index, concept, Checkpoint(0, head.w, head.b, metrics, now_iso()))
            teach.save_concept(concept_info)
        return cls(store, concept_info)

    @classmethod
    def open(cls, index: str, concept: str, store: Store | None = None) -> TeachSession:
        """Resume a concept exactly where it stopped (finishing a round cut short by a crash)."""
        store = store or Store()
        teach = TeachStore(store)
        info = teach.concept(index, concept)
        if info is None:  # name what is there, as an unknown index's message does
            raise FewshotError(f"no concept {concept!r} on index {index!r} ({teach.concepts_named(index)})")
        session = cls(store, info)
        if session.teach.max_label_round(index, concept) > session.round:
            with session._lock():
                session._sync()
        return session

    def _lock(self):
        """The concept's cross-process write lock (``core.teach_lock``): rounds stay distinct."""
        return concept_lock(self.store.root, self.index, self.concept.name)

    def _sync(self) -> None:
        """Under the lock: catch up with rounds another process or tab wrote (or undid), and finish a
        round whose ratings were written but whose checkpoint was not (a crash in between)."""
        stored = self.teach.concept(self.index, self.concept.name)
        if stored is None or stored.identity != self.concept.identity:
            raise self._replaced()  # deleted, renamed, or replaced by a new concept of the same name
        if self.teach.checkpoint_round(self.index, self.concept.name) != self.round:
            history = self.history()
            if not history:  # caught mid-delete or mid-rename
                raise self._replaced()
            self.head, self.round = self._head_from(history[-1]), history[-1].round
        self.concept = stored  # settings, threshold and seen mark as stored now (another tab may have set them)
        label_round = self.teach.max_label_round(self.index, self.concept.name)
        if label_round > self.round:
            self._train_and_checkpoint(label_round, n_new=0)

    def _replaced(self) -> StaleBatch:
        return StaleBatch(f"concept {self.concept.name!r} was deleted, renamed or replaced in another tab or process "
                          "since this page or process opened it: nothing was written.")

    def _check_round(self, expected_round: int | None, action: str) -> None:
        if expected_round is not None and int(expected_round) != self.round:
            raise StaleBatch(
                f"this batch belongs to round {int(expected_round)}, but concept {self.concept.name!r} is now at "
                f"round {self.round} (another tab, another process or a second Enter got there first): {action} "
                "nothing; every rating committed so far is kept."
            )

    # ----- state --------------------------------------------------------------------------------
    def _head_from(self, checkpoint: Checkpoint) -> LinearHead:
        """A head at ``checkpoint``'s weights whose prior (and refit start) is the round-0 vector."""
        return LinearHead(w=checkpoint.w, b=checkpoint.bias, dim=self.info.dim, config=self.train_config,
                          w0=self.initial.w)

    @property
    def train_config(self) -> TrainConfig:
        return _train_config(self.concept.train)

    @property
    def view(self) -> VectorView:
        return self.scoring_backend()[1]

    def scoring_backend(self):
        """(backend, view): where requeries run (``core.scale``: NumPy, torch or Ray shards)."""
        return backend_for(self.store, self.index, getattr(self, "scoring", None))

    def _rows(self, ids) -> np.ndarray:
        view = self.view
        if self._row_of is None or self._row_version != view.version:
            self._row_of = {item_id: i for i, item_id in enumerate(view.ids)}
            self._row_version = view.version
        return np.asarray([self._row_of[i] for i in ids], dtype=np.int64)

    def history(self) -> list[Checkpoint]:
        return self.teach.checkpoints(self.index, self.concept.name)

    def ratings(self):
        return self.teach.ratings(self.index, self.concept.name)

    def seen_ids(self) -> set[str]:
        return self.teach.seen_ids(self.index, self.concept.name, self.concept.seen_after_round)

    def batch_settings(self) -> tuple[str, int, int]:
        """(strategy, batch size, seen mark) that choose this round's batch: the concept's, or those a UI held
        for the round when it changed them (``keep_batch``), so the batch on screen is proposed again after a
        reload and its draft still matches; the new ones apply from the next round."""
        held = self.concept.held_batch
        if held and held.get("round") == self.round and "strategy" in held:
            return str(held["strategy"]), int(held["batch_size"]), int(held["seen_after_round"])
        return self.concept.strategy, int(self.concept.batch_size), int(self.concept.seen_after_round)

    def held_items(self) -> list[str] | None:
        """The items an undo gave back, in their order, while the round they belong to is current: the batch
        that round proposes (after a reload too, whatever the settings say now; an outside tester lost an
        undone round's draft to a reload after Apply)."""
        held = self.concept.held_batch
        if held and held.get("round") == self.round and held.get("items"):
            return [str(i) for i in held["items"]]
        return None

    def held_ratings(self) -> tuple[dict[str, float | None], str] | None:
        """(ratings, undo id) of the undone round's items while they are this round's batch: kept with the concept,
        so every browser and ``teach next`` offer them with their ratings (an outside tester's second browser got
        the items unrated, under a caption saying "with their ratings"). The undo id names this undo, so a browser
        applies the ratings once and keeps its own edits after that."""
        items = self.held_items()
        held = self.concept.held_batch or {}
        ratings = held.get("ratings")
        if not items or not isinstance(ratings, dict):
            return None
        return {i: ratings.get(i) for i in items if i in ratings}, str(held.get("undo_id", ""))

    def drop_held(self) -> bool:
        """Forget the undone round's items held as this round's batch, so the next batch is the policy's (the
        Teach page's *Propose a new batch instead*, ``teach next --fresh``); True when there were some."""
        if not self.held_items():
            return False

        def apply(concept: ConceptInfo) -> None:
            held = concept.held_batch or {}
            # "fresh" counts the drops this round: the batch the strategy picks now is often the very items just
            # dropped (the same w), and a UI's draft of them is keyed by round and items; ``batch_generation``
            # tells it the batch is another one (a re-tester's dropped ratings came back from the browser)
            concept.held_batch = {**{k: v for k, v in held.items() if k not in ("items", "ratings")},
                                  "fresh": int(held.get("fresh", 0)) + 1}

        self._update_concept(apply)
        self.undone = {}
        return True

    def batch_generation(self) -> int:
        """How many times this round's undone items were dropped (``drop_held``): part of a UI's batch identity."""
        held = self.concept.held_batch
        return int(held.get("fresh", 0)) if held and held.get("round") == self.round else 0

    def _hold_batch(self, concept: ConceptInfo) -> None:
        """Under the lock: keep what chose the current round's batch, unless something already does."""
        round_ = self.teach.checkpoint_round(self.index, concept.name)
        held = concept.held_batch
        if not held or held.get("round") != round_ or "strategy" not in held:
            kept = held if held and held.get("round") == round_ else {}  # undone items, drops: still this round's
            concept.held_batch = {**kept, "round": round_, "strategy": concept.strategy,
                                  "batch_size": int(concept.batch_size),
                                  "seen_after_round": int(concept.seen_after_round)}

    def update_settings(self, *, keep_batch: bool = False, **settings: Any) -> None:
        """Change strategy, batch size or training settings between rounds.

        ``keep_batch`` (the Teach page): the current round's batch stays the one already proposed (its
        strategy, size and seen mark are held until the next submit or undo), so a reload shows it again.
        """
        if settings.get("target_label") is not None:
            settings = {**settings, "target_label": str(settings["target_label"])}  # labels are text: 1 is '1'
        target = {k: settings.get(k, getattr(self.concept, k)) for k in ("target_column", "target_label")}
        if any(k in settings for k in target):
            _check_target(self.view, self.index, target["target_column"], target["target_label"])
        for key, value in settings.items():
            if key == "strategy" and value not in STRATEGIES:
                raise FewshotError(f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}")
            if key == "batch_size":
                settings = {**settings, "batch_size": checked_batch_size(value)}
            if key not in _CONCEPT_SETTINGS:
                _train_config({**self.concept.train, key: value})  # validates before saving

        def apply(concept: ConceptInfo) -> None:
            if keep_batch:
                self._hold_batch(concept)
            for key, value in settings.items():
                if key in _CONCEPT_SETTINGS:
                    setattr(concept, key, value)
                else:
                    concept.train[key] = value

        self._update_concept(apply)

    @property
    def threshold(self) -> float:
        """The decision threshold (logit) chosen for this concept; 0 (probability 0.5) until one is."""
        return 0.0 if self.concept.threshold is None else float(self.concept.threshold)

    def set_threshold(self, threshold: float | None) -> None:
        """Keep ``threshold`` (a logit; None forgets it) as this concept's: the Validate page sets it, and export,
        the report and the Map follow it, after a reload or in another tab or process too."""
        if threshold is not None:
            try:
                threshold = float(threshold)
            except (TypeError, ValueError):
                raise FewshotError(f"the threshold must be a number (a logit), got {threshold!r}") from None
            if not math.isfinite(threshold) or abs(threshold) > MAX_THRESHOLD:
                raise FewshotError(f"the threshold must be a logit between {-MAX_THRESHOLD:g} and {MAX_THRESHOLD:g} "
                                   f"(scores lie within a few dozen), got {threshold}")

        def apply(concept: ConceptInfo) -> None:
            concept.threshold = threshold

        self._update_concept(apply)

    def _update_concept(self, apply) -> None:
        """Change the stored concept under its lock, starting from what is stored now: a tab that opened this
        concept earlier must not write back its old copy of a field another tab or process changed since."""
        with self._lock():
            self._change_concept(apply)

    def _change_concept(self, apply) -> None:
        """``_update_concept`` for a caller that already holds the concept's lock (it is not re-entrant)."""
        concept = self.teach.concept(self.index, self.concept.name)
        if concept is None or concept.identity != self.concept.identity:  # deleted, renamed or replaced meanwhile
            raise FewshotError(f"concept {self.concept.name!r} no longer exists on index {self.index!r} (it was "
                               "deleted or renamed in another tab or process); nothing was changed")
        apply(concept)
        self.teach.save_concept(concept)
        self.concept = concept

    # ----- the loop -----------------------------------------------------------------------------
    def scores(self, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row positions, logits) of every item of ``split`` (all items when None)."""
        backend, view = self.scoring_backend()
        rows = view.rows(split)
        logits = backend.scores(self.head.w, self.head.b)
        return rows, logits[rows]

    def next_batch(self, k: int | None = None, strategy: str | None = None, split: str = TRAIN,
                   seed: int | None = None) -> list[Candidate]:
        """The next ``k`` unseen items of ``split`` by the concept's strategy (exact, brute force).

        ``auto`` (the default) asks ``core.policy`` for a plan from the ratings so far; why the batch
        was chosen is left in ``last_policy_reason``.
        """
        # the undone items whatever ``k`` (the README's own `teach next --k 10` got a new sample instead), at most k
        items = self.held_items() if strategy is None and seed is None and split == TRAIN else None
        if items:
            seen = self.seen_ids()
            batch = self.candidates([i for i in items if i not in seen][: int(k) if k else None])
            if batch:
                self.last_policy_reason = UNDONE_REASON
                return batch
        held_strategy, held_size, mark = self.batch_settings()
        k = int(k or held_size)
        name = strategy or held_strategy
        if strategy is None:
            name = self.effective_strategy(held_strategy)
        if name != NAME_AUTO:
            get_strategy(name)  # an unknown name fails before any work
        backend, view = self.scoring_backend()
        rows = view.rows(split)
        if not len(rows):  # not "every item has been seen, reset seen items": nothing was (an outside tester)
            where = f"the {split} split of index {self.index!r}" if split else f"index {self.index!r}"
            raise PoolExhausted(f"{where} holds no items, so there is nothing to rate"
                                + (" (every row is validation); index it again with a split that leaves items to "
                                   "train on" if split == TRAIN else ""))
        self._rows([])  # refresh the id -> row map if the index changed
        seen_all = np.zeros(len(view.ids), dtype=bool)
        # the start's examples are never proposed: the person picked them as the concept (an outside tester
        # was asked to rate all four again in the first batch)
        seen = self.teach.seen_ids(self.index, self.concept.name, mark)
        shown = seen | set(self.concept.examples if self.concept.init == "examples" else ())
        seen_all[self._rows([i for i in shown if i in self._row_of])] = True
        if seed is None:
            # by the concept's identity, not its name: a rename proposes the same batch (its draft survives)
            seed = batch_seed(self.index, self.concept.identity, self.round, mark, name, k)
        rng = np.random.default_rng(seed)
        query = Query(backend, self.head.w, self.head.b, rows, SPLIT_CODES.get(split, 254) if split else None,
                      seen_all[rows], rng)
        if name == NAME_AUTO:
            plan = self.plan(k)
            picked = run_plan(plan, query)
            self.last_policy_reason = plan.reason
        else:
            picked = run_strategy(name, query, k)
            self.last_policy_reason = self._fixed_reason(name)
        # random and diverse picks have no score yet: score just those rows, exactly
        unscored = [int(i) for i in picked if int(i) not in query.scores]
        if unscored:
            exact = exact_scores(backend.vectors_at(rows[unscored]), self.head.w, self.head.b)
            query.scores.update(zip(unscored, exact.tolist(), strict=True))
        logits = np.asarray([query.scores[int(i)] for i in picked], dtype=np.float64)
        probs = _sigmoid(logits)
        labels = self.label_values()
        return [
            Candidate(str(view.ids[rows[i]]), float(s), float(p), labels[rows[i]])
            for i, s, p in zip(picked, logits, probs, strict=True)
        ]

    def evidence(self) -> Evidence:
        """What the ratings so far tell the default policy (positives per round, whether there is a start, how
        the top of the last rated round did). Ratings of rounds after this session's own (another process
        wrote them since it opened) are left out, so the plan matches the ``w`` that carries it out."""
        rated = self.ratings()
        if len(rated) and rated.rounds.max() > self.round:
            keep = rated.rounds <= self.round
            rated = type(rated)(rated.item_ids[keep], rated.ratings[keep], rated.rounds[keep])
        return Evidence.from_ratings(self.concept.init in ("prompt", "examples"), rated.ratings, rated.rounds,
                                     chooser_scores=self._chooser_scores(rated))

    def _chooser_scores(self, rated) -> np.ndarray | None:
        """Each rated item's score under the checkpoint that chose the latest rated round (the last one before
        it), which tells the policy which of that round's picks were the top of the ranking; NaN for an item
        the round cannot have picked (rated or skipped in an earlier round since the seen mark, or one of the
        start's examples: both are kept out of every batch, so rating them again was done by hand)."""
        if not len(rated):
            return None
        latest = int(rated.rounds.max())
        chooser = [c for c in self.history() if c.round < latest]
        self._rows([])  # refresh the id map
        if not chooser or any(i not in self._row_of for i in rated.item_ids):  # nothing to tell the top by
            return None
        scores = self.view.matrix[self._rows(rated.item_ids)] @ chooser[-1].w + np.float32(chooser[-1].bias)
        scores = scores.astype(np.float64)
        by_hand = self.teach.seen_ids(self.index, self.concept.name, self.concept.seen_after_round, latest)
        if self.concept.init == "examples":
            by_hand |= set(self.concept.examples)
        scores[[i in by_hand for i in rated.item_ids]] = np.nan
        return scores

    def plan(self, k: int | None = None) -> Plan:
        """The default policy's plan for the next batch (counts per primitive selection, and why)."""
        return plan_batch(self.evidence(), int(k or self.concept.batch_size))

    def effective_strategy(self, setting: str | None = None) -> str:
        """The strategy the next batch uses: ``auto`` (the policy), or the concept's fixed strategy.

        A fixed strategy is used as chosen, except that a start with nothing (no prompt, no examples)
        samples a spread-out batch until the first positive: with ``w`` = 0 every score ties. With a
        start vector a fixed strategy is never overridden (the old override starved rare concepts).
        """
        name = setting or self.concept.strategy
        if name == NAME_AUTO:
            return name
        if self.concept.init not in ("prompt", "examples") and not (self.ratings().ratings > 0).any():
            return "diverse"
        return name

    def batch_reason(self) -> str:
        """A short sentence saying how the next batch is chosen, for the Teach page."""
        name = self.effective_strategy()
        return self.plan().reason if name == NAME_AUTO else self._fixed_reason(name)

    def _fixed_reason(self, name: str) -> str:
        if name == "diverse" and self.concept.strategy != "diverse":
            return f"no start and no positive yet: a spread-out sample (then {self.concept.strategy})"
        return f"strategy {name}"

    def top(self, k: int = 20, split: str | None = None) -> list[Candidate]:
        """What the classifier ranks highest now, seen or not: to check what it has learned."""
        rows, logits = self.scores(split)
        k = min(k, len(rows))
        order = np.argsort(-logits, kind="stable")[:k]
        view, labels = self.view, self.label_values()
        return [
            Candidate(str(view.ids[rows[i]]), float(logits[i]), float(_sigmoid(logits[i])), labels[rows[i]])
            for i in order
        ]

    def candidates(self, item_ids: list[str]) -> list[Candidate]:
        """Given items with what the classifier now thinks of them (e.g. an undone batch, shown again)."""
        self._rows_known(list(item_ids))
        view, labels = self.view, self.label_values()
        rows = self._rows(item_ids)
        backend = self.scoring_backend()[0]
        logits = exact_scores(backend.vectors_at(rows), self.head.w, self.head.b) if len(rows) else np.zeros(0)
        probs = _sigmoid(np.asarray(logits))
        return [Candidate(str(view.ids[r]), float(z), float(p), labels[r])
                for r, z, p in zip(rows, logits, probs, strict=True)]

    def label_values(self) -> np.ndarray:
        """(n,) ground-truth labels of every item in the concept's label column (None where unknown)."""
        try:
            return self.view.label_values(self.concept.target_column)
        except FewshotError:  # the index was rebuilt without that column: show the first one
            return self.view.labels

    def _validate(self, ratings: Mapping[str, float | None]) -> dict[str, float | None]:
        if not ratings:
            raise InvalidRating("the batch is empty: rate or skip at least one item")
        clean: dict[str, float | None] = {}
        for item_id, value in ratings.items():
            if value is None:
                clean[str(item_id)] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidRating(f"rating for {item_id!r} is not a number: {value!r}") from None
            if not np.isfinite(number) or not -1.0 <= number <= 1.0:
                raise InvalidRating(f"rating for {item_id!r} must be in [-1, 1] (or a skip), got {value!r}")
            clean[str(item_id)] = number
        self._rows_known(list(clean))
        self._refuse_held_out(list(clean))
        return clean

    def rateable(self, ids: list[str]) -> list[str]:
        """``ids`` that may be rated, in order: items of this index outside the validation split (the Map's lasso
        takes both splits)."""
        self._rows([])  # refresh the id map
        split = self.view.split
        return [i for i in ids if i in self._row_of and split[self._row_of[i]] != VALIDATION]

    def _refuse_held_out(self, ids: list[str]) -> None:
        """Validation items measure the classifier: one rated (a typed id, a lasso on the Map) trained on the items
        its AP was then computed on, and that AP rose with nothing learnt (an outside tester)."""
        rateable = set(self.rateable(ids))
        held_out = [i for i in ids if i not in rateable]  # every id is known here (``_rows_known``)
        if held_out:
            shown = ", ".join(quoted(i) for i in held_out[:5]) + (", ..." if len(held_out) > 5 else "")
            raise InvalidRating(f"{len(held_out)} item(s) are in the validation split, which is held out to measure "
                                f"the classifier, so they cannot be rated: {shown}. Rate train items only; "
                                "nothing was written")

    def _rows_known(self, ids: list[str]) -> None:
        self._rows([])  # refresh the id map
        unknown = [i for i in ids if i not in self._row_of]
        if unknown:
            shown = ", ".join(quoted(u) for u in unknown[:5])  # an id may be 3,000 characters
            raise InvalidRating(f"{len(unknown)} item id(s) not in index {self.index!r}: {shown}")

    def submit(self, ratings: Mapping[str, float | None], expected_round: int | None = None,
               origin: str | None = None) -> RoundResult:
        """Write the ratings (None = skip) as the next round, retrain on every rating so far, checkpoint ``w``.

        ``expected_round``: the round the batch was proposed at (the UI's batch token carries it). When the
        concept has moved on since (a second Enter, another tab or process), raise ``StaleBatch`` and write
        nothing. The whole read-round / write / checkpoint runs under the concept's cross-process lock, so
        two writers never get the same round number. A submission that changes nothing (every item already
        seen with that very rating) raises ``NothingChanged`` and writes nothing. ``origin`` (e.g.
        ``ORIGIN_MAP_ALL``) is kept in the round's metrics; ``undo`` reads it.
        """
        clean = self._validate(ratings)
        with self._lock():
            self._sync()
            self._check_round(expected_round, "submitted")
            round_ = self.round + 1
            current = self.ratings()
            now = dict(zip(current.item_ids.tolist(), current.ratings.tolist(), strict=True))
            self._refuse_unchanged(clean, now)
            rerated = len(set(now) & set(clean))
            self.teach.add_ratings(self.index, self.concept.name, clean, round_)
            result = self._train_and_checkpoint(round_, n_new=len(clean) - rerated, origin=origin)
            result.n_rerated = rerated
            self._release_batch()
            return result

    def _refuse_unchanged(self, clean: dict[str, float | None], now: dict[str, float]) -> None:
        """``NothingChanged`` when every item is seen (after the seen mark) and keeps its rating: a skip of an item
        already seen, or the rating it has. After *Reset seen* the same ratings are a change (they mark the items
        seen again, so they stop being proposed)."""
        seen = self.seen_ids()
        if all(i in seen and (v is None or (i in now and float(np.float32(v)) == now[i])) for i, v in clean.items()):
            n = len(clean)
            raise NothingChanged(
                f"nothing changed: {'every one of these' if n != 1 else 'this'} {n:,} item{'s' * (n != 1)} "
                f"{'already has its' if n != 1 else 'already has this'} rating, so no round was written (the concept "
                f"stays at round {self.round}).")

    def _train_and_checkpoint(self, round_: int, n_new: int, origin: str | None = None) -> RoundResult:
        rated = self.ratings()
        previous = self.head
        head = previous.copy()
        head.config = self.train_config  # settings may have changed between rounds
        loss = float("nan")
        if len(rated):
            rows = self._rows(rated.item_ids)
            X = self.view.matrix[rows]
            background = self._background(head.config, rows)
            with _one_blas_thread(X.size):
                loss = float(head.fit(X, rated.ratings, background=background).loss)
        metrics = self._metrics(head, previous, rated, loss)
        if origin:
            metrics["origin"] = origin
        self.teach.add_checkpoint(self.index, self.concept.name, Checkpoint(round_, head.w, head.b, metrics, now_iso()))
        self.head, self.round = head, round_
        return RoundResult(round=round_, n_new=n_new, metrics=metrics)

    def _background(self, config: TrainConfig, rated_rows: np.ndarray) -> np.ndarray | None:
        """The fixed sample of unrated train items a fit counts as weak negatives (``core.background``)."""
        view = self.view
        key = (view.version, config.background_size if config.background_weight > 0 else 0)
        if self._background_sample is None or self._background_sample[0] != key:
            self._background_sample = key, Background.sample(config, view.rows(TRAIN), view.matrix)
        return self._background_sample[1].excluding(rated_rows)

    def _metrics(self, head: LinearHead, previous: LinearHead, rated, loss: float) -> dict[str, Any]:
        denom = float(np.linalg.norm(head.w) * np.linalg.norm(previous.w))
        logits = self.scoring_backend()[0].scores(head.w, head.b)
        metrics: dict[str, Any] = {
            "n_ratings": int(len(rated)),
            "n_positive": int((rated.ratings > 0).sum()),
            "n_negative": int((rated.ratings < 0).sum()),
            "loss": loss,
            "cosine_to_previous": float(head.w @ previous.w) / denom if denom > 0 else None,
            "w_norm": float(np.linalg.norm(head.w)),
            # at the concept's threshold (kept from the Validate page), as the Map, export and predict count
            "predicted_positive": int((logits > self.threshold).sum()),
            "predicted_threshold": self.threshold,
        }
        metrics.update(validation_metrics(self.view, self.concept.target_label, logits, self.concept.target_column))
        return metrics

    def undo(self, expected_round: int | None = None) -> int:
        """Remove the last round's ratings and restore the previous ``w``; returns the round now current.

        ``expected_round``: the round this caller means to undo; when another writer has moved the concept
        on since, raise ``StaleBatch`` and remove nothing (an undo only ever removes its own round). What
        the round held is kept in ``self.undone`` so a UI can offer it again as a draft.
        """
        with self._lock():
            self._sync()
            self._check_round(expected_round, "undid")
            history = self.history()
            if len(history) < 2:
                raise FewshotError("nothing to undo: no round has been submitted yet")
            last, previous = history[-1], history[-2]
            undone = self.teach.round_ratings(self.index, self.concept.name, last.round)
            round_ = previous.round
            # Offered again: the items the undo leaves unseen (one it re-rated keeps its earlier rating), so the
            # draft shown now and the batch a reload proposes are the same items. A Map "rate all selected" round
            # is not offered again: its hundreds of items would come back as one batch, all pre-rated, one Enter
            # from redoing it (an outside tester's 1,115-card trap).
            still_seen = self.teach.seen_ids(self.index, self.concept.name, min(self.concept.seen_after_round, round_),
                                             before_round=last.round)
            self.undone_origin = last.metrics.get("origin")
            offered = self.undone_origin != ORIGIN_MAP_ALL
            undone = {i: v for i, v in undone.items() if offered and i not in still_seen}
            self.undone = undone
            # the undone items are this round's batch until it moves on (a reload shows them again)
            held = {"round": round_, "items": list(undone), "ratings": dict(undone), "undo_id": uuid.uuid4().hex} \
                if undone else None

            def apply(concept: ConceptInfo) -> None:
                concept.seen_after_round = min(concept.seen_after_round, round_)  # the next round stays above it
                concept.held_batch = held

            # The undone items are kept (as the batch of the round that becomes current) before the round goes: a
            # process killed in between loses no draft; while the round is still there they are not its batch.
            # self.concept is the stored one (read by _sync under this lock): write only when something changes.
            if self.concept.seen_after_round > round_ or held is not None or self.concept.held_batch is not None:
                self._change_concept(apply)
            self.teach.delete_round(self.index, self.concept.name, last.round)
            self.head, self.round = self._head_from(previous), previous.round
            return self.round

    def reset_seen(self, keep_batch: bool = False) -> None:
        """Let every item be proposed again; the ratings stay and keep training the classifier.

        ``keep_batch``: as in ``update_settings``, from the next round on (the batch on screen stays)."""
        mark = max(self.round, self.teach.max_label_round(self.index, self.concept.name))

        def apply(concept: ConceptInfo) -> None:
            if keep_batch:
                self._hold_batch(concept)
            concept.seen_after_round = mark

        self._update_concept(apply)

    def _release_batch(self) -> None:
        """Under the lock, after a round was written: what was held for the round before it ends with it."""
        if self.concept.held_batch:
            self._change_concept(lambda concept: setattr(concept, "held_batch", None))


_THREADS = {"lock": threading.Lock(), "depth": 0, "saved": 1}


@contextmanager
def _one_blas_thread(size: int):
    """Fit a round's few ratings on one thread: torch's BLAS splits even a 100 x 64 matrix-vector product
    over every core, and on a busy machine each of the fit's ~200 products then waits for a descheduled
    helper thread (seen: 5 s per submit at load 20 on 2 cores, 0.1-0.3 s on one thread). The setting is
    process-wide: it is put back when the last concurrent fit ends; large fits keep every thread."""
    torch = sys.modules.get("torch")  # the NumPy learner limits its own BLAS threads; never import torch here
    if torch is None or size > 4_000_000:
        yield
        return
    with _THREADS["lock"]:
        if _THREADS["depth"] == 0:
            _THREADS["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS["depth"] += 1
    try:
        yield
    finally:
        with _THREADS["lock"]:
            _THREADS["depth"] -= 1
            if _THREADS["depth"] == 0:
                torch.set_num_threads(_THREADS["saved"])


def checked_batch_size(value: Any) -> int:
    """A batch size from 1 to ``MAX_BATCH_SIZE`` (the command line took 100,000,000,000)."""
    try:
        size = int(value)
    except (TypeError, ValueError, OverflowError):
        raise FewshotError(f"the batch size must be a whole number, got {value!r}") from None
    if not 1 <= size <= MAX_BATCH_SIZE or (isinstance(value, float) and size != value):
        raise FewshotError(f"the batch size must be a whole number from 1 to {MAX_BATCH_SIZE:,}, got {value!r}")
    return size


#: Settings kept as the concept's own fields; every other one is a training setting (``TrainConfig``).
_CONCEPT_SETTINGS = ("strategy", "batch_size", "target_label", "target_column")


def prompt_example(modality: str | None) -> str:
    """A prompt a person might type, for the index's kind of items (shown as a hint)."""
    return "dogs at a dog show" if modality == "image" else "an extension for Flask web apps"


def _embed_prompt(info, prompt: str, embedder=None) -> np.ndarray:
    from core.embedders import load_embedder

    embedder = embedder or load_embedder(info.embedder)
    if "text" not in embedder.modalities:
        raise EmbedderError(
            f"index {info.name!r} uses {info.embedder}, which has no text side: start from example items "
            "or a diverse sample instead of a prompt"
        )
    if embedder.spec != info.embedder:
        raise EmbedderError(f"the prompt embedder {embedder.spec} is not the index's {info.embedder}")
    return embedder.embed_texts([prompt])[0]


def _mean_of_examples(store: Store, index: str, examples: list[str]) -> np.ndarray:
    view = backend_for(store, index)[1]
    row_of = {item_id: i for i, item_id in enumerate(view.ids)}
    missing = [e for e in examples if e not in row_of]
    if missing:
        raise InvalidRating(f"example item(s) not in index {index!r}: "
                            f"{', '.join(quoted(m) for m in missing[:5])}")
    held_out = {view.ids[i] for i in view.rows(VALIDATION)} & set(examples)
    if held_out:  # the start vector would have seen the items that measure the classifier
        shown = ", ".join(repr(e) for e in sorted(held_out)[:5])
        raise InvalidRating(f"example item(s) {shown} are in the validation split, which is held out to measure "
                            "the classifier; pick train items as examples")
    mean = view.matrix[[row_of[e] for e in examples]].mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _check_target(view: VectorView, index: str, column: str | None, label: str | None) -> None:
    """Refuse a ground truth that could never give an AP: an unknown column, or a value to count as positive
    that the column does not hold. A column without a value (no target yet) is allowed."""
    if column is not None:
        view.label_values(column)  # an unknown column: its own message, naming the index's columns
    if label is not None:
        check_target(view, column, label, column_place(index, column))


def validation_metrics(view: VectorView, target_label: str | None, logits: np.ndarray,
                       target_column: str | None = None) -> dict[str, float]:
    """AP and ROC AUC on the validation split, when the concept names a ground-truth label.

    logits: (n,) scores of every item of the index, in the view's row order; target_column: the
    label column holding ``target_label`` (None = the first).
    """
    from core.ground_truth import known_mask, truth

    y = truth(view, target_column, target_label)
    if y is None:
        return {}
    from core.evaluate import ranking_metrics

    rows = view.rows(VALIDATION)
    known = known_mask(view, target_column)[rows]
    if not known.any():
        return {}
    truth_known = y[rows][known]
    metrics: dict[str, float] = ranking_metrics(truth_known, logits[rows][known])
    if metrics:  # what the AP rests on: with ~20 positives one of them moving a few ranks moves it by ~0.02-0.05
        metrics["valid_positives"] = int(truth_known.sum())
    return metrics


def _check_free(teach: TeachStore, index: str, concept: str, locked: bool = False) -> None:
    """Refuse a name a concept already has; clear the remains of a creation cut short by a crash
    (a listed concept with no checkpoint), which only a creator holding the lock may do."""
    if teach.concept(index, concept) is None:
        return
    if teach.checkpoints(index, concept):
        raise FewshotError(f"concept {concept!r} already exists on index {index!r}; open it or pick another name")
    if locked:
        teach.delete_concept_locked(index, concept)


def _train_config(settings: dict[str, Any]) -> TrainConfig:
    """Training settings from a concept, with a clear error for unknown names or bad values."""
    try:
        return TrainConfig(**settings)
    except TypeError as exc:
        raise FewshotError(f"unknown training setting: {exc}") from None
    except ValueError as exc:
        raise FewshotError(f"bad training setting: {exc}") from None
