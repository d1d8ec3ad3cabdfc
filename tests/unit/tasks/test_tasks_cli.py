"""The `u7s` program and the task collection, driven the way users and other invoke projects drive them.

Subprocesses run `python -m u7s` from this checkout with HOME pointing at a
temporary directory (so a real ~/.u7s.yaml cannot interfere) and without any
setting in the environment unless a test puts it there. Settings that would
need a look at the host (engine, hostname, address) are given, so nothing
touches an engine.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from invoke import Collection, Program

from u7s import tasks as u7s_tasks
from u7s.config.settings import SPECS
from tests.unit.u7s_fakes import GOLDEN

ROOT = GOLDEN.parents[2]
GIVEN = {"CONTAINER_ENGINE": "docker", "HOSTNAME": "host1", "HOST_IP": "192.0.2.10"}


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


def clean_env(home, **extra):
    env = {
        key: value for key, value in os.environ.items()
        if key not in SPECS and not key.startswith(("U7S_", "INVOKE_", "PYTHON"))
    }
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    env.update({key: str(value) for key, value in extra.items()})
    return env


def u7s(*args, home, cwd=None, **env):
    return subprocess.run(
        [sys.executable, "-m", "u7s", *args],
        cwd=cwd or home, env=clean_env(home, **env), capture_output=True, text=True, timeout=60,
    )


# -- help stays light ----------------------------------------------------------------------
IMPORT_PROBE = """
import json, sys
sys.argv = ["u7s", *json.loads(sys.argv[1])]
from u7s.program import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in ("fabric", "paramiko", "jinja2") if m in sys.modules)))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--list"], ["--help", "up"], ["kubeadm-init", "--help"]])
def test_help_and_list_do_not_import_fabric_paramiko_or_jinja2(home, argv):
    r = subprocess.run([sys.executable, "-c", IMPORT_PROBE, json.dumps(argv)], cwd=home,
                       env=clean_env(home), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"
    assert "Usage: u7s" in r.stdout or "Subcommands" in r.stdout


def test_help_lists_the_tasks(home):
    r = u7s("--list", home=home)
    assert r.returncode == 0
    for name in ("up", "render", "kubeadm-init", "join-command", "kubeadm-join", "down-v", "smoke-test"):
        assert f"  {name} " in r.stdout


@pytest.mark.parametrize("task", ["up", "render", "kubeadm-init", "join-command", "settings"])
def test_task_help_both_ways(home, task):
    before = u7s("--help", task, home=home)
    after = u7s(task, "--help", home=home)
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout
    assert f"Usage: u7s [--core-opts] {task} [--options]" in before.stdout
    assert "--set" in before.stdout and "Docstring:" in before.stdout


# -- clean errors --------------------------------------------------------------------------
def test_a_bad_setting_is_one_line_on_stderr_and_exit_1(home):
    r = u7s("render", "--set", "PORT_ETCD=99999", home=home, U7S_WORKDIR=home / "w", **GIVEN)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "u7s: PORT_ETCD=99999 (from --set): out of range for a port; use a whole number from 1 to 65535",
    ]


def test_several_bad_settings_are_each_named_without_a_traceback(home):
    r = u7s("render", "--set", "PORT_ETCD=x", "--set", "NODE_IP=10.0.0.1", home=home, U7S_WORKDIR="/w", **GIVEN)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("u7s: ") for line in lines)
    assert lines[0].startswith("u7s: NODE_IP=10.0.0.1") and lines[1].startswith("u7s: PORT_ETCD=x")


def test_set_without_equals_is_a_clean_error(home):
    r = u7s("settings", "--set", "PORT_ETCD", home=home)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "u7s: --set 'PORT_ETCD': expected KEY=VALUE, e.g. --set PORT_ETCD=12379"


