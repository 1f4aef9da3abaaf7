"""Sources: digits demo, image folders, text tables, Hugging Face (local, offline) and spec parsing."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest
from PIL import Image

from core.errors import EmptySourceError, SourceError, UnreadableItem
from core.records import TRAIN, VALIDATION
from core.sources import (
    DigitsDemo,
    HuggingFaceDataset,
    ImageFolder,
    Source,
    TextTable,
    hash_split,
    parse_source,
)


def _img(path, color="red", size=(12, 10), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


# -- digits demo ---------------------------------------------------------------------------------


def test_digits_demo():
    demo = DigitsDemo()
    records = list(demo)
    assert isinstance(demo, Source) and demo.modality == "image" and demo.spec == "demo:digits"
    assert len(records) == demo.count() == 1797
    assert len({r.id for r in records}) == 1797
    assert {r.label for r in records} == {str(d) for d in range(10)}
    assert records[5].id == "digits-5" and records[5].uri == "demo:digits#5"
    splits = Counter(r.split for r in records)
    assert set(splits) == {TRAIN, VALIDATION}
    assert 0.18 < splits[VALIDATION] / 1797 < 0.22
    for digit in "0123456789":  # stratified: every digit in both splits
        assert {r.split for r in records if r.label == digit} == {TRAIN, VALIDATION}
    assert [r.split for r in records] == [r.split for r in DigitsDemo()]
    img = records[0].load_image()
    assert img.mode == "RGB" and img.size == (32, 32)
    assert img.getpixel((0, 0)) == (255, 255, 255)  # background is paper-white
    json.dumps(demo.describe())


# -- image folders -------------------------------------------------------------------------------


def test_folder_with_class_subfolders_and_nesting(tmp_path):
    _img(tmp_path / "cats" / "a.jpg")
    _img(tmp_path / "cats" / "b.PNG", fmt="PNG")
    _img(tmp_path / "dogs" / "c.webp")
    _img(tmp_path / "dogs" / "puppies" / "d.jpeg", fmt="JPEG")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / ".hidden.jpg").write_text("AppleDouble junk")
    source = ImageFolder(tmp_path)
    records = list(source)
    assert source.count() == 4
    assert [r.id for r in records] == ["cats/a.jpg", "cats/b.PNG", "dogs/c.webp", "dogs/puppies/d.jpeg"]
    assert [r.label for r in records] == ["cats", "cats", "dogs", "puppies"]
    assert records[0].uri == str(tmp_path.resolve() / "cats" / "a.jpg")
    assert records[3].load_image().size == (12, 10)
    assert all(r.split == hash_split(r.id, 0.2) for r in records)
    assert [r.split for r in records] == [r.split for r in ImageFolder(tmp_path)]
    assert source.spec == f"folder:{tmp_path.resolve()}"
    json.dumps(source.describe())


def test_folder_with_train_and_val_folders(tmp_path):
    _img(tmp_path / "train" / "cat" / "1.jpg")
    _img(tmp_path / "train" / "dog" / "2.jpg")
    _img(tmp_path / "Val" / "cat" / "3.jpg")
    _img(tmp_path / "test" / "dog" / "4.jpg")
    _img(tmp_path / "train" / "loose.jpg")
    _img(tmp_path / "other" / "ignored.jpg")
    source = ImageFolder(tmp_path)
    records = {r.id: r for r in source}
    # what sits beside the split folders is not indexed, but listed (skipped on load, with why)
    assert source.left_out == [("other/", "a folder beside the train and validation folders: only those are indexed")]
    with pytest.raises(UnreadableItem, match="beside the train and validation folders"):
        records.pop("other/").load_image()
    assert set(records) == {"train/cat/1.jpg", "train/dog/2.jpg", "Val/cat/3.jpg", "test/dog/4.jpg", "train/loose.jpg"}
    assert source.count() == 6
    assert records["train/cat/1.jpg"].split == TRAIN and records["train/cat/1.jpg"].label == "cat"
    assert records["Val/cat/3.jpg"].split == VALIDATION and records["test/dog/4.jpg"].split == VALIDATION
    assert records["train/loose.jpg"].label is None


def test_train_folder_alone_is_just_a_class(tmp_path):
    _img(tmp_path / "train" / "1.jpg")
    _img(tmp_path / "other" / "2.jpg")
    assert {r.label for r in ImageFolder(tmp_path)} == {"train", "other"}


def test_flat_folder_has_no_labels_and_a_fraction_split(tmp_path):
    for i in range(40):
        _img(tmp_path / f"{i:03d}.png", fmt="PNG", size=(4, 4))
    records = list(ImageFolder(tmp_path, validation_fraction=0.5))
    assert all(r.label is None for r in records)
    assert 8 < sum(r.split == VALIDATION for r in records) < 32
    assert all(r.split == TRAIN for r in ImageFolder(tmp_path, validation_fraction=0.0))


def test_folder_errors(tmp_path):
    with pytest.raises(SourceError, match="folder not found"):
        ImageFolder(tmp_path / "nope")
    a_file = _img(tmp_path / "x.jpg")
    with pytest.raises(SourceError, match="is a file"):
        ImageFolder(a_file)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.md").write_text("hi")
    with pytest.raises(EmptySourceError, match=r"no images found in .*\.jpg.*\.png"):
        ImageFolder(empty)
    with pytest.raises(SourceError, match="fraction"):
        ImageFolder(tmp_path, validation_fraction=1.5)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_leaving_the_root_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    _img(outside / "secret.jpg")
    root = tmp_path / "root"
    _img(root / "a" / "in.jpg")
    os.symlink(outside, root / "link_out")
    os.symlink(outside / "secret.jpg", root / "a" / "file_out.jpg")
    os.symlink(root / "a", root / "0-alias")  # inside, but the same folder as a/: not listed twice
    os.symlink(root, root / "a" / "loop")  # a loop: must terminate
    (root / "c").mkdir()
    os.symlink(tmp_path / "root" / "a" / "in.jpg", root / "c" / "same.jpg")  # a file link inside: kept
    os.symlink(tmp_path / "gone.jpg", root / "c" / "broken.jpg")
    os.symlink(outside / "notes.txt", root / "c" / "notes.txt")  # not a picture: not worth a line
    source = ImageFolder(root)
    records = list(source)
    usable = [r.id for r in records if r.id not in dict(source.left_out)]
    assert usable == ["a/in.jpg", "c/same.jpg"]
    # what was not followed is listed, so the index report counts it as skipped and says why
    assert source.left_out == [
        ("a/file_out.jpg", "a link to somewhere outside the chosen folder: not followed"),
        ("c/broken.jpg", "a broken link (its target does not exist)"),
        ("link_out/", "a link to somewhere outside the chosen folder: not followed"),
    ]
    assert source.count() == len(records) == 5
    assert str(outside) not in " ".join(why for _, why in source.left_out)  # the target is not shown
    # the command line (link_roots=None) follows links anywhere; loops still end
    anywhere = [r.id for r in ImageFolder(root, link_roots=None)]
    assert anywhere == ["a/file_out.jpg", "a/in.jpg", "c/same.jpg", "link_out/secret.jpg", "c/broken.jpg"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_folder_of_links_only_says_why_nothing_was_found(tmp_path):
    outside = tmp_path / "outside"
    _img(outside / "1.png")
    root = tmp_path / "farm"
    root.mkdir()
    os.symlink(outside / "1.png", root / "1.png")
    with pytest.raises(EmptySourceError, match="1 entries left out, e.g. '1.png': a link to somewhere outside"):
        ImageFolder(root)
    assert [r.id for r in ImageFolder(root, link_roots=(outside,))] == ["1.png"]


def test_unreadable_image_in_folder_surfaces_on_load(tmp_path):
    _img(tmp_path / "ok.jpg")
    (tmp_path / "bad.jpg").write_text("nope")
    records = {r.id: r for r in ImageFolder(tmp_path)}
    with pytest.raises(UnreadableItem, match="not an image file"):
        records["bad.jpg"].load_image()


# -- text tables ---------------------------------------------------------------------------------

ROWS = [
    {"id": "a", "text": "a good film", "label": "pos"},
    {"id": "b", "text": "a bad film", "label": "neg"},
    {"id": "c", "text": "   ", "label": None},
    {"id": "d", "text": "NA", "label": "pos"},
]


def _write_table(path, rows=ROWS):
    import pandas as pd

    frame = pd.DataFrame(rows)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet", "t.jsonl"])
def test_tables_yield_text_label_and_id(name, tmp_path):
    source = TextTable(_write_table(tmp_path / name))
    records = list(source)
    assert source.modality == "text" and source.count() == 4
    assert [r.id for r in records] == ["a", "b", "c", "d"]
    assert [r.text for r in records] == ["a good film", "a bad film", "   ", "NA"]
    assert [r.label for r in records] == ["pos", "neg", None, "pos"]
    assert all(r.load_image is None and r.modality == "text" for r in records)
    assert all(r.split == hash_split(r.id, 0.2) for r in records)
    json.dumps(source.describe())


def test_json_array_and_auto_columns_without_id(tmp_path):
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps([{"review": "fine", "class": 3}, {"review": None, "class": 4}]))
    source = TextTable(path)
    assert (source.text_column, source.label_column, source.id_column) == ("review", "class", None)
    records = list(source)
    assert [(r.id, r.text, r.label) for r in records] == [("row-0", "fine", "3"), ("row-1", "", "4")]


def test_numeric_labels_stay_whole_and_nulls_are_none(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("sentence,label\nx,1\ny,\nz,0\n")
    assert [r.label for r in TextTable(path)] == ["1", None, "0"]
    pq = _write_table(tmp_path / "n.parquet", [{"text": "x", "label": 1.0}, {"text": "y", "label": float("nan")}])
    assert [r.label for r in TextTable(pq)] == ["1", None]


def test_missing_and_undetectable_columns_name_the_alternatives(tmp_path):
    path = _write_table(tmp_path / "t.csv")
    with pytest.raises(SourceError, match=r"'body'.*available columns: 'id', 'text', 'label'"):
        TextTable(path, text_column="body")
    with pytest.raises(SourceError, match=r"'kind'.*available columns"):
        TextTable(path, label_column="kind")
    other = tmp_path / "o.csv"
    other.write_text("body,kind\nhello,x\n")
    with pytest.raises(SourceError, match=r"no text column.*'body', 'kind'"):
        TextTable(other)
    assert [r.text for r in TextTable(other, text_column="body", label_column="kind")] == ["hello"]


def test_split_column_and_explicit_id_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("key,text,part\nk1,a,train\nk2,b,VAL\nk3,c,test\nk4,d,dev\nk5,e,unlabeled\nk6,f,\n")
    records = list(TextTable(path, id_column="key", split_column="part"))
    assert [r.split for r in records[:5]] == [TRAIN, VALIDATION, VALIDATION, VALIDATION, TRAIN]
    assert records[5].split == hash_split("k6", 0.2)
    assert [r.id for r in records] == ["k1", "k2", "k3", "k4", "k5", "k6"]


def test_repeated_ids_are_yielded_for_indexing_to_report(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,text\n1,a\n1,b\n,c\n")
    assert [(r.id, r.text) for r in TextTable(path)] == [("1", "a"), ("1", "b"), ("row-2", "c")]


def test_encodings(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé crème,x\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"not UTF-8.*CSV UTF-8.*iconv"):
        TextTable(latin)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("text,label\ncafé,x\n".encode("utf-8-sig"))
    assert [r.text for r in TextTable(bom)] == ["café"]
    utf16 = tmp_path / "excel.tsv"
    utf16.write_bytes("text\tlabel\nnaïve\ty\n".encode("utf-16"))
    assert [(r.text, r.label) for r in TextTable(utf16)] == [("naïve", "y")]


def test_duplicate_columns_are_an_error(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("text,label,text\na,b,c\n")
    with pytest.raises(SourceError, match=r"duplicate column names: 'text'"):
        TextTable(path)
    jsonl = tmp_path / "dup.jsonl"
    jsonl.write_text('{"text": "a", "text": "b"}\n')
    with pytest.raises(SourceError, match="duplicate field names"):
        TextTable(jsonl)


def test_table_errors(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        TextTable(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="is a folder"):
        TextTable(tmp_path)
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(SourceError, match="cannot tell the format"):
        TextTable(tmp_path / "x.xlsx")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(EmptySourceError):
        TextTable(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(EmptySourceError, match="no rows"):
        TextTable(tmp_path / "header.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        TextTable(tmp_path / "bad.parquet")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(SourceError, match="line 2 .* not valid JSON"):
        list(TextTable(tmp_path / "bad.jsonl"))


def test_big_csv_streams_in_chunks(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("text,label\n")
        for i in range(45_000):
            fh.write(f'"line {i}, with a comma",{i % 3}\n')
    source = TextTable(path)
    assert source.count() == 45_000
    *_, last = source
    assert last.id == "row-44999" and last.text == "line 44999, with a comma"


# -- Hugging Face (local datasets through load_dataset) ----------------------------------------


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Keep datasets' lock and cache files out of the user's home."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    return tmp_path / "hf-cache"


@pytest.fixture
def image_hub_dir(tmp_path):
    """A dataset folder laid out like a hub repo: data/{split}-*.parquet with Image + ClassLabel."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as HFImage

    features = Features({"image": HFImage(), "label": ClassLabel(names=["cat", "dog"]), "note": HFImage()})
    root = tmp_path / "imgds"
    (root / "data").mkdir(parents=True)
    for split, n in (("train", 5), ("validation", 3)):
        images = [Image.new("L", (8 + i, 6), 40 * i) for i in range(n)]
        ds = Dataset.from_dict({"image": images, "label": [i % 2 for i in range(n)], "note": images}, features=features)
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_hf_local_image_dataset(image_hub_dir, hf_cache):
    source = HuggingFaceDataset(str(image_hub_dir), splits=("train", "validation"))
    assert source.modality == "image" and source.image_column == "image" and source.label_column == "label"
    records = list(source)
    assert [r.id for r in records][:2] == ["train/0", "train/1"] and records[-1].id == "validation/2"
    assert Counter(r.split for r in records) == {TRAIN: 5, VALIDATION: 3}
    assert [r.label for r in records[:3]] == ["cat", "dog", "cat"]
    assert records[6].uri == f"hf://{image_hub_dir}/default/validation/1"
    img = records[2].load_image()
    assert img.mode == "RGB" and img.size == (10, 6)
    count = source.count()
    assert count in (None, 8)
    json.dumps(source.describe())


