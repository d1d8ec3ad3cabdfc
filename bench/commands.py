"""Time the commands whose speed users feel, outside the test suite (no timing asserts in tests).

    python3 bench/commands.py [--runs N]

Prints the median and the spread of: `u7s --help` (must stay light: no fabric,
paramiko or jinja2 import), `u7s --list`, and `u7s render` (settings,
facts and a template). With a lab up (`python -m tests.lab up`), also
`u7s cluster.status` over SSH to its hosts.
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

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], runs: int, env: dict) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, cwd=REPO)
        # cluster.status exits 1 when no node runs (the lab has none here): only reaching the hosts is timed.
        if done.returncode not in ((0, 1) if "cluster.status" in argv else (0,)):
            raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
        times.append(time.perf_counter() - started)
    return times


def lab_inventory(directory: str) -> str | None:
    shown = subprocess.run([sys.executable, "-m", "tests.lab", "show"], capture_output=True, text=True, cwd=REPO)
    if shown.returncode != 0:
        return None
    lab = json.loads(shown.stdout)
    hosts = [{"name": h["name"], "address": h["address"], "role": "control-plane" if i == 0 else "worker",
              "ssh": {"user": h["ssh_user"], "identity_file": h["key"]}} for i, h in enumerate(lab["hosts"])]
    path = Path(directory, "hosts.yaml")
    path.write_text(json.dumps({"ssh": {"known_hosts": lab["hosts"][0]["known_hosts"]}, "hosts": hosts}))
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "PYTHONPATH": str(REPO)}
        u7s = [sys.executable, "-m", "u7s"]
        cases = {
            "u7s --help": [*u7s, "--help"],
            "u7s --list": [*u7s, "--list"],
            "u7s render": [*u7s, "render", "--set", "CONTAINER_ENGINE=docker", "--set", "HOST_IP=192.0.2.1"],
        }
        inventory = lab_inventory(home)
        if inventory:
            cases["u7s cluster.status (lab)"] = [*u7s, "cluster.status", "--json", "--inventory", inventory]
        for name, argv in cases.items():
            times = timed(argv, args.runs, env)
            print(f"{name:<28} median {statistics.median(times) * 1000:7.1f} ms   "
                  f"min {min(times) * 1000:7.1f}   max {max(times) * 1000:7.1f}   ({args.runs} runs)")


if __name__ == "__main__":
    main()
