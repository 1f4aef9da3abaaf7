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


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write_and_a_live_ones_kept(tmp_path):
    import subprocess
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)  # that process has ended
    old = time.time() - 2 * files.ABANDONED_AFTER_S
    abandoned = tmp_path / f".report.html.{dead_pid}.abc123.tmp"
    recent = tmp_path / f".report.html.{dead_pid}.def456.tmp"  # its writer may be on another machine: not yet
    live = tmp_path / f".report.html.{os.getppid()}.ghi789.tmp"  # a running process's write in progress
    other = tmp_path / f".other.html.{dead_pid}.jkl000.tmp"  # another file's
    for tmp in (abandoned, recent, live, other):
        tmp.write_bytes(b"half a report")
    for tmp in (abandoned, live, other):
        os.utime(tmp, (old, old))
    write_atomic(tmp_path / "report.html", b"<html></html>")
    assert not abandoned.exists() and recent.exists() and live.exists() and other.exists()
    assert (tmp_path / "report.html").read_bytes() == b"<html></html>"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and links")
def test_a_replaced_file_keeps_its_permissions_and_a_link_is_written_through(tmp_path, monkeypatch):
    """A re-tester: `predict --out` made a chmod-600 file world-readable and turned a symlink into a plain file."""
    monkeypatch.setattr(files, "_UMASK", 0o022)
    private = tmp_path / "ratings.csv"
    private.write_text("old")
    os.chmod(private, 0o600)
    write_atomic(private, b"new")
    assert private.read_bytes() == b"new" and stat.S_IMODE(os.stat(private).st_mode) == 0o600
    target = tmp_path / "real" / "target.csv"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_atomic(link, b"through")
    assert link.is_symlink() and target.read_bytes() == b"through"


def test_temporary_files_of_a_name_with_glob_characters_are_cleaned_too(tmp_path):
    import subprocess
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / f".r[1].csv.{int(gone.stdout)}.abc123.tmp"
    abandoned.write_bytes(b"half")
    old = time.time() - 2 * files.ABANDONED_AFTER_S
    os.utime(abandoned, (old, old))
    write_atomic(tmp_path / "r[1].csv", b"whole")
    assert not abandoned.exists()
