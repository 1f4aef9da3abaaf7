"""Indexing end to end: real sources, real embedders, a real LanceDB in tmp_path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.embedders import load_embedder
from core.errors import EmbedderMismatch, EmptySourceError, IndexNotFound
from core.indexing import build_index
from core.sources import parse_source
from core.store import Store


def _unit_rows(matrix: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4))


def test_cli_indexes_all_digits_with_pixels(capsys):
    assert main(["index", "--name", "digits", "--source", "demo:digits", "--embedder", "pixels"]) == 0
    store = Store()
    info = store.get_index("digits")
    assert info.n_items == 1797
    assert info.counts["train"] + info.counts["validation"] == 1797
    assert info.counts["validation"] > 200
    assert info.status == "complete"
    view = store.vectors("digits")
    assert view.matrix.dtype == np.float32
    assert _unit_rows(view.matrix)
    assert len(set(view.ids)) == 1797
    assert set(view.labels) == {str(d) for d in range(10)}
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "1797" in out


def test_cancel_then_resume_has_no_duplicates():
    store = Store()
    source = parse_source("demo:digits")
    embedder = load_embedder("pixels")
    calls = {"n": 0}

    def cancel_after_two_batches() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2

    first = build_index("d", source, embedder, store=store, batch_size=100, should_cancel=cancel_after_two_batches)
    assert first.cancelled
    assert 0 < len(store.item_ids("d")) < 1797
    assert store.get_index("d").status == "cancelled"
    second = build_index("d", source, embedder, store=store, batch_size=100)
    assert not second.cancelled
    assert second.already_present == len(store.item_ids("d")) - second.added
    view = store.vectors("d")
    assert len(view.ids) == 1797 == len(set(view.ids))
    assert store.get_index("d").status == "complete"


def _cancelled_after_five_batches(monkeypatch) -> tuple[Store, object, object, int]:
    """A digits build cancelled after five batches of 100 (store, source, embedder, rows kept), with the resume's
    progress while it reads past those rows reported at every batch."""
    import core.indexing

    store = Store()
    source = parse_source("demo:digits")
    embedder = load_embedder("pixels")
    calls = {"n": 0}

    def cancel_after_five_batches() -> bool:
        calls["n"] += 1
        return calls["n"] >= 5

    build_index("d", source, embedder, store=store, batch_size=100, should_cancel=cancel_after_five_batches)
    monkeypatch.setattr(core.indexing, "SKIP_PROGRESS_EVERY_S", 0.0)
    return store, source, embedder, len(store.item_ids("d"))


def test_a_resume_moves_the_bar_while_it_reads_past_what_it_has(monkeypatch):
    """Reading past the items already indexed embeds nothing: the bar still moves, and says why."""
    store, source, embedder, have = _cancelled_after_five_batches(monkeypatch)
    seen = []
    build_index("d", source, embedder, store=store, batch_size=100, progress=seen.append)
    reading = [p for p in seen if not p.stage and p.added == 0 and p.done > 0]
    assert reading and max(p.done for p in reading) >= have - 100  # it moved through what it had
    assert "already indexed, reading on" in reading[-1].describe()
    assert "already indexed" in seen[-1].describe() and "items/s" in seen[-1].describe()
    again = []  # a rerun with nothing new still ends on the whole count (it ended at 0 of 1,797)
    build_index("d", source, embedder, store=store, batch_size=100, progress=again.append)
    assert again[-1].describe() == "all 1,797 items already indexed"


def test_cancel_works_while_a_resume_reads_past_what_it_has(monkeypatch):
    store, source, embedder, have = _cancelled_after_five_batches(monkeypatch)
    report = build_index("d", source, embedder, store=store, batch_size=100, should_cancel=lambda: True)
    assert report.cancelled and report.added == 0 and len(store.item_ids("d")) == have


def test_the_first_rows_reach_the_table_early_so_a_killed_build_keeps_them():
    """Rows were written every 4,096: a build killed (SIGKILL: no ``finally``) before that kept nothing. The first
    appends now come after 256, 512, ... rows."""
    store = Store()
    stored_midway = []

    def look(p) -> None:
        if not p.stage and 600 <= p.done < 1797:
            stored_midway.append(len(store.item_ids("d")))

    build_index("d", parse_source("demo:digits"), load_embedder("pixels"), store=store, batch_size=100,
                progress=look)
    assert stored_midway and max(stored_midway) >= 256 + 512
    assert len(store.item_ids("d")) == 1797 == len(set(store.item_ids("d")))


class _CrashingSource:
    """Wraps a source and dies part-way, like a process killed mid-run."""

    def __init__(self, inner, crash_after: int) -> None:
        self.inner, self.crash_after = inner, crash_after
        self.spec, self.modality = inner.spec, inner.modality

    def count(self):
        return self.inner.count()

    def describe(self):
        return self.inner.describe()

    def __iter__(self):
        for n, record in enumerate(self.inner):
            if n == self.crash_after:
                raise RuntimeError("simulated crash")
            yield record


def test_crash_mid_run_keeps_written_rows_and_resumes():
    store = Store()
    embedder = load_embedder("pixels")
    with pytest.raises(RuntimeError):
        build_index("d", _CrashingSource(parse_source("demo:digits"), 700), embedder, store=store, batch_size=64)
    kept = len(store.item_ids("d"))
    assert 0 < kept <= 700
    report = build_index("d", parse_source("demo:digits"), embedder, store=store, batch_size=64)
    assert report.already_present == kept
    assert len(store.vectors("d").ids) == 1797


def _image_folder(root):
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220)}
    for label, colour in colours.items():
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40 + i, 30), colour).save(root / label / f"{i}.png")
    (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "blue" / "empty.png").write_bytes(b"")
    Image.new("L", (20, 20), 128).save(root / "blue" / "gray.jpg")
    return root


def test_image_folder_with_tiny_clip_skips_unreadable(tmp_path, tiny_clip_dir, capsys):
    folder = _image_folder(tmp_path / "imgs")
    code = main(
        ["index", "--name", "colours", "--source", f"folder:{folder}", "--embedder", f"clip:{tiny_clip_dir}",
         "--skipped-report", str(tmp_path / "skipped.csv")]
    )
    assert code == 0
    store = Store()
    info = store.get_index("colours")
    assert info.n_items == 9
    assert info.n_skipped == 2
    assert info.modality == "image"
    skipped = {row["id"]: row["reason"] for row in store.skipped("colours")}
    assert set(skipped) == {"red/broken.jpg", "blue/empty.png"}
    assert all(reason for reason in skipped.values())
    assert "broken.jpg" in (tmp_path / "skipped.csv").read_text()
    view = store.vectors("colours")
    assert _unit_rows(view.matrix)
    assert set(view.labels) == {"red", "blue"}
    row = store.fetch_items("colours", ["red/0.png"])[0]
    thumb = Image.open(io.BytesIO(row["thumbnail"]))
    assert thumb.format == "JPEG"
    assert row["label"] == "red"


def test_text_table_with_minilm(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        "review,sentiment\n"
        "\"A wonderful, moving film\",pos\n"
        "\"Dreadful acting and a boring plot\",neg\n"
        "\"   \",neg\n"
        "\"I loved every minute\",pos\n",
        encoding="utf-8",
    )
    store = Store()
    source = parse_source(f"file:{path}", text_column="review", label_column="sentiment")
    report = build_index("reviews", source, load_embedder("st:minilm"), store=store)
    assert report.added == 3
    assert [s.reason for s in report.skipped] == ["empty text"]
    view = store.vectors("reviews")
    assert view.matrix.shape == (3, 384)
    hits = store.search("reviews", load_embedder("st:minilm").embed_texts(["a great movie"])[0], k=3)
    assert hits[0]["label"] == "pos"


def test_source_with_nothing_usable_is_a_clear_error_and_leaves_no_index(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    (folder / "b.png").write_bytes(b"")
    store = Store()
    with pytest.raises(EmptySourceError, match="nothing usable"):
        build_index("bad", parse_source(f"folder:{folder}"), load_embedder("pixels"), store=store)
    with pytest.raises(IndexNotFound):
        store.get_index("bad")


def test_dimension_and_embedder_mismatch(tiny_clip_dir):
    store = Store()
    build_index("d", parse_source("demo:digits"), load_embedder("pixels:8"), store=store)
    with pytest.raises(EmbedderMismatch, match="64"):
        store.search("d", np.ones(10, dtype=np.float32))
    with pytest.raises(EmbedderMismatch, match="pixels:8"):
        store.search("d", np.ones(64, dtype=np.float32), embedder="st:minilm")
    with pytest.raises(EmbedderMismatch, match="already exists"):
        build_index("d", parse_source("demo:digits"), load_embedder(f"clip:{tiny_clip_dir}"), store=store)
    hits = store.search("d", store.vectors("d").matrix[0], k=5, split="train")
    assert len(hits) == 5 and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys):
    code = main(["index", "--name", "x", "--source", f"folder:{tmp_path / 'missing'}", "--embedder", "pixels"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert main(["index", "--name", "bad name!", "--source", "demo:digits", "--embedder", "pixels"]) == 2


def test_decoding_in_worker_processes_gives_the_same_vectors(tmp_path, tiny_clip_dir, workspace_dir):
    """Many-core machines decode in processes (the real CLI, in a child); vectors equal the threaded path's."""
    import os
    import subprocess
    import sys

    folder = _image_folder(tmp_path / "imgs")
    embedder = load_embedder(f"clip:{tiny_clip_dir}")
    store = Store()
    build_index("threads", parse_source(f"folder:{folder}"), embedder, store=store, workers=2)
    env = {**os.environ, "FEWSHOT_DECODE_PROCESSES": "1", "FEWSHOT_HOME": str(workspace_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "core", "index", "--name", "procs", "--source", f"folder:{folder}",
         "--embedder", f"clip:{tiny_clip_dir}"],
        env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "added 9" in done.stdout and "2 skipped" in done.stdout
    a, b = store.vectors("threads"), Store().vectors("procs")
    order_a, order_b = np.argsort(a.ids), np.argsort(b.ids)
    assert list(a.ids[order_a]) == list(b.ids[order_b])
    np.testing.assert_allclose(a.matrix[order_a], b.matrix[order_b], atol=1e-6)


def test_a_host_where_worker_processes_fail_falls_back_to_threads(tmp_path, monkeypatch):
    """Under a host that breaks spawned children (here: a __main__ that crashes on import), indexing
    still completes, in threads."""
    import sys
    import types

    script = tmp_path / "hostile_main.py"
    script.write_text("raise SystemExit(3)\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    monkeypatch.setenv("FEWSHOT_DECODE_PROCESSES", "1")
    folder = _image_folder(tmp_path / "imgs")
    report = build_index("x", parse_source(f"folder:{folder}"), load_embedder("pixels"), store=Store(), workers=2)
    assert report.added == 9


def test_a_repeated_id_is_skipped_once_and_a_resume_counts_it_present(tmp_path, minilm):
    """The first row with an id is indexed, a later row with the same id is skipped with its reason (not a
    second item), and a rerun of the same file adds nothing: every id counts as already present."""
    path = tmp_path / "dup.csv"
    path.write_text("id,text,kind\nr0,first text,a\nr1,second text,b\nr0,the same id again,b\nr2,third text,a\n")
    store = Store()
    report = build_index("dup", parse_source(f"file:{path}", label_columns=["kind"]), minilm, store=store)
    assert report.added == 3 and report.already_present == 0
    assert [(s.id, s.reason) for s in report.skipped] == [("r0", "duplicate id in source")]
    rows = store.items_table("dup").to_arrow().select(["id", "text"]).to_pylist()
    assert {r["id"]: r["text"] for r in rows} == {"r0": "first text", "r1": "second text", "r2": "third text"}
    again = build_index("dup", parse_source(f"file:{path}", label_columns=["kind"]), minilm, store=store)
    assert again.added == 0 and again.already_present == 4  # r0's repeat is a known id now too
    assert len(store.item_ids("dup")) == 3


def test_list_shows_the_rows_an_interrupted_build_stored(workspace_dir, capsys):
    """Counts are written when a build ends: one cut short (Ctrl-C) was listed with 0 items while its stored rows
    were there for the resume to keep."""

    def interrupt(p) -> None:
        if p.added >= 512:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), flush_every=256,
                    progress=interrupt)
    capsys.readouterr()
    assert main(["list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("digits "))
    stored, train, valid = (int(v) for v in row.split()[1:4])
    assert stored >= 256 and " interrupted " in row  # nobody builds it now: not "building" forever
    assert train > 0 and valid > 0 and train + valid == stored  # its splits so far, not 0 and 0
    from core.build_lock import build_lock

    with build_lock(Store().root, "digits"):  # while a build runs, it is "building"
        assert main(["list"]) == 0
        assert " building " in next(line for line in capsys.readouterr().out.splitlines() if line.startswith("digits "))


def test_a_build_onto_an_index_from_another_source_is_refused(tmp_path, capsys):
    """An outside tester: `index --name ok4 --source file:other.csv` merged 2 rows of another file into an index
    built from tiny.csv (another id column too) and kept tiny.csv's description."""
    first, other = tmp_path / "tiny.csv", tmp_path / "other.csv"
    first.write_text("id,text\nr1,first text\nr2,second text\n")
    other.write_text("id,text\nx1,other text\nx2,more other text\n")
    args = ["index", "--name", "ok4", "--embedder", "st:minilm", "--text-column", "text"]
    assert main([*args, "--source", f"file:{first}", "--id-column", "id"]) == 0
    for extra in (["--source", f"file:{other}", "--id-column", "id"],
                  ["--source", f"file:{first}", "--id-column", "text"]):
        capsys.readouterr()
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert "was built from another source" in err and "Traceback" not in err, err
    assert Store().item_ids("ok4") == {"r1", "r2"}
    # the same file, named another way, resumes it
    assert main([*args, "--source", f"file:{tmp_path}/./tiny.csv", "--id-column", "id"]) == 0
    assert Store().item_ids("ok4") == {"r1", "r2"}


def test_a_split_column_that_holds_nothing_out_is_warned_of(tmp_path, capsys):
    """An outside tester: --split-column text made all 50 items train, with no word; test/val mapped to validation
    without saying so."""
    table = tmp_path / "t.csv"
    table.write_text("id,text,part\n" + "".join(f"r{i},text number {i},{'test' if i % 4 == 0 else 'train'}\n"
                                                for i in range(12)))
    args = ["index", "--embedder", "st:minilm", "--text-column", "text", "--source", f"file:{table}"]
    assert main([*args, "--name", "bytext", "--split-column", "text"]) == 0
    captured = capsys.readouterr()
    assert "warning: no validation item (the column 'text' holds none of" in captured.err
    assert main([*args, "--name", "bypart", "--split-column", "part"]) == 0
    captured = capsys.readouterr()
    assert "validation=3" in captured.out and "test" in captured.out and "warning" not in captured.err
