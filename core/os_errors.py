"""Turn what the disk says (full, read-only, no permission) into a message a person can act on.

LanceDB and the OS report these as ``OSError`` with an errno, or as Lance errors whose text carries
the OS message; either way the person should read what went wrong and what to do, and know that
what was written before is kept (every write is a whole table version or nothing).
"""

from __future__ import annotations

import errno

from core.errors import FewshotError

_BY_ERRNO = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the workspace is on a read-only file system",
    errno.EACCES: "permission to write in the workspace was refused",
    errno.EPERM: "permission to write in the workspace was refused",
    errno.ENAMETOOLONG: "a file name is too long for this system",
}
_BY_TEXT = {
    "no space left on device": errno.ENOSPC,
    "disk quota exceeded": errno.EDQUOT,
    "read-only file system": errno.EROFS,
    "permission denied": errno.EACCES,
    "operation not permitted": errno.EPERM,
    "file name too long": errno.ENAMETOOLONG,
}


class StorageError(FewshotError):
    """The workspace could not be written (disk full, read-only, no permission); nothing half-written."""


def storage_errno(exc: BaseException) -> int | None:
    """The errno behind ``exc`` or its causes, from the attribute or the message text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        number = getattr(current, "errno", None)
        if number in _BY_ERRNO:
            return number
        text = str(current).lower()
        for words, found in _BY_TEXT.items():
            if words in text:
                return found
        current = current.__cause__ or current.__context__
    return None


def explain_storage(exc: BaseException, doing: str) -> StorageError | None:
    """A ``StorageError`` for a disk problem while ``doing`` (e.g. "saving the ratings"), else None."""
    number = storage_errno(exc)
    if number is None:
        return None
    what = _BY_ERRNO[number]
    if number in (errno.ENOSPC, errno.EDQUOT):
        advice = "Free some space (or move FEWSHOT_HOME to a larger disk) and run the same step again"
    elif number == errno.ENAMETOOLONG:
        advice = "Use a shorter name or path and run the step again"
    else:
        advice = "Point FEWSHOT_HOME at a folder you can write to (or fix its permissions) and run the step again"
    return StorageError(
        f"{doing} failed: {what}. {advice}; what was saved before is kept, and nothing half-written is used."
    )
