"""Writing files so that a crash, a kill or a second writer never leaves half a file under the real name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    """The process's umask, read once at import (reading it means setting it, which threads could see)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to a private temporary file beside ``path``, sync it, then rename it over ``path``.

    The real name holds the whole new file or the previous one; two writers at once cannot mix bytes.
    The file gets the permissions a plain ``open`` would give (the umask's), not the temporary file's
    owner-only ones: an exported classifier or a shareable report is meant to be read by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's file is not owner-only anyway
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
