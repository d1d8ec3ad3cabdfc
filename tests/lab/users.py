"""The lab's unprivileged users: one per host, with subordinate ids and a runtime dir.

Rootless Docker keeps its data in the user's home, so removing the user with
its home also removes the engine's images and volumes. The home is a tmpfs:
every lab writes the node image into three engines and removes it again, which
on disk cost 10-20 s each way and on tmpfs a few (about 0.4 GiB of memory per host).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .commands import log, run
from .layout import MAX_HOSTS, SUBID_COUNT, UID_BASE, HostLayout, is_lab_user

SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))
# Lab users may use sudo with this password (cluster.init-host runs its root part through sudo).
SUDO_PASSWORD = "u7s-lab-sudo"
SUDOERS = Path("/etc/sudoers.d/u7s-lab")
HOME_TMPFS_SIZE = "4g"  # an upper bound; tmpfs uses only what is written


@dataclass(frozen=True)
class LabUser:
    name: str
    uid: int
    gid: int
    home: Path

    @property
    def runtime_dir(self) -> Path:
        return Path(f"/run/user/{self.uid}")


def create(host: HostLayout) -> LabUser:
    """Create the host's user: home, login allowed by key only, subuid/subgid range, /run/user/UID."""
    _check_subids_free(host)
    _check_uid_free(host)
    # -K ...=0: no automatic subordinate ids; the lab assigns its own range.
    home = f"/home/{host.user}"
    run(["useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/bash", "--user-group",
         "--uid", str(host.uid), "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", host.user])
    first, last = host.subid_start, host.subid_start + SUBID_COUNT - 1
    # A password (not "locked", which sshd refuses with UsePAM no); SSH itself takes the key only.
    run(["usermod", "--add-subuids", f"{first}-{last}", "--add-subgids", f"{first}-{last}", host.user])
    run(["chpasswd"], input=f"{host.user}:{SUDO_PASSWORD}\n")
    with SUDOERS.open("a") as sudoers:
        sudoers.write(f"{host.user} ALL=(root) ALL\n")
    SUDOERS.chmod(0o440)
    entry = pwd.getpwnam(host.user)
    user = LabUser(name=host.user, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir))
    _make_home(user)
    user.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.chown(user.runtime_dir, user.uid, user.gid)
    user.runtime_dir.chmod(0o700)
    return user


def _make_home(user: LabUser) -> None:
    user.home.mkdir(mode=0o700)
    run(["mount", "-t", "tmpfs", "-o", f"size={HOME_TMPFS_SIZE},mode=0700,uid={user.uid},gid={user.gid}",
         f"u7slab-home-{user.name}", str(user.home)])
    run(["cp", "-a", "/etc/skel/.", str(user.home)])
    run(["chown", "-R", f"{user.uid}:{user.gid}", str(user.home)])


def write_file(user: LabUser, relative: str, content: str | bytes, mode: int = 0o644) -> Path:
    """Write a file under the user's home, owned by the user (parents made 0700)."""
    path = user.home / relative
    for parent in reversed(path.relative_to(user.home).parents):
        directory = user.home / parent
        if not directory.exists():
            directory.mkdir(mode=0o700)
            shutil.chown(directory, user.uid, user.gid)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    path.chmod(mode)
    shutil.chown(path, user.uid, user.gid)
    return path


def lab_users() -> list[pwd.struct_passwd]:
    """Return every account on the machine named like a lab user."""
    return [entry for entry in pwd.getpwall() if is_lab_user(entry.pw_name)]


def remove_all() -> list[str]:
    """Remove every lab user with its home, runtime dir and subordinate id lines; return their names."""
    removed = []
    entries = lab_users()
    # Homes hold the engines' images and volumes: unmount (tmpfs), or remove them in parallel.
    homes = [e.pw_dir for e in entries if e.pw_dir == f"/home/{e.pw_name}"]
    for home in homes:
        if os.path.ismount(home):
            run(["umount", "--lazy", home])
    removers = [subprocess.Popen(["rm", "-rf", "--one-file-system", home]) for home in homes]
    for remover in removers:
        remover.wait()
    for entry in entries:
        # -f: a crashed run may leave zombies behind; they must not keep the account.
        run(["userdel", "--force", "--remove", entry.pw_name], check=False)
        shutil.rmtree(entry.pw_dir, ignore_errors=True)
        shutil.rmtree(f"/run/user/{entry.pw_uid}", ignore_errors=True)
        removed.append(entry.pw_name)
    for path in SUBID_FILES:
        _drop_subid_lines(path)
    SUDOERS.unlink(missing_ok=True)
    if removed:
        log(f"removed users {', '.join(removed)}")
    return removed


def remove_stale_runtime_dirs(base: Path = Path("/run/user")) -> list[str]:
    """Remove the runtime dirs of lab uids that no account on the machine has; return them.

    A run that died between userdel and removing the dir leaves one, and so does a lab made
    from another root file system that shares /run (the Debian 13 check in a trixie root):
    /run/user/UID would otherwise be a leftover that no later teardown removes.
    """
    removed = []
    for uid in range(UID_BASE + 1, UID_BASE + MAX_HOSTS + 1):
        path = base / str(uid)
        if not path.is_dir():
            continue
        try:
            pwd.getpwuid(uid)
            continue  # an account of this machine: remove_all's, or not the lab's to remove
        except KeyError:
            pass
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _check_uid_free(host: HostLayout) -> None:
    try:
        owner = pwd.getpwuid(host.uid).pw_name
    except KeyError:
        return
    raise OSError(f"uid {host.uid}, meant for lab user {host.user}, belongs to {owner}")


def _check_subids_free(host: HostLayout) -> None:
    wanted = range(host.subid_start, host.subid_start + SUBID_COUNT)
    for path in SUBID_FILES:
        for owner, start, count in _read_subids(path):
            if owner != host.user and start < wanted.stop and wanted.start < start + count:
                raise OSError(f"{path}: {owner}'s range {start}+{count} overlaps the lab's {wanted}")


def _read_subids(path: Path) -> list[tuple[str, int, int]]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            entries.append((parts[0], int(parts[1]), int(parts[2])))
    return entries


def _drop_subid_lines(path: Path) -> None:
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not is_lab_user(line.split(":", 1)[0])]
    if kept != lines:
        path.write_text("".join(kept))
