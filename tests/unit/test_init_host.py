"""Run init-host/init-host.root.sh and init-host.rootless.sh for real, where that is safe.

The root script runs as root in --dry-run mode against this machine (nothing may change), and for
real against a temporary root prefix (U7S_INIT_HOST_ROOT) without package installs. The rootless
script runs as `nobody` with a temporary HOME. Neither reaches the network. Both run in a mount
namespace presenting cgroup v2 (tests/cgroup_layouts.py) unless a test is about the layout.
Hosts without systemd, cgroup v1 and the kernel's modules: test_init_host_hosts.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.cgroup_layouts import wrap
from tests.conftest import unavailable

INIT_HOST = Path(__file__).resolve().parents[2] / "init-host"
ROOT_SCRIPT = INIT_HOST / "init-host.root.sh"
ROOTLESS_SCRIPT = INIT_HOST / "init-host.rootless.sh"
SCRIPTS = [ROOT_SCRIPT, ROOTLESS_SCRIPT]
HELPERS = [INIT_HOST / "detect-engine.sh", INIT_HOST / "kernel-modules.sh"]  # sh, run by the scripts and by u7s

DELEGATE = "/etc/systemd/system/user@.service.d/delegate.conf"
MODULES = "/etc/modules-load.d/usernetes.conf"
SYSCTL = "/etc/sysctl.d/99-usernetes.conf"
MODULE_LIST = (
    "tun tap bridge br_netfilter veth ip_tables ip6_tables iptable_nat ip6table_nat iptable_filter "
    "ip6table_filter nf_tables x_tables xt_MASQUERADE xt_addrtype xt_comment xt_conntrack xt_mark "
    "xt_multiport xt_nat xt_tcpudp vxlan"
).split()
# The user the scripts are run for (root script) or as (rootless script): on every Debian machine.
USER = "nobody"
SYSTEMD_IS_PID1 = Path("/proc/1/comm").read_text().strip() == "systemd"
LINE = re.compile(r"^(ok|changed|would change|skipped|failed): ")


def run(argv, env=None, **kwargs) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    return subprocess.run(argv, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300, **kwargs)


def meaningful(text: str) -> list[str]:
    """The lines of a config file that are neither comments nor blank."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", ";"))]


def status_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if LINE.match(line)]


def summary(stdout: str, name: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith(f"{name}: ") and " ok, " in line]
    assert len(lines) == 1, stdout
    return lines[0]


# ---- both scripts -----------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS + HELPERS, ids=lambda p: p.name)
def test_syntax(script):
    assert run(["bash" if script in SCRIPTS else "sh", "-n", str(script)]).returncode == 0


@pytest.mark.parametrize("script", SCRIPTS + HELPERS, ids=lambda p: p.name)
def test_shellcheck(script):
    if shutil.which("shellcheck") is None:
        unavailable("shellcheck is not installed (apt-get install shellcheck)")
    shell = "bash" if script in SCRIPTS else "sh"
    result = run(["shellcheck", f"--shell={shell}", "--external-sources", str(script)], cwd=INIT_HOST.parent)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help(script):
    result = run([str(script), "--help"])
    assert result.returncode == 0, result.stderr
    assert f"Usage: {script.name} [--engine docker|podman|nerdctl]" in result.stdout
    assert "--dry-run" in result.stdout and "Exit status" in result.stdout
    assert "set -eu" not in result.stdout  # the help ends where the code starts


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_unknown_argument_is_a_usage_error(script):
    result = run([str(script), "--frobnicate"])
    assert result.returncode == 2
    assert "unknown argument '--frobnicate'" in result.stderr


def test_the_root_script_documents_its_test_variables():
    help_text = run([str(ROOT_SCRIPT), "--help"]).stdout
    assert "U7S_INIT_HOST_ROOT=DIR" in help_text and "U7S_INIT_HOST_NO_PACKAGES=1" in help_text


