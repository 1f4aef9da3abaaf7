"""Zips as people make them: OS "Compress" wraps everything in one folder (and macOS adds ``__MACOSX/``);
the ``train/``/``val/`` split inside must still count, from the app's upload and from the command line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main
from core.config import workspace
from core.errors import SourceError
from core.records import TRAIN, VALIDATION
from core.store import Store
from core.uploads import folder_source_from_upload, table_source_from_upload


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), (shade, 0, 0)).save(out, "PNG")
    return out.getvalue()


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for i, name in enumerate(names):
            archive.writestr(name, _png(20 * i) if name.endswith(".png") else b"\0Mac metadata")
    return path


WRAPPED = ["photos/train/red/1.png", "photos/train/blue/2.png", "photos/val/red/3.png", "photos/val/blue/4.png",
           "__MACOSX/photos/train/red/._1.png", "photos/.DS_Store"]


def test_a_zip_wrapped_in_one_folder_keeps_its_split_folders(workspace_dir, tmp_path):
    source = folder_source_from_upload("photos", "photos.zip", _zip(tmp_path / "photos.zip", WRAPPED))
    records = {r.id: r for r in source}
    assert set(records) == {"train/red/1.png", "train/blue/2.png", "val/red/3.png", "val/blue/4.png"}
    assert records["train/red/1.png"].split == TRAIN and records["val/blue/4.png"].split == VALIDATION
    assert {r.label for r in records.values()} == {"red", "blue"}
    assert source.describe()["layout"] == "split folders"
    assert not any(p.name == "__MACOSX" for p in (workspace() / "uploads").rglob("*"))


def test_a_zip_of_one_folder_of_images_keeps_that_folder_as_their_label(workspace_dir, tmp_path):
    source = folder_source_from_upload("cats", "cats.zip", _zip(tmp_path / "cats.zip", ["cats/1.png", "cats/2.png"]))
    assert {(r.id, r.label) for r in source} == {("cats/1.png", "cats"), ("cats/2.png", "cats")}


def test_a_refused_upload_leaves_no_empty_folder(workspace_dir, tmp_path):
    bad = tmp_path / "fake.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="not a readable zip"):
        folder_source_from_upload("fake", "fake.zip", bad)
    with pytest.raises(SourceError, match="not a table"):
        table_source_from_upload("notes", "notes.txt", b"hello")
    uploads = workspace() / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_the_command_line_indexes_a_zip_on_disk_and_says_how_it_split(workspace_dir, tmp_path, capsys):
    archive = _zip(tmp_path / "photos.zip", WRAPPED)
    assert main(["index", "--name", "photos", "--source", f"folder:{archive}", "--embedder", "pixels"]) == 0
    out = capsys.readouterr().out
    assert "index photos: 4 items (train=2, validation=2)" in out and "split by the folders train/, val/" in out
    assert set(Store().vectors("photos").ids) == {"train/red/1.png", "train/blue/2.png", "val/red/3.png",
                                                  "val/blue/4.png"}


def test_a_wrapped_zip_with_a_stray_image_beside_its_split_folders_is_still_unwrapped(workspace_dir, tmp_path):
    names = [*WRAPPED, "photos/README_img.png"]
    source = folder_source_from_upload("photos", "photos.zip", _zip(tmp_path / "photos.zip", names))
    assert source.describe()["layout"] == "split folders"
    assert source.left_out == [("README_img.png", "a file beside the train and validation folders: only those "
                                                  "are indexed")]
    assert {r.split for r in source if r.id.startswith("val/")} == {VALIDATION}


def test_deleting_an_index_removes_its_extracted_uploads(workspace_dir, tmp_path):
    archive = _zip(tmp_path / "photos.zip", WRAPPED)
    assert main(["index", "--name", "photos", "--source", f"folder:{archive}", "--embedder", "pixels"]) == 0
    assert (workspace() / "uploads" / "photos").is_dir()
    assert main(["delete-index", "photos", "--yes"]) == 0
    assert not (workspace() / "uploads" / "photos").exists()
