"""Config files (~/.u7s.yaml, ./u7s.yaml, -f FILE, invoke.yaml under inv) through u7s's bounded loader.

Each problem is one line naming the file, the line and the key, exit status 1, no
traceback, also for `--list` and `--help`, which read the files before any task runs.
"""

import subprocess
import sys

import pytest

from tests.unit.tasks.test_tasks_cli import GIVEN, ROOT, clean_env, home, u7s  # noqa: F401  (home: a fixture)


@pytest.mark.parametrize("argv", [["settings"], ["--list"], ["--help"], ["render", "--help"]])
def test_a_key_given_twice_is_one_line_naming_file_and_lines(home, tmp_path, argv):
    (tmp_path / "u7s.yaml").write_text("u7s:\n  PORT_ETCD: 1\n  PORT_ETCD: 2\n")
    r = u7s(*argv, home=home, cwd=tmp_path, **GIVEN)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == (f"u7s: {tmp_path / 'u7s.yaml'}: line 3: key 'PORT_ETCD' given twice (first on line 2); "
                        "keep one\n")


@pytest.mark.parametrize("text, words", [
    ("u7s: 5\n", "line 1: u7s: expected a mapping, got int 5"),
    ("run: yes\n", "line 1: run: expected a mapping, got bool True"),
    ("- u7s\n", "expected a mapping of sections"),
    ("u7s: {PORT_ETCD: [1\n", "not valid YAML"),
    ("u7s: {PORT_ETC: 1}\n", "line 1: u7s.PORT_ETC: unknown setting; known: CONTAINER_ENGINE"),
    ("u7s: !!python/object:os.system {}\n", "line 1: tag 'tag:yaml.org,2002:python/object:os.syste...' is not allowed"),
])
def test_a_broken_user_config_is_one_line_also_for_list(home, text, words):
    (home / ".u7s.yaml").write_text(text)
    for argv in (["--list"], ["settings"]):
        r = u7s(*argv, home=home, **GIVEN)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"u7s: {home / '.u7s.yaml'}"), r.stderr
        assert words in r.stderr


def test_a_runtime_config_file_is_checked_and_a_missing_one_named(home, tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text("u7s:\n  PORT_ETCD: 99999\n")
    r = u7s("-f", str(bad), "settings", home=home, **GIVEN)
    assert r.returncode == 1
    assert r.stderr == (f"u7s: PORT_ETCD=99999 (from {bad} line 2): out of range for a port; "
                        "use a whole number from 1 to 65535\n")
    missing = u7s("-f", str(tmp_path / "nope.yaml"), "settings", home=home, **GIVEN)
    assert missing.returncode == 1 and missing.stderr == f"u7s: -f {tmp_path / 'nope.yaml'}: no such file\n"


def test_the_settings_table_says_which_file_and_line_a_value_came_from(home):
    (home / ".u7s.yaml").write_text("# mine\nu7s:\n  PORT_ETCD: 12379\n")
    r = u7s("settings", home=home, **GIVEN)
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if line.startswith("PORT_ETCD")][0]
    assert row.split()[1:] == ["12379", f"{home / '.u7s.yaml'}", "line", "3"]


def test_json_config_files_are_checked_too(home, tmp_path):
    (tmp_path / "u7s.json").write_text('{"u7s": {"PORT_ETCD": 1, "PORT_ETCD": 2}}')
    r = u7s("settings", home=home, cwd=tmp_path, **GIVEN)
    assert r.returncode == 1 and r.stderr == f"u7s: {tmp_path / 'u7s.json'}: key 'PORT_ETCD' given twice; keep one\n"


def inv(*args, home, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, env=clean_env(home, **GIVEN),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, words", [
    ("u7s:\n  PORT_ETCD: 1\n  PORT_ETCD: 2\n", "line 3: key 'PORT_ETCD' given twice (first on line 2)"),
    ("u7s: 5\n", "line 1: u7s: expected a mapping, got int 5"),
    ("u7s: {PORT_ETC: 1}\n", "line 1: u7s.PORT_ETC: unknown setting"),
])
def test_under_inv_the_files_invoke_loaded_are_checked_when_a_u7s_task_starts(home, text, words):
    (home / ".invoke.yaml").write_text(text)
    r = inv("settings", "--json", home=home)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == f"u7s: {home / '.invoke.yaml'}: {words}" + r.stderr.split(words, 1)[1]
    assert len(r.stderr.splitlines()) == 1


def test_under_inv_a_value_is_named_with_its_file_and_line(home):
    (home / ".invoke.yaml").write_text("u7s:\n  PORT_KUBELET: 0\n")
    r = inv("settings", home=home)
    assert r.returncode == 1
    assert r.stderr.startswith(f"u7s: PORT_KUBELET=0 (from {home / '.invoke.yaml'} line 2): out of range")