def test_no_downloads_in_the_scripts():
    for script in SCRIPTS:
        text = script.read_text()
        assert not re.search(r"\b(curl|wget)\b", text), script


# ---- the rootless script ---------------------------------------------------------------------------


@pytest.mark.root
def test_rootless_script_refuses_root():
    result = run([str(ROOTLESS_SCRIPT), "--engine", "docker"])
    assert result.returncode == 2
    assert "must not be run as root" in result.stderr
    assert result.stdout == ""


@pytest.fixture
def nobody_home():
    """A HOME and XDG_RUNTIME_DIR owned by `nobody`, for running the rootless script as that user."""
    # Not under pytest's tmp_path: its parents are private to root, and `nobody` must reach them.
    top = Path(tempfile.mkdtemp(prefix="u7s-test-init-host-"))
    top.chmod(0o755)
    home, runtime = top / "home", top / "run"
    for path in (home, runtime):
        path.mkdir(mode=0o700)
        shutil.chown(path, USER, "nogroup")
    yield home, runtime
    shutil.rmtree(top)


def as_nobody(home: Path, runtime: Path, *args: str,
              path: str = "/usr/local/bin:/usr/bin:/bin", cgroup: str = "v2") -> subprocess.CompletedProcess:
    # In a PID namespace of its own, so that podman's pause process (or a daemon it starts) ends with
    # the run: orphans would otherwise go to PID 1, which on these machines does not reap them.
    user = ["setpriv", f"--reuid={USER}", "--regid=nogroup", "--clear-groups",
            "env", "-i", f"HOME={home}", f"XDG_RUNTIME_DIR={runtime}", f"PATH={path}", str(ROOTLESS_SCRIPT), *args]
    argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *wrap(user, cgroup)[1:]]
    return run(argv, cwd="/")


@pytest.mark.root
def test_rootless_podman_writes_the_slirp4netns_drop_in_once(nobody_home):
    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    home, runtime = nobody_home
    drop_in = home / ".config/containers/containers.conf.d/u7s-slirp4netns.conf"

    dry = as_nobody(home, runtime, "--engine", "podman", "--dry-run")
    assert f"would change: {drop_in} (would be written)" in dry.stdout, dry.stdout
    assert not drop_in.exists()

    first = as_nobody(home, runtime, "--engine", "podman")
    assert f"changed: {drop_in} (written)" in first.stdout, first.stdout + first.stderr
    assert meaningful(drop_in.read_text()) == ["[network]", 'default_rootless_network_cmd="slirp4netns"']
    assert drop_in.stat().st_uid == pwd_uid(USER)
    # No systemd user instance for `nobody` here: said, with the reason, never pretended; and where
    # systemd does not run at all, no advice that needs it.
    if SYSTEMD_IS_PID1:
        assert re.search(r"^skipped: podman-restart\.service: .* \(no systemd user instance: ", first.stdout, re.M), first.stdout
    else:
        assert "skipped: podman-restart.service (systemd is not running on this host, " in first.stdout, first.stdout
        assert "linger" not in first.stdout and "systemctl" not in first.stdout
    assert re.search(r"^info: podman \d", first.stdout, re.M), first.stdout

    second = as_nobody(home, runtime, "--engine", "podman")
    assert f"ok: {drop_in} already up to date" in second.stdout
    assert not [line for line in status_lines(second.stdout) if line.startswith("changed:")], second.stdout
    assert "init-host.rootless: 0 changed, " in summary(second.stdout, "init-host.rootless")
    # `nobody` has no subordinate IDs on this machine: the only failures (and Podman refusing to make its user
    # namespace for want of them, which it does while /etc/subuid is being rewritten, as the lab does beside
    # the unit tests), and the exit status says so.
    failures = [line for line in status_lines(second.stdout) if line.startswith("failed:")]
    if failures:
        assert all(("/etc/sub" in line and "run init-host.root.sh" in line)
                   or (line.startswith("failed: podman info") and "user namespace" in line) for line in failures), failures
        assert second.returncode == 1
    else:
        assert second.returncode == 0


