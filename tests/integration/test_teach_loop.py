"""The teaching loop through the Python API on a real digits index (pixels, LanceDB in tmp_path).

The index is built once per module and copied into each test's private workspace.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.classifier import load_classifier
from core.embedders import load_embedder
from core.errors import EmbedderMismatch, FewshotError, InvalidRating, PoolExhausted
from core.evaluate import evaluate_split, predictions_table
from core.export import export_session, predict
from core.indexing import build_index
from core.session import TeachSession
from core.simulate import check_label, linear_probe_ap, simulate
from core.sources import parse_source
from core.store import IndexInfo, Store, items_schema
from core.teach_store import TeachStore
from tests.helpers.workspaces import use_workspace


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace holding ``digits`` (pixels:16, 256-d) and ``digits8`` (pixels:8, 64-d)."""
    root = tmp_path_factory.mktemp("digits-workspace")
    store = Store(root)
    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=store)
    build_index("digits8", parse_source("demo:digits"), load_embedder("pixels:8"), store=store)
    return root


@pytest.fixture
def store(template, workspace_dir) -> Store:
    return use_workspace(template, workspace_dir)


def _oracle(batch, positive: str = "3") -> dict[str, float]:
    return {c.item_id: 1.0 if c.label == positive else -1.0 for c in batch}


def _train_ids(store: Store, label: str, n: int) -> list[str]:
    view = store.vectors("digits")
    rows = view.rows("train")
    return [str(i) for i, lab in zip(view.ids[rows], view.labels[rows], strict=True) if lab == label][:n]


def test_create_from_examples_points_w_at_them(store):
    examples = _train_ids(store, "3", 3)
    session = TeachSession.create("digits", "threes", store=store, examples=examples, target_label="3")
    view = store.vectors("digits")
    mean = view.matrix[[list(view.ids).index(e) for e in examples]].mean(axis=0)
    cosine = float(session.head.w @ mean / (np.linalg.norm(session.head.w) * np.linalg.norm(mean)))
    assert session.concept.init == "examples" and cosine > 0.999
    assert session.history()[0].metrics["ap"] > 0.5  # three examples already rank threes high
    batch = session.next_batch(10, strategy="nearest")
    assert sum(c.label == "3" for c in batch) >= 7
    assert not {c.item_id for c in batch} & set(examples)  # the examples are not proposed for rating again


def test_a_start_refuses_held_out_examples_and_a_blank_prompt(store):
    """Examples from the validation split would let the start vector see what measures the classifier; a prompt
    of spaces embeds to noise. Both are refused before anything is written."""
    view = store.vectors("digits")
    held_out = str(view.ids[view.rows("validation")][0])
    with pytest.raises(InvalidRating, match="validation split, which is held out"):
        TeachSession.create("digits", "peek", store=store, examples=[*_train_ids(store, "3", 1), held_out])
    with pytest.raises(FewshotError, match="the prompt is empty"):
        TeachSession.create("digits", "blank", store=store, prompt="  \t ")
    assert TeachStore(store).concept("digits", "peek") is None and TeachStore(store).concept("digits", "blank") is None


def test_create_without_prompt_starts_with_a_diverse_batch(store):
    session = TeachSession.create("digits", "anything", store=store)
    assert session.concept.init == "diverse"
    batch = session.next_batch(10, seed=0)
    assert len({c.item_id for c in batch}) == 10
    assert len({c.label for c in batch}) >= 5  # spread over the digits, not ten of one kind
    view = store.vectors("digits")
    assert {view.split[list(view.ids).index(c.item_id)] for c in batch} == {"train"}


def test_resubmitting_a_batch_counts_its_items_as_re_rated_not_new(store, capsys):
    from core.cli import main

    session = TeachSession.create("digits", "again", store=store, examples=_train_ids(store, "3", 2))
    batch = session.next_batch(10)
    assert session.submit(_oracle(batch)).n_new == 10
    flipped = {k: -v for k, v in _oracle(batch[:4]).items()}
    result = session.submit(flipped)  # four of them rated again, the other way
    assert result.n_new == 0 and result.n_rerated == 4 and result.metrics["n_ratings"] == 10
    capsys.readouterr()
    back = ",".join(f"{k}={-v:g}" for k, v in flipped.items())  # and back again, from the command line
    assert main(["teach", "submit", "--index", "digits", "--concept", "again", "--ratings", back]) == 0
    assert "round 3: 0 new (4 re-rated)" in capsys.readouterr().out
    assert main(["teach", "submit", "--index", "digits", "--concept", "again", "--ratings", back]) == 0
    assert "nothing changed" in capsys.readouterr().out  # the same command again writes no round
    assert TeachSession.open("digits", "again", store=store).round == 3


