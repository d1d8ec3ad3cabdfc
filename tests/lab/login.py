"""What a lab user's SSH login has: what the README's quick start and init-host leave, nothing more.

sshd hands sessions no environment (the stock sshd_config, see sshd.py), so a session's
PATH is sshd's default plus what the user's ~/.bashrc adds. As after the quick start:

- u7s's venv on PATH, exported at the top of ~/.bashrc (bash reads ~/.bashrc for a command
  run by sshd; Debian's skeleton file returns early for non-interactive shells, so the line
  goes before that);
- the docker CLI's `rootless` context, as `dockerd-rootless-setuptool.sh install` makes it on
  hosts where it can (Debian 12's copy fails there: it looks for `docker` beside itself, in
  /usr/share/docker.io/contrib; the lab runs the same two docker commands directly).

No DOCKER_HOST, CONTAINER_HOST or XDG_RUNTIME_DIR (there is no logind to set it). Variants
take things away or add them for one test and put them back afterwards:
`engine_only_by_its_socket` (no CLI context: the daemon is found only by its socket) and
`podman_service_address` (CONTAINER_HOST in ~/.bashrc, for the Podman service of the first host).
"""

from __future__ import annotations

import contextlib
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .commands import run
from .layout import VENV_DIR
from .users import LabUser, write_file

BASHRC_MARK = "# u7s lab:"
CONTEXT = "rootless"


def prepare(user: LabUser) -> None:
    """Give the user's login what the quick start leaves: the venv on PATH and the rootless CLI context."""
    add_to_bashrc(user, "the quick start: u7s's venv on PATH", f'export PATH="{VENV_DIR}/bin:$PATH"')
    use_rootless_context(user)


def add_to_bashrc(user: LabUser, why: str, line: str) -> None:
    """Put a line at the top of ~/.bashrc (before Debian's "not interactive: return"), marked as the lab's."""
    bashrc = user.home / ".bashrc"
    old = bashrc.read_text() if bashrc.exists() else ""
    write_file(user, ".bashrc", f"{BASHRC_MARK} {why}\n{line}\n{old}", 0o644)


def remove_from_bashrc(user: LabUser, line: str) -> None:
    """Take out a line add_to_bashrc put there (and its mark)."""
    bashrc = user.home / ".bashrc"
    lines = bashrc.read_text().splitlines(keepends=True)
    kept: list[str] = []
    for text in lines:
        if text.rstrip("\n") == line and kept and kept[-1].startswith(BASHRC_MARK):
            kept.pop()
            continue
        kept.append(text)
    write_file(user, ".bashrc", "".join(kept), 0o644)


def as_user(user: LabUser, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """argv as the user, with the environment a login gives (no namespaces needed: files in the home only)."""
    environment = [f"HOME={user.home}", f"USER={user.name}", f"LOGNAME={user.name}",
                   "PATH=/usr/local/bin:/usr/bin:/bin"]
    return run(["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
                "env", "-i", *environment, *argv], check=check)


def use_rootless_context(user: LabUser) -> None:
    """`docker context create rootless ...` and `docker context use rootless`, as the setup tool runs them."""
    socket = f"unix://{user.runtime_dir}/docker.sock"
    if as_user(user, ["docker", "--context=default", "context", "inspect", CONTEXT], check=False).returncode != 0:
        as_user(user, ["docker", "--context=default", "context", "create", CONTEXT,
                       "--docker", f"host={socket}", "--description", "Rootless mode"])
    as_user(user, ["docker", "--context=default", "context", "use", CONTEXT])


@contextlib.contextmanager
def engine_only_by_its_socket(user: LabUser) -> Iterator[None]:
    """The docker CLI of the user's login points nowhere (the `default` context: /var/run/docker.sock).

    As on a Debian 12 host after `dockerd-rootless-setuptool.sh install` (which fails to make the
    context), or where the daemon was started another way: only its socket in /run/user/UID shows it.
    """
    as_user(user, ["docker", "--context=default", "context", "use", "default"])
    try:
        yield
    finally:
        use_rootless_context(user)


@contextlib.contextmanager
def podman_service_address(user: LabUser) -> Iterator[None]:
    """CONTAINER_HOST in ~/.bashrc: the Podman CLI of a login talks to the host's Podman service.

    Lab logins sit in a root-owned cgroup (no logind makes user scopes here), where Podman cannot
    create a container's cgroup; a user session on a systemd host runs podman directly.
    """
    line = f"export CONTAINER_HOST=unix://{user.runtime_dir}/podman/podman.sock"
    add_to_bashrc(user, "the Podman service (lab logins have no user cgroup)", line)
    try:
        yield
    finally:
        remove_from_bashrc(user, line)


def user_of(host) -> LabUser:
    """The LabUser behind a LabHost (tests hold LabHosts)."""
    entry = pwd.getpwnam(host.ssh_user)
    return LabUser(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
