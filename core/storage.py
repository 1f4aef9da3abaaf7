"""Where the workspace lives: a local folder or any object store Lance reaches (``s3://``, ``gs://``, ``az://``).

Everything that persists goes through a ``Location``: the LanceDB database (``Location.lancedb_uri`` plus
``storage_options``), the map cache (``read_bytes`` / ``write_bytes``), and the cross-process locks
(``lock``). Local paths keep their old behaviour (atomic temp-file + rename, ``fcntl`` locks); on object
storage a PUT is atomic by itself and a lock is a Lance dataset created with ``mode="create"``, which the
store commits with a conditional put, so exactly one creator wins (a compare-and-set; file locks do not
exist there).

Credentials and endpoints: ``FEWSHOT_STORAGE_OPTIONS`` (a JSON object of Lance storage options) plus the
usual environment variables (S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ALLOW_HTTP``;
Azure: ``AZURE_STORAGE_ACCOUNT_NAME`` / ``AZURE_STORAGE_ACCOUNT_KEY``; GCS: application default credentials).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.errors import FewshotError

STORAGE_OPTIONS_ENV = "FEWSHOT_STORAGE_OPTIONS"
REMOTE_SCHEMES = ("s3", "gs", "az", "abfs", "abfss")
#: A remote lock older than this is taken to belong to a crashed process and is broken.
STALE_LOCK_S = 120.0
#: How long a small-file call (the map cache) retries a store that does not answer before it fails.
REMOTE_RETRY_S = 20.0

_S3_ENV = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_endpoint": ("AWS_ENDPOINT", "AWS_ENDPOINT_URL"),
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "allow_http": ("AWS_ALLOW_HTTP",),
}
_AZ_ENV = {
    "account_name": ("AZURE_STORAGE_ACCOUNT_NAME",),
    "account_key": ("AZURE_STORAGE_ACCOUNT_KEY",),
}


def scheme_of(uri: str | os.PathLike) -> str | None:
    """``"s3"`` for ``s3://b/k``; None for a local path (``C:\\x`` and ``file://`` count as local)."""
    text = str(uri)
    if "://" not in text:
        return None
    scheme = text.split("://", 1)[0].lower()
    return scheme if scheme in REMOTE_SCHEMES else None


def storage_options_from_env(scheme: str | None) -> dict[str, str]:
    """Lance storage options for ``scheme`` from the environment (explicit JSON wins over variables)."""
    options: dict[str, str] = {}
    table = {"s3": _S3_ENV, "az": _AZ_ENV, "abfs": _AZ_ENV, "abfss": _AZ_ENV}.get(scheme or "", {})
    for key, names in table.items():
        for name in names:
            if os.environ.get(name):
                options[key] = os.environ[name]
                break
    if "aws_endpoint" in options and options["aws_endpoint"].startswith("http://") and "allow_http" not in options:
        options["allow_http"] = "true"
    raw = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    if raw:
        try:
            extra = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FewshotError(f"{STORAGE_OPTIONS_ENV} is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise FewshotError(f"{STORAGE_OPTIONS_ENV} must be a JSON object of Lance storage options")
        options.update({str(k): str(v) for k, v in extra.items()})
    return options


_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Loose on purpose: legacy S3 buckets may hold capitals and underscores; what no store accepts is refused here,
# and a name the store does not know gets its own one-line "no such bucket" later.
_BUCKET_NAME = {"s3": re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$"),
                "gs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")}
_USE = "use a local folder, file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX"


#: A bucket URI with a typo: ``s3:/b``, ``s3//b``, ``s3:b`` or a space before ``s3://`` (each became a local folder
#: in the working directory, and the person believed the index went to the bucket).
_MISTYPED_REMOTE = re.compile(r"^\s*(s3|gs|az|abfss?)(:/?(?!/)|//|://)", re.IGNORECASE)


def check_local_uri(uri: str) -> None:
    """Refuse ``http://...`` and other schemes Lance cannot hold a workspace in (they used to become a
    local folder named ``http:``), and a mistyped bucket URI."""
    mistyped = _MISTYPED_REMOTE.match(uri)
    if mistyped:
        scheme = mistyped.group(1).lower()
        raise FewshotError(f"{uri!r} looks like a mistyped {scheme}:// URI (write {scheme}://BUCKET/PREFIX, with no "
                           f"space around it); {_USE}")
    found = _URI_SCHEME.match(uri)
    if found and found.group(1).lower() != "file":
        raise FewshotError(f"{uri!r}: {found.group(1)}:// cannot hold a workspace; {_USE}")


