"""Atomic writes keep the permissions a plain open would give: exports and reports are meant to be shared."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from core import files
from core.files import write_atomic


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_atomic_writes_follow_the_umask_not_the_temporary_files_owner_only_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_UMASK", 0o022)
    path = write_atomic(tmp_path / "report.html", b"<html></html>")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # mkstemp alone gives 0o600
    monkeypatch.setattr(files, "_UMASK", 0o077)
    assert stat.S_IMODE(os.stat(write_atomic(tmp_path / "private.bin", b"x")).st_mode) == 0o600
    assert path.read_bytes() == b"<html></html>" and not list(tmp_path.glob(".*.tmp"))
