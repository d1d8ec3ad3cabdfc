"""What the host's kernel offers a rootless node: the cgroup file system at /sys/fs/cgroup, and kernel modules.

Both are read from the host itself, not from the engine: the engine may not run yet,
and on a cgroup v1 host nothing else matters until the host boots with cgroup v2.
"""

from __future__ import annotations

from dataclasses import dataclass

MOUNTINFO = ["cat", "/proc/self/mountinfo"]
# sd_booted(): systemd runs as init when it has made this directory.
SYSTEMD = ["test", "-d", "/run/systemd/system"]
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class CgroupMount:
    """The cgroup layout at /sys/fs/cgroup: version "2", "1" (v1 or hybrid) or "" (nothing there, or unreadable)."""

    version: str
    detail: str


def parse_mountinfo(text: str) -> CgroupMount | None:
    """The layout at /sys/fs/cgroup from /proc/self/mountinfo; None when the text is no mountinfo."""
    mounts = []  # (mount id, parent id, mount point, file system type), in mount order
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        mounts.append((fields[0], fields[1], fields[4], tail[0]))
    if not mounts:
        return None
    at_root = [m for m in mounts if m[2] == CGROUP_ROOT]
    if not at_root:
        return CgroupMount("", f"nothing is mounted at {CGROUP_ROOT}")
    top_id, _, _, fstype = at_root[-1]  # a later mount at the same place hides the earlier ones
    if fstype == "cgroup2":
        return CgroupMount("2", f"cgroup2 at {CGROUP_ROOT}")
    beneath = [m for m in mounts if m[1] == top_id]
    v1 = sorted(m[2].rsplit("/", 1)[-1] for m in beneath if m[3] == "cgroup")
    unified = [m[2] for m in beneath if m[3] == "cgroup2"]
    if fstype != "tmpfs" or not (v1 or unified):
        return CgroupMount("", f"{CGROUP_ROOT} is a {fstype} without cgroup hierarchies")
    detail = f"cgroup v1: {CGROUP_ROOT} is a tmpfs of v1 hierarchies ({', '.join(v1) or 'none'})"
    if unified:
        detail += f"; hybrid, cgroup2 only at {unified[0]}"
    return CgroupMount("1", detail)


def cgroup_v2_fix(systemd: bool) -> str:
    """How to get cgroup v2 at /sys/fs/cgroup, where systemd boots the host and where it does not."""
    if systemd:
        return ("boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (e.g. GRUB_CMDLINE_LINUX "
                "in /etc/default/grub, then update-grub), then reboot")
    return "have the init system (or the container runtime) mount cgroup2 at /sys/fs/cgroup, then start the host again"


# ---- kernel modules ---------------------------------------------------------------------------------

PRESENT = ("loaded", "builtin")


def kernel_modules_probe(modules: tuple[str, ...]) -> list[str]:
    """init-host/kernel-modules.sh, the file init-host.root.sh runs too: loaded, built in, missing or unknown."""
    from u7s.render.resources import init_host_dir

    script = (init_host_dir() / "kernel-modules.sh").read_text()
    return ["sh", "-c", script, "kernel-modules.sh", *modules]


def parse_kernel_modules(text: str) -> dict[str, tuple[str, str]]:
    """{module: (state, why)} from kernel-modules.sh's lines (MODULE<tab>STATE<tab>WHY)."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] in (*PRESENT, "missing", "unknown"):
            found[parts[0]] = (parts[1], parts[2])
    return found
