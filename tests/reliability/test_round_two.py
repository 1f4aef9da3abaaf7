"""Round two of "nobody let in, nothing lost": the holes an outside probe found, each kept closed.

Confinement of every dataset and model name the app takes; bad input that used to end in a raw
traceback (deep JSON, truncated archives, long paths, names with a newline, closed pipes, a full or
read-only disk); CSV formula injection; malformed rows; binary files; late JSONL fields; unsupported
picture formats; bounded decode memory and text; old table versions; the CLI's imports.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import FewshotError, SourceError, UnreadableItem
from core.sources import parse_source
from core.store import Store
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]
LOADER_NAMES = ("text", "csv", "json", "parquet", "imagefolder", "arrow", "pandas", "webdataset", "TEXT")


def _cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kwargs)


# ----- 1. confinement ---------------------------------------------------------------------------
def test_hf_source_never_takes_a_builder_name_or_a_name_from_the_working_directory(workspace_dir, monkeypatch):
    """``hf:text`` read 3,888 lines of the repo from the server's working directory; now every
    datasets builder name is refused, and a hub-shaped name that exists in the working directory gets
    exactly the answer of a name that exists nowhere."""
    monkeypatch.chdir(REPO)
    for name in LOADER_NAMES:
        with pytest.raises(SourceError) as caught:
            parse_source(f"hf:{name}", confine=True)
        message = str(caught.value)
        assert "is neither a folder inside the data folders" in message and "hub id" in message, message
        assert "DESIGN" not in message and "import" not in message  # nothing quoted from a file
        record("bad_inputs_tried")
    answers = {}
    for name in ("tests/e2e", "core/cli", "nosuch-owner/nosuch-dataset"):
        with pytest.raises(SourceError) as caught:
            parse_source(f"hf:{name}", confine=True)
        answers[name] = str(caught.value).replace(name, "NAME")
        record("bad_inputs_tried")
    assert len(set(answers.values())) == 1, answers
    assert Store().list_indexes() == []


def test_local_dataset_folder_inside_the_roots_is_found_by_its_relative_name(workspace_dir, tmp_path, monkeypatch):
    folder = workspace_dir / "sets" / "reviews"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text("text,label\nnice,pos\nbad,neg\n")
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    source = parse_source("hf:sets/reviews", confine=True, text_column="text", label_column="label")
    assert source.dataset_id == str(folder.resolve())
    assert [r.text for r in source] == ["nice", "bad"]


def test_a_dataset_card_may_not_point_outside_its_folder(workspace_dir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("text\nthe salary list\n")
    folder = workspace_dir / "sets" / "card"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files: {secret}\n---\n# a card\n")
    (folder / "a.csv").write_text("text\nx\n")
    with pytest.raises(SourceError, match="points at data outside its folder"):
        parse_source(f"hf:{folder}", confine=True)
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files: ../../secret.csv\n---\n")
    with pytest.raises(SourceError, match="points at data outside its folder"):
        parse_source(f"hf:{folder}", confine=True)
    record("bad_inputs_tried", 2)


@pytest.mark.parametrize("scheme", ["file:", "local:", "simplecache::", "file://"])
def test_a_card_may_not_name_data_through_a_scheme(workspace_dir, tmp_path, scheme):
    """A re-tester read /tmp through ``path: file:/tmp/secret.csv``: ``datasets`` does not join a path with a scheme
    to the folder, and fsspec strips ``file:`` / ``local:`` and reads where it points."""
    secret = tmp_path / "secret.csv"
    secret.write_text("text,label\nTOP SECRET,a\n")
    folder = workspace_dir / "sets" / "scheme"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("text,label\nx,a\n")
    (folder / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: {scheme}{secret}\n---\n")
    with pytest.raises(SourceError, match="points at data outside its folder") as raised:
        parse_source(f"hf:{folder}", confine=True, text_column="text", label_column="label")
    assert str(Path.cwd()) not in str(raised.value) or str(Path.cwd()) in str(secret)
    record("bad_inputs_tried", 1)


@pytest.mark.parametrize("where", ["README.md after a newline", "README.md after a space", "README.md after a BOM",
                                   ".huggingface.yaml"])
def test_every_card_datasets_reads_is_checked(workspace_dir, tmp_path, where):
    """An outside tester read /tmp files through a ``.huggingface.yaml`` (a zip upload can carry one) and through a
    README whose header starts after a newline, a space or a BOM: ``datasets`` reads both, the check read neither."""
    secret = tmp_path / "secret.csv"
    secret.write_text("text,label\nTOP SECRET,a\n")
    folder = workspace_dir / "sets" / "card"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("text,label\nx,a\n")
    yaml_text = f"configs:\n- config_name: default\n  data_files: {secret}\n"
    if where == ".huggingface.yaml":
        (folder / ".huggingface.yaml").write_text(yaml_text)
    else:
        lead = {"newline": "\n", "space": " ", "BOM": "\ufeff"}[where.rsplit(" ", 1)[1]]
        (folder / "README.md").write_text(f"{lead}---\n{yaml_text}---\n", encoding="utf-8")
    with pytest.raises(SourceError, match="points at data outside its folder"):
        parse_source(f"hf:{folder}", confine=True, text_column="text", label_column="label")
    record("bad_inputs_tried", 1)


def test_a_card_inside_its_folder_still_reads(workspace_dir):
    folder = workspace_dir / "sets" / "fine"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "t.csv").write_text("text,label\nnice,pos\n")
    (folder / ".huggingface.yaml").write_text("configs:\n- config_name: default\n  data_files: data/t.csv\n")
    (folder / "README.md").write_text("\ufeff\n---\nlicense: mit\n---\n# fine\n", encoding="utf-8")
    source = parse_source(f"hf:{folder}", confine=True, text_column="text", label_column="label")
    assert [r.text for r in source] == ["nice"]


def test_a_dataset_folder_may_not_link_outside_the_roots(workspace_dir, tmp_path):
    """An attacker: a link in a dataset folder (a file, or a sub-folder its card names) read any file the
    server could, since ``datasets`` follows links; tables and image folders already refused them."""
    secret = tmp_path / "secret" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("text\nTOP SECRET password=hunter2\n")
    folder = workspace_dir / "sets" / "linked"
    folder.mkdir(parents=True)
    (folder / "train.csv").symlink_to(secret)
    with pytest.raises(SourceError, match=r"holds a link \(train.csv\) that leads outside") as one:
        parse_source("hf:sets/linked", confine=True)
    (folder / "train.csv").unlink()
    (folder / "train.csv").symlink_to(tmp_path / "secret" / "missing.csv")  # same answer for a missing target
    with pytest.raises(SourceError) as two:
        parse_source("hf:sets/linked", confine=True)
    assert str(one.value) == str(two.value) and "hunter2" not in str(one.value) and "secret" not in str(one.value)
    (folder / "train.csv").unlink()
    (folder / "sub").symlink_to(secret.parent, target_is_directory=True)  # a linked folder, named by the card
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files: sub/*.csv\n---\n")
    with pytest.raises(SourceError, match=r"holds a link \(sub\)"):
        parse_source("hf:sets/linked", confine=True)
    (folder / "sub").unlink()
    shared = workspace_dir / "shared"  # a link into the data folders is fine, and is checked in turn
    shared.mkdir()
    (shared / "train.csv").write_text("text\nfine\n")
    (folder / "sub").symlink_to(shared, target_is_directory=True)
    source = parse_source("hf:sets/linked", confine=True, text_column="text")
    assert [r.text for r in source] == ["fine"]
    (shared / "more.csv").symlink_to(secret)
    with pytest.raises(SourceError, match=r"holds a link \(sub/more.csv\)"):
        parse_source("hf:sets/linked", confine=True)
    assert parse_source(f"hf:{folder}", text_column="text") is not None  # the command line is not confined
    record("bad_inputs_tried", 4)


def test_image_paths_in_dataset_rows_stay_inside_the_roots(workspace_dir, tmp_path):
    from core.source_hf import _decode_image

    outside = tmp_path / "private.png"
    Image.new("RGB", (8, 8), (200, 0, 0)).save(outside)
    workspace_dir.mkdir(parents=True, exist_ok=True)
    inside = workspace_dir / "ok.png"
    Image.new("RGB", (8, 8), (0, 200, 0)).save(inside)
    with pytest.raises(UnreadableItem, match="outside the allowed data folders"):
        _decode_image({"path": str(outside), "bytes": None}, confine=True)
    assert _decode_image({"path": str(inside), "bytes": None}, confine=True).size == (8, 8)
    assert _decode_image({"path": str(outside), "bytes": None}).size == (8, 8)  # the CLI is not confined
    record("bad_inputs_tried")


def test_url_forms_of_image_paths_in_rows_are_confined_too(workspace_dir, tmp_path, monkeypatch):
    """``file://``, ``http://`` and chained forms went straight to ``datasets``, relative to the server's
    working directory: a row could show any picture on the server and tell which files exist."""
    import zipfile

    from core.source_hf import _decode_image

    outside = tmp_path / "outside" / "secret.png"
    outside.parent.mkdir()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(outside)
    workspace_dir.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (0, 200, 0)).save(workspace_dir / "ok.png")
    with zipfile.ZipFile(workspace_dir / "pics.zip", "w") as archive:
        archive.write(workspace_dir / "ok.png", "in/ok.png")
    monkeypatch.chdir(tmp_path)  # what a relative path would have been read against
    climb = "../" * 12
    hostile = [f"file://{outside}", f"file:///{climb}{str(outside).lstrip('/')}", "file://outside/secret.png",
               f"file:///{climb}nothing/here.png", f"{climb}{outside}",
               "http://127.0.0.1:9/x.png", "https://example.com/x.png", "s3://bucket/x.png",
               f"file://{outside}::{workspace_dir / 'pics.zip'}",
               f"zip://in/ok.png::file://{workspace_dir / 'pics.zip'}"]
    messages = set()
    for path in hostile:
        with pytest.raises(UnreadableItem) as caught:
            _decode_image({"path": path, "bytes": None}, confine=True)
        messages.add(str(caught.value))
    assert len(messages) == 1 and "outside the allowed data folders" in messages.pop()  # the same, exists or not
    # inside the folders, relative to them (not to the working directory), and inside an archive there
    assert _decode_image("ok.png", confine=True).size == (8, 8)
    assert _decode_image({"path": f"zip://in/ok.png::{workspace_dir / 'pics.zip'}", "bytes": None},
                         confine=True).size == (8, 8)
    for missing in ("missing.png", "outside/secret.png"):  # the second exists beside the working directory
        with pytest.raises(UnreadableItem, match="no image file at this path"):
            _decode_image(missing, confine=True)
    record("bad_inputs_tried", len(hostile))


def test_model_paths_are_confined_and_refusals_tell_nothing_about_files_outside(workspace_dir, monkeypatch,
                                                                                tiny_clip_dir):
    from core.embedders import confine_embedder_spec, load_embedder

    monkeypatch.chdir(REPO)

    def refusal(spec: str) -> str:
        with pytest.raises(FewshotError) as caught:
            load_embedder(confine_embedder_spec(spec))
        record("bad_inputs_tried")
        return str(caught.value)

    # A file that exists outside the roots and one that does not: the same answer.
    for kind in ("clip", "st"):
        assert refusal(f"{kind}:README.md").replace("README.md", "X") == refusal(f"{kind}:NOPE.md").replace(
            "NOPE.md", "X")
        assert refusal(f"{kind}:tests/e2e").replace("tests/e2e", "X") == refusal(f"{kind}:nosuch/model").replace(
            "nosuch/model", "X")
        assert refusal(f"{kind}:/etc/passwd").replace("/etc/passwd", "X") == refusal(
            f"{kind}:/etc/nosuchfile").replace("/etc/nosuchfile", "X")
    for spec in ("clip:README.md", "clip:tests/e2e", "st:pyproject.toml", "clip:../README.md"):
        message = refusal(spec)
        assert "is a file" not in message and "[project]" not in message, message
    # A model folder inside the roots, named relative to them.
    monkeypatch.setenv("FEWSHOT_DATA_ROOTS", f"{workspace_dir}{os.pathsep}{tiny_clip_dir.parent}")
    spec = confine_embedder_spec(f"clip:{tiny_clip_dir.name}")
    assert spec == f"clip:{tiny_clip_dir.resolve()}"
    assert load_embedder(spec).kind == "clip"
    assert confine_embedder_spec("st:minilm") == "st:minilm" and confine_embedder_spec("pixels") == "pixels:16"


# ----- 2. messages instead of tracebacks, nothing partial kept ----------------------------------
def _bad_tables(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    deep = folder / "deep.jsonl"
    deep.write_text('{"text": "fine"}\n{"text": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    cases["deep jsonl"] = (deep, "nests its values too deeply")
    rows = "id,text\n" + "".join(f"{i},row number {i}\n" for i in range(30_000))
    packed = gzip.compress(rows.encode())
    truncated = folder / "cut.csv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    cases["truncated gz"] = (truncated, "truncated or damaged")
    nul = folder / "nul.csv"
    nul.write_bytes(b"id,text\n1,hel\x00lo\n2,world\n")
    cases["nul byte"] = (nul, "holds a NUL byte")
    excel = folder / "book.csv"
    excel.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    cases["excel renamed"] = (excel, "looks like an Excel workbook")
    extra = folder / "extra.csv"
    extra.write_text("id,text,label\n1,hello,a\n2,world,b,SURPRISE\n3,x,c\n")
    cases["extra fields"] = (extra, "Expected 3 fields in line 3, saw 4")
    return cases


def test_bad_tables_get_messages_and_refused_uploads_leave_nothing(workspace_dir, tmp_path):
    from core.uploads import table_source_from_upload, uploads_dir

    for name, (path, expected) in _bad_tables(tmp_path / "bad").items():
        with pytest.raises(SourceError) as caught:
            parse_source(f"file:{path}")
        assert expected in str(caught.value), (name, str(caught.value))
        assert "UTF-16" not in str(caught.value) or name == "utf16"
        suffix = "".join(path.suffixes)
        if suffix in (".csv", ".jsonl"):
            with pytest.raises(SourceError):
                table_source_from_upload("up", f"upload{suffix}", path.read_bytes())
            assert list(uploads_dir("up").iterdir()) == [], name
        record("bad_inputs_tried")


def test_bad_tables_through_the_cli_end_in_one_line(workspace_dir, tmp_path):
    for name, (path, expected) in _bad_tables(tmp_path / "bad").items():
        done = _cli("index", "--name", "t", "--source", f"file:{path}", "--embedder", "st:minilm",
                    env={"FEWSHOT_HOME": str(workspace_dir)})
        assert done.returncode == 2 and "Traceback" not in done.stderr, (name, done.stderr[-2000:])
        assert expected in done.stderr, (name, done.stderr[-500:])
        record("bad_inputs_tried")
    assert Store().list_indexes() == []


def test_a_jsonl_field_first_seen_after_row_1001_is_found(tmp_path):
    path = tmp_path / "late.jsonl"
    rows = [json.dumps({"text": f"t{i}"}) for i in range(1_500)] + [json.dumps({"text": "z", "topic": "late"})]
    path.write_text("\n".join(rows) + "\n")
    source = parse_source(f"file:{path}", label_column="topic")
    labels = [r.label for r in source]
    assert labels[-1] == "late" and labels[:-1] == [None] * 1_500


def test_long_paths_and_names_with_a_newline_are_refused_before_anything_is_written(workspace_dir):
    from core.embedders import load_embedder
    from core.indexing import build_index

    workspace_dir.mkdir(parents=True, exist_ok=True)
    for confine in (False, True):
        for spec in (f"folder:{workspace_dir}/{'a' * 5_000}", f"folder:{workspace_dir}/" + "b/" * 2_500,
                     f"file:{workspace_dir}/{'c' * 300}.csv"):
            with pytest.raises(SourceError) as caught:
                parse_source(spec, confine=confine)
            assert "too long" in str(caught.value) and len(str(caught.value)) < 700, str(caught.value)[:300]
            record("bad_inputs_tried")
    for name in ("digits\n", "digits\r\n", "digits ", "\ndigits"):
        with pytest.raises(FewshotError, match="invalid index name"):
            build_index(name, parse_source("demo:digits"), load_embedder("pixels"), store=Store())
        record("bad_inputs_tried")
    assert Store().list_indexes() == []


def test_unsupported_pictures_in_a_folder_are_listed_as_skipped_with_a_reason(workspace_dir):
    from core.embedders import load_embedder
    from core.indexing import build_index

    folder = workspace_dir / "pics"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (16, 16), (60 * i, 0, 0)).save(folder / f"{i}.png")
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "phone.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    report = build_index("pics", parse_source(f"folder:{folder}"), load_embedder("pixels"), store=Store())
    reasons = {s.id: s.reason for s in report.skipped}
    assert report.added == 3
    assert "vector drawing" in reasons["logo.svg"] and "HEIC" in reasons["phone.HEIC"], reasons
    record("bad_inputs_tried", 2)


def test_a_closed_pipe_ends_the_cli_quietly(digits_store, workspace_dir):
    from core.session import TeachSession

    TeachSession.create("digits", "three", store=digits_store, target_label="3")
    env = {**os.environ, "FEWSHOT_HOME": str(workspace_dir)}
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-m", "core", "teach", "next", "--index", "digits", "--concept",
                                    "three", "--json", "--k", "1000"], cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.read(10)
        process.stdout.close()  # like `| head -c 10`
        err = process.stderr.read().decode()
        assert process.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
        record("bad_inputs_tried")


# ----- 3. a full or read-only disk ---------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs (needs root, as in CI's container; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_or_read_only_disk_gets_a_message_and_loses_nothing(digits_template, small_disk):
    import shutil

    from core.session import TeachSession

    home = small_disk / "ws"
    shutil.copytree(digits_template, home)
    session = TeachSession.create("digits", "three", store=Store(home), target_label="3")
    batch = session.next_batch(seed=0)
    session.submit({c.item_id: 1.0 for c in batch[:2]})
    env = {"FEWSHOT_HOME": str(home)}
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # fill the disk
        try:
            while True:
                fh.write(b"\0" * 2**20)
        except OSError:
            pass
    ratings = ",".join(f"{c.item_id}=-1" for c in batch[2:5])
    full = _cli("teach", "submit", "--index", "digits", "--concept", "three", "--ratings", ratings, env=env)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-2000:]
    assert "the disk is full" in full.stderr and "Free some space" in full.stderr
    indexing = _cli("index", "--name", "more", "--source", "demo:digits", "--embedder", "pixels", env=env)
    assert indexing.returncode == 2 and "Traceback" not in indexing.stderr, indexing.stderr[-2000:]
    assert "the disk is full" in indexing.stderr
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    readonly = _cli("teach", "submit", "--index", "digits", "--concept", "three", "--ratings", ratings, env=env)
    assert readonly.returncode == 2 and "read-only file system" in readonly.stderr, readonly.stderr[-2000:]
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    # What was committed is all there, and the workspace works again.
    again = TeachSession.open("digits", "three", store=Store(home))
    assert {c.item_id for c in batch[:2]} <= set(again.ratings().item_ids.tolist())
    assert "more" not in [i.name for i in Store(home).list_indexes()]
    record("faults_injected", 3)
    record("faults_survived", 3)


# ----- 4. exports ------------------------------------------------------------------------------
def test_csv_exports_neutralise_formula_prefixes(tmp_path):
    import pandas as pd

    from core.export import write_table

    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "fine", "=1"]
    frame = pd.DataFrame({"id": hostile, "label": hostile[::-1], "score": np.arange(len(hostile), dtype=float) - 3})
    out = write_table(frame, tmp_path / "p.csv")
    back = pd.read_csv(out, dtype={"id": str, "label": str}, keep_default_na=False)
    assert len(back) == len(hostile)  # a carriage return inside a cell did not split a row
    for column in ("id", "label"):
        for value in back[column]:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert back["score"].tolist() == frame["score"].tolist()  # numbers stay numbers
    from app.tables import skipped_csv
    from core.indexing import SkippedItem

    text = skipped_csv([SkippedItem("=cmd|' /C calc'!A0", "@uri", "-reason")]).decode()
    assert "\n'=cmd" in text and ",'@uri," in text and ",'-reason" in text
    record("bad_inputs_tried", len(hostile))


# ----- 5. bounded cost per item ----------------------------------------------------------------
def test_decoding_waits_for_its_share_of_the_memory_budget():
    from core import images

    gate = images.DecodeGate(budget=100)
    peak, lock, running = [0], threading.Lock(), [0]

    def work(cost):
        with gate.hold(cost):
            with lock:
                running[0] += cost
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= cost

    threads = [threading.Thread(target=work, args=(60,)) for _ in range(8)]
    threads += [threading.Thread(target=work, args=(500,))]  # larger than the budget: goes alone
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 500 and gate.in_use == 0


def test_a_huge_png_is_reduced_right_after_decoding(tmp_path):
    from core.images import open_image

    path = tmp_path / "big.png"
    Image.new("RGB", (4_200, 4_000), (10, 200, 30)).save(path, compress_level=1)
    small = open_image(path, draft_size=224)
    assert min(small.size) >= 224 and small.size[0] < 4_200
    assert open_image(path).size == (4_200, 4_000)  # without a draft size nothing changes


def test_long_texts_are_bounded_for_the_browser():
    from app.items import DISPLAY_CHARS, display_text

    text = "word " * 440_000  # 2.2 MB
    shown = display_text(text)
    assert len(shown) < DISPLAY_CHARS + 100 and "more characters, kept in the index" in shown


# ----- 6. versions, imports ----------------------------------------------------------------------
def test_old_table_versions_are_cleaned_by_count(digits_store, monkeypatch):
    from core import store as store_module
    from core.session import TeachSession
    from core.teach_store import LABELS

    monkeypatch.setattr(store_module, "MIN_VERSION_AGE_S", 0.0)
    monkeypatch.setenv("FEWSHOT_COMPACT_EVERY", "10")
    session = TeachSession.create("digits", "three", store=digits_store, target_label="3")
    for r in range(60):
        batch = session.next_batch(k=1, seed=r)
        session.submit({batch[0].item_id: 1.0})
    versions = digits_store.db.open_table(LABELS).list_versions()
    assert len(versions) <= store_module.KEEP_VERSIONS + 12, len(versions)
    assert len(session.ratings()) == 60


def test_teach_submit_imports_nothing_it_does_not_need(digits_store, workspace_dir):
    from core.session import TeachSession

    TeachSession.create("digits", "three", store=digits_store, target_label="3")
    code = (
        "import sys; from core.cli import main; "
        "rc = main(['teach', 'submit', '--index', 'digits', '--concept', 'three', "
        "'--ratings', 'digits-1=1,digits-2=-1']); "
        "heavy = ('sklearn', 'datasets', 'transformers', 'sentence_transformers', 'umap', 'scipy.stats', "
        "'plotly', 'streamlit', 'ray', 'numba', 'lancedb'); "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)})); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FEWSHOT_HOME": str(workspace_dir)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    ratings = TeachSession.open("digits", "three", store=Store(workspace_dir)).ratings()  # written through Lance alone
    assert dict(zip(ratings.item_ids, ratings.ratings.tolist(), strict=True)) == {"digits-1": 1.0, "digits-2": -1.0}


def test_ranking_metrics_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from core.evaluate import ranking_metrics

    rng = np.random.default_rng(0)
    for i in range(200):
        n = int(rng.integers(2, 400))
        y = rng.random(n) < rng.random()
        if y.all() or not y.any():
            continue
        scores = rng.integers(0, 5, n).astype(float) if i % 2 else rng.normal(size=n)
        got = ranking_metrics(y, scores)
        assert got["ap"] == pytest.approx(average_precision_score(y, scores), abs=1e-12)
        assert got["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_safe_text_shows_data_strings_as_typed():
    from app import safe_text
    from app.items import plain

    hostile = "\u202eexe.jpg <img src=x> [l](http://x) **b** :red[x] $x$"
    assert "\u202e" not in safe_text.text(hostile) and "[U+202E]" in safe_text.text(hostile)
    assert plain is safe_text.md
    md = safe_text.md(hostile)
    assert "\\<img" in md and "\\*\\*b\\*\\*" in md and "\\$x\\$" in md and ":\u200b" in md
    assert "&lt;img" in safe_text.html(hostile) and "<" not in safe_text.html(hostile)
    assert safe_text.file_name("../../etc/passwd\n") == "etc_passwd"
    for control in safe_text.BIDI_CONTROLS:
        assert control not in safe_text.md(f"a{control}b") + safe_text.html(f"a{control}b")


def test_a_folder_the_loader_trips_over_gets_advice_not_its_internals(workspace_dir, monkeypatch):
    """An attacker named the workspace's LanceDB folder as a dataset: the message was the loader's own
    "TypeError: 'NoneType' object is not subscriptable"."""
    import datasets

    folder = workspace_dir / "sets" / "odd"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("text\nx\n")

    def trips(*args, **kwargs):
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(datasets, "load_dataset", trips)  # what the loader did on that folder
    with pytest.raises(SourceError, match="is not a dataset folder `datasets` can read") as raised:
        parse_source(f"hf:{folder}", confine=True, text_column="text")
    assert "NoneType" not in str(raised.value)
    record("bad_inputs_tried", 1)