def check_remote_uri(uri: str, scheme: str) -> str:
    """``uri`` without a trailing ``/``, after refusing what would write elsewhere or fail later: no
    bucket, an invalid bucket name, empty, ``.`` or ``..`` parts, a query or a fragment."""
    if uri != uri.strip():  # 's3://bkt/ws ' wrote under a prefix ending in a space, invisible in every message
        raise FewshotError(f"{uri!r} starts or ends with a space; {_USE}")
    prefix, rest = uri.split("://", 1)
    rest = rest.rstrip("/")
    text = f"{prefix}://{rest}"
    if "?" in rest or "#" in rest:
        raise FewshotError(f"{uri!r}: a workspace URI takes no query or fragment (? or #); {_USE}")
    parts = rest.split("/")
    if not parts[0]:
        raise FewshotError(f"{uri!r} names no bucket; {_USE}")
    pattern = _BUCKET_NAME.get(scheme)
    if pattern is not None and not pattern.match(parts[0]):
        raise FewshotError(f"{uri!r}: {parts[0]!r} is not a valid bucket name (letters, digits, dots, hyphens "
                           "and underscores, at least 3 characters, starting and ending with a letter or digit)")
    if any(part in ("", ".", "..") for part in parts[1:]):
        raise FewshotError(f"{uri!r}: empty, '.' and '..' path parts are not allowed; {_USE}")
    return text


class Location:
    """A folder, local or in a bucket. ``str(location)`` is its path or URI (safe to show, holds no secret)."""

    def __init__(self, uri: str | os.PathLike, storage_options: dict[str, str] | None = None) -> None:
        self.scheme = scheme_of(uri)
        if self.scheme is None:
            check_local_uri(str(uri))
            self.uri = str(Path(str(uri).removeprefix("file://")).expanduser().resolve())
        else:
            self.uri = check_remote_uri(str(uri), self.scheme)
        base = storage_options_from_env(self.scheme) if self.scheme else {}
        self.storage_options: dict[str, str] = {**base, **(storage_options or {})}
        self._fs = None

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"Location({self.uri!r})"

    def __fspath__(self) -> str:  # lets old ``Path(root)`` callers keep working for local folders
        if not self.is_local:
            raise FewshotError(f"{self.uri} is in object storage, not a local folder")
        return self.uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    @property
    def is_local(self) -> bool:
        return self.scheme is None

    @property
    def path(self) -> Path:
        """The local folder (``FewshotError`` for a bucket)."""
        return Path(self.__fspath__())

    def child(self, *parts: str) -> Location:
        """A location below this one; each part is one name, never ``..`` or a separator."""
        for part in parts:
            if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
                raise FewshotError(f"{part!r} is not a usable name inside {self.uri}")
        joined = "/".join((self.uri, *parts)) if not self.is_local else str(Path(self.uri, *parts))
        child = Location.__new__(Location)
        child.scheme, child.uri, child.storage_options, child._fs = self.scheme, joined, self.storage_options, self._fs
        return child

    @property
    def lancedb_uri(self) -> str:
        return self.child("lancedb").uri

    def connect(self):
        """The workspace's tables (``core.lance_db``: LanceDB's layout, opened with Lance directly)."""
        from core.lance_db import LanceDatabase

        if self.is_local:
            self.child("lancedb").path.mkdir(parents=True, exist_ok=True)
        return LanceDatabase(self.child("lancedb"))

    # ----- small files (the map cache) ----------------------------------------------------------
    def _filesystem(self):
        """A pyarrow filesystem and the path of this location inside it."""
        import pyarrow.fs as pafs

        if self.is_local:
            return pafs.LocalFileSystem(), self.uri
        bucket_key = self.uri.split("://", 1)[1]
        if self._fs is None:
            o = self.storage_options
            if self.scheme == "s3":
                endpoint = o.get("aws_endpoint", "")
                http = endpoint.startswith("http://")
                self._fs = pafs.S3FileSystem(
                    access_key=o.get("aws_access_key_id"), secret_key=o.get("aws_secret_access_key"),
                    session_token=o.get("aws_session_token"), region=o.get("aws_region"),
                    endpoint_override=endpoint.split("://", 1)[-1] or None, scheme="http" if http else "https",
                )
            elif self.scheme == "gs":  # pyarrow retries 15 minutes by default, silently (no credentials, no network)
                self._fs = pafs.GcsFileSystem(retry_time_limit=timedelta(seconds=REMOTE_RETRY_S))
            else:
                if not o.get("account_name"):  # pyarrow: "TypeError: expected bytes, NoneType found"
                    raise FewshotError(f"{self.uri}: no Azure storage account was given; set AZURE_STORAGE_ACCOUNT_"
                                       "NAME and AZURE_STORAGE_ACCOUNT_KEY (or FEWSHOT_STORAGE_OPTIONS)")
                self._fs = pafs.AzureFileSystem(account_name=o.get("account_name"), account_key=o.get("account_key"))
        return self._fs, bucket_key

    def read_bytes(self) -> bytes | None:
        """The file's content, or None when it does not exist."""
        fs, path = self._filesystem()
        try:
            with fs.open_input_stream(path) as handle:
                return handle.read()
        except (FileNotFoundError, OSError) as exc:
            if isinstance(exc, FileNotFoundError) or "not found" in str(exc).lower() or "NoSuchKey" in str(exc):
                return None
            raise

    def write_bytes(self, data: bytes) -> None:
        """Replace the file atomically: a reader sees the old content or the new one, never a part."""
        if self.is_local:
            target = self.path
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return
        fs, path = self._filesystem()
        with fs.open_output_stream(path) as handle:  # one PUT: atomic on object storage
            handle.write(data)

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        fs, path = self._filesystem()
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    def stamp(self) -> int:
        """Modification time in ns (0 when missing): lets a cache notice a rewritten file."""
        import pyarrow.fs as pafs

        fs, path = self._filesystem()
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return 0
        return int(info.mtime_ns or 0) or int(info.size or 0)

    def list_names(self) -> list[str]:
        """Names directly inside this folder (empty when it does not exist)."""
        import pyarrow.fs as pafs

        fs, path = self._filesystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            if not infos and not self.is_local and fs.get_file_info(path.split("/", 1)[0]).type == \
                    pafs.FileType.NotFound:  # a missing bucket lists as empty: say so, not "no indexes"
                raise OSError(f"NoSuchBucket: {path.split('/', 1)[0]}")
        except (FileNotFoundError, NotADirectoryError):
            return []
        except (OSError, ValueError) as exc:
            from core.os_errors import explain_remote

            remote = explain_remote(exc, self)
            if remote is not None:
                raise remote from exc
            raise
        return sorted(info.base_name for info in infos)

    def delete(self) -> None:
        """Remove the file if it is there."""
        fs, path = self._filesystem()
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_file(path)

    # ----- locks --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, timeout_s: float = 60.0) -> Iterator[None]:
        """Held by one thread of one process at a time, across machines on object storage."""
        with _THREAD_LOCKS.setdefault(f"{self.uri}/{name}", threading.Lock()):
            if self.is_local:
                with file_lock(self.path / f".{name}.lock"):
                    yield
            else:
                with _lance_lock(self.child(f"_lock_{name}.lance"), timeout_s):
                    yield


