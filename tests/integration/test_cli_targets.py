"""What an outside tester found at the command line: ground truths checked where they are set, replays kept
when the ceiling cannot be computed, messages that name labels unambiguously, names refused early."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.errors import FewshotError
from core.ground_truth import describe_labels
from core.indexing import build_index
from core.session import TeachSession
from core.sources import parse_source
from core.store import Store
from core.teach_store import TeachStore

TOPICS = ["a pytest plugin for fixtures", "a flask extension for login", "sphinx theme for documentation",
          "a library to parse json"]
RLO = "\u202e"


def _table(path: Path, n: int = 32) -> Path:
    """Text, split and label columns: ``flask`` (0/1, positives only in train), ``kind`` (odd values)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "split", "flask", "kind"])
        for i in range(n):
            topic = i % len(TOPICS)
            split = "validation" if i % 4 == 3 else "train"  # topic 3 only: no flask positive in validation
            kind = {0: "a,b", 1: "line1\nline2", 2: "x" * 100, 3: f"left{RLO}right"}[topic]
            writer.writerow([f"pkg-{i}", f"{TOPICS[topic]} number {i}", split, int(topic == 1), kind])
    return path


@pytest.fixture
def pkgs(tmp_path, minilm) -> Store:
    source = parse_source(f"file:{_table(tmp_path / 'pkgs.csv')}", split_column="split",
                          label_columns=["flask", "kind"])
    store = Store()
    build_index("pkgs", source, minilm, store=store)
    return store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_concept_create_refuses_a_target_the_column_does_not_hold(pkgs, capsys):
    code, _, err = run(capsys, "concept", "create", "--index", "pkgs", "--concept", "c", "--target-column", "flask",
                       "--target-label", "2")
    assert code == 2 and "'2' is not in it" in err and "'0', '1'" in err
    code, _, err = run(capsys, "concept", "create", "--index", "pkgs", "--concept", "c", "--target-column", "flask",
                       "--target-label", "1.0")
    assert code == 2 and "is not in it" in err
    code, _, err = run(capsys, "concept", "create", "--index", "pkgs", "--concept", "c", "--target-column", "flask")
    assert code == 2 and "--target-label" in err and "'0', '1'" in err
    assert TeachStore(pkgs).concept("pkgs", "c") is None  # nothing half-made
    code, _, _ = run(capsys, "concept", "create", "--index", "pkgs", "--concept", "c", "--target-column", "flask",
                     "--target-label", "1")
    assert code == 0


def test_update_settings_refuses_a_value_the_column_does_not_hold(pkgs):
    session = TeachSession.create("pkgs", "c", store=pkgs, target_column="flask", target_label="1")
    with pytest.raises(FewshotError, match="is not in it"):
        session.update_settings(target_label="yes")
    with pytest.raises(FewshotError, match="is not in it"):
        session.update_settings(target_column="kind")  # '1' is no kind
    session.update_settings(target_column="kind", target_label="a,b")  # both at once: checked together
    stored = TeachStore(pkgs).concept("pkgs", "c")
    assert (stored.target_column, stored.target_label) == ("kind", "a,b")


def test_label_lists_are_one_line_quoted_and_short(pkgs, capsys):
    code, _, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "kind", "--positive", "zz")
    line = err.strip()
    assert code == 2 and "\n" not in line
    assert "'a,b'" in line and "'line1\\nline2'" in line and "'" + "x" * 40 + "…'" in line
    assert RLO not in line and "left\\u202eright" in line  # repr shows the control, never applies it
    labels = [f"v{i:03d}" for i in range(100)]
    assert describe_labels(labels).endswith("'v029', ... (100 in all)")


def test_simulate_keeps_the_run_when_the_probe_cannot_be_computed(pkgs, capsys, tmp_path):
    out_csv = tmp_path / "rounds.csv"
    code, out, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "flask", "--positive", "1",
                         "--strategy", "nearest", "--rounds", "2", "--batch", "3", "--prompt", "flask extension",
                         "--out", str(out_csv))
    assert code == 0, err
    assert "linear probe skipped" in out and "summary nearest" in out
    assert len(pd.read_csv(out_csv)) == 3  # rounds 0, 1, 2


def test_simulate_says_when_the_pool_ran_out(pkgs, capsys):
    code, out, _ = run(capsys, "simulate", "--index", "pkgs", "--label-column", "flask", "--positive", "1",
                       "--strategy", "nearest", "--rounds", "30", "--batch", "5", "--no-probe")
    assert code == 0 and "stopped after round 5 of 30" in out  # 24 train items, 5 per round


