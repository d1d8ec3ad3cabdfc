"""Take every lab on the machine down, and tell what a lab left behind.

`down_all` needs no state to work: it ends the processes the state file
records, then anything running in a lab namespace or as a lab uid, then
everything named like the lab (namespaces, links, users, cgroups). It ends
by checking that nothing is left.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import cgroups, netns, processes, sshd, state, users
from .commands import LabError, ensure_system_path, log, run
from .layout import MAX_HOSTS, PREFIX, STATE_DIR, SUBID_BASE, SUBID_COUNT, UID_BASE

LAB_FILE = STATE_DIR / "lab.json"


def down_all() -> list[str]:
    """End every lab process and remove every lab object on the machine; return what was removed."""
    ensure_system_path()
    removed = []
    recorded = state.daemons()
    # Engines first, gracefully: dockerd stops its containers (systemd nodes halt on SIGRTMIN+3).
    processes.stop([d for d in recorded if d.role == "engine"], grace=10)
    processes.stop([d for d in recorded if d.role != "engine"], grace=3)
    removed += [f"{d.role} of {d.host} (pid {d.pid})" for d in recorded]
    if recorded:
        log("stopped the recorded daemons")
    # Whatever still runs inside a lab namespace, or as a lab user or one of the lab's
    # subordinate ids, belongs to a lab (perhaps a crashed one).
    for ns in netns.lab_namespaces():
        processes.kill_all(lambda ns=ns: netns.namespace_pids(ns), what=f"namespace {ns}")
    processes.kill_all(lambda: processes.pids_owned_by(_lab_uid_ranges()), what="lab users")
    _unmount_leftovers()
    if cgroups.remove_all():
        removed.append("cgroups")
    removed += netns.remove_all()
    removed += users.remove_all()
    removed += users.remove_stale_runtime_dirs()
    for path in (STATE_DIR / "hosts", sshd.CLIENT_KEY.parent, LAB_FILE):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    state.clear()
    if removed:
        log("removed: " + ", ".join(removed))
    left = leftovers()
    if left:
        raise LabError("lab teardown left: " + "; ".join(left))
    return removed


def leftovers() -> list[str]:
    """Return every trace of a lab still on the machine (empty after a clean `down`)."""
    found = [f"netns {ns}" for ns in netns.lab_namespaces()]
    found += [f"link {link}" for link in netns.lab_links()]
    found += [str(p) for p in netns.ETC_NETNS.glob(f"{PREFIX}-*")]
    if netns.has_forward_rule():
        found.append("iptables FORWARD rule")
    found += ["iptables nat rule " + " ".join(rule) for rule in netns.forward_rules()]
    found += [f"user {u.pw_name}" for u in users.lab_users()]
    found += [str(users.SUDOERS)] if users.SUDOERS.exists() else []
    found += [str(p) for p in Path("/home").glob(f"{PREFIX}*")]
    found += [f"mount {m}" for m in _mount_points() if f"/{PREFIX}" in m]
    found += [f"/run/user/{uid}" for uid in _lab_uid_ranges()[0] if Path(f"/run/user/{uid}").exists()]
    found += [f"process {pid}" for pid in processes.pids_owned_by(_lab_uid_ranges())]
    try:
        if (cgroups.cgroup2_root() / PREFIX).exists():
            found.append(f"cgroup {cgroups.cgroup2_root() / PREFIX}")
    except OSError:
        pass
    if state.STATE_FILE.exists():
        found.append(str(state.STATE_FILE))
    return found


def _lab_uid_ranges() -> list[range]:
    """The uids lab processes can have: the lab users' own, and the lab's subordinate id block."""
    return [
        range(UID_BASE + 1, UID_BASE + MAX_HOSTS + 1),
        *(range(u.pw_uid, u.pw_uid + 1) for u in users.lab_users()),
        range(SUBID_BASE, SUBID_BASE + MAX_HOSTS * SUBID_COUNT),
    ]


def _mount_points() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4].replace("\\040", " ") for line in lines]


def _unmount_leftovers() -> None:
    """Lazily unmount the lab's homes (tmpfs) and anything under them or under a lab runtime dir."""
    uids = {*range(UID_BASE + 1, UID_BASE + MAX_HOSTS + 1), *(u.pw_uid for u in users.lab_users())}
    runtime_dirs = [f"/run/user/{uid}" for uid in uids]
    for mount_point in reversed(_mount_points()):
        under_runtime = any(mount_point == d or mount_point.startswith(d + "/") for d in runtime_dirs)
        if mount_point.startswith(f"/home/{PREFIX}") or under_runtime:
            run(["umount", "--lazy", mount_point], check=False)
