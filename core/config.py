"""Where the workspace lives, which folders the app may read, and the defaults shared by the app and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import SourceError

WORKSPACE_ENV = "FEWSHOT_HOME"
DEFAULT_WORKSPACE = "./workspace"
#: Folders a path typed in the app may point into (``os.pathsep``-separated); default: the workspace.
DATA_ROOTS_ENV = "FEWSHOT_DATA_ROOTS"
#: A local folder for uploads and exports when the workspace is in a bucket.
LOCAL_DIR_ENV = "FEWSHOT_LOCAL_DIR"

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
DEFAULT_SENTENCE_MODEL = "minilm"
THUMBNAIL_SIZE = 160
VALIDATION_FRACTION = 0.2


def workspace() -> Path:
    """The local workspace directory from ``FEWSHOT_HOME`` (default ``./workspace``), created if missing.

    When ``FEWSHOT_HOME`` names a bucket (``s3://``, ``gs://``, ``az://``; see ``core.storage``), this is a
    local folder for what must sit on this machine (uploads waiting to be indexed, exports):
    ``FEWSHOT_LOCAL_DIR``, else ``~/.cache/fewshot``. ``workspace_uri()`` names the workspace itself.
    """
    raw = os.environ.get(WORKSPACE_ENV, DEFAULT_WORKSPACE)
    if "://" in raw and not raw.startswith("file://"):
        raw = os.environ.get(LOCAL_DIR_ENV) or str(Path.home() / ".cache" / "fewshot")
    path = Path(raw.removeprefix("file://")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspace_uri() -> str:
    """The workspace as a path or a bucket URI: where the database and the map cache live."""
    from core.storage import workspace_location

    location = workspace_location()
    if location.is_local:
        location.path.mkdir(parents=True, exist_ok=True)
    return location.uri


def data_roots() -> list[Path]:
    """The folders the app may read data from: ``FEWSHOT_DATA_ROOTS`` (``os.pathsep``-separated,
    symlinks resolved), else the workspace alone."""
    raw = os.environ.get(DATA_ROOTS_ENV, "")
    roots = [Path(p.strip()).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]
    return roots or [workspace()]


def shown_path(text: str | Path, limit: int = 120) -> str:
    """A typed path for a message: as typed, shortened when a paste is very long."""
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text):,} characters)"


def check_data_path(path: str | Path) -> Path:
    """``path`` resolved (symlinks followed), if it lies inside one of ``data_roots()``; else ``SourceError``.

    The app calls this for every folder, file or model path a person types, so a shared demo cannot
    read or probe the rest of the server's disk. A relative path is taken relative to the data
    folders (the first where it exists, else the first), never to the server's working directory.
    The check comes before any existence test outside the roots, so a refused path says nothing
    about whether it exists.
    """
    roots = data_roots()
    try:
        given = Path(path).expanduser()
        candidates = [given] if given.is_absolute() else [root / given for root in roots]
        resolved_all = [c.resolve() for c in candidates]
    except (OSError, RuntimeError, ValueError) as exc:  # NUL bytes, symlink loops, names too long
        reason = "it holds a NUL byte" if isinstance(exc, ValueError) else getattr(exc, "strerror", None)
        raise SourceError(f"{shown_path(path)!r} is not a usable path ({reason or exc})") from None
    inside = [r for r in resolved_all if any(r == root or r.is_relative_to(root) for root in roots)]
    if inside:
        for candidate in inside:
            try:
                if candidate.exists():
                    return candidate
            except (OSError, ValueError):
                continue
        return inside[0]
    allowed = ", ".join(str(r) for r in roots)
    raise SourceError(
        f"{shown_path(path)} is outside the allowed data folders ({allowed}). Set {DATA_ROOTS_ENV} to allow it "
        f"(folders separated by '{os.pathsep}', then restart the app), or move the data into one of them."
    )
