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

from core.config import VALIDATION_FRACTION, shown_path
from core.errors import EmptySourceError, SourceError
from core.images import open_image
from core.records import TRAIN, VALIDATION, Record
from core.source_base import check_fraction, hash_split, path_kind

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: Picture formats people keep beside their photos that we cannot decode: listed as skipped, with why.
UNSUPPORTED_IMAGES = {
    ".svg": "SVG is a vector drawing, not a picture of pixels: export it as PNG",
    ".svgz": "SVG is a vector drawing, not a picture of pixels: export it as PNG",
    ".heic": "HEIC photos (iPhone) cannot be decoded here: convert them to JPEG",
    ".heif": "HEIF photos cannot be decoded here: convert them to JPEG",
    ".avif": "AVIF pictures cannot be decoded here: convert them to JPEG or PNG",
    ".jxl": "JPEG XL pictures cannot be decoded here: convert them to JPEG or PNG",
    ".psd": "Photoshop files are not supported: export them as PNG or JPEG",
    ".raw": "camera RAW files are not supported: export them as JPEG",
    ".cr2": "camera RAW files are not supported: export them as JPEG",
    ".cr3": "camera RAW files are not supported: export them as JPEG",
    ".nef": "camera RAW files are not supported: export them as JPEG",
    ".arw": "camera RAW files are not supported: export them as JPEG",
    ".dng": "camera RAW files are not supported: export them as JPEG",
    ".pdf": "PDF documents are not supported: export the pages as PNG",
}
TRAIN_FOLDERS = frozenset({"train"})
VALIDATION_FOLDERS = frozenset({"val", "valid", "validation", "test"})


class ImageFolder:
    """Every image under ``path`` (recursively), in sorted order, id = POSIX path relative to it.

    Labels: the name of the folder an image sits in (None for images directly in the root or
    directly in a split folder). Splits: the top-level ``train/`` and ``val``/``valid``/
    ``validation``/``test`` folders when both kinds exist (other top-level entries are then
    ignored, and listed as skipped), otherwise a stable hash of the id with ``validation_fraction``.
    Hidden files and folders (``.name``) are left out.

    link_roots: where symlinks may lead. ``()`` (the default): only inside ``path``; a tuple of
    folders: inside ``path`` or one of them (the app passes its data folders); None: anywhere (the
    command line, run by the machine's owner). A link that may not be followed, or leads nowhere, is
    yielded as an item that is skipped with the reason, so the index report says what was left out.
    """

    modality: Literal["image", "text"] = "image"

    def __init__(
        self,
        path: str | Path,
        validation_fraction: float = VALIDATION_FRACTION,
        link_roots: tuple[Path, ...] | None = (),
    ) -> None:
        self.root = Path(path).expanduser().resolve()
        self.link_roots = None if link_roots is None else tuple(Path(r).resolve() for r in link_roots)
        self.left_out: list[tuple[str, str]] = []  # (id, why): links not followed, entries beside the split folders
        self.label_columns: list[str] = ["label"]  # one label: the class
        self.validation_fraction = check_fraction(validation_fraction)
        self.spec = f"folder:{self.root}"
        kind = path_kind(self.root, str(path))
        if kind == "missing":
            raise SourceError(f"folder not found: {shown_path(self.root)}")
        if kind != "folder" and self.root.suffix.lower() == ".zip":
            raise SourceError(f"{self.root} is a zip file, not a folder: upload it on the Index page, "
                              "index it from the command line (folder:PATH.zip), or unzip it and give the folder")
        if kind != "folder":
            raise SourceError(
                f"{self.root} is a file, not a folder; for a CSV/Parquet/JSONL table use file:{self.root}"
            )
        self.split_folders = _split_folders(self.root)
        self._files = self._scan()
        self.left_out.sort()
        if not any(f.lower().endswith(IMAGE_EXTENSIONS) for f in self._files):
            looked = ", ".join(IMAGE_EXTENSIONS)
            other = ""
            if self._files:
                first = self._files[0]
                other = (f"; {len(self._files)} files in formats that cannot be decoded here, e.g. {first!r}: "
                         f"{UNSUPPORTED_IMAGES[Path(first).suffix.lower()]}")
            if self.left_out:
                rel, why = self.left_out[0]
                other += f"; {len(self.left_out)} entries left out, e.g. {rel!r}: {why}"
            raise EmptySourceError(f"no images found in {self.root} (looked for {looked}){other}")

    def _scan(self) -> list[str]:
        """Sorted relative POSIX paths of the images to use; what is left out goes to ``left_out``."""
        if not self.split_folders:
            return sorted(_walk_images(self.root, self.root, self.link_roots, self.left_out))
        found: list[str] = []
        for name in self.split_folders:
            found.extend(f"{name}/{rel}" for rel in
                         _walk_images(self.root / name, self.root, self.link_roots, self.left_out, prefix=f"{name}/"))
        for entry in _visible_entries(self.root):
            if entry.name not in self.split_folders:
                kind = "folder" if _is_dir(entry) else "file"
                self.left_out.append((entry.name + ("/" if kind == "folder" else ""),
                                      f"a {kind} beside the train and validation folders: only those are indexed"))
        return sorted(found)

    def __iter__(self) -> Iterator[Record]:
        for rel in self._files:
            split, label = self._split_and_label(rel)
            path = self.root / rel
            known = rel.lower().endswith(IMAGE_EXTENSIONS)
            yield Record(
                id=rel,
                split=split,
                uri=str(path),
                label=label,
                load_image=partial(open_image, path) if known else partial(_unsupported, path),
            )
        for rel, why in self.left_out:  # listed as skipped, with the reason
            yield Record(id=rel, split=TRAIN, uri=str(self.root / rel), label=None,
                         load_image=partial(_left_out, why))

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
        return len(self._files) + len(self.left_out)

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "folder",
            "path": str(self.root),
            "layout": "split folders" if self.split_folders else "hash split",
            "split_folders": dict(self.split_folders),
            "validation_fraction": self.validation_fraction,
        }


