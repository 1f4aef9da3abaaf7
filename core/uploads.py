"""Files a person uploads through the app: saved under the workspace, zips extracted safely.

A zip may not write outside its folder (``../`` or absolute paths), may not hold links or device
files, and may not expand past a size limit or a compression ratio (zip bombs); any of these rejects
the whole upload and nothing is kept. Extraction goes to a private staging folder that replaces the
target only once every file is written, so a failure or a crash never leaves half an upload behind.

Limits come from the environment when the function runs (so an operator can change them, and tests
can lower them): ``FEWSHOT_MAX_UPLOAD_MB`` (one uploaded file, default 1024, the same number
``scripts/app.sh`` gives Streamlit's ``server.maxUploadSize``), ``FEWSHOT_MAX_EXTRACTED_MB`` (a zip's
contents, default 4096).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from core.config import workspace
from core.errors import FewshotError, SourceError
from core.files import write_atomic

UPLOAD_LIMIT_ENV = "FEWSHOT_MAX_UPLOAD_MB"
EXTRACTED_LIMIT_ENV = "FEWSHOT_MAX_EXTRACTED_MB"
DEFAULT_UPLOAD_MB = 1024
DEFAULT_EXTRACTED_MB = 4096
MAX_ZIP_RATIO = 200  # larger compression ratios are zip bombs, not photos
RATIO_CHECK_ABOVE = 50 * 2**20  # small archives may compress well (blank scans, text); harmless
MAX_ZIP_MEMBERS = 200_000
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json"}
COMPRESSED_SUFFIXES = {".gz", ".bz2", ".xz"}
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def _megabytes(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FewshotError(f"{env}={raw!r} is not a whole number of megabytes; fix or unset it") from None
    if value < 1:
        raise FewshotError(f"{env} must be at least 1 (megabytes), got {value}")
    return value


def max_upload_bytes() -> int:
    """Largest single upload accepted, in bytes (``FEWSHOT_MAX_UPLOAD_MB``)."""
    return _megabytes(UPLOAD_LIMIT_ENV, DEFAULT_UPLOAD_MB) * 2**20


def max_upload_mb() -> int:
    return _megabytes(UPLOAD_LIMIT_ENV, DEFAULT_UPLOAD_MB)


def max_extracted_bytes() -> int:
    """Largest total a zip may expand to, in bytes (``FEWSHOT_MAX_EXTRACTED_MB``)."""
    return _megabytes(EXTRACTED_LIMIT_ENV, DEFAULT_EXTRACTED_MB) * 2**20


def _too_large(filename: str, size: int) -> SourceError:
    limit = max_upload_mb()
    return SourceError(
        f"{filename!r} is {size / 2**20:,.1f} MB, over the upload limit of {limit} MB. Upload a smaller file, "
        f"put the data in a folder on the server and index that, or ask whoever runs the app to raise "
        f"{UPLOAD_LIMIT_ENV}."
    )


MAX_STORED_NAME = 120  # characters of a stored upload's name (all ASCII once cleaned)


def _safe_name(name: str) -> str:
    """``name``'s last part in letters, digits, ``._-``, its suffixes kept (``数据.csv`` lost its ``.csv``).

    Two names that clean to the same text (``a b.csv`` and ``a_b.csv``) used to share one file, so the second
    upload replaced the first one's images: a name that had to be cleaned gets a short hash of the original
    before its suffixes, the same for every upload of that name.
    """
    base = Path(name).name
    stem, suffixes = base, ""
    while (found := _SUFFIX.search(stem)) and found.start() > 0:
        stem, suffixes = stem[:found.start()], found.group(0) + suffixes
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or "upload"
    suffixes = suffixes[-MAX_STORED_NAME // 4:]  # a name of suffixes only (a.b.c.d...) is shortened too
    if clean + suffixes == base and len(base) <= MAX_STORED_NAME:
        return base
    digest = hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    # short enough for the temporary names beside it (``.NAME.xxxx.tmp``, ``.NAME.xxxx.extracting``) to stay under
    # the 255-byte limit of most file systems: a 240-letter upload name was an OSError traceback
    return f"{clean[:MAX_STORED_NAME - len(suffixes) - 9]}-{digest}{suffixes}"


def uploads_dir(index_name: str) -> Path:
    path = workspace() / "uploads" / _safe_name(index_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table_upload(index_name: str, filename: str, data: bytes) -> Path:
    """Store an uploaded CSV/Parquet/JSONL under the workspace and return its path."""
    suffixes = [s.lower() for s in Path(filename).suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:  # reports.csv.gz: a compressed table, as the preview reads it
        suffixes.pop()
    if not suffixes or suffixes[-1] not in TABLE_SUFFIXES:
        raise SourceError(f"{filename!r} is not a table: upload a .csv, .tsv, .parquet or .jsonl file "
                          "(optionally .gz, .bz2 or .xz)")
    if len(data) > max_upload_bytes():
        raise _too_large(filename, len(data))
    if not data:
        raise SourceError(f"{filename!r} is empty: upload a file with a header row and at least one row")
    path = uploads_dir(index_name) / _safe_name(filename)
    write_atomic(path, data)  # the real name holds the whole file or the previous one
    return path


def extract_zip_upload(index_name: str, filename: str, zip_path: Path | str) -> Path:
    """Extract an uploaded zip of images into its own folder; refuse unsafe or oversized archives."""
    zip_path = Path(zip_path)
    try:
        size = zip_path.stat().st_size
    except OSError as exc:
        raise SourceError(f"{filename!r} cannot be read: {exc.strerror or exc}") from None
    if size > max_upload_bytes():
        raise _too_large(filename, size)
    target = uploads_dir(index_name) / Path(_safe_name(filename)).stem
    if target.exists() and not target.is_dir():  # data.csv.zip beside an uploaded data.csv: never replace the table
        target = target.with_name(f"{target.name}-zip")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(
            f"{filename!r} is not a readable zip file ({exc}); zip the images again"
        ) from None
    with archive:
        members = archive.infolist()
        _check_members(filename, members)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".extracting"))
        try:
            _extract(filename, archive, members, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.replace(old)
    content = _content_root(staging)
    content.replace(target)
    if content != staging:
        shutil.rmtree(staging, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _content_root(folder: Path) -> Path:
    """The folder a zip's images hang from: OS "Compress" tools wrap everything in one folder
    (``photos/train/...``), which would otherwise hide ``train/``/``val/`` and become a label.

    Descends while a folder holds a single visible entry, a folder, and no image directly; a lone
    folder of images (``cats/*.jpg``) is kept, its name being their label.
    """
    from core.source_folder import IMAGE_EXTENSIONS, has_split_folders

    while True:
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            return folder
        inner = entries[0]
        holds_images = any(f.is_file() and f.name.lower().endswith(IMAGE_EXTENSIONS) for f in inner.iterdir())
        if holds_images and not has_split_folders(inner):  # photos/train, photos/val and a stray photos/x.png
            return folder
        folder = inner


def _extract(filename: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], staging: Path) -> None:
    """Copy every file member under ``staging``, counting real bytes (headers can lie)."""
    budget = max_extracted_bytes()
    written = 0
    root = staging.resolve()
    for member in members:
        if member.is_dir() or _macos_metadata(member.filename):
            continue
        destination = staging / member.filename
        if not destination.resolve().is_relative_to(root):  # defence in depth; _check_members refused it
            raise SourceError(f"{filename!r} was refused: it holds a path outside its folder ({member.filename!r})")
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(destination, "xb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > budget:
                        raise SourceError(
                            f"{filename!r} was refused: it expands past the limit of {budget // 2**20} MB "
                            "(a zip bomb, or simply too much data for an upload)"
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
            raise SourceError(
                f"{filename!r} is damaged or uses an unsupported feature (encryption, compression) "
                f"at {member.filename!r}: {exc}. Zip the images again without a password and upload it."
            ) from None
        except FileExistsError:
            raise SourceError(f"{filename!r} holds {member.filename!r} twice; zip the images again") from None
        except OSError as exc:
            raise SourceError(
                f"{filename!r} could not be extracted at {member.filename!r}: {exc.strerror or exc}"
            ) from None


def _macos_metadata(name: str) -> bool:
    """``__MACOSX/...``: resource forks macOS adds to the zips it makes, never pictures."""
    return name.replace("\\", "/").split("/", 1)[0] == "__MACOSX"


def _check_members(filename: str, members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_ZIP_MEMBERS:
        raise SourceError(
            f"{filename!r} was refused: it holds {len(members):,} entries, over the limit of {MAX_ZIP_MEMBERS:,}; "
            "put the images in a folder on the server and index that"
        )
    total = 0
    compressed = 0
    for member in members:
        name = member.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\0" in name:
            raise SourceError(f"{filename!r} was refused: it holds a path outside its folder ({name!r})")
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise SourceError(f"{filename!r} was refused: it holds a symbolic link ({name!r})")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded (most tools)
            raise SourceError(f"{filename!r} was refused: {name!r} is not a regular file")
        total += member.file_size
        compressed += member.compress_size
    limit = max_extracted_bytes()
    if total > limit:
        raise SourceError(
            f"{filename!r} was refused: it expands to {total // 2**20:,} MB, over the limit of "
            f"{limit // 2**20:,} MB. Split it into smaller zips, or put the images in a folder on the server."
        )
    if compressed and total / compressed > MAX_ZIP_RATIO and total > RATIO_CHECK_ABOVE:
        ratio = total // compressed
        raise SourceError(
            f"{filename!r} was refused: it looks like a zip bomb (compression ratio {ratio}:1, over "
            f"{MAX_ZIP_RATIO}:1); photos barely compress, so this is not a zip of images"
        )


def discard_upload(path: Path | str) -> None:
    """Remove what an upload left under the workspace (a table file or an extracted folder)."""
    path = Path(path)
    uploads = (workspace() / "uploads").resolve()
    if not path.resolve().is_relative_to(uploads):
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    parent = path.parent
    if parent.resolve() != uploads and parent.resolve().is_relative_to(uploads):
        _remove_if_empty(parent)  # uploads/<index>/ once nothing of it is left


def table_source_from_upload(index_name: str, filename: str, data: bytes, **options):
    """Save an uploaded table and open it as a source; a file that cannot be read is removed again,
    so a refused upload leaves nothing behind."""
    from core.sources import parse_source

    try:
        path = save_table_upload(index_name, filename, data)
    except BaseException:
        _drop_if_empty(index_name)
        raise
    try:
        return parse_source(f"file:{path}", **options)
    except BaseException:
        discard_upload(path)
        raise


def folder_source_from_upload(index_name: str, filename: str, zip_path: Path | str):
    """Extract an uploaded zip of images and open it as a source; removed again when refused."""
    from core.source_folder import ImageFolder

    try:
        folder = extract_zip_upload(index_name, filename, zip_path)
    except BaseException:
        _drop_if_empty(index_name)
        raise
    try:
        return ImageFolder(folder)  # links are refused in zips; none to follow
    except BaseException:
        discard_upload(folder)
        raise


def discard_index_uploads(index_name: str) -> None:
    """Remove every upload kept for an index (it was deleted)."""
    shutil.rmtree(workspace() / "uploads" / _safe_name(index_name), ignore_errors=True)


def _drop_if_empty(index_name: str) -> None:
    """Remove ``uploads/<index>/`` when a refused upload left it empty."""
    _remove_if_empty(workspace() / "uploads" / _safe_name(index_name))


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # fails, and keeps it, unless it is empty
    except OSError:
        pass
