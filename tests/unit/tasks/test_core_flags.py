"""invoke's core flags under `u7s` and `inv`: honoured where they mean something, refused otherwise.

A fake engine (a shell script named docker, first on PATH) records every call, so a
test sees what u7s would have run on a host; nothing reaches a real engine.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.unit.tasks.test_tasks_cli import GIVEN, ROOT, clean_env

FAKE_ENGINE = """#!/bin/sh
printf '%s\\n' "$*" >> "$U7S_FAKE_LOG"
case "$1 $2" in
"compose version") echo "Docker Compose version v2.40.3" ;;
"exec -i"|"exec -t"|"exec -it") [ -n "$U7S_FAKE_HOLD" ] && : > "$U7S_FAKE_HOLD" && exec sleep 60 ;;
esac
exit 0
"""


@pytest.fixture
def engine(tmp_path):
    """(environment, call log) for a run against the fake engine, with a written compose file in U7S_WORKDIR."""
    bin_dir, workdir, home = tmp_path / "bin", tmp_path / "work", tmp_path / "home"
    for d in (bin_dir, workdir, home):
        d.mkdir()
    (bin_dir / "docker").write_text(FAKE_ENGINE)
    (bin_dir / "docker").chmod(0o755)
    (workdir / "docker-compose.yaml").write_text("services: {}\n")
    log = tmp_path / "calls.log"
    env = clean_env(home, **GIVEN, U7S_WORKDIR=workdir, U7S_FAKE_LOG=log,
                    PATH=f"{bin_dir}:/usr/bin:/bin")
    return env, log


def run(program, *args, env, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", program, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def calls(log):
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("program", ["u7s", "invoke"])
def test_dry_is_the_tasks_dry_run_and_calls_no_down(engine, program):
    env, log = engine
    r = run(program, "--dry", "down-v", env=env)
    assert r.returncode == 0, r.stderr
    assert "would run docker compose" in r.stderr and "down -v" in r.stderr
    assert not [c for c in calls(log) if " down" in f" {c}"], calls(log)


def test_without_dry_the_fake_engine_sees_the_down_call(engine):
    env, log = engine  # the same set-up, so the test above can tell a dry run from a real one
    r = run("u7s", "down-v", env=env)
    assert r.returncode == 0, r.stderr
    assert [c for c in calls(log) if c.startswith("compose ") and c.endswith("down -v")]


@pytest.mark.parametrize("task", ["smoke-test", "shell", "load-image", "export-logs"])
def test_dry_refuses_a_changing_task_without_a_dry_run(engine, task):
    env, log = engine
    r = run("u7s", "--dry", task, env=env)
    assert r.returncode == 1
    assert r.stderr == f"u7s: --dry: `{task}` changes things and has no dry run; run it without --dry\n"
    assert calls(log) == []


@pytest.mark.parametrize("task", ["settings", "render"])
def test_dry_runs_a_read_only_task_as_usual(engine, task):
    env, _ = engine
    r = run("u7s", "--dry", task, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


@pytest.mark.parametrize("flag, words", [
    (["--hide", "both"], "u7s: --hide: u7s always captures"),
    (["--warn-only"], "u7s: --warn-only: u7s stops a host's step at a failed command"),
    (["--command-timeout", "5"], "u7s: --command-timeout: u7s waits for conditions"),
    (["--pty"], "u7s: --pty: `down-v` runs its commands without a terminal"),
])
def test_flags_u7s_cannot_honour_are_refused_in_one_line(engine, flag, words):
    env, log = engine
    r = run("u7s", *flag, "down-v", env=env)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(words)
    assert calls(log) == []


def test_a_run_flag_from_a_config_file_warns_instead(engine, tmp_path):
    env, _ = engine
    (tmp_path / "home" / ".u7s.yaml").write_text("run: {warn: true}\n")
    r = run("u7s", "settings", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert "u7s: warning: run.warn from the configuration does not apply" in r.stderr


def test_echo_shows_each_command_on_stderr_with_its_host(engine):
    env, log = engine
    r = run("u7s", "--echo", "down-v", env=env)
    assert r.returncode == 0, r.stderr
    down = [c for c in calls(log) if c.endswith("down -v")][0]
    assert f"local$ docker {down}" in r.stderr.splitlines()
    assert r.stdout == ""


def test_pty_gives_shell_a_terminal(engine):
    env, log = engine
    r = run("u7s", "--pty", "shell", env=env)
    assert r.returncode == 0, r.stderr
    assert [c for c in calls(log) if c.startswith("exec -i -t ")]


@pytest.mark.parametrize("program", ["u7s", "invoke"])
def test_sigterm_ends_a_task_as_ctrl_c_does(engine, tmp_path, program):
    env, log = engine
    hold = tmp_path / "holding"
    env = {**env, "U7S_FAKE_HOLD": str(hold)}
    proc = subprocess.Popen([sys.executable, "-m", program, "shell"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not hold.exists():  # the task is inside the engine's exec when the fake writes this
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "u7s: interrupted"


def test_short_flags_mean_one_thing_in_every_task():
    from u7s.tasks import ns

    meaning: dict = {}
    for name in ns.task_names:
        for arg in ns[name].get_arguments():
            for short in (n for n in arg.names if len(n) == 1):
                meaning.setdefault(short, set()).add(max(arg.names, key=len))
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert meaning == {"s": {"set"}, "d": {"dry-run"}, "i": {"inventory"}, "j": {"json"}, "o": {"output"},
                       "y": {"yes"}}
