"""Time u7s's fleet operations on 1 to 16 lab hosts; write a CSV, a JSON summary and a plot.

    python3 bench/scaling.py [--hosts 1,2,4,8,16] [--runs 3] [--ops check-preflight,up,...]
                             [--out bench/results] [--keep-lab] [--reuse-lab]
    python3 bench/scaling.py --plot-only [--out DIR]     # redraw from DIR/scaling.csv

Needs root and a machine prepared by tests/setup-machine.sh. It takes the lab
lock (/run/lock/u7s-lab.lock, as the test suite does), brings up one lab with
as many hosts as the largest count (no Podman service: nothing here uses it),
and for each count N runs u7s from this checkout on the controller, as root,
against an inventory of the lab's first N hosts (as tests/integration does):

    cluster.check-preflight   nodes down
    cluster.up                fresh each run (cluster.down-v before it, untimed)
    cluster.check-network     N >= 2, nodes up
    cluster.create            fresh each run (cluster.down-v before it, untimed)
    cluster.status            on the created cluster

Each `--runs` times. Every run also records the CPU-seconds the whole machine was busy
(/proc/stat: every lab host's share, since they all run here) and u7s's own CPU-seconds,
so the results show when the lab's hosts, not u7s, set the pace. Not part of the test
suite: it takes tens of minutes at 16 hosts.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import machine, plot, steptimes  # noqa: E402
from bench.inventory import inventory_data  # noqa: E402
from tests.lab.commands import LabError  # noqa: E402
from bench.report import (  # noqa: E402
    OPERATIONS, Sample, applies, busy_seconds, cpu_table, from_csv, parse_hosts, parse_operations, summarise, table,
    to_csv, verdicts,
)

LAB_LOCK = Path("/run/lock/u7s-lab.lock")
OPERATION_TIMEOUT = 1800
_STARTED = time.monotonic()


class BenchError(Exception):
    """A u7s run failed, or the lab cannot be had; the message says which."""


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


class Results:
    """Samples so far, written to the CSV after each one so an interrupted run keeps what it measured."""

    def __init__(self, out: Path):
        self.out = out
        self.samples: list[Sample] = []
        self.steps: dict[str, dict[int, list[dict]]] = {}  # operation -> hosts -> per step, of its last run
        out.mkdir(parents=True, exist_ok=True)

    @property
    def csv(self) -> Path:
        return self.out / "scaling.csv"

    def add(self, sample: Sample, steps: list[dict] | None = None) -> None:
        self.samples.append(sample)
        self.csv.write_text(to_csv(self.samples))
        if steps and sample.operation == "create":  # where create's time goes (docs/scaling.md)
            self.steps.setdefault(sample.operation, {})[sample.hosts] = steps
            (self.out / "scaling-steps.json").write_text(json.dumps(self.steps, indent=2) + "\n")


class Inventory:
    """u7s run from this checkout, as root on the controller, against the first N lab hosts."""

    def __init__(self, lab, count: int, workdir: Path):
        self.count = count
        self.workdir = workdir / f"hosts-{count}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / "hosts.yaml"
        self.path.write_text(yaml.safe_dump(inventory_data(lab.hosts[:count], lab.node_image)))
        self.env = {**os.environ, "HOME": str(self.workdir), "PYTHONPATH": str(REPO)}
        self.steps: list[dict] = []  # the last run's steps (bench/steptimes.py)
        self.program = ["-m", "u7s"]  # how u7s is run (bench/latency.py counts its remote operations)

    def u7s(self, task: str, *extra: str) -> tuple[float, float, float]:
        """Run `u7s cluster.TASK`: (wall seconds, the machine's busy CPU-seconds, u7s's own CPU-seconds).

        Raises BenchError with the output's tail if it fails.
        """
        argv = [sys.executable, *self.program, f"cluster.{task}", "--inventory", str(self.path), *extra]
        own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done, marks = steptimes.run_marked(argv, self.workdir, self.env, OPERATION_TIMEOUT)
        seconds = marks[-1][1] - marks[0][1]
        own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_cpu = busy_seconds(marks[0][2], marks[-1][2], os.sysconf("SC_CLK_TCK"))
        own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
        self.steps = steptimes.segments(marks, os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).rstrip().splitlines()[-30:])
            raise BenchError(f"u7s cluster.{task} on {self.count} hosts exited {done.returncode}:\n{tail}")
        return seconds, machine_cpu, own

    def down_v(self) -> None:
        self.u7s("down-v", "--yes")


def measure(inventory: Inventory, operations: list[str], runs: int, results: Results) -> None:
    """Time each operation `runs` times on one inventory; leave its hosts with no node."""
    n = inventory.count

    def timed(op: str, before=None) -> None:
        for run in range(1, runs + 1):
            if before:
                before()
            seconds, machine_cpu, own = inventory.u7s(op)
            results.add(Sample(op, n, run, seconds, machine_cpu, own), inventory.steps)
            say(f"{n:2d} hosts: cluster.{op} run {run}/{runs}: {seconds:.2f} s "
                f"(machine CPU {machine_cpu:.2f} s, u7s {own:.2f} s)")

    inventory.down_v()  # whatever an earlier, interrupted run left
    if "check-preflight" in operations:
        timed("check-preflight")
    if "up" in operations:
        timed("up", before=inventory.down_v)
    if "check-network" in operations and applies("check-network", n):
        if "up" not in operations:
            inventory.u7s("up")
        timed("check-network")
    if "create" in operations:
        timed("create", before=inventory.down_v)
    if "status" in operations:
        if "create" not in operations:
            inventory.down_v()
            inventory.u7s("create")
        timed("status")
    inventory.down_v()


def take_lab_lock():
    """Hold the machine's lab lock (as pytest does) until the returned file is closed."""
    LAB_LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = open(LAB_LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"waiting for the lab lock {LAB_LOCK} (another test session or benchmark holds it)")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def get_lab(count: int, reuse: bool):
    from tests.lab import Lab

    if reuse:
        lab = Lab.existing()
        if lab is not None and len(lab.hosts) >= count:
            say(f"using the running lab ({len(lab.hosts)} hosts)")
            return lab
        say(f"no running lab with {count} hosts to reuse; bringing one up")
    say(f"bringing up a {count}-host lab (without Podman)")
    return Lab.up(count, podman=False)


