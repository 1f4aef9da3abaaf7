"""Files a person uploads through the app: saved under the workspace, zips extracted safely.

A zip may not write outside its folder (``../`` or absolute paths), may not hold links, and may not
expand past a size limit (zip bombs); any of these rejects the whole upload, nothing kept.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

from core.config import workspace
from core.errors import SourceError

MAX_UPLOAD_BYTES = int(os.environ.get("FEWSHOT_MAX_UPLOAD_MB", "1024")) * 1024 * 1024
MAX_EXTRACTED_BYTES = int(os.environ.get("FEWSHOT_MAX_EXTRACTED_MB", "4096")) * 1024 * 1024
MAX_ZIP_RATIO = 200  # larger compression ratios are zip bombs, not photos
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json"}


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
    return stem or "upload"


def uploads_dir(index_name: str) -> Path:
    path = workspace() / "uploads" / _safe_name(index_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table_upload(index_name: str, filename: str, data: bytes) -> Path:
    """Store an uploaded CSV/Parquet/JSONL under the workspace and return its path."""
    suffix = Path(filename).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise SourceError(f"{filename!r} is not a table: upload a .csv, .tsv, .parquet or .jsonl file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SourceError(f"{filename!r} is larger than the upload limit of {MAX_UPLOAD_BYTES // 2**20} MB")
    if not data:
        raise SourceError(f"{filename!r} is empty")
    path = uploads_dir(index_name) / _safe_name(filename)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def extract_zip_upload(index_name: str, filename: str, zip_path: Path | str) -> Path:
    """Extract an uploaded zip of images into its own folder; refuse unsafe or oversized archives."""
    target = uploads_dir(index_name) / Path(_safe_name(filename)).stem
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{filename!r} is not a readable zip file: {exc}") from None
    with archive:
        members = archive.infolist()
        _check_members(filename, members)
        staging = target.with_name(target.name + ".extracting")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for member in members:
                if member.is_dir():
                    continue
                destination = staging / member.filename
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(destination, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    return target


def _check_members(filename: str, members: list[zipfile.ZipInfo]) -> None:
    total = 0
    compressed = 0
    for member in members:
        name = member.filename
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise SourceError(f"{filename!r} was refused: it holds a path outside its folder ({name!r})")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise SourceError(f"{filename!r} was refused: it holds a symbolic link ({name!r})")
        total += member.file_size
        compressed += member.compress_size
    if total > MAX_EXTRACTED_BYTES:
        raise SourceError(
            f"{filename!r} was refused: it expands to {total // 2**20} MB, over the limit of "
            f"{MAX_EXTRACTED_BYTES // 2**20} MB"
        )
    if compressed and total / compressed > MAX_ZIP_RATIO and total > 50 * 2**20:
        ratio = total // compressed
        raise SourceError(f"{filename!r} was refused: it looks like a zip bomb (compression ratio {ratio}:1)")