def test_render_kubeadm_config_prints_yaml(home):
    r = u7s("render", "--kubeadm-config", "--set", "HOST_IP=10.0.0.5", "--set", "CONTAINER_ENGINE=docker",
            "--set", "HOSTNAME=host1", home=home)
    assert r.returncode == 0, r.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(r.stdout)}
    cluster = docs["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "u7s-host1:6443"
    assert "10.0.0.5" in cluster["apiServer"]["certSANs"]


# -- configuration files -------------------------------------------------------------------
def test_project_and_user_config_files_are_honoured(home, tmp_path):
    (home / ".u7s.yaml").write_text("u7s:\n  PORT_ETCD: 12379\n  PORT_KUBELET: 1111\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "u7s.yaml").write_text("u7s: {PORT_KUBELET: 20250}\n")
    r = u7s("settings", "--json", home=home, cwd=project, PORT_FLANNEL=9999, U7S_WORKDIR="/w", **GIVEN)
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert (table["PORT_ETCD"], table["PORT_KUBELET"], table["PORT_FLANNEL"], table["PORT_KUBE_APISERVER"]) == (
        "12379", "20250", "9999", "6443",
    )


def test_an_unknown_key_in_a_config_file_is_named(home):
    (home / "u7s.yaml").write_text("u7s: {PORT_ECTD: 1}\n")
    r = u7s("settings", "--json", home=home, **GIVEN)
    assert r.returncode == 1
    assert r.stderr.startswith(f"u7s: {home / 'u7s.yaml'}: line 1: u7s.PORT_ECTD: unknown setting")
    assert len(r.stderr.splitlines()) == 1


def test_multi_node_task_records_and_reports(home):
    config = home / "cfg.yaml"
    config.write_text("u7s: {PORT_ETCD: 12379}\n")
    r = u7s("multi-node", "--config-file", str(config), home=home, **GIVEN)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(config.read_text()) == {"u7s": {"PORT_ETCD": 12379, "U7S_MULTI_NODE": True}}
    assert "project u7s-host1, network u7s-host1" in r.stderr


@pytest.mark.parametrize("program, config_file", [("u7s", ".u7s.yaml"), ("invoke", ".invoke.yaml")])
def test_multi_node_is_recorded_where_the_running_program_reads_it(home, program, config_file):
    def run(*args):
        r = subprocess.run([sys.executable, "-m", program, *args], cwd=ROOT,
                           env=clean_env(home, **GIVEN), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r

    run("multi-node")
    assert yaml.safe_load((home / config_file).read_text()) == {"u7s": {"U7S_MULTI_NODE": True}}
    settings = json.loads(run("settings", "--json").stdout)
    assert (settings["U7S_MULTI_NODE"], settings["U7S_PROJECT"]) == ("true", "u7s-host1")


# -- reused from another invoke project ----------------------------------------------------
@pytest.fixture
def in_process_env(monkeypatch, home):
    for key in list(os.environ):
        if key in SPECS or key.startswith(("U7S_", "INVOKE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("U7S_WORKDIR", "/w")
    for key, value in GIVEN.items():
        monkeypatch.setenv(key, value)


def parent_collection(how):
    ns = Collection()
    if how == "parent configure":
        ns.add_collection(Collection.from_module(u7s_tasks), name="u7s")
        ns.configure({"u7s": {"PORT_ETCD": 12379}})
    else:
        ns.add_collection(Collection.from_module(u7s_tasks, config={"u7s": {"PORT_ETCD": 12379}}), name="u7s")
    return ns


@pytest.mark.parametrize("how", ["parent configure", "from_module config"])
def test_a_parent_projects_config_is_merged_under_u7s_defaults(in_process_env, capsys, how):
    program = Program(namespace=parent_collection(how), name="parent", binary="parent")
    program.run(["parent", "u7s.settings", "--json"], exit=False)
    table = json.loads(capsys.readouterr().out)
    assert table["PORT_ETCD"] == "12379"
    assert (table["PORT_KUBELET"], table["PORT_FLANNEL"], table["PORT_KUBE_APISERVER"]) == ("10250", "8472", "6443")
    assert table["NODE_NAME"] == "u7s-host1" and table["U7S_PROJECT"] == "u7s"


def test_a_parent_projects_config_reaches_the_rendered_files(in_process_env, capsys):
    program = Program(namespace=parent_collection("parent configure"), name="parent", binary="parent")
    program.run(["parent", "u7s.render", "--kubeadm-config"], exit=False)
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(capsys.readouterr().out)}
    extra = {a["name"]: a["value"] for a in docs["ClusterConfiguration"]["apiServer"]["extraArgs"]}
    assert extra["etcd-servers"] == "https://127.0.0.1:12379"
    assert docs["KubeletConfiguration"]["port"] == 10250


def test_cluster_tasks_take_the_inventory_and_settings_from_the_u7s_config(home, tmp_path):
    """`u7s.inventory` stands in for --inventory; `u7s:` settings reach cluster tasks beneath the inventory's."""
    inventory = tmp_path / "elsewhere.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": [
        {"name": "cp", "address": "127.0.0.1", "role": "control-plane", "settings": {"PORT_FLANNEL": 9072},
         "ssh": {"port": 1, "connect_timeout": 2}},
        {"name": "w1", "address": "127.0.0.2", "ssh": {"port": 1, "connect_timeout": 2}},
    ]}))
    # Without the config's PORT_FLANNEL the hosts differ (9072 and 8472), which is refused before connecting.
    refused = u7s("cluster.status", "--inventory", str(inventory), home=home)
    assert refused.returncode == 1 and "PORT_FLANNEL differs between hosts" in refused.stderr
    (home / ".u7s.yaml").write_text(yaml.safe_dump({"u7s": {"inventory": str(inventory), "PORT_FLANNEL": 9072}}))
    r = u7s("cluster.status", home=home)
    assert r.returncode == 1
    assert "differs" not in r.stderr and "hosts.yaml" not in r.stderr
    assert "cp" in r.stderr and "w1" in r.stderr  # it went on to connect: port 1 refuses
    assert "Traceback" not in r.stderr


def test_an_option_from_the_config_must_have_the_right_type(home, tmp_path):
    (home / ".u7s.yaml").write_text(yaml.safe_dump({"u7s": {"accept_unknown_host_keys": "yes"}}))
    r = u7s("cluster.status", home=home)
    assert r.returncode == 1
    assert "u7s.accept_unknown_host_keys: expected true or false" in r.stderr


def test_a_parent_projects_config_reaches_cluster_tasks(in_process_env, tmp_path, capsys):
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": [
        {"name": "cp", "address": "127.0.0.1", "role": "control-plane", "settings": {"PORT_FLANNEL": 9072},
         "ssh": {"port": 1, "connect_timeout": 2}},
        {"name": "w1", "address": "127.0.0.2", "ssh": {"port": 1, "connect_timeout": 2}},
    ]}))
    ns = Collection()
    ns.add_collection(Collection.from_module(u7s_tasks), name="u7s")
    ns.configure({"u7s": {"inventory": str(inventory), "PORT_FLANNEL": 9072}})
    program = Program(namespace=ns, name="parent", binary="parent")
    with pytest.raises(SystemExit) as caught:
        program.run(["parent", "u7s.cluster.status"], exit=True)
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert "differs" not in err and "cp" in err and "w1" in err