# A stand-in for Podman 6 (not packaged for Debian): the answers init-host asks of it.
FAKE_PODMAN_6 = """#!/bin/sh
case "$1" in
--version) echo "podman version 6.0.1" ;;
info) echo "6.0.1" ;;
*) exit 125 ;;
esac
"""


@pytest.mark.root
def test_rootless_podman_6_writes_usernetes_pasta_settings_instead_of_slirp4netns(nobody_home):
    from u7s.facts.podmannet import tomllib  # the standard library's, or tomli before Python 3.11

    from u7s.facts import podmannet

    home, runtime = nobody_home
    fake = home.parent / "bin"
    fake.mkdir(mode=0o755)
    (fake / "podman").write_text(FAKE_PODMAN_6)
    (fake / "podman").chmod(0o755)
    drop_ins = home / ".config/containers/containers.conf.d"
    old, new = drop_ins / "u7s-slirp4netns.conf", drop_ins / "u7s-pasta.conf"
    old.parent.mkdir(parents=True)
    old.write_text('[network]\ndefault_rootless_network_cmd="slirp4netns"\n')  # from when it was Podman 5
    for path in (home / ".config", home / ".config/containers", drop_ins, old):
        shutil.chown(path, USER, "nogroup")
    path = f"{fake}:/usr/local/bin:/usr/bin:/bin"

    first = as_nobody(home, runtime, "--engine", "podman", path=path)
    assert f"changed: {old} (removed: Podman 6.0.1 uses pasta)" in first.stdout, first.stdout + first.stderr
    assert f"changed: {new} (written)" in first.stdout, first.stdout
    assert not old.exists()
    network = tomllib.loads(new.read_text())["network"]
    assert network["default_rootless_network_cmd"] == "pasta"
    assert podmannet.pasta_problems(network) == []  # exactly what preflight accepts

    second = as_nobody(home, runtime, "--engine", "podman", path=path)
    assert f"ok: {new} already up to date" in second.stdout, second.stdout
    assert not [line for line in status_lines(second.stdout) if line.startswith("changed:")], second.stdout


def pwd_uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


# ---- the root script: arguments -------------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize(("args", "message"), [
    (["--user", "no-such-user-u7s"], "no such user: 'no-such-user-u7s'"),
    (["--user", "root"], "pass --user with a user other than root"),
    (["--user", USER, "--engine", "lxc"], "--engine must be docker, podman or nerdctl, not 'lxc'"),
    (["--engine", "docker"], "which user will run the cluster?"),
])
def test_root_script_refuses_bad_arguments(args, message):
    result = run([str(ROOT_SCRIPT), "--dry-run", *args])
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.root
def test_root_script_reads_the_engine_from_container_engine():
    result = run([str(ROOT_SCRIPT), "--dry-run", "--user", USER], env={"CONTAINER_ENGINE": "/usr/bin/podman"})
    assert f"user {USER} (uid " in result.stdout and ", engine podman, dry run" in result.stdout, result.stdout


# ---- the root script: --dry-run against this machine ---------------------------------------------------


