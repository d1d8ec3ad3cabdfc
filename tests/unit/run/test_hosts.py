"""Hosts: the one place argv becomes a shell string, and LocalHost's file writes."""

import io
import os
import stat

import pytest

from u7s.run import hosts
from u7s.errors import CommandFailed
from u7s.run.hosts import LocalHost, Result
from tests.unit.u7s_fakes import FakeHost


class RecordingContext:
    """Stands in for an invoke Context (what ContextHost runs through): records what `run` was given."""

    def __init__(self, exited=0, stdout="", stderr=""):
        self.answer = (exited, stdout, stderr)
        self.calls = []

    def run(self, command, **kwargs):
        self.calls.append((command, kwargs))
        exited, stdout, stderr = self.answer

        class R:
            pass

        r = R()
        r.exited, r.stdout, r.stderr = exited, stdout, stderr
        return r


# -- running commands ----------------------------------------------------------------------
def test_argv_is_quoted_once_and_survives_the_trip():
    host = FakeHost().on("echo", stdout="x")
    argv = ["echo", "a b", "$(id)", "it's", "", "*"]
    host.run(argv)
    assert host.calls == [argv]


def test_context_host_runs_probes_captured_and_never_dry():
    context = RecordingContext(stdout="out")
    result = LocalHost(context, "h1").run(["ls", "-l", "a b"])
    command, kwargs = context.calls[0]
    assert command == "ls -l 'a b'"
    assert kwargs["hide"] is True and kwargs["warn"] is True and kwargs["dry"] is False
    assert kwargs["pty"] is False and kwargs["in_stream"] is False
    assert result == Result(0, "out", "")


def test_context_host_feeds_stdin_as_a_stream():
    context = RecordingContext()
    LocalHost(context).run(["kubectl", "apply", "-f", "-"], stdin="kind: List\n")
    stream = context.calls[0][1]["in_stream"]
    assert isinstance(stream, io.StringIO) and stream.read() == "kind: List\n"


def test_a_failing_command_raises_command_failed_with_its_last_stderr_line():
    context = RecordingContext(exited=2, stderr="warning: x\nError: no such container\n")
    with pytest.raises(CommandFailed, match=r"^h1: `docker inspect u7s-node...` exited 2: Error: no such container$") as caught:
        LocalHost(context, "h1").run(["docker", "inspect", "u7s-node", "--format", "x"])
    assert caught.value.exited == 2 and caught.value.argv[0] == "docker"


def test_check_false_returns_the_failure():
    result = LocalHost(RecordingContext(exited=1)).run(["false"], check=False)
    assert not result.ok and result.exited == 1


# -- LocalHost files -----------------------------------------------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_file_creates_with_the_mode_and_reports_changes(tmp_path):
    host = LocalHost(None)
    target = tmp_path / "sub" / "kubeconfig"
    assert host.write_file(str(target), "secret", 0o600) is True
    assert target.read_text() == "secret" and mode(target) == 0o600
    assert host.write_file(str(target), "secret", 0o600) is False
    assert host.write_file(str(target), b"secret", 0o640) is True and mode(target) == 0o640
    assert host.write_file(str(target), "new", 0o640) is True and target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["kubeconfig"]  # no temporary files left


def test_write_file_mode_ignores_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        LocalHost(None).write_file(str(tmp_path / "f"), "x", 0o644)
    finally:
        os.umask(old)
    assert mode(tmp_path / "f") == 0o644


def test_write_file_sets_the_mode_before_any_content_lands(tmp_path, monkeypatch):
    seen = []
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        seen.append((stat.S_IMODE(os.fstat(fd).st_mode), os.fstat(fd).st_size))
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(hosts.os, "fdopen", fdopen)
    LocalHost(None).write_file(str(tmp_path / "join-command"), "token", 0o600)
    assert seen == [(0o600, 0)]


def test_write_file_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "kubeconfig"
    target.write_text("old")
    replaced = []

    def failing_replace(src, dst):
        replaced.append((os.path.dirname(src), str(dst)))
        raise OSError("disk full")

    monkeypatch.setattr(hosts.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        LocalHost(None).write_file(str(target), "new", 0o600)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kubeconfig"]
    # the new content was written beside the target, so the rename cannot cross filesystems
    assert replaced == [(str(tmp_path), str(target))]


def test_read_remove_and_makedirs(tmp_path):
    host = LocalHost(None)
    path = tmp_path / "a" / "b"
    host.makedirs(str(path), 0o700)
    assert path.is_dir() and mode(path) == 0o700
    assert host.read_text(str(path / "missing")) is None
    (path / "f").write_text("x")
    assert host.read_text(str(path / "f")) == "x"
    assert host.remove(str(path / "f")) is True and host.remove(str(path / "f")) is False
