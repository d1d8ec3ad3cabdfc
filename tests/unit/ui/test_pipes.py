"""Output for pipes and files: nothing cut to a terminal's width, words for yes/no, any encoding."""

import io

import pytest

from tests.unit.tasks.test_tasks_cli import GIVEN, home, u7s  # noqa: F401  (home: a fixture)
from u7s.config.settings import DEFAULT_BASE_IMAGE
from u7s.ui import tables


def test_settings_in_a_pipe_are_plain_columns_with_whole_values(home):
    r = u7s("settings", home=home, **GIVEN)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["NODE_BASE_IMAGE"][1] == DEFAULT_BASE_IMAGE  # whole, with its digest
    assert rows["PORT_ETCD"] == ["PORT_ETCD", "2379", "default"]
    assert r.stdout.splitlines()[0].split() == ["setting", "value", "from"]
    assert not set("…│┃━─") & set(r.stdout)


def test_settings_work_with_a_latin_1_locale(home):
    r = u7s("settings", home=home, PYTHONIOENCODING="latin-1", **GIVEN)
    assert r.returncode == 0, r.stderr
    assert "NODE_BASE_IMAGE" in r.stdout


def test_a_report_on_an_ascii_stream_uses_ascii_marks():
    from u7s.ui.report import Reporter

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    report = Reporter("h1", stream=stream)
    report.done("started")
    report.error("failed")
    stream.flush()
    assert raw.getvalue().decode().splitlines() == ["h1 + started", "h1 x failed"]


def test_status_rows_say_yes_and_no_one_line_per_host():
    rows = [
        {"host": "cp", "role": "control-plane", "reachable": True, "engine": "docker", "rootless": True,
         "node": "running", "ready": True, "cni": "calico", "ports": "6443,2379,10250,8472/udp (lease)", "error": None},
        {"host": "w1", "role": "worker", "reachable": False, "engine": None, "rootless": None, "node": None,
         "ready": None, "error": "w1: no answer from 192.0.2.7:22 within 10s;\ncheck the address and firewalls"},
    ]
    stream = io.StringIO()
    tables.show(tables.status(rows), stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "True" not in stream.getvalue() and "False" not in stream.getvalue()
    assert lines[1].split() == ["cp", "control-plane", "yes", "docker", "yes", "running", "yes", "calico",
                                "6443,2379,10250,8472/udp", "(lease)", "-"]
    assert lines[2].split()[:9] == ["w1", "worker", "no", "-", "-", "-", "-", "-", "-"]
    assert lines[2].endswith("w1: no answer from 192.0.2.7:22 within 10s; check the address and firewalls")


@pytest.mark.parametrize("width", [40, 200])
def test_on_a_terminal_long_values_wrap_instead_of_being_cut(width):
    from rich.console import Console

    grid = tables.Grid(("setting", "value"))
    grid.add("NODE_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    console.print(grid)
    text = "".join(ch for ch in console.file.getvalue() if ch.isalnum() or ch in ".:/@-_")
    assert DEFAULT_BASE_IMAGE.replace("/", "").replace(":", "") in text.replace("/", "").replace(":", "")
    assert "…" not in console.file.getvalue()