def test_hf_local_text_dataset_via_parse_source(tmp_path, hf_cache):
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"]), "n": Value("int32")})
    root = tmp_path / "txt"
    (root / "data").mkdir(parents=True)
    Dataset.from_dict(
        {"sentence": ["good", "bad", ""], "label": [1, 0, -1], "n": [1, 2, 3]}, features=features
    ).to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    source = parse_source(f"hf:{root}", split="test")
    assert source.modality == "text"
    records = list(source)
    assert [(r.id, r.split, r.text, r.label) for r in records] == [
        ("test/0", VALIDATION, "good", "pos"),
        ("test/1", VALIDATION, "bad", "neg"),
        ("test/2", VALIDATION, "", None),
    ]


def test_hf_column_and_split_errors(image_hub_dir, hf_cache):
    with pytest.raises(SourceError, match=r"'pixels'.*available columns: 'image', 'label', 'note'"):
        HuggingFaceDataset(str(image_hub_dir), image_column="pixels")
    with pytest.raises(SourceError, match="nosuch"):
        HuggingFaceDataset(str(image_hub_dir), splits=("nosuch",))
    other = HuggingFaceDataset(str(image_hub_dir), image_column="note", label_column=None)
    assert other.image_column == "note"


def test_hf_unreachable_fails_fast_with_alternatives(hf_cache):
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        parse_source("hf:frgfm/imagenette", config="320px", split="train,validation")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "could not reach the Hugging Face hub to load 'frgfm/imagenette' (offline?)" in message
    assert "folder:PATH" in message and "file:PATH" in message and "demo:digits" in message


