"""Turn what the disk says (full, read-only, no permission) into a message a person can act on.

LanceDB and the OS report these as ``OSError`` with an errno, or as Lance errors whose text carries
the OS message; either way the person should read what went wrong and what to do, and know that
what was written before is kept (every write is a whole table version or nothing).
"""

from __future__ import annotations

import errno
import re

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


# ----- object storage (a workspace in a bucket) ---------------------------------------------------
#: Words in a Lance / pyarrow / object_store error, and what they mean; checked in this order (a missing
#: credential's text can carry a "Forbidden" from the metadata service, so credentials come first).
_REMOTE_CAUSES = (
    (("failed to get aws credentials", "no credentials", "unable to load credentials", "missing credentials",
      "credential provider", "credentials not found"),
     "no credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or FEWSHOT_STORAGE_OPTIONS)"),
    (("nosuchbucket", "bucket does not exist", "specified bucket is not valid", "invalidbucketname"),
     "the bucket {bucket!r} does not exist; create it, or fix FEWSHOT_HOME"),
    (("invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "access denied", "403 forbidden",
      "invalid_access_key_id", "signature_does_not_match", "access_denied"),  # pyarrow spells them with "_"
     "access was refused; check the credentials and the bucket's permissions"),
    (("error sending request", "could not connect", "connection refused", "network_connection", "dns error",
      "failed to connect", "connection reset", "timed out", "broken pipe", "unexpected eof", "could not resolve",
      "name or service not known", "fail to get a new connection"),
     "{place} could not be reached; is it running, and are {settings} right?"),
)
_REMOTE_GENERIC = ("lanceerror(io)", "generic s3 error", "generic gcs error", "generic azure error", "azure error",
                   "aws error", "object_store", "http error")


class RemoteStorageError(StorageError):
    """The bucket holding the workspace could not be used: credentials, a missing bucket, the network."""


def _chain_text(exc: BaseException) -> str:
    parts, seen, current = [], set(), exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(str(current))
        # ``raise ... from None`` hides the context: a Ray timeout re-raised that way read as "timed out", an
        # unreachable endpoint
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n".join(parts)


def _short(text: str, limit: int = 200) -> str:
    """The first line of a storage message, without raw XML, source paths or retry details."""
    text = text.split("<?xml", 1)[0].split("<Error>", 1)[0]
    text = " ".join(text.split())
    for cut in (", /home/", ", /rust/", " /home/runner/"):
        text = text.split(cut, 1)[0]
    text = text.rstrip(" :,")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain_remote(exc: BaseException, where, doing: str | None = None) -> RemoteStorageError | None:
    """One line for an object-storage failure while using ``where`` (a ``core.storage.Location``), else None.

    Names the workspace URI and the cause (credentials, missing bucket, refused access, unreachable
    endpoint, or the store's own first line without its XML); None for a local folder or an error that
    does not come from the store (the caller keeps its own handling: a missing table is "not found").
    """
    if isinstance(exc, FewshotError) or getattr(where, "is_local", True):
        return None
    text = _chain_text(exc)
    lower = text.lower()
    uri = str(getattr(where, "uri", where))
    bucket = uri.split("://", 1)[-1].split("/", 1)[0]
    options = getattr(where, "storage_options", None) or {}
    endpoint = without_userinfo(options.get("aws_endpoint") or options.get("endpoint") or "of the bucket")
    s3 = uri.startswith("s3://")  # the endpoint advice names S3's variables
    place = "the store" if not s3 and endpoint == "of the bucket" else f"the storage endpoint {endpoint}"
    settings = ("AWS_ENDPOINT / FEWSHOT_STORAGE_OPTIONS" if s3
                else "the account, the network and FEWSHOT_STORAGE_OPTIONS")
    what = None
    for words, cause in _REMOTE_CAUSES:
        if any(w in lower for w in words):
            what = cause.format(bucket=bucket, place=place, settings=settings)
            break
    if what is None:
        if not any(w in lower for w in _REMOTE_GENERIC):
            return None
        what = f"the storage failed: {_short(text)}"
    prefix = f"{doing} failed: " if doing else ""
    return RemoteStorageError(without_userinfo(f"{prefix}{uri}: {what}"))


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def without_userinfo(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL cut out: an endpoint written ``http://user:pass@host`` was
    shown whole on the command line and on every page."""
    return _USERINFO.sub("", text)