def fingerprint(path: Path):
    """What a file is now: absent, or its mtime and content hash."""
    if not path.exists():
        return None
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.root
def test_root_dry_run_changes_nothing():
    targets = [Path(p) for p in (DELEGATE, MODULES, SYSCTL, "/etc/subuid", "/etc/subgid",
                                 f"/var/lib/systemd/linger/{USER}", f"/run/user/{pwd_uid(USER)}")]
    before = {path: fingerprint(path) for path in targets}
    rp_before = Path("/proc/sys/net/ipv4/conf/default/rp_filter").read_text()

    result = run(wrap([str(ROOT_SCRIPT), "--dry-run", "--user", USER, "--engine", "docker"], "v2"))

    assert {path: fingerprint(path) for path in targets} == before
    assert Path("/proc/sys/net/ipv4/conf/default/rp_filter").read_text() == rp_before
    assert result.returncode in (0, 1), result.stderr  # 1 only if a step would fail (reported)
    assert "dry run: nothing is changed" in result.stdout
    lines = status_lines(result.stdout)
    assert not [line for line in lines if line.startswith("changed:")], result.stdout
    for target in (DELEGATE, SYSCTL):
        assert (f"would change: {target} (would be written)" in lines
                or f"ok: {target} already up to date" in lines), (target, result.stdout)
    assert re.search(r"^init-host\.root: \d+ would change, \d+ ok, \d+ skipped", result.stdout, re.M), result.stdout
    if not SYSTEMD_IS_PID1 and f"would change: {DELEGATE} (would be written)" in lines:
        assert any(line.startswith("skipped: systemctl daemon-reload (systemd is not running: ") for line in lines)


# ---- the root script: a real run against a temporary root ----------------------------------------------


def run_prefixed(root: Path, *args: str, cgroup: str = "v2", env=None) -> subprocess.CompletedProcess:
    env = {"U7S_INIT_HOST_ROOT": str(root), "U7S_INIT_HOST_NO_PACKAGES": "1", **(env or {})}
    return run(wrap([str(ROOT_SCRIPT), "--user", USER, *args], cgroup), env=env)