def has_split_folders(root: Path) -> bool:
    """Whether ``root`` holds both a train and a validation folder (what makes the split)."""
    try:
        return bool(_split_folders(root))
    except SourceError:
        return False


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
    return _is_dir(entry) and (not entry.is_symlink() or _inside(Path(entry.path), (root,)))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _visible_entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return []


def _inside(path: Path, roots: tuple[Path, ...] | None) -> bool:
    """Whether ``path`` resolves (through symlinks) to somewhere under one of ``roots`` (None: anywhere)."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # broken or looping link
        return False
    return roots is None or any(target.is_relative_to(root) for root in roots)


def _link_problem(path: Path, roots: tuple[Path, ...] | None) -> str | None:
    """Why the symlink ``path`` is not followed, or None when it may be."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a broken link (its target does not exist)"
    if roots is None or any(target.is_relative_to(root) for root in roots):
        return None
    where = "the chosen folder" if roots is not None and len(roots) == 1 else "the allowed data folders"
    return f"a link to somewhere outside {where}: not followed"


def _unsupported(path: Path | str, draft_size: int | None = None) -> None:
    """``load_image`` of a file in a format we list but cannot decode: always skipped, with the reason."""
    from core.errors import UnreadableItem

    raise UnreadableItem(UNSUPPORTED_IMAGES[Path(path).suffix.lower()])


def _left_out(why: str, draft_size: int | None = None) -> None:
    """``load_image`` of an entry the scan left out (a link not followed, a stray file): skipped with why."""
    from core.errors import UnreadableItem

    raise UnreadableItem(why)


def _walk_images(
    top: Path,
    root: Path,
    link_roots: tuple[Path, ...] | None = (),
    left_out: list[tuple[str, str]] | None = None,
    prefix: str = "",
) -> Iterator[str]:
    """Relative (to ``top``) POSIX paths of images under ``top``; links that may not be followed skipped.

    ``link_roots`` as in ``ImageFolder`` (``()`` = only inside ``root``); each link not followed is
    appended to ``left_out`` as (``prefix`` + relative path, why). Real folders are walked before linked
    ones, and each real folder once, so a link to a folder already in the tree neither loops nor
    duplicates its images under a second id.
    """
    roots = link_roots if link_roots is None else (root, *link_roots)
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
            if link:
                problem = _link_problem(Path(entry.path), roots)
                if problem is not None:
                    wanted = entry.name.lower().endswith(IMAGE_EXTENSIONS) or os.path.isdir(entry.path)
                    if left_out is not None and wanted:
                        rel = prefix + Path(entry.path).relative_to(top).as_posix()
                        left_out.append((rel + ("/" if os.path.isdir(entry.path) else ""), problem))
                    continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                (linked if link else stack).append(Path(entry.path))
            elif is_file and entry.name.lower().endswith(IMAGE_EXTENSIONS + tuple(UNSUPPORTED_IMAGES)):
                yield Path(entry.path).relative_to(top).as_posix()