def test_hf_missing_local_path(tmp_path, hf_cache):
    with pytest.raises(SourceError, match="no dataset found"):
        HuggingFaceDataset(str(tmp_path / "nothing-here"))


# -- parse_source ------------------------------------------------------------------------------


def test_parse_source_forms(tmp_path, monkeypatch):
    assert isinstance(parse_source("demo:digits"), DigitsDemo)
    _img(tmp_path / "pics" / "a" / "1.jpg")
    folder = parse_source(f"folder:{tmp_path / 'pics'}")
    assert isinstance(folder, ImageFolder) and folder.spec == f"folder:{(tmp_path / 'pics').resolve()}"
    table = _write_table(tmp_path / "t.csv")
    monkeypatch.chdir(tmp_path)
    source = parse_source("file:./t.csv", label_column="label")
    assert isinstance(source, TextTable) and source.spec == f"file:{table.resolve()}"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_source("file:~/t.csv").spec == f"file:{table.resolve()}"
    assert parse_source(" folder : ./pics ").count() == 1


@pytest.mark.parametrize("spec", ["", "digits", "zip:/x", "folder:", "s3://bucket/x"])
def test_parse_source_rejects_malformed_specs(spec):
    with pytest.raises(SourceError) as info:
        parse_source(spec)
    message = str(info.value)
    for form in ("demo:digits", "folder:PATH", "file:PATH", "hf:ID"):
        assert form in message


