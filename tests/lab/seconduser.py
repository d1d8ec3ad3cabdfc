"""A second unprivileged user on lab hosts, for one test: two users' clusters side by side on the same hosts.

The lab has one login user per host (users.py). `second_user(lab, hosts)` adds another on each of
the given hosts for the length of a `with` block, made the way `up` makes the first:

- an account `u7slabN` with N counted down from MAX_HOSTS (host h1's is u7slab40, h2's u7slab39...),
  so its uid and its 65536 subordinate ids fall in the lab's blocks and teardown finds whatever a
  crashed test leaves; /run/user/UID, the sudo password of the lab users; its home on the
  machine's disk (the first users' are tmpfs mounts made before the hosts' mount namespaces; a
  mount made later does not reach them);
- its own SSH key pair (`id_ed25519_second` beside the lab's key), in its authorized_keys;
- what the first user's login has (login.prepare: u7s's venv on PATH, the docker CLI's rootless context);
- its delegated cgroup in the host's tree, and rootless Docker started in it as engine.start starts
  the first user's (a `docker.service` user unit's place), recorded in the lab state so that `down`
  stops it if the test dies;
- the node image, from the first host's engine (`docker save`, loaded into each new engine).

On the way out each engine is stopped by its pid and the account removed with its home (its
engine's data) and subordinate id lines. A lab of more hosts than MAX_HOSTS - len(hosts) has no
room for them and is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import cgroups, engine, login, processes, state, users
from .commands import LabError, run
from .host import LabHost
from .layout import MAX_HOSTS, SUBID_COUNT, HostLayout
from .sshd import CLIENT_KEY

KEY = CLIENT_KEY.with_name("id_ed25519_second")


def _layout(host: LabHost) -> HostLayout:
    return HostLayout(index=int(host.name[1:]), address=host.address, prefix_len=24, gateway="")


def _account(host: LabHost) -> HostLayout:
    """Where the second user's ids come from: a lab slot no host of this lab uses."""
    return HostLayout(index=MAX_HOSTS + 1 - int(host.name[1:]), address=host.address, prefix_len=24, gateway="")


def _make_user(host: LabHost) -> users.LabUser:
    user = users.create(_account(host))
    # A home on the machine's disk, not the tmpfs users.create mounts: the host's mount namespace was
    # made at `up` and a mount made since does not reach it (the engine found a root-owned directory).
    run(["umount", str(user.home)])
    shutil.chown(user.home, user.uid, user.gid)
    run(["cp", "-a", "/etc/skel/.", str(user.home)])
    run(["chown", "-R", f"{user.uid}:{user.gid}", str(user.home)])
    users.write_file(user, ".ssh/authorized_keys", KEY.with_suffix(".pub").read_text(), 0o600)
    login.prepare(user)
    # Delegated to the user as systemd delegates user@UID.service (hostns.start_holder does it for the first).
    layout = _layout(host)
    engine_cgroup = cgroups.host_cgroup(host.name) / layout.engine_cgroup(user.uid)
    engine_cgroup.mkdir(parents=True, exist_ok=True)
    run(["chown", "-R", f"{user.uid}:{user.gid}", str(cgroups.host_cgroup(host.name) / layout.delegated_cgroup(
        user.uid))])
    return user


def _start_engine(lab, host: LabHost, user: users.LabUser) -> processes.Daemon:
    holder = next(d for d in state.daemons() if d.role == "host" and d.host == host.name)
    started = engine.start(_layout(host), user, holder)
    saved = state.load()
    state.save(saved["lab"], [*state.daemons(), started])
    engine.wait_ready(_layout(host), user, started)
    return started


def _remove(user: users.LabUser, daemon: processes.Daemon | None, subids: range) -> None:
    if daemon is not None:  # its containers first: quicker than the engine stopping them one by one
        env = {"DOCKER_HOST": engine.socket(user)}
        containers = run(["docker", "ps", "-aq"], env=env, check=False).stdout.split()
        if containers:
            run(["docker", "rm", "-f", *containers], env=env, check=False)
        processes.stop([daemon], grace=30)
        saved = state.load()
        state.save(saved["lab"], [d for d in state.daemons() if d != daemon])
    processes.kill_all(lambda: processes.pids_owned_by([range(user.uid, user.uid + 1), subids]), what=user.name)
    run(["userdel", "--force", "--remove", user.name], check=False)
    run(["rm", "-rf", "--one-file-system", str(user.home)], check=False)  # the engine's data, owned by subuids
    shutil.rmtree(user.runtime_dir, ignore_errors=True)
    for path in (*users.SUBID_FILES, users.SUDOERS):  # userdel leaves subordinate ids on some releases
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            path.write_text("".join(line for line in lines if (line.split(":", 1)[0].split() or [""])[0] != user.name))


@contextlib.contextmanager
def second_user(lab, hosts: list[LabHost]) -> Iterator[list[LabHost]]:
    """A second user with a running rootless engine on each of `hosts`; LabHosts as that user, for the block."""
    if len(lab.hosts) > MAX_HOSTS - len(hosts):
        raise LabError(f"a lab of {len(lab.hosts)} hosts leaves no uid slot for a second user")
    KEY.unlink(missing_ok=True)
    KEY.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "u7s-lab-second", "-f", str(KEY)])
    made: list[tuple[users.LabUser, processes.Daemon | None]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="u7slab-second-") as tmp:
            archive = Path(tmp) / "node-image.tar"
            hosts[0].docker(["save", "-o", str(archive), lab.node_image], timeout=600)
            for host in hosts:
                user = _make_user(host)
                made.append((user, None))
                made[-1] = (user, _start_engine(lab, host, user))
                run(["docker", "load", "-q", "-i", str(archive)], env={"DOCKER_HOST": engine.socket(user)},
                    timeout=600)
        yield [dataclasses.replace(h, ssh_user=u.name, key=str(KEY), uid=u.uid, home=str(u.home),
                                   engine_socket=engine.socket(u)) for h, (u, _) in zip(hosts, made)]
    finally:
        for (user, daemon), host in zip(made, hosts):
            first = _account(host).subid_start
            _remove(user, daemon, range(first, first + SUBID_COUNT))
        KEY.unlink(missing_ok=True)
        KEY.with_suffix(".pub").unlink(missing_ok=True)

