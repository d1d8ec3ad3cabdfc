"""init-host on the hosts HPC sites have: no systemd, cgroup v1, modules built into the kernel.

The scripts run for real: the rootless part as `nobody` (who has no subordinate IDs here, so a
rootless daemon it starts exits at once: the failure path), the root part against a temporary
root (U7S_INIT_HOST_ROOT) or, for what only the running kernel can show, in network and mount
namespaces of its own. cgroup layouts come from tests/cgroup_layouts.py, kernel files from kernel_trees.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit import kernel_trees
from tests.cgroup_layouts import wrap
from tests.unit.test_init_host import (
    DELEGATE, MODULE_LIST, MODULES, ROOT_SCRIPT, SYSTEMD_IS_PID1, USER, as_nobody, meaningful, nobody_home,  # noqa: F401
    pwd_uid, run, run_prefixed, status_lines,
)

pytestmark = pytest.mark.root
CONTRIB = "/usr/share/docker.io/contrib"


def needs_contrib():
    if not Path(CONTRIB, "dockerd-rootless.sh").exists():
        pytest.skip("Debian's docker.io is not installed")  # tests/setup-machine.sh installs it


@pytest.fixture
def prefix(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "subuid").write_text(f"{USER}:100000:65536\n")
    (tmp_path / "etc" / "subgid").write_text(f"{USER}:100000:65536\n")
    return tmp_path


# ---- the rootless part without systemd -------------------------------------------------------------------


def test_rootless_docker_without_systemd_fails_with_the_line_that_starts_it(nobody_home):
    needs_contrib()
    home, runtime = nobody_home
    result = as_nobody(home, runtime, "--engine", "docker")
    assert result.returncode == 1, result.stdout
    found = re.search(r"^failed: rootless Docker \(not running, and (.*?) to start it: re-run with --start-engine, "
                      r"or start it yourself: (.*)\)$", result.stdout, re.M)
    assert found, result.stdout
    line = found.group(2)
    # The real place of Debian's daemon script, and the runtime directory that exists.
    assert f"XDG_RUNTIME_DIR={runtime} " in line and f"setsid -f {CONTRIB}/dockerd-rootless.sh " in line
    assert f"PATH={CONTRIB}:/usr/sbin:/sbin:" in line and f">>{home}/.local/state/u7s/dockerd-rootless.log" in line
    if not SYSTEMD_IS_PID1:
        assert found.group(1) == "systemd is not running on this host"
        assert "loginctl" not in result.stdout and "systemctl" not in result.stdout
    assert re.search(r"^info: docker does not answer: ", result.stdout, re.M), result.stdout
    assert not list(home.rglob("docker.service"))  # no setup tool ran
    assert not (home / ".local").exists()  # and nothing was started


def test_start_engine_starts_the_daemon_and_reports_it_exiting_with_its_log(nobody_home):
    needs_contrib()
    home, runtime = nobody_home
    dry = as_nobody(home, runtime, "--engine", "docker", "--start-engine", "--dry-run")
    assert re.search(rf"^would change: rootless Docker started \(mkdir -p .*setsid -f {CONTRIB}/dockerd-rootless.sh ",
                     dry.stdout, re.M), dry.stdout
    assert not (home / ".local").exists()

    result = as_nobody(home, runtime, "--engine", "docker", "--start-engine")
    log = home / ".local/state/u7s/dockerd-rootless.log"
    # `nobody` has no subordinate IDs: rootlesskit refuses at once, and its own words are the reason.
    assert re.search(rf"^failed: rootless Docker: {CONTRIB}/dockerd-rootless.sh \(it exited: \[rootlesskit:parent\] "
                     rf".*No subuid ranges found for user .*\(log: {log}\)\)$", result.stdout, re.M), result.stdout
    assert result.returncode == 1
    assert log.stat().st_uid == pwd_uid(USER)
    assert (runtime / "u7s-dockerd-rootless.pid").read_text().strip().isdigit()


def test_a_runtime_directory_that_does_not_exist_is_named_with_its_fix(nobody_home):
    needs_contrib()
    home, runtime = nobody_home
    result = as_nobody(home, runtime / "gone", "--engine", "docker", "--start-engine")
    assert (f"failed: rootless Docker (not running, and its runtime directory {runtime}/gone does not exist or is "
            "not writable: run init-host.root.sh as root first") in result.stdout, result.stdout
    assert result.returncode == 1


# ---- cgroup v1 first ---------------------------------------------------------------------------------------


def test_the_rootless_part_on_cgroup_v1_says_so_first(nobody_home):
    home, runtime = nobody_home
    result = as_nobody(home, runtime, "--engine", "docker", "--dry-run", cgroup="hybrid")
    first = status_lines(result.stdout)[0]
    assert first.startswith("failed: cgroup v2 (this host runs cgroup v1: /sys/fs/cgroup is a tmpfs of v1 "
                            "hierarchies (hybrid: cgroup2 only at /sys/fs/cgroup/unified)"), result.stdout
    assert result.returncode == 1


def test_the_root_part_on_cgroup_v1_says_so_first_and_leaves_delegation_alone(prefix):
    delegate = prefix / DELEGATE.lstrip("/")
    delegate.parent.mkdir(parents=True)
    delegate.write_text("[Service]\nDelegate=cpu cpuset io memory pids\n")
    result = run_prefixed(prefix, "--engine", "docker", cgroup="hybrid")
    lines = status_lines(result.stdout)
    assert lines[0].startswith("failed: cgroup v2 (this host runs cgroup v1: "), result.stdout
    fix = "boot with systemd.unified_cgroup_hierarchy=1" if SYSTEMD_IS_PID1 else "mount cgroup2 at /sys/fs/cgroup"
    assert fix in lines[0]
    # The drop-in is not called up to date as if it helped: on v1 it delegates nothing.
    assert f"skipped: {delegate} (cgroup delegation needs cgroup v2, " in result.stdout, result.stdout
    assert "delegate.conf already up to date" not in result.stdout
    assert "note: cgroup delegation" not in result.stdout
    assert result.returncode == 1


# ---- kernel modules ----------------------------------------------------------------------------------------


def test_modules_built_into_the_kernel_need_no_file_and_no_loading(prefix):
    kernel_trees.make_tree(prefix, "builtin")
    result = run_prefixed(prefix, "--engine", "docker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("ok: kernel modules already built into the kernel (all 22 of them: nothing to load, "
            f"no {MODULES} needed)") in result.stdout, result.stdout
    assert not (prefix / MODULES.lstrip("/")).exists()
    assert "modprobe" not in result.stdout


@pytest.mark.parametrize("loaded", ["partial", "all"])
def test_loadable_modules_are_listed_for_boot_and_the_missing_ones_loaded(prefix, loaded):
    kernel_trees.make_tree(prefix, "debian", loaded)
    path = prefix / MODULES.lstrip("/")
    result = run_prefixed(prefix, "--engine", "docker")
    assert f"changed: {path} (written)" in result.stdout, result.stdout
    assert meaningful(path.read_text()) == MODULE_LIST  # Debian's kernel has every one as a module
    skipped = re.search(r"^skipped: load kernel modules \((.*)\) \(U7S_INIT_HOST_ROOT is set: ", result.stdout, re.M)
    assert skipped, result.stdout
    not_loaded = set(skipped.group(1).split(", "))
    assert ("br_netfilter" in not_loaded) is (loaded == "partial") and "ip_tables" not in not_loaded
    again = run_prefixed(prefix, "--engine", "docker")
    assert f"ok: {path} already up to date" in again.stdout


# ---- the running kernel: only u7s's own sysctl file --------------------------------------------------------

SYSCTL_STANDIN = """#!/bin/sh
# A stand-in for sysctl that records its arguments and passes them on, except --system: that would
# re-apply every sysctl file of the machine (some keys are not per network namespace).
printf '%s\\n' "$*" >>"$SYSCTL_CALLS"
case " $* " in *" --system "*) echo "sysctl stand-in: --system refused in this test" >&2; exit 1 ;; esac
exec /usr/sbin/sysctl "$@"
"""


def test_the_root_part_applies_its_own_sysctl_file_and_makes_the_runtime_directory(tmp_path):
    """For real, in network and mount namespaces of its own: /etc's directories and /run/user are scratch copies."""
    if not Path("/usr/sbin/sysctl").exists():
        pytest.skip("no /usr/sbin/sysctl (procps)")
    bin_dir, calls = tmp_path / "bin", tmp_path / "sysctl-calls"
    bin_dir.mkdir()
    (bin_dir / "sysctl").write_text(SYSCTL_STANDIN)
    (bin_dir / "sysctl").chmod(0o755)
    scratch = {d: tmp_path / d.strip("/").replace("/", "-") for d in
               ("/etc/sysctl.d", "/etc/modules-load.d", "/etc/systemd/system", "/run/user", "/etc/apparmor.d")}
    for directory in scratch.values():
        directory.mkdir()
    # Another file that sets a key: `sysctl --system` would apply it too; `sysctl -p FILE` must not.
    (scratch["/etc/sysctl.d"] / "50-other.conf").write_text("net.ipv4.conf.default.accept_redirects = 0\n")
    ids = {name: tmp_path / name for name in ("subuid", "subgid")}
    for name, copy in ids.items():
        copy.write_text(Path(f"/etc/{name}").read_text() + f"{USER}:2100000000:65536\n")
    mounts = [f"mount --bind {src} {dst}" for dst, src in scratch.items() if Path(dst).is_dir()]
    mounts += [f"mount --bind {copy} /etc/{name}" for name, copy in ids.items()]
    real = "/usr/sbin/sysctl"  # the test's own calls bypass the stand-in
    setup = " && ".join([*mounts, f"{real} -q -w net.ipv4.conf.default.rp_filter=1",
                         f"{real} -q -w net.ipv4.conf.default.accept_redirects=1"])
    script = (f'"$@"; echo "rc=$?"; "$@"; stat -c "runtime %U %a" /run/user/{pwd_uid(USER)}; '
              f"{real} net.ipv4.conf.default.rp_filter net.ipv4.conf.default.accept_redirects")
    argv = ["unshare", "--net", *wrap(["sh", "-c", script, "sh", str(ROOT_SCRIPT), "--user", USER, "--engine", "docker"],
                                      "v2", setup)]
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "SYSCTL_CALLS": str(calls),
           "U7S_INIT_HOST_NO_PACKAGES": "1", "LC_ALL": "C"}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert "rc=0" in out, out + result.stderr
    assert ("changed: net.ipv4.conf.default.rp_filter = 2 in the running kernel "
            "(sysctl -p /etc/sysctl.d/99-usernetes.conf)") in out, out
    # Only its own file was applied, and only its value shown (on stderr, with the tools' output).
    assert [c for c in calls.read_text().splitlines() if not c.startswith("-n ")] == [
        "-p /etc/sysctl.d/99-usernetes.conf"]
    assert result.stderr.splitlines() == ["net.ipv4.conf.default.rp_filter = 2"], result.stderr
    assert "net.ipv4.conf.default.accept_redirects = 1" in out  # the other file was not applied
    assert "ok: net.ipv4.conf.default.rp_filter already 2 in the running kernel" in out  # the second run
    # No systemd-logind here: the root part makes the runtime directory, once.
    if not SYSTEMD_IS_PID1:
        runtime = f"/run/user/{pwd_uid(USER)} (owned by {USER}, mode 0700)"
        assert f"changed: {runtime}; /run is emptied at boot" in out and f"ok: {runtime} already present" in out, out
        assert f"runtime {USER} 700" in out