def test_parse_source_option_and_demo_errors(tmp_path):
    with pytest.raises(SourceError, match="unknown demo"):
        parse_source("demo:mnist")
    _img(tmp_path / "a.jpg")
    with pytest.raises(SourceError, match="text_column do not apply"):
        parse_source(f"folder:{tmp_path}", text_column="text")
    assert parse_source(f"folder:{tmp_path}", text_column=None).count() == 1


def test_importing_sources_is_cheap():
    import subprocess
    import sys

    code = (
        "import sys, core.sources; "
        "print(sorted(m for m in ('datasets', 'sklearn', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hf_non_streaming_counts_rows(image_hub_dir, hf_cache):
    source = HuggingFaceDataset(str(image_hub_dir), splits=["train", "validation"], streaming=False)
    assert source.count() == 8
    assert [r.label for r in source][-3:] == ["cat", "dog", "cat"]


def test_tsv_quotes_are_text(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\nhe said "hi\tx\nnext line\ty\n')
    assert [(r.text, r.label) for r in TextTable(path)] == [('he said "hi', "x"), ("next line", "y")]


def test_hf_script_dataset_falls_back_to_the_parquet_export(image_hub_dir, hf_cache, monkeypatch):
    """datasets>=4 refuses script datasets; we retry on refs/convert/parquet (config as a folder)."""
    import datasets

    real = datasets.load_dataset
    calls = []

    def fake_load(path, name=None, **kwargs):
        calls.append((path, name, kwargs.get("revision"), kwargs.get("data_dir")))
        if kwargs.get("revision") is None:
            raise RuntimeError("Dataset scripts are no longer supported, but found imagenette.py")
        if name is not None:
            raise ValueError(f"BuilderConfig '{name}' not found. Available: ['default']")
        assert kwargs.pop("revision") == "refs/convert/parquet" and kwargs.pop("data_dir") == "320px"
        return real(str(image_hub_dir), **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    source = HuggingFaceDataset("frgfm/imagenette", "320px", splits=("train", "validation"))
    assert source.revision == "refs/convert/parquet" and source.describe()["revision"] == source.revision
    assert calls[:3] == [
        ("frgfm/imagenette", "320px", None, None),
        ("frgfm/imagenette", "320px", "refs/convert/parquet", None),
        ("frgfm/imagenette", None, "refs/convert/parquet", "320px"),
    ]
    assert calls[3] == ("frgfm/imagenette", None, "refs/convert/parquet", "320px")  # validation: direct
    records = list(source)
    assert len(records) == 8 and records[0].uri == "hf://frgfm/imagenette/320px/train/0"