def test_interrupted_simulate_does_not_promise_a_resume(pkgs, capsys, monkeypatch):
    import core.simulate

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.simulate, "compare", interrupt)
    code, _, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "flask", "--positive", "1")
    assert code == 130 and "resume" not in err and "start over" in err


def test_a_submit_stopped_by_ctrl_c_says_whether_its_round_was_written(pkgs, capsys, monkeypatch):
    """An outside tester's Ctrl-C printed "what was written is kept" without saying whether the round was."""
    assert run(capsys, "concept", "create", "--index", "pkgs", "--concept", "cc", "--target-column", "flask",
               "--target-label", "1", "--prompt", "a flask extension")[0] == 0
    ix = ("--index", "pkgs", "--concept", "cc")
    batch = json.loads(run(capsys, "teach", "next", *ix, "--json")[1])
    pairs = ",".join(f"{c['item_id']}=-1" for c in batch[:3])
    real_submit = TeachSession.submit

    def stopped_before(self, *args, **kwargs):
        raise KeyboardInterrupt

    def stopped_after(self, *args, **kwargs):
        real_submit(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(TeachSession, "submit", stopped_before)
    code, _, err = run(capsys, "teach", "submit", *ix, "--ratings", pairs)
    assert code == 130 and "nothing was written: cc is still at round 0; run the same command again" in err
    monkeypatch.setattr(TeachSession, "submit", stopped_after)
    code, _, err = run(capsys, "teach", "submit", *ix, "--ratings", pairs)
    assert code == 130 and "round 1 was written whole" in err

    def stopped_in_a_lance_read(self, *args, **kwargs):  # Lance hands a Ctrl-C back as pyarrow's error
        import pyarrow as pa

        raise pa.lib.ArrowInvalid("External error: KeyboardInterrupt: ")

    monkeypatch.setattr(TeachSession, "submit", stopped_in_a_lance_read)
    code, _, err = run(capsys, "teach", "submit", *ix, "--ratings", pairs)
    assert code == 130 and "nothing was written: cc is still at round 1" in err and "Traceback" not in err
    assert TeachSession.open("pkgs", "cc", store=Store()).round == 1


def test_predict_says_when_label_is_not_the_classifiers_column(pkgs, capsys, tmp_path, minilm):
    assert main(["concept", "create", "--index", "pkgs", "--concept", "fl", "--target-column", "kind",
                 "--target-label", "a,b"]) == 0
    classifier = tmp_path / "fl.safetensors"
    assert main(["export", "--index", "pkgs", "--concept", "fl", "--out", str(classifier)]) == 0
    other = tmp_path / "other.csv"
    pd.DataFrame({"id": ["o1", "o2"], "text": ["flask login", "json parser"], "topic": ["t1", "t2"]}).to_csv(other,
                                                                                                          index=False)
    build_index("other", parse_source(f"file:{other}", label_columns=["topic"]), minilm, store=pkgs)
    capsys.readouterr()
    code, out, _ = run(capsys, "predict", "--classifier", str(classifier), "--index", "other", "--split", "all",
                       "--out", str(tmp_path / "p.csv"))
    assert code == 0 and "note: the classifier's ground-truth column 'kind' is not in index 'other'" in out
    assert "'topic'" in out
    code, out, _ = run(capsys, "predict", "--classifier", str(classifier), "--index", "pkgs", "--out",
                       str(tmp_path / "q.csv"))
    assert code == 0 and "note:" not in out


def test_names_are_refused_with_their_own_word_and_before_the_model_loads(pkgs, capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, "concept", "create", "--index", "pkgs", "--concept", "../x")
    assert code == 2 and "invalid concept name '../x'" in err
    import core.embedders

    def no_model(*args, **kwargs):
        raise AssertionError("the model loaded before the name was checked")

    monkeypatch.setattr(core.embedders, "load_embedder", no_model)
    for bad in ("x\n", "y ", "../evil"):
        code, _, err = run(capsys, "index", "--name", bad, "--source", f"file:{tmp_path / 'pkgs.csv'}",
                           "--embedder", "st:minilm")
        assert code == 2 and "invalid index name" in err


def test_concept_list_shows_bidi_controls_visibly(pkgs, capsys):
    assert main(["concept", "create", "--index", "pkgs", "--concept", "k", "--target-column", "kind",
                 "--target-label", f"left{RLO}right"]) == 0
    code, out, _ = run(capsys, "concept", "list", "--index", "pkgs")
    assert code == 0 and RLO not in out and "kind=left[U+202E]right" in out


def test_rows_and_messages_stay_one_line_and_short(pkgs, capsys):
    """Labels with a newline, an ANSI colour code or 3,000 characters can neither break a row nor flood a message."""
    assert run(capsys, "concept", "create", "--index", "pkgs", "--concept", "nl", "--target-column", "kind",
               "--target-label", "line1\nline2")[0] == 0
    code, out, _ = run(capsys, "concept", "list", "--index", "pkgs")
    assert code == 0 and len(out.strip().splitlines()) == 2 and "kind=line1\\nline2" in out
    code, out, _ = run(capsys, "teach", "next", "--index", "pkgs", "--concept", "nl", "--k", "8")
    rows = out.strip().splitlines()
    assert code == 0 and rows[0].startswith("round 0: 8 items") and rows[1].startswith("why: ")
    assert len(rows) == 11  # round, why, header, 8 items
    assert "\x1b" not in out and "\u202e" not in out
    assert all(len(row) < 140 for row in rows)  # the 100-character label is cut
    code, _, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "z" * 3000, "--positive", "1")
    assert code == 2 and len(err) < 400 and "(3000 characters)" in err
    code, _, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "kind", "--positive", "L" * 3000)
    assert code == 2 and len(err) < 600 and "\n" not in err.strip()


