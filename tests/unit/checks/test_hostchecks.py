"""The host's own facts in preflight: the cgroup mount, systemd or none, kernel modules loaded or built in.

The parsers read recorded files (fixtures/README.md); init-host/kernel-modules.sh runs for
real on made-up roots holding recorded kernel files (kernel_trees.py).
"""

from __future__ import annotations

import pytest

from tests.unit import kernel_trees
from tests.unit.checks.test_preflight import healthy_host, run
from u7s.render import engine
from u7s.facts import kernel
from u7s.checks import hostchecks, preflight
from u7s.checks.preflight import ERROR, OK, SKIP, WARN
from tests.unit.u7s_fakes import fixture, make_settings

SIX = hostchecks.KERNEL_MODULES


# -- the cgroup mount -------------------------------------------------------------------------
def test_a_cgroup2_host_as_recorded():
    assert kernel.parse_mountinfo(fixture("mountinfo-v2.txt")) == kernel.CgroupMount("2", "cgroup2 at /sys/fs/cgroup")


def test_the_test_machines_hybrid_layout_as_recorded():
    mount = kernel.parse_mountinfo(fixture("mountinfo-hybrid.txt"))
    assert mount.version == "1"
    assert mount.detail == ("cgroup v1: /sys/fs/cgroup is a tmpfs of v1 hierarchies (blkio, cpu, cpuacct, cpuset, "
                            "devices, freezer, memory, pids, systemd); hybrid, cgroup2 only at /sys/fs/cgroup/unified")


def test_a_later_mount_at_the_same_place_wins():
    # What a mount namespace of its own sees after mounting cgroup2 over the machine's tmpfs.
    text = fixture("mountinfo-hybrid.txt") + "99 23 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
    assert kernel.parse_mountinfo(text).version == "2"
    pure_v1 = "\n".join(line for line in fixture("mountinfo-hybrid.txt").splitlines() if "unified" not in line)
    assert kernel.parse_mountinfo(pure_v1).detail.endswith("systemd)")  # v1 alone: no hybrid part


@pytest.mark.parametrize("text, expected", [
    ("", None),
    ("not mountinfo at all\n", None),
    ("22 1 0:21 / /sys rw - sysfs sysfs rw\n", kernel.CgroupMount("", "nothing is mounted at /sys/fs/cgroup")),
    ("22 1 0:21 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
     kernel.CgroupMount("", "/sys/fs/cgroup is a tmpfs without cgroup hierarchies")),
])
def test_other_mountinfo_shapes(text, expected):
    assert kernel.parse_mountinfo(text) == expected


# -- kernel modules ---------------------------------------------------------------------------
def test_the_test_machines_kernel_has_the_six_modules_built_in():
    # No /proc/modules, no /lib/modules; /proc/config.gz has them =y; only vxlan is in /sys/module.
    states = kernel.parse_kernel_modules(kernel_trees.states("builtin", SIX))
    assert {m: s for m, (s, _) in states.items()} == dict.fromkeys(SIX, "builtin")
    assert states["vxlan"][1] == "built in (/sys/module/vxlan, not in /proc/modules)"
    assert states["br_netfilter"][1] == "built in (/proc/config.gz: CONFIG_BRIDGE_NETFILTER=y)"


def test_a_debian_kernel_has_them_as_modules_loaded_or_not():
    states = kernel.parse_kernel_modules(kernel_trees.states("debian", SIX, "partial"))
    assert {m: s for m, (s, _) in states.items()} == {
        "br_netfilter": "missing", "ip6_tables": "loaded", "ip6table_nat": "loaded", "ip_tables": "loaded",
        "iptable_nat": "loaded", "vxlan": "missing"}
    assert states["vxlan"][1] == f"not loaded (/boot/config-{kernel_trees.RELEASE}: CONFIG_VXLAN=m, a loadable module)"


def test_without_any_kernel_files_nothing_is_claimed():
    states = kernel.parse_kernel_modules(kernel_trees.states("bare", ("vxlan", "tun")))
    assert [s for s, _ in states.values()] == ["unknown", "unknown"]