def test_next_batch_excludes_seen_and_reopen_restores_state(store):
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 2),
                                  target_label="3")
    first = session.next_batch(10)
    result = session.submit({**_oracle(first[:9]), first[9].item_id: None})  # one skip
    assert result.round == 1 and result.n_new == 10
    second = session.next_batch(10)
    assert not {c.item_id for c in first} & {c.item_id for c in second}
    reopened = TeachSession.open("digits", "threes", store=Store())
    assert reopened.round == 1
    assert np.array_equal(reopened.head.w, session.head.w) and reopened.head.b == session.head.b
    assert len(reopened.ratings()) == 9 and len(reopened.seen_ids()) == 10


def test_crash_after_ratings_before_checkpoint_loses_nothing(store):
    examples = _train_ids(store, "3", 2)
    normal = TeachSession.create("digits", "normal", store=store, examples=examples, target_label="3")
    crashed = TeachSession.create("digits", "crashed", store=store, examples=examples, target_label="3")
    ratings = _oracle(normal.next_batch(10))
    normal.submit(ratings)
    crashed.teach.add_ratings("digits", "crashed", ratings, crashed.round + 1)  # then the process dies
    assert [c.round for c in crashed.history()] == [0]
    resumed = TeachSession.open("digits", "crashed", store=Store())
    assert resumed.round == 1 and [c.round for c in resumed.history()] == [0, 1]
    assert len(resumed.ratings()) == 10
    np.testing.assert_allclose(resumed.head.w, normal.head.w, atol=1e-6)
    assert resumed.history()[-1].metrics["ap"] == pytest.approx(normal.history()[-1].metrics["ap"], abs=1e-6)


def test_undo_restores_previous_w_exactly_and_drops_that_rounds_ratings(store):
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 2),
                                  target_label="3")
    session.submit(_oracle(session.next_batch(10)))
    w1, b1 = session.head.w.copy(), session.head.b
    second = session.next_batch(10)
    session.submit(_oracle(second))
    assert not np.array_equal(session.head.w, w1)
    assert session.undo() == 1
    assert np.array_equal(session.head.w, w1) and session.head.b == b1
    assert len(session.ratings()) == 10
    assert not {c.item_id for c in second} & session.seen_ids()
    reopened = TeachSession.open("digits", "threes", store=store)
    assert reopened.round == 1 and np.array_equal(reopened.head.w, w1)
    assert reopened.submit(_oracle(reopened.next_batch(10))).round == 2


def test_reset_seen_keeps_ratings(store):
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 2),
                                  target_label="3", strategy="nearest")
    first = session.next_batch(10)
    session.submit(_oracle(first))
    w = session.head.w.copy()
    session.reset_seen()
    assert session.seen_ids() == set() and len(session.ratings()) == 10
    again = TeachSession.open("digits", "threes", store=store)
    assert again.seen_ids() == set() and np.array_equal(again.head.w, w)
    assert {c.item_id for c in again.next_batch(1438)} >= {c.item_id for c in first}


def test_two_tabs_submitting_alternately_lose_no_rating(store):
    tab_a = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 2),
                                target_label="3")
    tab_b = TeachSession.open("digits", "threes", store=Store())
    submitted: set[str] = set()
    for tab in (tab_a, tab_b, tab_a, tab_b):
        batch = tab.next_batch(5)
        assert not {c.item_id for c in batch} & submitted  # each tab sees the other's ratings as seen
        submitted |= {c.item_id for c in batch}
        tab.submit(_oracle(batch))
    final = TeachSession.open("digits", "threes", store=Store())
    assert set(final.ratings().item_ids) == submitted and len(submitted) == 20
    assert [c.round for c in final.history()] == [0, 1, 2, 3, 4]