_THREAD_LOCKS: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path`` for the block (released by the kernel if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the thread lock alone
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _lance_lock(where: Location, timeout_s: float) -> Iterator[None]:
    """Compare-and-set on object storage: creating a Lance dataset that exists fails for all but one writer.

    The dataset holds the holder's start time; one older than ``STALE_LOCK_S`` (its holder crashed) is
    deleted and the race starts again.
    """
    import lance
    import pyarrow as pa

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            lance.write_dataset(pa.table({"since": [time.time()]}), where.uri, mode="create",
                                storage_options=where.storage_options or None)
            break
        except OSError as exc:
            if "already exists" not in str(exc).lower():
                raise
        with contextlib.suppress(Exception):  # the holder may release it while we look
            since = lance.dataset(where.uri, storage_options=where.storage_options or None).to_table()["since"]
            if time.time() - float(since[0].as_py()) > STALE_LOCK_S:
                drop_dataset(where)
                continue
        if time.monotonic() > deadline:
            raise FewshotError(f"{where.uri} is held by another process; try again in a minute")
        time.sleep(0.05)
    try:
        yield
    finally:
        drop_dataset(where)


def drop_dataset(where: Location) -> None:
    """Delete every file or object of a Lance dataset (a lock, a dropped table), local or in a bucket."""
    import pyarrow.fs as pafs

    fs, path = where._filesystem()
    with contextlib.suppress(OSError, FileNotFoundError):
        fs.delete_dir(path)
    with contextlib.suppress(OSError, FileNotFoundError):
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_file(path)


def as_location(root: Location | str | os.PathLike | None) -> Location:
    """``root`` as a Location (None: the workspace from ``FEWSHOT_HOME``)."""
    if isinstance(root, Location):
        return root
    if root is None:
        return workspace_location()
    return Location(root)


def workspace_location(storage_options: dict[str, Any] | None = None) -> Location:
    """The workspace named by ``FEWSHOT_HOME`` (default ``./workspace``): a folder or a bucket prefix."""
    from core.config import DEFAULT_WORKSPACE, WORKSPACE_ENV

    return Location(os.environ.get(WORKSPACE_ENV, DEFAULT_WORKSPACE), storage_options)