def test_a_module_the_configuration_does_not_name_is_looked_up_in_modules_builtin():
    # Debian's cloud kernel has ext4 built in (modules.builtin: kernel/fs/ext4/ext4.ko), and amd-uncore
    # too, which the kernel names amd_uncore.
    states = kernel.parse_kernel_modules(kernel_trees.states("debian", ("ext4", "amd_uncore", "u7s-no-such")))
    assert [states[m][0] for m in ("ext4", "amd_uncore", "u7s-no-such")] == ["builtin", "builtin", "missing"]


def test_parse_kernel_modules_ignores_other_lines():
    assert kernel.parse_kernel_modules("vxlan\tbuiltin\tbuilt in (x)\nnoise\nbad\tstate\tx\n") == {
        "vxlan": ("builtin", "built in (x)")}


# -- preflight on such hosts ------------------------------------------------------------------
def test_built_in_modules_are_no_warning():
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="kernel-modules.sh", stdout=kernel_trees.states("builtin", SIX))
    checks, _ = run(host, s)
    assert (checks["kernel modules"].status, checks["kernel modules"].detail) == (
        OK, "all present (0 loaded, 6 built in)")


def test_modules_nothing_says_anything_about_are_a_warning_that_says_so():
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="kernel-modules.sh", stdout=kernel_trees.states("bare", SIX))
    checks, _ = run(host, s)
    assert checks["kernel modules"].status == WARN
    assert checks["kernel modules"].detail.startswith("not loaded, and the host does not say whether built in: ")
    assert checks["kernel modules"].fix.startswith("nothing to do if they are built into the kernel; else ")


def unreachable(host, s):
    return host.on(*engine.engine_info(s), exited=1, stderr="Cannot connect to the Docker daemon at "
                   "unix:///var/run/docker.sock. Is the docker daemon running?\n")


@pytest.mark.parametrize("systemd", [True, False])
def test_a_cgroup_v1_host_hears_it_first_whatever_the_engine_says(systemd):
    s = make_settings()
    host = unreachable(healthy_host(s), s)
    host.files["/proc/self/mountinfo"] = fixture("mountinfo-hybrid.txt")
    host.on("test", "-d", "/run/systemd/system", exited=0 if systemd else 1)
    _, results = run(host, s)
    first = results[0]
    assert (first.name, first.status) == ("cgroup v2", ERROR)
    assert first.detail.startswith("cgroup v1: /sys/fs/cgroup is a tmpfs of v1 hierarchies")
    assert first.detail.endswith("rootless Kubernetes needs cgroup v2")
    assert ("systemd.unified_cgroup_hierarchy=1" in first.fix) is systemd
    assert [r.name for r in preflight.failed(results)][:2] == ["cgroup v2", "engine"]
    assert results[1].name == "cgroup delegation" and results[1].status == SKIP


def test_without_systemd_no_advice_needs_it():
    s = make_settings()
    host = healthy_host(s).on("test", "-d", "/run/systemd/system", exited=1)
    host.on("sh", "-c", contains="cgroup.controllers", exited=2)
    host.on("sh", "-c", contains="loginctl", exited=1, stderr=fixture("loginctl-no-systemd.stderr"))
    checks, results = run(host, s)
    assert checks["lingering"].status == SKIP and "--start-engine" in checks["lingering"].fix
    assert checks["cgroup delegation"].status == WARN
    assert checks["cgroup delegation"].detail.startswith("systemd is not running")
    said = " ".join(f"{r.detail} {r.fix}" for r in results)
    assert "loginctl" not in said and "systemctl" not in said and "user@.service for" not in said


def test_with_systemd_the_lingering_advice_stays():
    s = make_settings()
    host = healthy_host(s).on("sh", "-c", contains="cgroup.controllers", exited=2)
    host.on("sh", "-c", contains="loginctl", stdout=fixture("loginctl-linger-no.txt"))
    checks, _ = run(host, s)
    assert "enable-linger" in checks["lingering"].fix and "enable-linger" in checks["cgroup delegation"].fix
