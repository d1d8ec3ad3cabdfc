"""Bad inventories and settings never reach a host, never hang, never dump a traceback.

Every case of tests/unit/bad_inputs.py goes through the real `u7s` command line
(one child process runs them all, under a memory limit; a sample also runs as
separate `python -m u7s` processes). The hosts the cases name are 127.0.0.2-4 at
a port this test listens on: any connection there fails the test. The good
inventory, run the same way, does connect (so the listener would have seen one),
and its failure is one line per host naming the cause.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.unit.bad_inputs import CASES, GOOD, Case

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("corpus_runner.py")
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
GIVEN = {"CONTAINER_ENGINE": "docker", "HOSTNAME": "host1", "HOST_IP": "192.0.2.10"}
LIMIT_AS = 1 << 30  # a runaway dies here instead of eating the machine
MAX_RSS_MB = 100
# Work is bounded by CPU time, which other load on the machine does not inflate; wall time
# only guards against a hang (a wait on the network, a prompt), so it is generous.
MAX_CPU_SECONDS = 1.0
MAX_WALL_SECONDS = 15.0


class Listener:
    """TCP listeners on the cases' addresses, all on one port, recording who connects."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []
        self.socks: list[socket.socket] = []
        for _ in range(20):
            try:
                self._bind_all()
                break
            except OSError:
                self.close()
        else:
            raise RuntimeError("no free port on all of 127.0.0.2-4")
        for s in self.socks:
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _bind_all(self):
        first = socket.create_server((ADDRESSES[0], 0))
        self.socks = [first]
        self.port = first.getsockname()[1]
        self.socks += [socket.create_server((a, self.port)) for a in ADDRESSES[1:]]

    def _serve(self, server):
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            self.seen.append((server.getsockname()[0], peer[0]))
            try:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")  # not an SSH server
            finally:
                conn.close()

    def close(self):
        for s in self.socks:
            s.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def prepare(case: Case, tmp_path: Path, port: int) -> dict:
    """The case's files in a directory of its own, and how to run it."""
    where = tmp_path / case.id
    where.mkdir()
    env = dict(GIVEN)
    if case.kind == "env":
        env.update(case.env)
        argv = ["settings"]
    else:
        path = where / "hosts.yaml"
        if case.raw is not None:
            path.write_bytes(case.raw)
        else:
            path.write_text(case.inventory.replace("@PORT@", str(port)))
        argv = ["cluster.status", "--inventory", "hosts.yaml", *case.argv]
    return {"id": case.id, "argv": argv, "env": env, "cwd": str(where)}


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def child_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("U7S_", "INVOKE_", "PYTHON"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    return env


def run_measured(argv, *, stdin: bytes, env: dict, cwd: str, timeout: float = 120):
    """Run a child under the memory limit.

    Returns (exit status, stdout, stderr, its own peak RSS in MB, (wall seconds, CPU seconds)).

    The child is reaped with wait4, whose usage is that child's alone (the children's usage of this
    process would also hold whatever else the test session ran before, kubectl for one).
    """
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, preexec_fn=limited)
    output: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda name=name, stream=stream: output.__setitem__(name, stream.read()))
               for name, stream in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, output["out"].decode(), output["err"].decode(), usage.ru_maxrss / 1024, (seconds, cpu)


def outcome_problems(case: Case, code: int, stderr: str, seconds: float, cpu_seconds: float,
                     max_cpu_seconds: float) -> list[str]:
    problems = []
    if code != 1:
        problems.append(f"exit status {code}, expected 1")
    if cpu_seconds > max_cpu_seconds:
        problems.append(f"used {cpu_seconds:.2f}s of CPU")
    if seconds > MAX_WALL_SECONDS:
        problems.append(f"took {seconds:.2f}s: it waited on something")
    if "Traceback" in stderr:
        problems.append("a traceback")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines or not all(line.startswith("u7s: ") and len(line) < 400 for line in lines):
        problems.append("not only short `u7s: ` lines")
    if not any(all(fragment in line for fragment in case.expect) for line in lines):
        problems.append(f"no line with {case.expect}")
    return [f"{case.id}: {p}\n{stderr[:1500]}" for p in problems]


def test_the_corpus_has_sixty_cases_across_every_class():
    kinds = {c.kind for c in CASES}
    assert {"yaml", "numbers", "network", "ssh", "names", "flags", "env"} <= kinds
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


def test_every_bad_input_is_refused_by_the_cli_fast_small_and_before_any_connection(listener, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    batch = [prepare(c, tmp_path, listener.port) for c in CASES]
    code, out, err, rss_mb, _ = run_measured([sys.executable, str(RUNNER)], stdin=json.dumps(batch).encode(),
                                             env=child_env(home), cwd=str(tmp_path))
    assert code == 0, err
    results = json.loads(out)
    problems = []
    for case in CASES:
        r = results[case.id]
        problems += outcome_problems(case, r["code"], r["stderr"], r["seconds"], r["cpu_seconds"],
                                     MAX_CPU_SECONDS)
    assert not problems, "\n".join(problems)
    assert listener.seen == [], f"connections were attempted: {listener.seen}"
    assert rss_mb < MAX_RSS_MB, f"peak RSS {rss_mb:.0f} MB over all cases"


SAMPLE = ["alias-bomb", "long-string", "too-large", "timeout-nan", "user-option", "address-option",
          "set-image-option", "env-workdir-root"]


@pytest.mark.parametrize("case_id", SAMPLE)
def test_a_sample_is_refused_by_its_own_u7s_process(case_id, listener, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    home = tmp_path / "home"
    home.mkdir()
    prepared = prepare(case, tmp_path, listener.port)
    env = {**child_env(home), **prepared["env"]}
    code, _, err, rss_mb, (seconds, cpu) = run_measured([sys.executable, "-m", "u7s", *prepared["argv"]], stdin=b"",
                                                 env=env, cwd=prepared["cwd"], timeout=60)
    # The interpreter's own start (about 0.25 s of CPU here) counts too.
    assert not outcome_problems(case, code, err, seconds, cpu, 3.0)
    assert listener.seen == []
    assert rss_mb < MAX_RSS_MB


def test_the_good_inventory_does_connect_and_reports_a_non_ssh_port_in_one_line_per_host(listener, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    good = Case("good", "control", GOOD, [])
    batch = [prepare(good, tmp_path, listener.port)]
    code, out, err, _, _ = run_measured([sys.executable, str(RUNNER)], stdin=json.dumps(batch).encode(),
                                        env=child_env(home), cwd=str(tmp_path))
    assert code == 0, err
    r = json.loads(out)["good"]
    assert r["code"] == 1 and "Traceback" not in r["stderr"], r["stderr"]
    assert {local for local, _ in listener.seen} == set(ADDRESSES)
    for name in ("cp", "w1", "w2"):
        lines = [line for line in r["stderr"].splitlines() if line.lstrip().startswith(name)]
        assert any("is not an SSH server" in line for line in lines), r["stderr"]
