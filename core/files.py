"""Writing files so that a crash, a kill or a second writer never leaves half a file under the real name."""

from __future__ import annotations

import glob
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
    The file gets the permissions a plain ``open`` would give (the umask's for a new file, the old file's for one
    replaced), not the temporary file's owner-only ones: an exported classifier or a shareable report is meant to
    be read by others, private ratings stay private. A symlink is written through, like a plain ``open``.
    """
    path = Path(path)
    if path.is_symlink():  # write where the link points, as a plain open would (the link stays a link)
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(path)
    try:  # a file replaced keeps its permissions (a re-tester's chmod 600 ratings became world-readable)
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's file is not owner-only anyway
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: a temporary file is only taken for abandoned when it is at least this old (seconds), as well as its writer gone
ABANDONED_AFTER_S = 60.0


def _remove_abandoned(path: Path) -> None:
    """Best effort: delete the temporary files that writers of ``path`` killed mid-write left beside it (a
    SIGKILLed report left 5 MB ``.report.html.*.tmp`` files that no rerun removed). One is abandoned when the
    process its name carries is gone and it is over a minute old; a live writer's is never touched."""
    import time

    try:
        candidates = list(path.parent.glob(f"{glob.escape('.' + path.name)}.*.tmp"))  # a name may hold [ ] * ?
    except OSError:
        return
    for tmp in candidates:
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            if time.time() - tmp.stat().st_mtime >= ABANDONED_AFTER_S:
                tmp.unlink()
        except OSError:
            continue


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or a platform that cannot tell: keep its file
        return True
    return True
