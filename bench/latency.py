"""Count the round trips on the critical path of u7s's fleet operations: the lab behind a slow link.

    sudo python3 bench/latency.py [--hosts 3] [--delay 0.1] [--runs 3] [--out bench/results] [--keep-lab]

Each lab host is reached through bench/delaypipe.py as its SSH ProxyCommand (an ssh_config
entry in the run's own HOME, named by the inventory's `ssh.alias`): once with no delay, once
with DELAY seconds each way. Every operation is timed `--runs` times in both; the difference
of the medians divided by the round trip time (2 x DELAY) is the number of round trips the
operation waits for one after the other. The delay is a timer, not work, so the count does
not depend on how busy the 2-core machine is. Both runs go through the same pipe, so starting
it costs the same in each and cancels out.

    cluster.check-preflight   hosts without a node
    cluster.create (fresh)    cluster.down-v before each run, untimed
    cluster.create (idle)     nothing to do
    cluster.status, cluster.kubeconfig, cluster.check-network   on the created cluster

u7s runs under tests/lab/roundtrips.py, which counts each host's remote operations. Writes
OUT/latency.json (the machine, the commit, every sample, the medians, the round trips, each
create's steps: wall and CPU-seconds, bench/steptimes.py; each run's operations per host, and
the first run's list of them) and prints the table docs/scaling.md shows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import machine  # noqa: E402
from bench.inventory import inventory_data  # noqa: E402
from bench.scaling import BenchError, Inventory, get_lab, say, take_lab_lock  # noqa: E402
from tests.lab.commands import LabError  # noqa: E402

# (label, task, extra arguments, what must hold before each run)
OPERATIONS = [
    ("check-preflight", "check-preflight", (), "down"),
    ("create, fresh", "create", (), "down"),
    ("create, nothing to do", "create", (), "created"),
    ("status", "status", (), "created"),
    ("kubeconfig", "kubeconfig", (), "created"),
    ("check-network", "check-network", (), "created"),
]


def key(operation) -> str:
    """An operation's name for --ops: its label in one word ("create, fresh" -> "create-fresh")."""
    return operation[0].replace(", ", "-").replace(" ", "-")


def ssh_config(hosts, delay: float) -> str:
    """ssh_config entries that reach each lab host through the delaying pipe."""
    pipe = f"{sys.executable} {REPO / 'bench' / 'delaypipe.py'} %h %p {delay}"
    return "".join(f"Host u7s-lag-{h.name}\n  HostName {h.address}\n  Port {h.ssh_port}\n  ProxyCommand {pipe}\n\n"
                   for h in hosts)


class Delayed(Inventory):
    """The bench inventory of the first N lab hosts, each reached by its ssh.alias through the pipe."""

    def __init__(self, lab, count: int, workdir: Path, delay: float):
        super().__init__(lab, count, workdir / f"delay-{delay}")
        data = inventory_data(lab.hosts[:count], lab.node_image, name="lag")
        for host in data["hosts"]:
            host["ssh"]["alias"] = f"u7s-lag-{host['name']}"
        self.path.write_text(yaml.safe_dump(data))
        ssh = self.workdir / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "config").write_text(ssh_config(lab.hosts[:count], delay))
        self.delay = delay
        self.counts = self.workdir / "operations.json"  # each host's remote operations of the last run
        self.program = ["-m", "tests.lab.roundtrips", str(self.counts)]

    def created(self) -> None:
        if subprocess.run([sys.executable, "-m", "u7s", "cluster.status", "--inventory", str(self.path)],
                          capture_output=True, cwd=self.workdir, env=self.env).returncode != 0:
            self.u7s("create")


def measure(inv: Delayed, runs: int, steps: dict, labels: list[str], operations: dict) -> dict:
    """Each operation's wall seconds, `runs` times, on this inventory; `steps` gets each create's steps and
    `operations` each run's remote operations per host."""
    seconds: dict[str, list[float]] = {}
    inv.down_v()
    for label, task, extra, before in (op for op in OPERATIONS if op[0] in labels):
        for run in range(1, runs + 1):
            inv.down_v() if before == "down" else inv.created()
            wall, _, _ = inv.u7s(task, *extra)
            seconds.setdefault(label, []).append(round(wall, 3))
            if task == "create":  # where its time goes, step by step (bench/steptimes.py)
                steps.setdefault(label, []).append(inv.steps)
            counted = json.loads(inv.counts.read_text())  # per host: how many, and what (tests/lab/roundtrips.py)
            operations.setdefault(label, []).append({h: c["operations"] for h, c in counted.items()})
            if run == 1:
                operations.setdefault("each", {})[label] = counted
            say(f"delay {inv.delay}s: cluster.{task} ({label}) run {run}/{runs}: {wall:.2f} s")
    inv.down_v()
    return seconds


def table(samples: dict, delay: float, labels: list[str]) -> tuple[str, dict]:
    """The markdown table and, per operation, the round trips: (median delayed - median direct) / RTT."""
    rtt = 2 * delay
    lines = [f"| operation | RTT 0 | RTT {rtt * 1000:.0f} ms | round trips on the critical path |",
             "|---|---|---|---|"]
    trips = {}
    for label in labels:
        direct, slow = statistics.median(samples["0.0"][label]), statistics.median(samples[str(delay)][label])
        trips[label] = round((slow - direct) / rtt, 1)
        task, _, how = label.partition(", ")
        lines.append(f"| `cluster.{task}`{f' ({how})' if how else ''} | {direct:.2f} s | {slow:.2f} s | {trips[label]} |")
    return "\n".join(lines), trips


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/latency.py", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3, help="lab hosts (default 3)")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds added each way (default 0.1: RTT 200 ms)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each operation per delay (default 3)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where latency.json goes")
    parser.add_argument("--ops", default=",".join(map(key, OPERATIONS)),
                        help="operations (default: all: " + ",".join(map(key, OPERATIONS)) + ")")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--reuse-lab", action="store_true", help="use a running lab if it has enough hosts")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    labels = [op[0] for op in OPERATIONS if key(op) in args.ops.split(",")]
    if not labels:
        print(f"bench: --ops {args.ops}: no such operation", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("bench: the lab needs root (run as root on a machine prepared by tests/setup-machine.sh)",
              file=sys.stderr)
        return 1
    info = {"machine": machine.describe(REPO), "hosts": args.hosts, "runs": args.runs, "delay": args.delay}
    lock, lab, samples, started, steps, operations = take_lab_lock(), None, {}, time.monotonic(), {}, {}
    try:
        lab = get_lab(args.hosts, args.reuse_lab)
        with tempfile.TemporaryDirectory(prefix="u7s-latency-") as work:
            for delay in (0.0, args.delay):
                steps[str(delay)], operations[str(delay)] = {}, {}
                samples[str(delay)] = measure(Delayed(lab, args.hosts, Path(work), delay), args.runs, steps[str(delay)],
                                                labels, operations[str(delay)])
    except (BenchError, LabError, subprocess.TimeoutExpired) as error:
        say(f"stopped: {error}")
        return 1
    finally:
        info["wall_seconds"] = round(time.monotonic() - started, 1)
        try:
            if lab is not None and not args.keep_lab:
                lab.down()
        finally:
            lock.close()
    text, trips = table(samples, args.delay, labels)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps({**info, "seconds": samples, "round_trips": trips,
                                                       "steps": steps, "operations": operations}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
