"""Where a fleet operation's wall time goes: each step's seconds and the machine's CPU-seconds in it.

u7s prints `== STEP (hosts)` as each step of a multi-host task begins (u7s/steps/step.py).
`run_marked` runs u7s and notes, as each such line arrives, the time and /proc/stat; `segments`
turns the marks into one row per step: its wall seconds, the CPU-seconds the whole machine was
busy meanwhile, and so the least wall time that CPU allows on the machine's cores. A step whose
wall time is well above that floor waits for something other than CPU (a poll, a component's own
delay, a serial limit). The first row, before any step, is connecting, settings and locks; the
last step's row runs to the end of the task (the kubeconfig is written there).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

from bench.report import busy_seconds

STEP = re.compile(r"^\S? ?== (\S+) \(")  # the run's own line: its mark ("-"), then "== STEP (hosts)"
BEFORE = "connect, settings, locks"


def run_marked(argv: list[str], cwd: Path, env: dict, timeout: float) -> tuple[subprocess.CompletedProcess, list]:
    """Run argv; its result (output captured) and the marks: (name, monotonic seconds, /proc/stat) per step."""
    stat = Path("/proc/stat")
    marks = [(BEFORE, time.perf_counter(), stat.read_text())]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    err = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stderr:
            err.append(line)
            found = STEP.match(line)
            if found:
                marks.append((found.group(1), time.perf_counter(), stat.read_text()))
        code = proc.wait()
    finally:
        timer.cancel()
    reader.join()
    marks.append(("end", time.perf_counter(), stat.read_text()))
    return subprocess.CompletedProcess(argv, code, "".join(out), "".join(err)), marks


def segments(marks: list, ticks_per_second: int, cores: int) -> list[dict]:
    """Pure: per step (in order), its wall seconds, the machine's CPU-seconds and the least wall time they allow."""
    rows = []
    for (name, start, stat_start), (_, end, stat_end) in zip(marks, marks[1:]):
        cpu = busy_seconds(stat_start, stat_end, ticks_per_second)
        rows.append({"step": name, "seconds": round(end - start, 2), "machine_cpu": round(cpu, 2),
                     "cpu_floor": round(cpu / cores, 2)})
    return rows


def steps_table(runs: dict[int, list[dict]]) -> str:
    """Markdown: per step, at each host count, its wall seconds and the least wall time its CPU allows."""
    counts = sorted(runs)
    names = list(dict.fromkeys(row["step"] for n in counts for row in runs[n]))
    lines = ["| step | " + " | ".join(f"{n} hosts: wall, CPU floor" for n in counts) + " |",
             "|---|" + "---|" * len(counts)]
    for name in names + ["total"]:
        cells = []
        for n in counts:
            rows = runs[n] if name == "total" else [r for r in runs[n] if r["step"] == name]
            cells.append(f"{sum(r['seconds'] for r in rows):.1f} s, >= {sum(r['cpu_floor'] for r in rows):.1f} s"
                         if rows else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
