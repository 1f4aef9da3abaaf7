"""The teaching commands end to end on a digits index: concept, teach, export, predict, simulate."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.errors import FewshotError
from core.session import TeachSession
from core.store import Store
from core.teach_store import TeachStore
from tests.helpers.workspaces import indexed_digits, use_workspace

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return indexed_digits(tmp_path_factory.mktemp("digits-cli-workspace"))


@pytest.fixture
def digits(template, workspace_dir):
    use_workspace(template, workspace_dir)
    return workspace_dir


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_teaching_flow_from_the_command_line(digits, capsys, tmp_path):
    ix = ("--index", "digits", "--concept", "threes")
    code, out, _ = run(capsys, "concept", "create", *ix, "--target-label", "3", "--strategy", "mixed", "--batch", "8")
    assert code == 0 and "diverse" in out
    code, out, _ = run(capsys, "concept", "list", "--index", "digits")
    assert code == 0 and "threes" in out

    code, out, _ = run(capsys, "teach", "next", *ix, "--json", "--seed", "0")
    batch = json.loads(out)
    assert code == 0 and len(batch) == 8
    assert set(batch[0]) == {"item_id", "score", "probability", "label", "text", "round"}
    assert {c["round"] for c in batch} == {0}  # what `teach submit --expected-round` takes
    pairs = [f"{c['item_id']}={1 if c['label'] == '3' else -1}" for c in batch[:-1]] + [f"{batch[-1]['item_id']}=skip"]
    code, out, _ = run(capsys, "teach", "submit", *ix, "--ratings", ",".join(pairs))
    assert code == 0 and out.startswith("round 1: 7 new, 1 skipped") and "validation AP" in out
    view = Store().vectors("digits")
    n_threes = int((np.asarray(view.labels)[view.rows("validation")] == "3").sum())
    assert f"validation AP {json.loads(run(capsys, 'teach', 'history', *ix, '--json')[1])[-1]['ap']:.3f}" in out
    assert f"(on {n_threes} positives)" in out  # what the AP rests on

    code, out, _ = run(capsys, "teach", "next", *ix, "--json", "--k", "5")
    second = json.loads(out)
    assert {c["round"] for c in second} == {1}
    assert not {c["item_id"] for c in second} & {c["item_id"] for c in batch}
    ratings_file = tmp_path / "ratings.csv"
    with open(ratings_file, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "rating"])
        writer.writerows([c["item_id"], 1.0 if c["label"] == "3" else -1.0] for c in second)
    code, out, _ = run(capsys, "teach", "submit", *ix, "--file", str(ratings_file))
    assert code == 0 and out.startswith("round 2: 5 new") and re.search(r"w moved \d+\.\d degrees \(cosine ", out)

    code, out, _ = run(capsys, "teach", "history", *ix, "--json")
    history = json.loads(out)
    assert [h["round"] for h in history] == [0, 1, 2] and [h["n_ratings"] for h in history] == [0, 7, 12]
    assert all(h["ap"] is not None for h in history)
    code, out, _ = run(capsys, "teach", "history", *ix)
    assert code == 0 and len(out.strip().splitlines()) == 5  # header, 3 rounds, what pred_pos counts

    code, out, _ = run(capsys, "teach", "undo", *ix)
    assert code == 0 and "round 1" in out
    code, out, _ = run(capsys, "teach", "reset-seen", *ix)
    assert code == 0

    model = tmp_path / "threes.safetensors"
    code, out, _ = run(capsys, "export", *ix, "--out", str(model), "--threshold", "0.25")
    assert code == 0 and model.is_file() and "7 ratings" in out
    for name in ("scores.csv", "scores.parquet"):
        code, out, _ = run(capsys, "predict", "--classifier", str(model), "--index", "digits", "--out",
                           str(tmp_path / name))
        assert code == 0 and "predictions" in out
    table = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(table) == len(pd.read_csv(tmp_path / "scores.csv")) == Store().get_index("digits").n_items  # all
    assert (table["predicted"] == (table["score"] > 0.25)).all()

    code, out, _ = run(capsys, "concept", "delete", *ix)
    assert code == 0
    code, out, _ = run(capsys, "concept", "list", "--index", "digits", "--json")
    assert json.loads(out) == []


def test_simulate_two_strategies_writes_csv_and_png(digits, capsys, tmp_path):
    results, plot = tmp_path / "results.csv", tmp_path / "curve.png"
    code, out, _ = run(capsys, "teach-sim", "--index", "digits", "--positive", "3", "--strategy", "boundary,random",
                       "--rounds", "3", "--batch", "10", "--out", str(results), "--plot", str(plot))
    assert code == 0
    assert out.count("round") >= 8 and "summary boundary" in out and "summary random" in out
    assert "linear probe" in out
    with open(results, newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [(s, str(i)) for s in ("boundary", "random") for i in range(4)]
    assert [(r["strategy"], r["round"]) for r in rows] == expected
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert Store().list_indexes()[0].name == "digits"
    code, out, _ = run(capsys, "concept", "list", "--index", "digits", "--json")
    assert json.loads(out) == []  # the replay's throwaway concepts are gone


def test_the_background_settings_are_kept_with_the_concept(digits, capsys):
    ix = ("--index", "digits", "--concept", "bg")
    code, _, err = run(capsys, "concept", "create", *ix, "--background-weight", "0", "--prior-zero", "0.5",
                        "--prior-previous", "2")
    assert code == 0, err
    assert TeachStore(Store()).concept("digits", "bg").train == {"background_weight": 0.0, "prior_zero": 0.5,
                                                                   "prior_previous": 2.0}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["concept", "create", "--index", "nope", "--concept", "c"], "no index named 'nope'"),
        (["concept", "create", "--index", "digits", "--concept", "c", "--prompt", "a three"], "no text side"),
        (["concept", "create", "--index", "digits", "--concept", "c", "--lr", "-1"], "lr"),
        (["concept", "create", "--index", "digits", "--concept", "c", "--background-weight", "-2"], "background_"),
        (["concept", "create", "--index", "digits", "--concept", "c", "--background-size", "-1"], "background_size"),
        (["teach", "next", "--index", "digits", "--concept", "missing"], "no concept 'missing'"),
        (["teach", "submit", "--index", "digits", "--concept", "c0", "--ratings", "digits-0=2"], "[-1, 1]"),
        (["teach", "submit", "--index", "digits", "--concept", "c0", "--ratings", "digits-0"], "item_id=rating"),
        (["teach", "submit", "--index", "digits", "--concept", "c0", "--ratings", "nope=1"], "not in index"),
        (["teach", "undo", "--index", "digits", "--concept", "c0"], "nothing to undo"),
        (["predict", "--classifier", "missing.safetensors", "--index", "digits", "--out", "x.csv"], "no such"),
        (["simulate", "--index", "digits", "--positive", "cat", "--rounds", "1"], "has labels: '0', '1'"),
        (["simulate", "--index", "digits", "--positive", "3", "--strategy", "best"], "unknown strategy"),
    ],
)
def test_user_errors_exit_2_without_traceback(digits, capsys, argv, message):
    assert main(["concept", "create", "--index", "digits", "--concept", "c0"]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_teach_next_proposes_the_same_batch_until_the_round_moves_on(digits, capsys):
    """A start with nothing samples its batch; without ``--seed`` two ``teach next`` calls must still agree (as the
    app's reload does), and the app's seed is the one the CLI uses, so both show the same items."""
    from core.session import TeachSession, batch_seed

    ix = ("--index", "digits", "--concept", "spread")
    assert run(capsys, "concept", "create", *ix, "--batch", "6")[0] == 0
    batches = [[c["item_id"] for c in json.loads(run(capsys, "teach", "next", *ix, "--json")[1])] for _ in range(2)]
    assert batches[0] == batches[1] and len(batches[0]) == 6
    session = TeachSession.open("digits", "spread")
    seed = batch_seed("digits", session.concept.identity, session.round, session.concept.seen_after_round,
                      session.effective_strategy(), 6)
    assert [c.item_id for c in session.next_batch(seed=seed)] == batches[0]
    assert run(capsys, "teach", "submit", *ix, "--ratings", f"{batches[0][0]}=1")[0] == 0
    after = [c["item_id"] for c in json.loads(run(capsys, "teach", "next", *ix, "--json")[1])]
    assert batches[0][0] not in after


def test_a_concept_keeps_its_threshold_and_export_and_report_follow_it(digits, capsys, tmp_path):
    from core.classifier import load_classifier
    from core.session import TeachSession

    ix = ("--index", "digits", "--concept", "kept")
    assert run(capsys, "concept", "create", *ix, "--target-label", "3")[0] == 0
    code, out, _ = run(capsys, "export", *ix, "--out", str(tmp_path / "a"))
    assert code == 0 and "threshold +0.00 (none chosen" in out
    stale = TeachSession.open("digits", "kept", store=Store())  # a tab opened before the threshold was set
    code, out, _ = run(capsys, "concept", "set-threshold", *ix, "--threshold", "-1.25")
    assert code == 0 and "threshold -1.25" in out
    stale.reset_seen()  # writes the concept: must not put back its old copy's threshold
    assert TeachSession.open("digits", "kept", store=Store()).threshold == -1.25
    code, out, _ = run(capsys, "export", *ix, "--out", str(tmp_path / "b"))
    assert code == 0 and "threshold -1.25 (the concept's)" in out
    assert load_classifier(tmp_path / "b.safetensors")[1]["threshold"] == -1.25
    assert run(capsys, "export", *ix, "--out", str(tmp_path / "c"), "--threshold", "0.5")[0] == 0  # given wins
    assert load_classifier(tmp_path / "c.safetensors")[1]["threshold"] == 0.5
    (tmp_path / "exports").mkdir()  # a folder: the concept's file inside it (it wrote exports.safetensors beside it)
    code, out, _ = run(capsys, "export", *ix, "--out", str(tmp_path / "exports"))
    assert code == 0 and out.splitlines()[0].endswith(str(tmp_path / "exports" / "kept.safetensors"))
    assert not (tmp_path / "exports.safetensors").exists()
    assert json.loads(run(capsys, "concept", "list", "--index", "digits", "--json")[1])[0]["threshold"] == -1.25
    for bad in ("nan", "inf"):  # refused by the argument's type: argparse's exit 2, one line
        with pytest.raises(SystemExit) as exited:
            run(capsys, "concept", "set-threshold", *ix, "--threshold", bad)
        assert exited.value.code == 2 and "a threshold is a finite logit" in capsys.readouterr().err
    # Teach's "Predicted +" counts at the concept's threshold too (an outside tester: 169 there, 149 on the Map)
    session = TeachSession.open("digits", "kept", store=Store())
    for value in (1.0, -1.0):
        session.submit({c.item_id: value for c in session.next_batch(5, seed=1)})
        logits = session.scoring_backend()[0].scores(session.head.w, session.head.b)
        middle = float(np.median(logits))
        session.set_threshold(middle)
    session.submit({c.item_id: 1.0 for c in session.next_batch(5, seed=2)})
    metrics = session.history()[-1].metrics
    logits = session.scoring_backend()[0].scores(session.head.w, session.head.b)
    assert metrics["predicted_threshold"] == pytest.approx(middle)
    assert metrics["predicted_positive"] == int((logits > middle).sum()) != int((logits > 0).sum())
    session.set_threshold(-1.25)
    for bad in (1e308, float("nan"), -2e6):  # from Python too, not only the command line (an attacker's 1e308)
        with pytest.raises(FewshotError, match="the threshold must be a logit between -1e"):
            session.set_threshold(bad)
    assert TeachSession.open("digits", "kept", store=Store()).concept.threshold == -1.25
    code, out, _ = run(capsys, "concept", "set-threshold", *ix, "--threshold=-800")  # exp(800) overflowed
    assert code == 0 and "(probability 0.000)" in out
    assert run(capsys, "concept", "set-threshold", *ix, "--clear")[0] == 0
    assert TeachSession.open("digits", "kept", store=Store()).concept.threshold is None


def test_a_stale_session_neither_revives_a_deleted_concept_nor_undoes_past_a_reset(digits, capsys, tmp_path):
    """A reviewer: a tab opened before a delete wrote its old copy back (a broken concept reappeared); an undo
    compared the reset mark of its own old copy, so items just rated were proposed again."""
    from core.errors import FewshotError
    from core.export import export_session
    from core.session import TeachSession
    from tests.helpers.workspaces import oracle_rounds

    store = Store()
    TeachSession.create("digits", "gone", store=store, target_label="3")
    stale = TeachSession.open("digits", "gone", store=store)
    TeachStore(store).delete_concept("digits", "gone")
    with pytest.raises(FewshotError, match="no longer exists"):
        stale.set_threshold(0.5)
    assert TeachStore(store).concept("digits", "gone") is None

    TeachSession.create("digits", "marks", store=store, target_label="3")
    oracle_rounds(TeachSession.open("digits", "marks", store=store), "3", 3)
    a, b = (TeachSession.open("digits", "marks", store=store) for _ in range(2))
    b.reset_seen()
    assert a.undo() == 2
    assert TeachStore(store).concept("digits", "marks").seen_after_round == 2
    session = TeachSession.open("digits", "marks", store=store)
    batch = session.next_batch(10)
    session.submit({c.item_id: -1.0 for c in batch})
    assert {c.item_id for c in batch} <= session.seen_ids()  # the round just rated counts as seen
    with pytest.raises(FewshotError, match="finite"):
        export_session(session, tmp_path / "x", threshold=float("nan"))


def test_a_ratings_row_without_a_rating_field_is_refused_not_skipped(digits, capsys, tmp_path):
    ix = ("--index", "digits", "--concept", "short")
    assert run(capsys, "concept", "create", *ix, "--target-label", "3")[0] == 0
    table = tmp_path / "short.csv"
    table.write_text("item_id,rating\ndigits-1\n")
    code, _, err = run(capsys, "teach", "submit", *ix, "--file", str(table))
    assert code == 2 and "has no rating field" in err
    table.write_text("item_id,rating\ndigits-1,\n")  # an empty field is a skip, as documented
    assert run(capsys, "teach", "submit", *ix, "--file", str(table))[0] == 0


def test_teach_ratings_lists_what_was_rated_and_reads_back(digits, capsys, tmp_path):
    """An outside tester could check the stored ratings only by reading the database: the CLI lists them."""
    ix = ("--index", "digits", "--concept", "listed")
    assert run(capsys, "concept", "create", *ix, "--target-label", "3")[0] == 0
    assert run(capsys, "teach", "submit", *ix, "--ratings", "digits-3=1,digits-7=-0.5,digits-13=skip")[0] == 0
    assert run(capsys, "teach", "submit", *ix, "--ratings", "digits-7=0.25")[0] == 0  # re-rated
    code, out, _ = run(capsys, "teach", "ratings", *ix, "--json")
    current = {r["item_id"]: (r["rating"], r["round"]) for r in json.loads(out)}
    assert code == 0 and current == {"digits-3": (1.0, 1), "digits-7": (0.25, 2)}
    code, out, _ = run(capsys, "teach", "ratings", *ix, "--all", "--json")
    every = [(r["item_id"], r["rating"], r["round"]) for r in json.loads(out)]
    assert every == [("digits-3", 1.0, 1), ("digits-7", -0.5, 1), ("digits-13", None, 1), ("digits-7", 0.25, 2)]
    code, out, _ = run(capsys, "teach", "ratings", *ix, "--out", str(tmp_path / "r.csv"))
    assert code == 0 and "wrote 2 ratings" in out
    table = pd.read_csv(tmp_path / "r.csv")
    assert list(table.columns) == ["item_id", "rating", "round"] and table["rating"].tolist() == [1.0, 0.25]
    # its item_id and rating columns are what `teach submit --file` reads
    assert run(capsys, "concept", "create", "--index", "digits", "--concept", "copy", "--target-label", "3")[0] == 0
    assert run(capsys, "teach", "submit", "--index", "digits", "--concept", "copy", "--file",
               str(tmp_path / "r.csv"))[0] == 0
    code, out, _ = run(capsys, "teach", "ratings", "--index", "digits", "--concept", "copy")
    assert code == 0 and out.splitlines()[1:] == ['"digits-3",1.0,1', '"digits-7",0.25,1']
    code, out, _ = run(capsys, "teach", "ratings", *ix, "--json", "--out", str(tmp_path / "r.json"))
    assert code == 0 and json.loads((tmp_path / "r.json").read_text())[0]["item_id"] == "digits-3"
    classifier = tmp_path / "three.safetensors"  # an outside tester overwrote one with CSV
    classifier.write_bytes(b"weights")
    code, _, err = run(capsys, "teach", "ratings", *ix, "--out", str(classifier))
    assert code == 2 and "does not end in .csv" in err and classifier.read_bytes() == b"weights"
    assert run(capsys, "teach", "ratings", *ix, "--json", "--out", str(tmp_path / "r.csv"))[0] == 2
    code, _, err = run(capsys, "teach", "ratings", *ix, "--out", str(tmp_path / "no" / "such" / "r.csv"))
    assert code == 2 and "cannot write" in err and "No such file or directory" in err and "Traceback" not in err
    (tmp_path / "d.csv").mkdir()
    code, _, err = run(capsys, "teach", "ratings", *ix, "--out", str(tmp_path / "d.csv"))
    assert code == 2 and "cannot write" in err and "Is a directory" in err


def test_validation_items_cannot_be_rated(digits, capsys):
    """An outside tester rated a validation item with `teach submit`: it was stored and trained on, and the
    validation AP then measured the classifier on an item it had learnt."""
    ix = ("--index", "digits", "--concept", "held")
    assert run(capsys, "concept", "create", *ix, "--target-label", "3")[0] == 0
    for ratings in ("digits-12=1", "digits-3=1,digits-12=skip", "digits-5=-1,digits-9=1"):
        code, _, err = run(capsys, "teach", "submit", *ix, "--ratings", ratings)
        assert code == 2 and "in the validation split" in err and "nothing was written" in err
    assert "'digits-5', 'digits-9'" in err
    code, out, _ = run(capsys, "teach", "ratings", *ix, "--all", "--json")
    assert code == 0 and json.loads(out) == []
    assert run(capsys, "teach", "submit", *ix, "--ratings", "digits-3=1,digits-13=skip")[0] == 0


def test_teach_ratings_round_trips_ids_a_spreadsheet_would_run(tmp_path, capsys):
    """A reviewer: `teach ratings --out` writes '@alice (formula-safe), and `teach submit --file` then looked for
    an item named '@alice."""
    table = tmp_path / "t.csv"
    table.write_text("id,text,split\n@alice,a cat,train\n=sum,a dog,train\nplain,a cow,train\n"
                     "-x,an owl,validation\n")
    assert run(capsys, "index", "--name", "tiny", "--source", f"file:{table}", "--text-column", "text",
               "--id-column", "id", "--split-column", "split", "--embedder", "st:minilm")[0] == 0
    ix = ("--index", "tiny", "--concept", "c")
    assert run(capsys, "concept", "create", *ix)[0] == 0
    assert run(capsys, "teach", "submit", *ix, "--ratings", "@alice=1,=sum=-1,plain=0.5")[0] == 0
    assert run(capsys, "teach", "ratings", *ix, "--out", str(tmp_path / "r.csv"))[0] == 0
    assert "'@alice" in (tmp_path / "r.csv").read_text()  # safe to open in a spreadsheet
    assert run(capsys, "concept", "create", "--index", "tiny", "--concept", "d")[0] == 0
    copy = ("--index", "tiny", "--concept", "d")
    assert run(capsys, "teach", "submit", *copy, "--file", str(tmp_path / "r.csv"))[0] == 0
    code, out, _ = run(capsys, "teach", "ratings", "--index", "tiny", "--concept", "d", "--json")
    assert {r["item_id"]: r["rating"] for r in json.loads(out)} == {"@alice": 1.0, "=sum": -1.0, "plain": 0.5}


@pytest.mark.parametrize("argv, said", [
    (("teach", "next", "--index", "digits", "--concept", "odd", "--strategy", "random", "--seed", "-1"), "a seed is"),
    (("simulate", "--index", "digits", "--positive", "3", "--seed", "-1", "--no-probe"), "a seed is"),
    (("simulate", "--index", "digits", "--positive", "3", "--target-ap", "5"), "an AP target is"),
    (("report", "--index", "digits", "--concept", "odd", "--out", "r.html", "--threshold", "inf"), "a threshold is"),
    (("concept", "set-threshold", "--index", "digits", "--concept", "odd", "--threshold", "1e308"), "a threshold is"),
    (("export", "--index", "digits", "--concept", "odd", "--out", "o.safetensors", "--threshold", "nan"),
     "a threshold is"),
    (("concept", "create", "--index", "digits", "--concept", "big", "--batch", "100000000000"), "--batch must be"),
    (("concept", "create", "--index", "digits", "--concept", "none", "--examples", " , "), "--examples names no"),
])
def test_numbers_that_mean_nothing_are_one_line(digits, capsys, argv, said):
    """An outside tester: --seed -1 was a numpy traceback; --threshold inf, --target-ap 5, a threshold of 1e308
    (printed with 300 digits) and a batch of 10**11 were accepted; --examples '' became a diverse start."""
    assert run(capsys, "concept", "create", "--index", "digits", "--concept", "odd", "--target-label", "3")[0] == 0
    try:
        code, _, err = run(capsys, *argv)
    except SystemExit as exc:  # argparse's own refusal
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and said in err and "Traceback" not in err, err
    code, out, _ = run(capsys, "concept", "list", "--index", "digits")
    assert "big" not in out and "none" not in out


def test_concept_rename_from_the_command_line(digits, capsys):
    """The README says everything the app does is a command; the sidebar's rename was not."""
    assert run(capsys, "concept", "create", "--index", "digits", "--concept", "old", "--target-label", "3")[0] == 0
    assert run(capsys, "teach", "submit", "--index", "digits", "--concept", "old", "--ratings", "digits-3=1")[0] == 0
    assert run(capsys, "concept", "create", "--index", "digits", "--concept", "taken", "--target-label", "3")[0] == 0
    code, _, err = run(capsys, "concept", "rename", "--index", "digits", "--concept", "old", "--to", "taken")
    assert code == 2 and "taken" in err
    code, out, _ = run(capsys, "concept", "rename", "--index", "digits", "--concept", "old", "--to", "threes")
    assert code == 0 and "renamed concept 'old' to 'threes'" in out
    code, out, _ = run(capsys, "teach", "ratings", "--index", "digits", "--concept", "threes", "--json")
    assert code == 0 and [r["item_id"] for r in json.loads(out)] == ["digits-3"]
    code, _, err = run(capsys, "teach", "history", "--index", "digits", "--concept", "old")
    assert code == 2 and "no concept 'old'" in err and "'threes'" in err  # the concepts it has, named
    code, _, err = run(capsys, "concept", "rename", "--index", "digits", "--concept", "threes", "--to", "bad name")
    assert code == 2 and "invalid concept name" in err
    code, out, _ = run(capsys, "concept", "rename", "--index", "digits", "--concept", "threes", "--to", "threes")
    assert code == 0 and "already has that name; nothing changed" in out
    for target in ("nope", "other"):  # an unknown concept, renamed to itself or to another name
        code, _, err = run(capsys, "concept", "rename", "--index", "digits", "--concept", "nope", "--to", target)
        assert code == 2 and "no concept 'nope'" in err and "'threes'" in err, err


def test_predicted_positives_say_what_they_count_and_at_which_threshold(digits, capsys, tmp_path):
    """An outside auditor: Teach showed 349 predicted positive at the old threshold beside 1,144 elsewhere at the
    new one, history read a threshold change as a drop, and round 0 (the start, no rating) called most items
    positive."""
    from app.teach_side import predicted_now

    ix = ("--index", "digits", "--concept", "fours")
    assert run(capsys, "concept", "create", *ix, "--target-label", "4", "--strategy", "nearest")[0] == 0
    session = TeachSession.open("digits", "fours", store=Store())
    assert predicted_now(session, session.history()[-1].metrics)[0] is None  # the start ranks, it does not decide
    batch = session.next_batch(10)
    code, out, _ = run(capsys, "teach", "submit", *ix, "--ratings",
                       ",".join(f"{c.item_id}={1 if c.label == '4' else -1}" for c in batch))
    assert code == 0 and re.search(r"predicted positive \d+ of 1,797 items \(threshold \+0\.00\)", out)
    session = TeachSession.open("digits", "fours", store=Store())
    logits = session.scores()[1]
    stored = session.history()[-1].metrics["predicted_positive"]
    assert predicted_now(session, session.history()[-1].metrics) == (stored, 0.0) == (int((logits > 0).sum()), 0.0)
    lower = float(np.median(logits))
    kept_by_teach = TeachSession.open("digits", "fours", store=Store())  # the Teach page keeps its session
    session.set_threshold(lower)  # set on Validate after the round: counted again at it
    session = TeachSession.open("digits", "fours", store=Store())
    assert predicted_now(session, session.history()[-1].metrics) == (int((logits > lower).sum()), lower)
    # the page's older session reads the threshold stored now (a re-tester saw the old count after a slider move)
    assert predicted_now(kept_by_teach, session.history()[-1].metrics) == (int((logits > lower).sum()), lower)
    assert int((logits > lower).sum()) > stored
    code, out, _ = run(capsys, "teach", "history", *ix)
    lines = out.strip().splitlines()
    assert lines[0].split() == ["round", "ratings", "loss", "cos_prev", "pred_pos", "at", "ap"]
    assert lines[1].split()[4:6] == ["-", "-"] and lines[2].split()[4:6] == [str(stored), "+0.00"]
    assert lines[-1].startswith("pred_pos: items of the whole index (1,797)")
    # a round of skips only is still the start everywhere: no predicted positives in history, submit or Teach
    assert run(capsys, "concept", "create", "--index", "digits", "--concept", "skips", "--target-label", "4")[0] == 0
    skipped = TeachSession.open("digits", "skips", store=Store()).next_batch(5)
    code, out, _ = run(capsys, "teach", "submit", "--index", "digits", "--concept", "skips", "--ratings",
                       ",".join(f"{c.item_id}=skip" for c in skipped))
    assert code == 0 and "predicted positive - (no rating yet" in out
    session = TeachSession.open("digits", "skips", store=Store())
    assert session.round == 1 and predicted_now(session, session.history()[-1].metrics)[0] is None
    code, out, _ = run(capsys, "teach", "history", "--index", "digits", "--concept", "skips")
    assert out.strip().splitlines()[2].split()[4:6] == ["-", "-"]
    code, out, _ = run(capsys, "export", "--index", "digits", "--concept", "skips", "--out", str(tmp_path / "s"))
    assert code == 0 and "note: no rating yet" in out