def test_concepts_on_one_index_have_independent_seen_sets(store):
    threes = TeachSession.create("digits", "threes", store=store, strategy="random")
    eights = TeachSession.create("digits", "eights", store=store, strategy="random")
    threes.submit(_oracle(threes.next_batch(10, seed=1)))
    assert len(threes.seen_ids()) == 10 and eights.seen_ids() == set()
    assert {c.name for c in TeachStore(store).concepts("digits")} == {"threes", "eights"}
    TeachStore(store).delete_concept("digits", "threes")
    assert [c.name for c in TeachStore(store).concepts("digits")] == ["eights"]


@pytest.mark.parametrize("bad", ["too_big", "nan", "unknown", "empty"])
def test_invalid_ratings_raise_and_write_nothing(store, bad):
    session = TeachSession.create("digits", "threes", store=store)
    item = _train_ids(store, "3", 1)[0]
    ratings = {"too_big": {item: 2.0}, "nan": {item: math.nan}, "unknown": {item: 1.0, "no-such-item": -1.0},
               "empty": {}}[bad]
    with pytest.raises(InvalidRating):
        session.submit(ratings)
    assert session.teach.label_rows("digits", "threes") == [] and session.round == 0


def test_pool_exhausted_is_a_typed_error(store):
    session = TeachSession.create("digits", "all", store=store, strategy="nearest")
    everything = session.next_batch(5000, strategy="nearest")
    assert len(everything) == store.get_index("digits").counts["train"]
    session.submit(_oracle(everything))
    with pytest.raises(PoolExhausted):
        session.next_batch(10)


def test_export_load_round_trip_and_predict_csv_parquet(store, tmp_path):
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 2),
                                  target_label="3")
    session.submit(_oracle(session.next_batch(10)))
    path = export_session(session, tmp_path / "threes.safetensors", threshold=0.5)
    head, meta = load_classifier(path, expect_dim=256, expect_embedder="pixels:16")
    assert np.array_equal(head.w, session.head.w) and head.b == pytest.approx(session.head.b)
    assert meta["concept"] == "threes" and meta["index"] == "digits" and meta["n_ratings"] == 10
    assert meta["round"] == 1 and meta["threshold"] == 0.5 and meta["dim"] == 256
    csv_table = predict(path, "digits", store=store, out=tmp_path / "scores.csv")
    parquet_table = predict(path, "digits", store=store, out=tmp_path / "scores.parquet")
    read_back = pd.read_csv(tmp_path / "scores.csv", dtype={"label": str}), pd.read_parquet(tmp_path / "scores.parquet")
    for table in read_back:
        assert list(table.columns) == ["id", "split", "score", "probability", "predicted", "label"]
        assert len(table) == store.get_index("digits").counts["validation"] and set(table["split"]) == {"validation"}
        assert (table["predicted"] == (table["score"] > 0.5)).all()
    rows, logits = session.scores("validation")
    np.testing.assert_allclose(csv_table["score"].to_numpy(), logits, rtol=1e-5, atol=1e-5)
    assert len(parquet_table) == len(csv_table)
    with pytest.raises(FewshotError, match="csv or .parquet"):
        predict(path, "digits", store=store, out=tmp_path / "scores.xlsx")