def test_teach_next_shows_what_to_rate(pkgs, capsys):
    """A rater at the command line sees each item's text, not only its id (the Teach page shows it too)."""
    assert main(["concept", "create", "--index", "pkgs", "--concept", "t", "--target-column", "flask",
                 "--target-label", "1", "--batch", "4"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "teach", "next", "--index", "pkgs", "--concept", "t", "--json", "--seed", "0")
    texts = {c["item_id"]: c["text"] for c in json.loads(out)}
    assert code == 0 and len(texts) == 4
    assert all(text == f"{TOPICS[int(i.split('-')[1]) % len(TOPICS)]} number {i.split('-')[1]}"
               for i, text in texts.items())
    code, out, _ = run(capsys, "teach", "next", "--index", "pkgs", "--concept", "t", "--seed", "0")
    rows = out.strip().splitlines()
    assert code == 0 and rows[0].startswith("round 0: ") and rows[1].startswith("why: ")
    assert rows[2].split()[-1] == "text" and len(rows) == 7
    assert all(row.endswith(texts[row.split()[0]]) for row in rows[3:])


def test_a_number_as_target_label_is_stored_as_its_text(pkgs):
    session = TeachSession.create("pkgs", "n", store=pkgs, target_column="flask", target_label=1)
    assert TeachStore(pkgs).concept("pkgs", "n").target_label == "1"
    session.update_settings(target_label=0)
    assert TeachStore(pkgs).concept("pkgs", "n").target_label == "0"


def test_simulate_without_a_validation_ap_skips_the_plot_and_keeps_the_run(pkgs, capsys, tmp_path):
    code, out, err = run(capsys, "simulate", "--index", "pkgs", "--label-column", "flask", "--positive", "1",
                         "--strategy", "nearest", "--rounds", "1", "--batch", "3", "--no-probe",
                         "--out", str(tmp_path / "r.csv"), "--plot", str(tmp_path / "r.png"))
    assert code == 0, err
    assert "plot skipped: no round has a validation AP" in out and (tmp_path / "r.csv").exists()


def test_predict_reports_the_concepts_ap_on_the_scored_split(pkgs, capsys, tmp_path):
    """``predict`` knows the concept's ground truth: it prints the AP (and what it rests on) that the CSV gives.
    By default every item is scored, and the AP line uses the held-out items only (train items may be rated)."""
    from sklearn.metrics import average_precision_score

    assert main(["concept", "create", "--index", "pkgs", "--concept", "fa", "--target-column", "flask",
                 "--target-label", "1", "--prompt", "a Flask extension"]) == 0
    classifier, out_csv = tmp_path / "fa.safetensors", tmp_path / "fa.csv"
    assert main(["export", "--index", "pkgs", "--concept", "fa", "--out", str(classifier)]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "predict", "--classifier", str(classifier), "--index", "pkgs", "--out", str(out_csv))
    table = pd.read_csv(out_csv, dtype={"label": str, "label_flask": str})
    assert code == 0 and set(table["split"]) == {"train", "validation"} and len(table) == 32
    # the fixture's flask positives are all in train: on the held-out items there is no AP to give
    assert "against flask=1: AP - (on 0 positives of 8 labelled validation items)" in out
    code, out, _ = run(capsys, "predict", "--classifier", str(classifier), "--index", "pkgs", "--split", "train",
                       "--out", str(out_csv))
    table = pd.read_csv(out_csv, dtype={"label": str, "label_flask": str})
    y = table["label_flask"] == "1"
    ap = average_precision_score(y, table["score"])
    assert code == 0 and (f"against flask=1: AP {ap:.3f} (on {int(y.sum())} positives of {len(table)} labelled "
                          "train items)") in out
    assert "precision" in out and "recall" in out
    assert "may include the ones rated while teaching" in out  # an AP on train items flatters


def test_ids_with_spaces_around_them_are_rated_from_a_file(tmp_path, minilm, capsys):
    """An attacker's table stored ids as written (" i3 ", a tab in front); `teach submit --file` stripped them, so
    the whole round was refused. A file's cell is now taken as written where the index holds it."""
    rows = ["id,text,split"] + [f'" i{n} ",package number {n},train' for n in range(6)] + ['"\tt7",tab seven,train',
                                                                                        "plain,plain text,train"]
    (tmp_path / "spaced.csv").write_text("\n".join(rows) + "\n")
    build_index("spaced", parse_source(f"file:{tmp_path / 'spaced.csv'}", split_column="split"), minilm, store=Store())
    ix = ("--index", "spaced", "--concept", "c")
    assert run(capsys, "concept", "create", *ix, "--prompt", "package")[0] == 0
    ratings = tmp_path / "r.csv"
    ratings.write_text('item_id,rating\n" i3 ",1\n"\tt7",-1\nplain ,1\n')  # "plain " means the id plain
    code, out, err = run(capsys, "teach", "submit", *ix, "--file", str(ratings))
    assert code == 0, err
    current = TeachSession.open("spaced", "c", store=Store()).ratings()
    assert dict(zip(current.item_ids.tolist(), current.ratings.tolist(), strict=True)) == {
        " i3 ": 1.0, "\tt7": -1.0, "plain": 1.0}


def test_an_index_with_no_train_items_says_so(tmp_path, minilm, capsys):
    """An attacker's all-validation table: `teach next` advised "reset seen items", though nothing was seen."""
    rows = ["id,text,split"] + [f"v{n},package number {n},validation" for n in range(4)]
    (tmp_path / "held.csv").write_text("\n".join(rows) + "\n")
    build_index("held", parse_source(f"file:{tmp_path / 'held.csv'}", split_column="split"), minilm, store=Store())
    ix = ("--index", "held", "--concept", "c")
    assert run(capsys, "concept", "create", *ix, "--prompt", "package")[0] == 0
    code, _, err = run(capsys, "teach", "next", *ix)
    assert code == 2 and "the train split of index 'held' holds no items" in err and "reset seen" not in err


def test_index_says_when_a_map_fit_outlives_it(workspace_dir, capsys, monkeypatch):
    """A newcomer: `index` started a background map fit that kept running after the command returned, unsaid."""
    from types import SimpleNamespace

    import core.projection_auto

    started = []
    monkeypatch.setattr(core.projection_auto, "after_index_built",
                        lambda root, index: started.append(index) or SimpleNamespace(pid=4242))
    code, out, _ = run(capsys, "index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels")
    assert code == 0 and started == ["digits"]
    assert "map: its UMAP is fitting in the background (process 4242" in out and "FEWSHOT_AUTO_MAP=0" in out
    monkeypatch.setattr(core.projection_auto, "after_index_built", lambda root, index: None)  # turned off
    code, out, _ = run(capsys, "index", "--name", "digits2", "--source", "demo:digits", "--embedder", "pixels")
    assert code == 0 and "map:" not in out


def test_predict_on_a_source_says_to_index_it_first(pkgs, capsys, tmp_path):
    """An image-folder newcomer: `predict --index folder:new/` said only "no index named 'folder:new/'"."""
    code, _, err = run(capsys, "predict", "--index", "folder:/data/new photos", "--classifier", str(tmp_path / "c"),
                       "--out", str(tmp_path / "p.csv"))
    assert code == 2 and "index the new items first" in err and "--source 'folder:/data/new photos'" in err