def finish(out: Path, samples: list[Sample], info: dict, steps: dict | None = None) -> None:
    """Print the table and the acceptance ratios (and where create's time goes); write scaling.json and the plot."""
    summary = summarise(samples)
    for op, runs in (steps or {}).items():
        print(f"cluster.{op}, its last run at each host count, step by step:")
        print(steptimes.steps_table(runs))
        print()
        info = {**info, "steps": steps}
    checks = verdicts(summary)
    cores = (info.get("machine") or {}).get("cores") or os.cpu_count() or 1
    print(table(summary))
    print()
    if any(s.machine_cpu is not None for s in summary.values()):
        print(f"The machine's CPU-seconds, and the least wall time they allow on {cores} cores:")
        print(cpu_table(summary, cores))
        print()
    for verdict in checks:
        print(verdict.text)
    info = {
        **info,
        "table": table(summary),
        "cpu_table": cpu_table(summary, cores),
        "acceptance": [{"criterion": v.criterion.text, "ratio": None if v.ratio is None else round(v.ratio, 3),
                        "holds": v.holds} for v in checks],
        "medians": [{"operation": op, "hosts": n, "median": round(s.median, 3), "min": round(s.low, 3),
                     "max": round(s.high, 3), "runs": s.runs,
                     "machine_cpu": None if s.machine_cpu is None else round(s.machine_cpu, 3),
                     "u7s_cpu": None if s.u7s_cpu is None else round(s.u7s_cpu, 3)}
                    for (op, n), s in sorted(summary.items())],
    }
    (out / "scaling.json").write_text(json.dumps(info, indent=2) + "\n")
    png = out / "scaling.png"
    facts = info.get("machine") or {}
    title = (f"u7s on the lab: {facts.get('cores', '?')} cores ({facts.get('cpu', '?')}), "
             f"{facts.get('memory_gib', '?')} GiB, commit {str(facts.get('commit', '?'))[:10]}")
    if plot.draw(summary, png, title):
        print(f"\nwrote {out / 'scaling.csv'}, {out / 'scaling.json'} and {png}")
    else:
        print(f"\nwrote {out / 'scaling.csv'} and {out / 'scaling.json'}; {plot.INSTALL_HINT}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/scaling.py", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,2,4,8,16", help="host counts (default 1,2,4,8,16)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each operation per count (default 3)")
    parser.add_argument("--ops", default=",".join(OPERATIONS), help=f"operations (default {','.join(OPERATIONS)})")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where results go")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--reuse-lab", action="store_true", help="use a running lab if it has enough hosts")
    parser.add_argument("--plot-only", action="store_true", help="redraw the table and plot from OUT/scaling.csv")
    args = parser.parse_args(argv)
    try:
        args.hosts = parse_hosts(args.hosts)
        args.ops = parse_operations(args.ops)
    except ValueError as error:
        parser.error(str(error))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_only:
        try:
            samples = from_csv((args.out / "scaling.csv").read_text())
            saved = json.loads((args.out / "scaling.json").read_text()) if (args.out / "scaling.json").exists() else {}
        except (OSError, ValueError) as error:
            print(f"bench: {args.out / 'scaling.csv'}: {error}", file=sys.stderr)
            return 1
        finish(args.out, samples, {k: v for k, v in saved.items() if k not in ("table", "acceptance", "medians")})
        return 0
    if os.geteuid() != 0:
        print("bench: the lab needs root (run as root on a machine prepared by tests/setup-machine.sh)",
              file=sys.stderr)
        return 1
    results = Results(args.out)
    info = {"machine": machine.describe(REPO), "hosts": args.hosts, "runs": args.runs, "operations": args.ops,
            "complete": False}
    lock = take_lab_lock()
    lab = None
    started = time.monotonic()
    try:
        lab = get_lab(max(args.hosts), args.reuse_lab)
        info["lab_up"] = lab.timings
        with tempfile.TemporaryDirectory(prefix="u7s-bench-") as work:
            for count in args.hosts:
                measure(Inventory(lab, count, Path(work)), args.ops, args.runs, results)
        info["complete"] = True
    except (BenchError, LabError, subprocess.TimeoutExpired) as error:
        say(f"stopped: {error}")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        info["wall_seconds"] = round(time.monotonic() - started, 1)
        try:
            if lab is not None and not args.keep_lab:
                say("taking the lab down")
                lab.down()
        finally:
            lock.close()
    say(f"wall time {info['wall_seconds']} s" + ("" if info["complete"] else " (incomplete)"))
    if results.samples:
        finish(args.out, results.samples, info, results.steps)
    return 0 if info["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