def test_classifier_from_another_index_is_refused(store, tmp_path):
    other = TeachSession.create("digits8", "threes", store=store)
    path = export_session(other, tmp_path / "small.safetensors")
    with pytest.raises(EmbedderMismatch, match="64"):
        predict(path, "digits", store=store, out=tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_evaluate_split_metrics(store):
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 3))
    evaluation = evaluate_split(store, "digits", session.head, target_label="3", threshold=0.5)
    assert evaluation.has_metrics and 0.5 < evaluation.ap <= 1 and evaluation.auc > 0.5
    assert evaluation.tp + evaluation.fn == evaluation.n_positive == int((evaluation.labels == "3").sum())
    assert evaluation.tp + evaluation.fp == int(evaluation.predicted.sum())
    assert evaluation.precision == pytest.approx(evaluation.tp / max(evaluation.tp + evaluation.fp, 1))
    assert len(evaluation.pr_precision) == len(evaluation.pr_recall) == len(evaluation.pr_thresholds) + 1
    assert evaluate_split(store, "digits", session.head).ap is None  # no target: scores only
    # undefined is None, not 0: recall with no positive (a label no item has), precision with nothing predicted
    none_positive = evaluate_split(store, "digits", session.head, target_label="no-such-label", threshold=0.5)
    assert none_positive.n_positive == 0 and none_positive.recall is None and none_positive.f1 is None
    nothing_predicted = evaluate_split(store, "digits", session.head, target_label="3", threshold=1e9)
    assert nothing_predicted.precision is None and nothing_predicted.recall == 0.0
    whole = predictions_table(evaluate_split(store, "digits", session.head, split=None))
    assert len(whole) == 1797 and set(whole["split"]) == {"train", "validation"}


def _unlabelled_copy(store: Store, name: str, n_train: int | None = None, labelled: bool = False) -> None:
    """An index with the digits vectors but no labels (or only the first n_train train items)."""
    view = store.vectors("digits")
    keep = np.flatnonzero(view.split == "validation").tolist()
    train = np.flatnonzero(view.split == "train")
    keep += (train if n_train is None else train[:n_train]).tolist()
    info = IndexInfo(name=name, embedder="pixels:16", embedder_kind="pixels", checkpoint="pixels:16", dim=256,
                     modality="image", counts={}, status="complete")
    store.save_index_info(info)
    store.items_table(name, dim=256)
    columns = {
        "id": [str(view.ids[i]) for i in keep], "split": [str(view.split[i]) for i in keep],
        "label": [view.labels[i] if labelled else None for i in keep], "labels": [None] * len(keep),
        "vector": view.matrix[keep].tolist(),
        "text": [None] * len(keep), "thumbnail": [None] * len(keep), "uri": [""] * len(keep),
    }
    store.add_items(name, pa.table(columns, schema=items_schema(256)))


def test_evaluate_and_simulate_on_an_index_without_labels(store):
    _unlabelled_copy(store, "nolabels")
    with pytest.raises(FewshotError, match="no ground-truth labels"):  # a target that could never give an AP
        TeachSession.create("nolabels", "c", store=store, target_label="3")
    session = TeachSession.create("nolabels", "c", store=store)
    evaluation = evaluate_split(store, "nolabels", session.head, target_label="3")
    assert not evaluation.has_metrics and evaluation.ap is None and evaluation.n_labelled == 0
    assert len(predictions_table(evaluation)) == len(evaluation.ids) > 0
    with pytest.raises(FewshotError, match="no ground-truth labels"):
        simulate("nolabels", "3", "mixed", rounds=1, batch=5, store=store)


def test_simulate_records_every_round_and_cleans_up(store):
    rows = simulate("digits", "3", "mixed", rounds=3, batch=10, store=store)
    assert [r["round"] for r in rows] == [0, 1, 2, 3]
    assert [r["n_ratings"] for r in rows] == [0, 10, 20, 30]
    assert all(r["strategy"] == "mixed" and r["ap"] is not None for r in rows)
    assert rows[-1]["ap"] > rows[0]["ap"]
    assert TeachStore(store).concepts("digits") == []
    kept = simulate("digits", "3", "random", rounds=1, batch=5, store=store, keep=True)
    assert len(kept) == 2 and len(TeachStore(store).concepts("digits")) == 1


