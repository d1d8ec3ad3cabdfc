"""u7s's tasks from another invoke project: results returned, u7s's own errors raised, its prefix in the help.

These drive the API surface only (settings and rendering need no engine); the README's
example of a project that creates a cluster runs against the lab, in
tests/integration/test_invoke_and_fab.py.
"""

import subprocess
import sys
import textwrap

import pytest
from invoke import Config, Context, Exit

import u7s.tasks
from u7s.errors import SettingsError, U7sError
from tests.unit.tasks.test_tasks_cli import GIVEN, ROOT, clean_env, home, in_process_env  # noqa: F401  (fixtures)


def test_tasks_return_their_results(in_process_env, capsys):
    c = Context(Config())
    table = u7s.tasks.settings(c, set_={"PORT_ETCD": 12379}, json=True)
    assert table["PORT_ETCD"] == "12379" and table["NODE_NAME"] == "u7s-host1"
    text = u7s.tasks.render(c, kubeadm_config=True)
    assert "kind: ClusterConfiguration" in text
    assert u7s.tasks.init_host(c, print_dir=True).endswith("init-host")
    capsys.readouterr()


def test_errors_reach_a_python_caller_as_u7s_types(in_process_env, capsys):
    c = Context(Config())
    with pytest.raises(SettingsError) as caught:
        u7s.tasks.render(c, set_=["PORT_ETCD=99999"])
    assert isinstance(caught.value, U7sError) and isinstance(caught.value, Exit)
    assert caught.value.code == 1
    assert caught.value.message.startswith("u7s: PORT_ETCD=99999 (from --set): out of range")
    with pytest.raises(SettingsError):
        u7s.tasks.settings(c, set_={"PORT_ECTD": 1})


PARENT = """
from invoke import Collection, task
import u7s.tasks


@task
def broken(c):
    u7s.tasks.render(c, set_=["PORT_ETCD=99999"])


@task
def caught(c):
    try:
        u7s.tasks.render(c, set_=["PORT_ETCD=99999"])
    except u7s.errors.SettingsError as exc:
        print("caught:", exc)


ns = Collection(broken, caught)
ns.add_collection(Collection.from_module(u7s.tasks), name="u7s")
"""


@pytest.fixture
def parent(tmp_path):
    (tmp_path / "tasks.py").write_text(textwrap.dedent(PARENT))
    return tmp_path


def inv(*args, home, cwd):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, env=clean_env(home, **GIVEN),
                          capture_output=True, text=True, timeout=60)


def test_an_uncaught_u7s_error_ends_the_parents_program_in_one_line(home, parent):
    r = inv("broken", home=home, cwd=parent)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == ["u7s: PORT_ETCD=99999 (from --set): out of range for a port; "
                                     "use a whole number from 1 to 65535"]
    caught = inv("caught", home=home, cwd=parent)
    assert caught.returncode == 0 and caught.stdout.startswith("caught: PORT_ETCD=99999"), caught.stderr


def test_the_workflow_help_uses_the_collections_prefix(home, parent):
    for argv in (["u7s"], ["u7s.help"]):
        r = inv(*argv, home=home, cwd=parent)
        assert r.returncode == 0, r.stderr
        assert "  inv u7s.create " in r.stdout and "inv u7s.cluster.create" in r.stdout
        assert "u7s create" not in r.stdout.replace("inv u7s.create", "")
    at_top = inv("help", home=home, cwd=ROOT)  # the checkout's tasks.py: the collection is the root
    assert "  inv create " in at_top.stdout and "`inv --list`" in at_top.stdout
    own = subprocess.run([sys.executable, "-m", "u7s"], cwd=parent, env=clean_env(home), capture_output=True,
                         text=True, timeout=60)
    assert "  u7s create " in own.stdout and "`u7s --list`" in own.stdout