# -- single-host --dry-run ---------------------------------------------------------------------
CHANGING = ["up", "down", "down-v", "delete", "kubeadm-init", "install-flannel", "sync-external-ip", "kubeconfig",
            "kubectl", "join-command", "kubeadm-join", "kubeadm-reset", "multi-node", "create"]


@pytest.mark.parametrize("task", CHANGING)
def test_every_single_host_task_that_changes_something_takes_dry_run(home, task):
    r = u7s(task, "--help", home=home)
    assert r.returncode == 0 and "--dry-run" in r.stdout, r.stdout


def test_dry_run_prints_what_would_run_and_touches_nothing(home, tmp_path):
    # No engine is reachable with this PATH: a dry run that ran anything of the engine would fail.
    r = u7s("create", "--dry-run", "--skip-preflight", home=home, PATH="/usr/bin:/bin",
            **{**GIVEN, "CONTAINER_ENGINE": "/nonexistent/docker"})
    assert r.returncode == 0, r.stderr
    workdir = f"{home}/.local/share/u7s/u7s"
    assert "would write docker-compose.yaml, kubeadm-config.yaml, node/" in r.stderr
    assert f"would run /nonexistent/docker compose -f {workdir}/docker-compose.yaml" in r.stderr
    assert "would run kubeadm init --config /usernetes/kubeadm-config.yaml in u7s-host1" in r.stderr
    assert f"would write the admin kubeconfig (0600) to {workdir}/kubeconfig" in r.stderr
    assert r.stdout == "" and not os.path.exists(workdir)