def test_a_killed_replays_throwaway_concept_is_removed_by_the_next_replay(store):
    """A SIGKILLed ``simulate`` cannot delete its concept; the next replay on the index does, and never one
    whose replay is still running or one kept on purpose."""
    from core.simulate import _replay_marker
    from core.storage import file_lock

    kept = simulate("digits", "3", "random", rounds=1, batch=5, store=store, keep=True)
    assert len(kept) == 2
    for name in ("sim-auto-0badf00d", "sim-auto-1badf00d"):  # what two killed replays left
        TeachSession.create("digits", name, store=store, target_label="3")
        _replay_marker(store, "digits", name).touch()
    with file_lock(_replay_marker(store, "digits", "sim-auto-1badf00d")):  # this one's replay is alive
        simulate("digits", "3", "mixed", rounds=1, batch=5, store=store)
        left = sorted(c.name for c in TeachStore(store).concepts("digits"))
    assert "sim-auto-0badf00d" not in left and "sim-auto-1badf00d" in left and len(left) == 2  # + the kept one
    assert not _replay_marker(store, "digits", "sim-auto-0badf00d").exists()
    # a replay killed in its own cleanup: its concept's row gone, its ratings and checkpoints left under the name
    teach = TeachStore(store)
    TeachSession.create("digits", "sim-auto-2badf00d", store=store, target_label="3")
    teach.db.open_table("concepts").delete("concept = 'sim-auto-2badf00d'")
    assert teach.checkpoints("digits", "sim-auto-2badf00d")
    from core.simulate import remove_abandoned_replays
    from core.teach_lock import lock_path

    assert "sim-auto-2badf00d" in remove_abandoned_replays(store, "digits")
    assert not teach.checkpoints("digits", "sim-auto-2badf00d")
    # a finished replay leaves no lock file behind (its random name is never locked again)
    before = set((Path(store.root) / "locks").glob("teach-*.lock"))
    simulate("digits", "3", "mixed", rounds=1, batch=5, store=store)
    assert set((Path(store.root) / "locks").glob("teach-*.lock")) == before
    assert lock_path(store.root, "digits", "x") is not None


def test_simulate_stops_when_the_pool_runs_out(store):
    _unlabelled_copy(store, "tiny", n_train=25, labelled=True)
    rows = simulate("tiny", "3", "boundary", rounds=10, batch=10, store=store)
    assert [r["n_ratings"] for r in rows] == [0, 10, 20, 25]


def test_simulate_label_errors_list_the_labels(store):
    with pytest.raises(FewshotError, match="'0', '1', '2', '3'"):
        simulate("digits", "cat", "mixed", rounds=1, batch=5, store=store)
    with pytest.raises(FewshotError, match="no positive label"):
        check_label(store, "digits", None)


def test_linear_probe_is_a_high_ceiling(store):
    assert linear_probe_ap(store, "digits", "3") > 0.9


def test_default_policy_explores_once_the_start_runs_dry(store):
    """Started from the wrong examples, the top-ranked items come first (30 ratings), then dry rounds explore."""
    session = TeachSession.create("digits", "three-from-eights", store=store,
                                  examples=_train_ids(store, "8", 5), target_label="3")
    assert session.concept.strategy == "auto" and session.plan(10).counts == {"nearest": 10}
    for seed in (0, 1, 2):
        assert session.plan(10).counts == {"nearest": 10}  # the first 30 ratings follow the start
        batch = session.next_batch(10, seed=seed)
        session.submit({c.item_id: -1.0 for c in batch})  # the person sees no 3 at all
    plan = session.plan(10)
    assert plan.counts.get("diverse", 0) > 0 and plan.counts.get("deep", 0) > 0 and "3 rounds" in plan.reason
    explored = session.next_batch(10, seed=0)
    assert session.last_policy_reason == plan.reason
    assert len({c.label for c in explored}) >= 3, "an exploring batch should span several digits"
    three = _train_ids(store, "3", 1)[0]
    session.submit({three: 1.0})
    # a positive: back to the top of the ranking, with the boundary half now that 30 ratings are in
    assert session.plan(10).counts == {"nearest": 5, "boundary": 5}


