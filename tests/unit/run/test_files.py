"""A remote host's files, one command each (u7s/run/files.py): the scripts run here, on this machine's sh."""

from __future__ import annotations

import os
import stat

import pytest
from invoke import Context

from u7s.errors import U7sError
from u7s.run import files
from u7s.run.hosts import LocalHost


@pytest.fixture
def host():
    return LocalHost(Context(), "h1")


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_write_makes_the_directory_sets_the_mode_and_says_whether_it_changed_anything(host, tmp_path):
    path = str(tmp_path / "new dir" / "$(x) 'it'")
    assert files.write_file(host, path, "secret\n", 0o600) is True
    assert open(path).read() == "secret\n" and mode_of(path) == 0o600
    assert mode_of(os.path.dirname(path)) == 0o700
    assert files.write_file(host, path, "secret\n", 0o600) is False  # the same: left alone
    assert files.write_file(host, path, "secret\n", 0o644) is True and mode_of(path) == 0o644
    assert files.write_file(host, path, b"\x00binary", 0o644) is True and open(path, "rb").read() == b"\x00binary"
    assert [name for name in os.listdir(tmp_path / "new dir")] == [os.path.basename(path)]  # no temporary left


def test_read_and_remove_tell_a_missing_file_from_an_error(host, tmp_path):
    path = str(tmp_path / "f")
    assert files.read_text(host, path) is None and files.remove(host, path) is False
    files.write_file(host, path, "x")
    assert files.read_text(host, path) == "x" and files.remove(host, path) is True and not os.path.exists(path)
    with pytest.raises(U7sError, match="h1: cannot read"):
        files.read_text(host, str(tmp_path))  # a directory
    files.makedirs(host, str(tmp_path / "a" / "b"), 0o750)
    assert mode_of(tmp_path / "a" / "b") == 0o750
