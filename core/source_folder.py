"""Images in a folder tree: class subfolders give labels, ``train/`` + ``val/`` folders give splits.

The tree is scanned once when the source is made, so a bad path or an empty folder is reported
before indexing starts and ``count()`` is exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from core.config import VALIDATION_FRACTION
from core.errors import EmptySourceError, SourceError
from core.images import open_image
from core.records import TRAIN, VALIDATION, Record
from core.source_base import check_fraction, hash_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
TRAIN_FOLDERS = frozenset({"train"})
VALIDATION_FOLDERS = frozenset({"val", "valid", "validation", "test"})


class ImageFolder:
    """Every image under ``path`` (recursively), in sorted order, id = POSIX path relative to it.

    Labels: the name of the folder an image sits in (None for images directly in the root or
    directly in a split folder). Splits: the top-level ``train/`` and ``val``/``valid``/
    ``validation``/``test`` folders when both kinds exist (other top-level entries are then
    ignored), otherwise a stable hash of the id with ``validation_fraction``. Symlinks are
    followed only while they stay inside the root; hidden files and folders (``.name``) are skipped.
    """

    modality: Literal["image", "text"] = "image"

    def __init__(self, path: str | Path, validation_fraction: float = VALIDATION_FRACTION) -> None:
        self.root = Path(path).expanduser().resolve()
        self.label_columns: list[str] = ["label"]  # one label: the class
        self.validation_fraction = check_fraction(validation_fraction)
        self.spec = f"folder:{self.root}"
        if not self.root.exists():
            raise SourceError(f"folder not found: {self.root}")
        if not self.root.is_dir():
            raise SourceError(
                f"{self.root} is a file, not a folder; for a CSV/Parquet/JSONL table use file:{self.root}"
            )
        self.split_folders = _split_folders(self.root)
        self._files = self._scan()
        if not self._files:
            looked = ", ".join(IMAGE_EXTENSIONS)
            raise EmptySourceError(f"no images found in {self.root} (looked for {looked})")

    def _scan(self) -> list[str]:
        """Sorted relative POSIX paths of the images to use."""
        if self.split_folders:
            found: list[str] = []
            for name in self.split_folders:
                found.extend(f"{name}/{rel}" for rel in _walk_images(self.root / name, self.root))
            return sorted(found)
        return sorted(_walk_images(self.root, self.root))

    def __iter__(self) -> Iterator[Record]:
        for rel in self._files:
            split, label = self._split_and_label(rel)
            path = self.root / rel
            yield Record(
                id=rel,
                split=split,
                uri=str(path),
                label=label,
                load_image=partial(open_image, path),
            )

    def _split_and_label(self, rel: str) -> tuple[str, str | None]:
        parts = PurePosixPath(rel).parts
        if self.split_folders:
            split = self.split_folders[parts[0]]
            label = parts[-2] if len(parts) > 2 else None
        else:
            split = hash_split(rel, self.validation_fraction)
            label = parts[-2] if len(parts) > 1 else None
        return split, label

    def count(self) -> int:
        return len(self._files)

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "folder",
            "path": str(self.root),
            "layout": "split folders" if self.split_folders else "hash split",
            "split_folders": dict(self.split_folders),
            "validation_fraction": self.validation_fraction,
        }


def _split_folders(root: Path) -> dict[str, str]:
    """Top-level folder name -> split, when the root has both a train and a validation folder."""
    folders: dict[str, str] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise SourceError(f"cannot read folder {root}: {exc.strerror or exc}") from exc
    for entry in entries:
        if not _is_dir_inside(entry, root):
            continue
        lowered = entry.name.lower()
        if lowered in TRAIN_FOLDERS:
            folders[entry.name] = TRAIN
        elif lowered in VALIDATION_FOLDERS:
            folders[entry.name] = VALIDATION
    kinds = set(folders.values())
    return folders if kinds == {TRAIN, VALIDATION} else {}


def _is_dir_inside(entry: os.DirEntry[str], root: Path) -> bool:
    try:
        if not entry.is_dir():
            return False
    except OSError:
        return False
    return not entry.is_symlink() or _inside(Path(entry.path), root)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves (through symlinks) to somewhere under ``root``."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # broken or looping link
        return False


def _walk_images(top: Path, root: Path) -> Iterator[str]:
    """Relative (to ``top``) POSIX paths of images under ``top``; links leaving ``root`` skipped.

    Real folders are walked before linked ones, and each real folder once, so a link to a folder
    already in the tree neither loops nor duplicates its images under a second id.
    """
    seen_dirs: set[str] = set()
    stack, linked = [top], []
    while stack or linked:
        folder = stack.pop() if stack else linked.pop(0)
        real = os.path.realpath(folder)
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):  # .git, .ipynb_checkpoints, macOS "._x.jpg" files
                continue
            link = entry.is_symlink()
            if link and not _inside(Path(entry.path), root):
                continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                (linked if link else stack).append(Path(entry.path))
            elif is_file and entry.name.lower().endswith(IMAGE_EXTENSIONS):
                yield Path(entry.path).relative_to(top).as_posix()
