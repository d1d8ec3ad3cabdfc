"""The namespaces that make a lab host: network, UTS (hostname), mount and cgroup.

A small holder process creates them and sleeps; the host's sshd and engine
join them with nsenter, so either can be stopped and started again (a test
can make a host unreachable) without the host changing.

Inside, the host sees: its own address and routes, hostname hK, /etc/hosts and
/etc/hostname from /etc/netns/NS (bound by `ip netns exec`), and cgroup2 at
/sys/fs/cgroup laid out as on a systemd host (see cgroups.py).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import cgroups
from .layout import HostLayout, host_dir
from .processes import Daemon, spawn
from .users import LabUser

SSHD_CGROUP = "system.slice/ssh.service"


def start_holder(host: HostLayout, user: LabUser) -> Daemon:
    """Create the host's namespaces and its cgroup tree, held by a sleeping process."""
    host_cgroup = cgroups.create_host_cgroup(host.name)
    delegated = f"/sys/fs/cgroup/{host.delegated_cgroup(user.uid)}"
    # Runs inside: `ip netns exec` has given it a mount namespace of its own
    # with the host's sysfs; cgroup2 mounted there shows the host's subtree as root.
    inner = " && ".join([
        f"hostname {shlex.quote(host.name)}",
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        f"mkdir -p /sys/fs/cgroup/{SSHD_CGROUP} /sys/fs/cgroup/init.scope "
        + shlex.quote(f"/sys/fs/cgroup/{host.engine_cgroup(user.uid)}")
        + " " + shlex.quote(f"/sys/fs/cgroup/{host.podman_cgroup(user.uid)}"),
        # Delegated to the user, as systemd does for user@UID.service.
        f"chown -R {user.uid}:{user.gid} {shlex.quote(delegated)}",
        "echo $$ > /sys/fs/cgroup/init.scope/cgroup.procs",
        "exec sleep infinity",
    ])
    outer = (
        f"echo $$ > {shlex.quote(str(host_cgroup / 'cgroup.procs'))} && "
        + shlex.join(["exec", "ip", "netns", "exec", host.netns, "unshare", "--uts", "--cgroup", "sh", "-c", inner])
    )
    return spawn(["sh", "-c", outer], role="host", host=host.name, log_path=host.dir / "host.log")


def enter(holder: Daemon, script: str) -> list[str]:
    """Return argv running the shell script inside the holder's namespaces."""
    return ["nsenter", f"--target={holder.pid}", "--net", "--uts", "--mount", "--cgroup", "--", "sh", "-c", script]


def is_ready(holder: Daemon) -> bool:
    """Tell whether the holder has set the host up (it sleeps only once all is done)."""
    if not holder.alive():
        raise OSError(f"the namespace holder of {holder.host} exited; see {host_dir(holder.host) / 'host.log'}")
    try:
        return Path(f"/proc/{holder.pid}/comm").read_text().strip() == "sleep"
    except OSError:
        return False