@pytest.fixture
def prefix(tmp_path):
    """A temporary root whose /etc/subuid already hands out two ranges, and /etc/subgid none."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "subuid").write_text("alice:100000:65536\nbob:165536:65536\n")
    return tmp_path


@pytest.mark.root
def test_root_script_writes_the_files_then_is_idempotent(prefix):
    first = run_prefixed(prefix, "--engine", "docker")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout

    assert meaningful((prefix / DELEGATE.lstrip("/")).read_text()) == ["[Service]", "Delegate=cpu cpuset io memory pids"]
    assert meaningful((prefix / MODULES.lstrip("/")).read_text()) == MODULE_LIST
    assert meaningful((prefix / SYSCTL.lstrip("/")).read_text()) == ["net.ipv4.conf.default.rp_filter = 2"]
    for name in (DELEGATE, MODULES, SYSCTL):
        path = prefix / name.lstrip("/")
        assert f"changed: {path} (written)" in out
        assert path.stat().st_mode & 0o777 == 0o644
    # A new range after the highest one in use, 65536 wide; subgid had none, so it starts at 100000.
    assert (prefix / "etc/subuid").read_text().splitlines()[-1] == f"{USER}:231072:65536"
    assert (prefix / "etc/subgid").read_text() == f"{USER}:100000:65536\n"
    assert f"changed: {prefix}/etc/subuid range 231072-296607 for {USER}" in out
    # The note asks for a new login, which only matters to a systemd that reads the drop-in.
    assert ("note: cgroup delegation changed: " in out) is SYSTEMD_IS_PID1
    runtime = prefix / "run" / "user" / str(pwd_uid(USER))
    assert f"changed: {runtime} (owned by {USER}, mode 0700); /run is emptied at boot" in out, out
    assert (runtime.stat().st_uid, runtime.stat().st_mode & 0o777) == (pwd_uid(USER), 0o700)

    systemd_steps = ("systemctl daemon-reload", "disable rootful docker.service and docker.socket") + (
        (f"loginctl enable-linger {USER}",) if SYSTEMD_IS_PID1 else (f"lingering for {USER}",))
    reason = "systemd is not running: " if not SYSTEMD_IS_PID1 else "U7S_INIT_HOST_ROOT is set: "
    for step in systemd_steps:
        assert re.search(rf"^skipped: {re.escape(step)} \({reason}\S", out, re.M), (step, out)
    assert re.search(r"^skipped: net\.ipv4\.conf\.default\.rp_filter = 2 in the running kernel, now \d \(U7S_INIT_HOST_ROOT is set: ",
                     out, re.M) or "ok: net.ipv4.conf.default.rp_filter already 2 in the running kernel" in out, out
    assert not list(prefix.rglob(".u7s-init-host.*"))  # no temporary file left behind

    files = {path: fingerprint(path) for path in prefix.rglob("*") if path.is_file()}
    second = run_prefixed(prefix, "--engine", "docker")
    assert second.returncode == 0, second.stdout + second.stderr
    assert {path: fingerprint(path) for path in prefix.rglob("*") if path.is_file()} == files
    lines = status_lines(second.stdout)
    assert not [line for line in lines if line.startswith(("changed:", "failed:"))], second.stdout
    for name in (DELEGATE, MODULES, SYSCTL):
        assert f"ok: {prefix}{name} already up to date" in lines
    assert f"ok: {prefix}/etc/subuid range for {USER} already present (65536 IDs)" in lines
    assert f"ok: {runtime} (owned by {USER}, mode 0700) already present" in lines
    # What is still skipped is what cannot be done here, each with its reason.
    assert all(re.match(r"^skipped: .+ \(.+: .+\)$", line) for line in lines if line.startswith("skipped:")), lines
    assert re.search(r"^init-host\.root: 0 changed, \d+ ok, \d+ skipped$", second.stdout, re.M), second.stdout
    assert "note: cgroup delegation" not in second.stdout


@pytest.mark.root
def test_root_script_accepts_the_same_settings_written_another_way(prefix):
    # The reference's files: no comments, the same settings.
    for name, text in ((DELEGATE, "[Service]\nDelegate=cpu cpuset io memory pids\n"),
                       (MODULES, "\n".join(MODULE_LIST) + "\n"),
                       (SYSCTL, "net.ipv4.conf.default.rp_filter = 2\n")):
        path = prefix / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = run_prefixed(prefix, "--engine", "podman")
    for name in (DELEGATE, MODULES, SYSCTL):
        assert f"ok: {prefix}{name} already up to date" in result.stdout, result.stdout
    assert "note: cgroup delegation" not in result.stdout
    # podman-compose may be missing here: with U7S_INIT_HOST_NO_PACKAGES it is skipped, not installed.
    assert not re.search(r"^(changed|would change): .*packages", result.stdout, re.M)


@pytest.mark.root
def test_root_script_replaces_wrong_content(prefix):
    path = prefix / DELEGATE.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_text("[Service]\nDelegate=yes\n")
    result = run_prefixed(prefix, "--engine", "docker")
    assert f"changed: {path} (written)" in result.stdout
    assert meaningful(path.read_text()) == ["[Service]", "Delegate=cpu cpuset io memory pids"]


@pytest.mark.root
def test_root_script_fails_on_a_too_small_id_range(prefix):
    (prefix / "etc/subgid").write_text(f"{USER}:100000:1000\n")
    result = run_prefixed(prefix, "--engine", "docker")
    assert result.returncode == 1
    assert (f"failed: {prefix}/etc/subgid range for {USER} (only 1000 IDs; 65536 are needed: "
            f"fix {prefix}/etc/subgid by hand)") in result.stdout
    assert re.search(r"^init-host\.root: \d+ changed, \d+ ok, \d+ skipped, 1 failed$", result.stdout, re.M)
    assert (prefix / "etc/subgid").read_text() == f"{USER}:100000:1000\n"  # left for a person to fix


@pytest.mark.root
def test_root_script_dry_run_with_a_prefix_writes_nothing(prefix):
    result = run_prefixed(prefix, "--engine", "docker", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*")) == ["etc", "etc/subuid"]
    assert f"would change: {prefix}/etc/subuid range 231072-296607 for {USER}" in result.stdout
    assert f"would change: {prefix}{DELEGATE} (would be written)" in result.stdout


# `apt-cache depends docker.io netavark` as recorded: Debian 13 (docker.io 26.1.5, netavark 1.14.0)
# and Debian 12 (docker.io 20.10.24, netavark 1.4.0); trimmed to the lines that matter.
APT_DEPENDS = {
    "13": {"docker.io": "docker.io\n  Depends: containerd\n  Depends: runc\n  Recommends: apparmor\n"
                        "  Recommends: ca-certificates\n  Recommends: dbus-user-session\n  Recommends: docker-cli\n"
                        "  Recommends: git\n",
           "netavark": "netavark\n  Depends: libc6\n  Breaks: aardvark-dns\n  Recommends: aardvark-dns\n"
                       "  Recommends: nftables\n  Enhances: podman\n"},
    "12": {"docker.io": "docker.io\n  Depends: containerd\n  Depends: runc\n  Recommends: apparmor\n"
                        "  Recommends: cgroupfs-mount\n  Recommends: git\n  Recommends: xz-utils\n",
           "netavark": "netavark\n  Depends: libc6\n  Depends: libgcc-s1\n  Recommends: aardvark-dns\n"},
}


def with_apt_cache_of(tmp_path: Path, debian: str) -> str:
    """A PATH whose apt-cache answers `depends` as Debian `debian` does (nothing is installed by it)."""
    fake = tmp_path / f"apt-cache-{debian}"
    fake.mkdir()
    cases = "".join(f"{name}) printf '%s' {shlex.quote(text)} ;;\n" for name, text in APT_DEPENDS[debian].items())
    (fake / "apt-cache").write_text(f"#!/bin/sh\n[ \"$1\" = depends ] || exit 100\ncase \"$2\" in\n{cases}*) exit 100 ;;\nesac\n")
    (fake / "apt-cache").chmod(0o755)
    return f"{fake}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def package_lines(stdout: str) -> str:
    return "\n".join(line for line in status_lines(stdout) if "packages (" in line)


@pytest.mark.root
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="an apt host's package choice")
def test_debian_13_hosts_get_the_docker_command_and_nft_that_their_packages_only_recommend(prefix, tmp_path):
    # Installed without recommends, Debian 13's docker.io has no `docker`, and Podman's networks fail
    # with "netavark: nftables error: unable to execute nft" (seen on a trixie lab).
    env = {"U7S_INIT_HOST_ROOT": str(prefix), "U7S_INIT_HOST_NO_PACKAGES": "1", "PATH": with_apt_cache_of(tmp_path, "13")}
    docker = run([str(ROOT_SCRIPT), "--user", USER, "--engine", "docker"], env=env)
    assert re.search(r"\bdocker-cli\b", package_lines(docker.stdout)), docker.stdout
    podman = run([str(ROOT_SCRIPT), "--user", USER, "--engine", "podman"], env=env)
    assert re.search(r"\bnftables\b", package_lines(podman.stdout)), podman.stdout
    assert "docker-cli" not in podman.stdout


@pytest.mark.root
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="an apt host's package choice")
def test_debian_12_hosts_get_neither(prefix, tmp_path):
    env = {"U7S_INIT_HOST_ROOT": str(prefix), "U7S_INIT_HOST_NO_PACKAGES": "1", "PATH": with_apt_cache_of(tmp_path, "12")}
    for engine in ("docker", "podman"):
        result = run([str(ROOT_SCRIPT), "--user", USER, "--engine", engine], env=env)
        assert "docker.io" in result.stdout or "podman" in result.stdout, result.stdout
        assert not re.search(r"\b(docker-cli|nftables)\b", result.stdout), result.stdout


@pytest.mark.root
def test_root_script_nerdctl_needs_nerdctl_full_installed_by_hand(prefix):
    if shutil.which("nerdctl"):
        pytest.skip("nerdctl is installed here")
    result = run_prefixed(prefix, "--engine", "nerdctl")
    assert result.returncode == 1
    assert re.search(r"^failed: nerdctl \(nerdctl-full is not installed: .*this script downloads nothing\)\)$",
                     result.stdout, re.M), result.stdout
