"""Preflight's checks of the host itself: cgroup v2 and its delegation, lingering, kernel modules.

They read the host, not the engine, so a cgroup v1 host hears about it first,
whether or not an engine answers. Advice that needs systemd (`loginctl`, a
user@.service drop-in) is given only where systemd runs.
"""

from __future__ import annotations

from u7s.facts import kernel
from u7s.facts.system import parse_linger
from u7s.checks.verdict import ERROR, OK, SKIP, WARN

DELEGATION = ["sh", "-c", 'f=/sys/fs/cgroup/user.slice/user-$(id -u).slice/user@$(id -u).service/cgroup.controllers; '
              'test "$(id -u)" = 0 && exit 3; test -r "$f" || exit 2; cat "$f"']
LINGER = ["sh", "-c", 'loginctl show-user --property Linger "$(id -u)"']
KERNEL_MODULES = ("br_netfilter", "ip6_tables", "ip6table_nat", "ip_tables", "iptable_nat", "vxlan")
NO_SYSTEMD = "README: Hosts without systemd"
# kubeadm init's preflight (cmd/kubeadm/app/preflight/checks.go: NumCPUCheck, MemCheck with
# constants.ControlPlaneNumCPU = 2 and ControlPlaneMem = 1700 MB) refuses a control plane below these.
# NumCPU counts the CPUs the process may run on (nproc does too); Mem is the total RAM in MB (sysinfo).
RESOURCES = ["sh", "-c", "nproc && grep '^MemTotal:' /proc/meminfo"]
MIN_CPUS, MIN_MEM_MB = 2, 1700


def probes() -> list[list[str]]:
    return [kernel.SYSTEMD, kernel.MOUNTINFO, DELEGATION, LINGER, kernel.kernel_modules_probe(KERNEL_MODULES),
            RESOURCES]


def systemd(host) -> bool:
    return host.run(kernel.SYSTEMD, check=False).ok


def cgroup_mount(host) -> kernel.CgroupMount | None:
    """The layout at /sys/fs/cgroup; None when the host did not say (then the engine's report decides)."""
    r = host.run(kernel.MOUNTINFO, check=False)
    return kernel.parse_mountinfo(r.stdout) if r.ok else None


def cgroup_v2(mount: kernel.CgroupMount, systemd: bool) -> tuple:
    if mount.version == "2":
        return "cgroup v2", OK, mount.detail
    return ("cgroup v2", ERROR, f"{mount.detail}: rootless Kubernetes needs cgroup v2",
            kernel.cgroup_v2_fix(systemd))


def delegation(host, mount: kernel.CgroupMount | None, systemd: bool) -> tuple:
    if mount is not None and mount.version != "2":
        return "cgroup delegation", SKIP, "needs cgroup v2 first"
    r = host.run(DELEGATION, check=False)
    if r.exited == 3:
        return "cgroup delegation", SKIP, "running as root"
    if r.exited == 2 and systemd:
        return ("cgroup delegation", WARN, "no systemd user instance with a delegated cgroup",
                "sudo loginctl enable-linger $USER and log in again (init-host/init-host.root.sh)")
    if r.exited == 2:
        return ("cgroup delegation", WARN, "systemd is not running, so no user@.service cgroup is delegated to the user",
                f"the engine needs a cgroup the user owns, with cpu and memory enabled ({NO_SYSTEMD})")
    missing = [c for c in ("cpu", "memory") if c not in r.stdout.split()]
    if not missing:
        return "cgroup delegation", OK, r.stdout.strip()
    fix = ("add Delegate=cpu cpuset io memory pids for user@.service (init-host/init-host.root.sh)" if systemd else
           "enable them in cgroup.subtree_control of the cgroups above the user's")
    return "cgroup delegation", WARN, f"controllers not delegated: {', '.join(missing)}", fix


def linger(host, systemd: bool) -> tuple:
    if not systemd:
        return ("lingering", SKIP, "systemd is not running here, so there is nothing to linger",
                "nothing starts the engine at boot: after a reboot, init-host/init-host.rootless.sh --start-engine")
    r = host.run(LINGER, check=False)
    on = parse_linger(r.stdout) if r.ok else None
    if on:
        return "lingering", OK, "enabled"
    return ("lingering", WARN, "not enabled" if on is False else "unknown (no logind session)",
            "sudo loginctl enable-linger $USER, so the engine outlives your login")


def modules(host) -> tuple:
    r = host.run(kernel.kernel_modules_probe(KERNEL_MODULES), check=False)
    states = kernel.parse_kernel_modules(r.stdout) if r.ok else {}
    if not states:
        return "kernel modules", SKIP, "could not read them (init-host/kernel-modules.sh printed nothing)"
    missing = [m for m in KERNEL_MODULES if states.get(m, ("unknown",))[0] == "missing"]
    unknown = [m for m in KERNEL_MODULES if states.get(m, ("unknown",))[0] == "unknown"]
    load = f"load them: init-host/init-host.root.sh (now and at every boot), or sudo modprobe -a {' '.join(missing + unknown)}"
    if missing:
        return ("kernel modules", WARN, f"neither loaded nor built into the kernel: {', '.join(missing)}"
                + (f"; not known: {', '.join(unknown)}" if unknown else ""), load)
    if unknown:
        return ("kernel modules", WARN, f"not loaded, and the host does not say whether built in: {', '.join(unknown)}",
                f"nothing to do if they are built into the kernel; else {load}")
    built_in = sum(states[m][0] == "builtin" for m in KERNEL_MODULES)
    return "kernel modules", OK, f"all present ({len(KERNEL_MODULES) - built_in} loaded, {built_in} built in)"


def parse_resources(text: str) -> tuple[int, int] | None:
    """Pure: (CPUs, total memory in MB) from `nproc` and /proc/meminfo's MemTotal line; None if unreadable."""
    lines = text.split("\n")
    words = lines[1].split() if len(lines) > 1 else []
    if not lines[0].strip().isdigit() or len(words) < 2 or not words[1].isdigit():
        return None
    return int(lines[0]), int(words[1]) // 1024


def resources(host, control_plane: bool) -> list[tuple]:
    """One row for the CPUs, one for the memory; below kubeadm's minimum an error on a control plane
    (kubeadm init refuses it), a warning on a worker (kubeadm join does not check)."""
    r = host.run(RESOURCES, check=False)
    found = parse_resources(r.stdout) if r.ok else None
    if found is None:
        return [("CPUs and memory", SKIP, "could not read nproc and /proc/meminfo")]
    cpus, mem = found
    low = ERROR if control_plane else WARN
    role = "kubeadm init refuses fewer" if control_plane else "a worker can do with fewer; kubeadm init refuses less"
    return [
        ("CPUs", OK, f"{cpus}") if cpus >= MIN_CPUS else
        ("CPUs", low, f"{cpus}: {role} than {MIN_CPUS} ([ERROR NumCPU])",
         "use a host (or VM) with at least 2 CPUs for the control plane"),
        ("memory", OK, f"{mem} MB") if mem >= MIN_MEM_MB else
        ("memory", low, f"{mem} MB: {role} than {MIN_MEM_MB} MB ([ERROR Mem])",
         "use a host (or VM) with at least 1.7 GB of memory for the control plane"),
    ]
