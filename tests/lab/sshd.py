"""An OpenSSH server per lab host, and the lab's client key and known_hosts.

sshd runs in the host's namespaces (hostns.py), so it can be stopped and
started again while the host's engine runs on. Its configuration is the
distribution's stock sshd_config (as the openssh-server package installs it),
preceded by the few lines a lab host must have of its own: the address it
listens on, its host key, no pid file (several sshd share the machine's /run).
sshd takes the first value it reads for a keyword, so the stock file decides
everything else: no environment is handed to sessions (no PermitUserEnvironment,
no SetEnv), PAM as on the distribution. The lab logs in with its key.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import hostns
from .commands import LabError, run
from .layout import STATE_DIR, HostLayout, host_dir
from .processes import Daemon, spawn
from .users import LabUser, write_file

CLIENT_KEY = STATE_DIR / "ssh" / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "ssh" / "known_hosts"
# Where Debian's openssh-server keeps the sshd_config it installs (the copy in /etc may have been edited).
STOCK_CONFIGS = (Path("/usr/share/openssh/sshd_config"), Path("/etc/ssh/sshd_config"))


def make_client_key() -> Path:
    """Create the lab's client key pair (a fresh one per lab)."""
    CLIENT_KEY.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (CLIENT_KEY, CLIENT_KEY.with_suffix(".pub")):
        path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "u7s-lab", "-f", str(CLIENT_KEY)])
    return CLIENT_KEY


def write_known_hosts(hosts: list[HostLayout]) -> Path:
    """Write known_hosts with every host's key under its address (for strict host key checking)."""
    lines = []
    for host in hosts:
        key_type, key = (host.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        lines.append(f"{host.address},{host.name} {key_type} {key}")
    KNOWN_HOSTS.write_text("\n".join(lines) + "\n")
    return KNOWN_HOSTS


def prepare_host(host: HostLayout, user: LabUser) -> None:
    """Write the host's key and sshd_config, and the user's authorized_keys."""
    host.dir.mkdir(parents=True, exist_ok=True)
    host_key = host.dir / "ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(host_key)])
    (host.dir / "sshd_config").write_text(sshd_config(host, host_key))
    write_file(user, ".ssh/authorized_keys", CLIENT_KEY.with_suffix(".pub").read_text(), 0o600)


def install_peer_access(user: LabUser, hosts: list[HostLayout]) -> None:
    """Let the user reach every lab host by name (`ssh h2`): the lab key, known_hosts and ~/.ssh/config."""
    write_file(user, ".ssh/id_ed25519", CLIENT_KEY.read_bytes(), 0o600)
    write_file(user, ".ssh/known_hosts", KNOWN_HOSTS.read_text(), 0o644)
    config = "".join(f"Host {h.name}\n    HostName {h.address}\n    User {h.user}\n" for h in hosts)
    write_file(user, ".ssh/config", config, 0o600)


def start(name: str, holder: Daemon) -> Daemon:
    """Start the host's sshd inside the host's namespaces (see hostns.py)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    config = host_dir(name) / "sshd_config"
    script = (f"echo $$ > /sys/fs/cgroup/{hostns.SSHD_CGROUP}/cgroup.procs && "
              f"exec /usr/sbin/sshd -D -e -f {shlex.quote(str(config))}")
    return spawn(hostns.enter(holder, script), role="sshd", host=name, log_path=host_dir(name) / "sshd.log")


def stock_config() -> str:
    """The distribution's default sshd_config, as openssh-server installs it."""
    for path in STOCK_CONFIGS:
        if path.is_file():
            return path.read_text()
    raise LabError(f"no stock sshd_config ({', '.join(map(str, STOCK_CONFIGS))}): install openssh-server")


def sshd_config(host: HostLayout, host_key: Path) -> str:
    """The lab host's own lines (first, so they win), then the stock file unchanged."""
    return "\n".join([
        f"# u7s lab host {host.name}: its own address, host key and no pid file; then the stock sshd_config",
        f"ListenAddress {host.address}:22",
        f"HostKey {host_key}",
        "PidFile none",
        "",
        stock_config(),
    ])
