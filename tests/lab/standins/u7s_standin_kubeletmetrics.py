"""The kubelet's resource metrics, for the u7s TEST STAND-IN kubelet (lab only, never ships).

`GET /metrics/resource` on the kubelet's port, in the kubelet's Prometheus text format, which
metrics-server scrapes. The node's numbers are real: the node container's cgroup (cgroup2:
`cpu.stat` usage_usec, `memory.current` minus `memory.stat` inactive_file, the kubelet's working
set), else the machine's /proc (`/proc/stat`, `/proc/meminfo`: MemTotal - MemAvailable). The
pods' containers run no processes here: each Running pod's container is MODELLED as using 1m of
CPU (one millisecond a second since it started) and 8 MiB of memory. `capacity()` is what the
Node reports as capacity and allocatable: the CPUs the node may use and its memory limit (else
the machine's memory).
"""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODELLED_CPU = 0.001  # cores per pod container
MODELLED_MEMORY = 8 * 1024 * 1024


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _fields(text):
    return {k: v for k, _, v in (line.partition(" ") for line in (text or "").splitlines())}


def node_usage():
    """(CPU seconds used, working-set bytes) of this node: its cgroup, else the machine's /proc."""
    stat, current = _read("/sys/fs/cgroup/cpu.stat"), _read("/sys/fs/cgroup/memory.current")
    if stat and current:
        cpu = int(_fields(stat).get("usage_usec", "0")) / 1e6
        inactive = int(_fields(_read("/sys/fs/cgroup/memory.stat")).get("inactive_file", "0"))
        return cpu, max(0, int(current) - inactive)
    first = (_read("/proc/stat") or "cpu 0").splitlines()[0].split()[1:]
    cpu = sum(int(x) for x in first[:3] + first[5:8]) / CLK_TCK  # user nice system irq softirq steal
    meminfo = {k.rstrip(":"): int(v.split()[0]) * 1024 for k, v in
               (line.split(None, 1) for line in (_read("/proc/meminfo") or "").splitlines() if " " in line)}
    return cpu, meminfo.get("MemTotal", 0) - meminfo.get("MemAvailable", 0)


def capacity():
    """The Node's capacity (and allocatable): CPUs, memory, pods."""
    cpus = len(os.sched_getaffinity(0))
    limit = (_read("/sys/fs/cgroup/memory.max") or "max").strip()
    if not limit.isdigit():
        meminfo = _read("/proc/meminfo") or "MemTotal: 0 kB"
        limit = str(int(meminfo.split("MemTotal:", 1)[1].split()[0]) * 1024)
    return {"cpu": str(cpus), "memory": f"{int(limit) // 1024}Ki", "pods": "110"}


def resource_metrics(pods):
    """The text of /metrics/resource; pods: [(pod object, monotonic time it started)] of the Running pods."""
    now_ms = int(time.time() * 1000)
    cpu, memory = node_usage()
    lines = ["# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds",
             "# TYPE node_cpu_usage_seconds_total counter", f"node_cpu_usage_seconds_total {cpu:.6f} {now_ms}",
             "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes",
             "# TYPE node_memory_working_set_bytes gauge", f"node_memory_working_set_bytes {memory} {now_ms}"]
    cpu_lines, memory_lines = [], []
    for pod, started in pods:
        meta = pod["metadata"]
        for c in pod.get("spec", {}).get("containers") or []:
            labels = f'container="{c["name"]}",namespace="{meta["namespace"]}",pod="{meta["name"]}"'
            used = MODELLED_CPU * (time.monotonic() - started)
            cpu_lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {used:.6f} {now_ms}")
            memory_lines.append(f"container_memory_working_set_bytes{{{labels}}} {MODELLED_MEMORY} {now_ms}")
    lines += ["# TYPE container_cpu_usage_seconds_total counter", *cpu_lines,
              "# TYPE container_memory_working_set_bytes gauge", *memory_lines]
    return "\n".join(lines) + "\n"