def test_default_policy_reads_the_top_of_the_last_round_from_the_checkpoint_that_chose_it(store):
    """Past the first 30 ratings, a top that came back mostly positive gives the boundary 7 of 10 items."""
    session = TeachSession.create("digits", "threes", store=store, examples=_train_ids(store, "3", 5),
                                  target_label="3")
    for seed in range(4):
        batch = session.next_batch(10, seed=seed)
        session.submit({c.item_id: 1.0 if c.label == "3" else -1.0 for c in batch})
    rated, view = session.ratings(), store.vectors("digits")
    latest = rated.rounds == rated.rounds.max()
    chooser = session.history()[-2]  # round 3's checkpoint chose round 4's batch
    assert chooser.round == 3
    row_of = {item_id: i for i, item_id in enumerate(view.ids)}
    scores = view.matrix[[row_of[i] for i in rated.item_ids[latest]]] @ chooser.w + chooser.bias
    top3 = rated.ratings[latest][np.argsort(-scores)[:3]]
    evidence = session.evidence()
    assert (evidence.top_positive, evidence.top_size) == (int((top3 > 0).sum()), 3)
    assert evidence.top_yields  # the examples' top of the ranking is all threes
    assert session.plan(10).counts == {"nearest": 3, "boundary": 7}
    batch = session.next_batch(10, seed=5)
    assert "yields freely" in session.last_policy_reason
    # another process opened before the next round sees the plan of its own round, not a later one's
    stale = TeachSession.open("digits", "threes", store=store)
    # the batch all rated negative, with five old positives confirmed by hand in the same round: those were not
    # this round's picks, so they do not make its top "yield"
    old_positives = [i for i, r in zip(rated.item_ids, rated.ratings, strict=True) if r > 0][:5]
    session.submit({**{c.item_id: -1.0 for c in batch}, **{i: 1.0 for i in old_positives}})
    evidence = session.evidence()
    assert evidence.top_size == 3 and evidence.top_positive == 0
    assert session.plan(10).counts == {"nearest": 5, "boundary": 5}
    assert stale.evidence().top_yields and stale.plan(10).counts == {"nearest": 3, "boundary": 7}
    # the latest round was a single hand-added item: nothing known about the top, back to half and half
    session.submit({_train_ids(store, "3", 40)[-1]: 1.0})
    assert session.evidence().top_size == 0 and session.plan(10).counts == {"nearest": 5, "boundary": 5}


def test_a_fixed_strategy_with_a_start_vector_is_never_overridden(store):
    session = TeachSession.create("digits", "fixed", store=store, examples=_train_ids(store, "8", 5),
                                  strategy="mixed", target_label="3")
    batch = session.next_batch(10, seed=0)
    session.submit({c.item_id: -1.0 for c in batch})
    assert session.effective_strategy() == "mixed" and session.batch_reason() == "strategy mixed"
    blank = TeachSession.create("digits", "blank", store=store, strategy="nearest", target_label="3")
    assert blank.effective_strategy() == "diverse"  # no start: w = 0 ranks nothing, so spread out first


def test_a_round_fits_the_ratings_and_a_fixed_sample_of_unrated_train_items(store):
    """The session's fit counts the index's fixed background sample (``core.background``), rated items left out."""
    from core.background import background_rows, unrated
    from core.classifier import LinearHead, TrainConfig

    session = TeachSession.create("digits", "threes-bg", store=store, examples=_train_ids(store, "3", 2),
                                  target_label="3", train={"background_size": 1000})
    batch = session.next_batch(10)
    ratings = _oracle(batch)
    session.submit(ratings)
    view = store.vectors("digits")
    row_of = {item_id: i for i, item_id in enumerate(view.ids)}
    rated = np.array([row_of[c.item_id] for c in batch])
    sample = background_rows(view.rows("train"), 1000)
    assert np.isin(rated, sample).any()  # some rated items were in the sample: they must leave it
    background = view.matrix[sample[unrated(sample, rated)]]
    r = np.array([ratings[c.item_id] for c in batch])

    def refit(config: TrainConfig, background) -> np.ndarray:
        head = LinearHead(w=session.initial.w, b=0.0, dim=view.matrix.shape[1], config=config, w0=session.initial.w)
        head.fit(view.matrix[rated], r, background=background)
        return head.w

    np.testing.assert_allclose(session.head.w, refit(session.train_config, background), rtol=1e-3, atol=1e-4)
    without = refit(TrainConfig(background_size=1000, background_weight=0.0), None)
    assert np.linalg.norm(session.head.w - without) > 0.05 * np.linalg.norm(without)
    # reopening (another process) and undoing then resubmitting lands on the same w
    again = TeachSession.open("digits", "threes-bg", store=store)
    again.undo()
    again.submit(ratings)
    np.testing.assert_allclose(again.head.w, session.head.w, rtol=1e-4, atol=1e-5)
