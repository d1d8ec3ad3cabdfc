"""Bring a lab of rootless-Docker hosts up (teardown.py takes it down).

`up` is one ordered list of titled steps; hosts run in parallel inside the
slow ones. It first removes whatever lab is on the machine, so a crashed run
never poisons the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, hostns, image, login, netns, processes, sshd, state, users, venv
from .commands import LabError, ensure_system_path, log, run, wait_until
from .host import LabHost
from .layout import DEFAULT_HOSTS, STATE_DIR, LabLayout, host_dir, make_layout
from .teardown import LAB_FILE, down_all

REPO_ROOT = Path(__file__).resolve().parents[2]
KEEP_ON_FAILURE_ENV = "U7S_LAB_KEEP_ON_FAILURE"
# Engines that get the node image at once. A lab of up to this many hosts (the
# suite's three) imports and builds it in every engine side by side, which is the
# quickest there; a larger one builds it once and loads that engine's `docker
# save` archive into the others (a load takes under half the time of an import
# and build). On 2 cores, more at once only take turns (4 loads take 4 times one).
IMAGE_CONCURRENCY = 4


@dataclass
class Lab:
    """A running lab: its hosts, the node image tag every engine has, and the bridge address."""

    hosts: list[LabHost]
    node_image: str
    bridge_address: str
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {
            "hosts": [h.to_json() for h in self.hosts],
            "node_image": self.node_image,
            "bridge_address": self.bridge_address,
        }

    @classmethod
    def from_json(cls, data: dict) -> Lab:
        return cls(
            hosts=[LabHost.from_json(h) for h in data["hosts"]],
            node_image=data["node_image"],
            bridge_address=data["bridge_address"],
        )

    @classmethod
    def up(cls, count: int = DEFAULT_HOSTS, *, repo: Path | None = None, subnet: str | None = None,
           podman: bool = True) -> Lab:
        """Remove any lab on the machine, then bring up `count` hosts; return the running lab.

        podman=False leaves out the first host's Podman service (a lab for Docker-only
        work, such as the scaling benchmark, starts faster without it).
        """
        return _LabBuilder(make_layout(count, subnet), Path(repo or REPO_ROOT), podman=podman).build()

    @classmethod
    def existing(cls) -> Lab | None:
        """Return the lab the state file describes, if its processes still run."""
        saved = state.load()
        if not saved["lab"] or not all(d.alive() for d in state.daemons()):
            return None
        return cls.from_json(saved["lab"])

    def down(self) -> None:
        """Take this lab (and any other lab on the machine) down."""
        down_all()

    def stop_sshd(self, host: LabHost) -> None:
        """Stop the host's sshd, as if the host became unreachable; its engine keeps running."""
        daemons = state.daemons()
        processes.stop([d for d in daemons if d.role == "sshd" and d.host == host.name], grace=3)
        state.save(self.to_json(), [d for d in daemons if not (d.role == "sshd" and d.host == host.name)])

    @contextlib.contextmanager
    def hostname(self, host: LabHost, name: str) -> Iterator[None]:
        """The host is called `name` (e.g. an FQDN, as many sites name their hosts) until the block ends."""
        holder = next(d for d in state.daemons() if d.role == "host" and d.host == host.name)
        run(["nsenter", f"--target={holder.pid}", "--uts", "hostname", name])
        try:
            yield
        finally:
            run(["nsenter", f"--target={holder.pid}", "--uts", "hostname", host.name])

    def start_sshd(self, host: LabHost) -> None:
        """Start the host's sshd again (after stop_sshd) and wait until it accepts connections."""
        daemons = state.daemons()
        if any(d.role == "sshd" and d.host == host.name and d.alive() for d in daemons):
            return
        holder = next(d for d in daemons if d.role == "host" and d.host == host.name)
        daemons.append(sshd.start(host.name, holder))
        state.save(self.to_json(), daemons)
        wait_until(lambda: _accepts(host.address, host.ssh_port), what=f"sshd of {host.name}", timeout=30)


    @contextlib.contextmanager
    def sshd_options(self, host: LabHost, **options: str) -> Iterator[None]:
        """The host's sshd with these keywords (e.g. MaxSessions="1", as hardened sites set it) until the block ends.

        They go before the stock file's lines (sshd keeps the first value it reads); sshd restarts both times.
        """
        config = host_dir(host.name) / "sshd_config"
        before = config.read_text()
        first, _, rest = before.partition("\n")
        config.write_text("\n".join([first, *(f"{k} {v}" for k, v in options.items()), rest]))
        self.stop_sshd(host)
        self.start_sshd(host)
        try:
            yield
        finally:
            config.write_text(before)
            self.stop_sshd(host)
            self.start_sshd(host)

    def stop_engine(self, host: LabHost) -> None:
        """Stop the host's rootless Docker, as on a host where nothing started it; sshd keeps running."""
        daemons = state.daemons()
        processes.stop([d for d in daemons if d.role == "engine" and d.host == host.name], grace=30)
        state.save(self.to_json(), [d for d in daemons if not (d.role == "engine" and d.host == host.name)])

    def start_engine(self, host: LabHost) -> None:
        """Start the host's rootless Docker again (after stop_engine), as `up` does, and wait until it answers."""
        import pwd

        from .layout import HostLayout

        daemons = state.daemons()
        if any(d.role == "engine" and d.host == host.name and d.alive() for d in daemons):
            return
        holder = next(d for d in daemons if d.role == "host" and d.host == host.name)
        entry = pwd.getpwnam(host.ssh_user)
        user = users.LabUser(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir))
        layout = HostLayout(index=int(host.name[1:]), address=host.address, prefix_len=24, gateway="")
        started = engine.start(layout, user, holder)
        daemons.append(started)
        state.save(self.to_json(), daemons)
        engine.wait_ready(layout, user, started)


class _LabBuilder:
    """The steps of `up`, sharing what earlier steps made."""

    def __init__(self, layout: LabLayout, repo: Path, podman: bool = True):
        self.layout = layout
        self.repo = repo
        self.podman = podman
        self.users: dict[str, users.LabUser] = {}
        self.daemons: list[processes.Daemon] = []
        self.node_image: image.NodeImage | None = None
        self.timings: dict[str, float] = {}

    def build(self) -> Lab:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (it creates users, namespaces and a bridge)")
        os.umask(0o022)
        ensure_system_path()
        started = time.monotonic()
        down_all()
        steps = [
            ("prepare the machine", self.prepare_machine),
            ("network", self.network),
            ("users and sshd files", self.users_and_keys),
            ("host namespaces and sshd", self.start_hosts),
            ("start engines", self.start_engines),
            ("install u7s into the venv", self.install_u7s),
            ("root file system and node image context", self.prepare_image),
            ("wait for engines", self.wait_engines),
            ("load the node image", self.load_image),
            ("check the hosts over SSH", self.check_hosts),
        ]
        try:
            for title, step in steps:
                step_started = time.monotonic()
                log(f"--- {title}")
                step()
                self.timings[title] = round(time.monotonic() - step_started, 1)
        except BaseException:
            if os.environ.get(KEEP_ON_FAILURE_ENV) == "1":
                log(f"up failed; {KEEP_ON_FAILURE_ENV}=1 keeps the lab for inspection")
            else:
                log("up failed; taking the half-built lab down")
                down_all()
            raise
        finally:
            if self.node_image:
                shutil.rmtree(self.node_image.context.parent, ignore_errors=True)
        lab = Lab(hosts=self.lab_hosts(), node_image=self.node_image.tag, bridge_address=self.layout.bridge_address)
        self.timings["total"] = round(time.monotonic() - started, 1)
        lab.timings = dict(self.timings)
        state.save(lab.to_json(), self.daemons)
        LAB_FILE.write_text(json.dumps(lab.to_json(), indent=2) + "\n")
        log(f"lab up in {self.timings['total']}s: {', '.join(h.name + '=' + h.address for h in lab.hosts)}")
        return lab

    def prepare_machine(self) -> None:
        engine.prepare_machine()
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        state.save(None, self.daemons)

    def network(self) -> None:
        netns.create_bridge(self.layout)
        for host in self.layout.hosts:
            netns.create_host(host, self.layout)

    def users_and_keys(self) -> None:
        sshd.make_client_key()
        for host in self.layout.hosts:
            self.users[host.name] = users.create(host)
            sshd.prepare_host(host, self.users[host.name])
            login.prepare(self.users[host.name])
        sshd.write_known_hosts(list(self.layout.hosts))
        for user in self.users.values():
            sshd.install_peer_access(user, list(self.layout.hosts))

    def start_hosts(self) -> None:
        holders = [self._record(hostns.start_holder(host, self.users[host.name])) for host in self.layout.hosts]
        for holder in holders:
            wait_until(lambda: hostns.is_ready(holder), what=f"the namespaces of {holder.host}", timeout=30)
        for host, holder in zip(self.layout.hosts, holders):
            self._record(sshd.start(host.name, holder))
        for host in self.layout.hosts:
            wait_until(lambda: _accepts(host.address, 22), what=f"sshd of {host.name}", timeout=30)

    def start_engines(self) -> None:
        holder_of = {d.host: d for d in self.daemons if d.role == "host"}
        for host in self.layout.hosts:
            self._record(engine.start(host, self.users[host.name], holder_of[host.name]))

    def install_u7s(self) -> None:
        venv.install(self.repo)

    def prepare_image(self) -> None:
        self.node_image = image.prepare(self.repo, image.work_dir())

    def wait_engines(self) -> None:
        engine_of = {d.host: d for d in self.daemons if d.role == "engine"}
        self._each_host(lambda h: engine.wait_ready(h, self.users[h.name], engine_of[h.name]))

    def load_image(self) -> None:
        first, *others = self.layout.hosts
        first_engine = engine.socket(self.users[first.name])
        if len(self.layout.hosts) <= IMAGE_CONCURRENCY:
            self._each_host(lambda h: image.load(self.node_image, engine.socket(self.users[h.name]), h.name))
        else:
            image.load(self.node_image, first_engine, first.name)
            archive = image.save(self.node_image, first_engine)
            self._each_host(lambda h: image.load_archive(archive, engine.socket(self.users[h.name]), h.name),
                            hosts=others, limit=IMAGE_CONCURRENCY)
        if not self.podman:
            return
        # The first host also runs rootless Podman, with the same node image.
        holder = next(d for d in self.daemons if d.role == "host" and d.host == first.name)
        self._record(engine.start_podman(first, self.users[first.name], holder))
        engine.load_into_podman(self.node_image.tag, self.users[first.name], first_engine)

    def check_hosts(self) -> None:
        by_name = {h.name: h for h in self.lab_hosts()}

        def check(host) -> None:
            hostname = by_name[host.name].ssh(["hostname"], timeout=30).stdout.strip()
            if hostname != host.name:
                raise LabError(f"SSH reached a host named {hostname!r}")
            source, why = netns.route_source(host.netns)
            if source != host.address:
                raise LabError(f"`ip route get 1` gives source {source}, not {host.address}" + (f": {why}" if why else ""))

        self._each_host(check)

    def lab_hosts(self) -> list[LabHost]:
        return [
            LabHost(
                name=host.name, address=host.address, ssh_user=host.user, ssh_port=22,
                key=str(sshd.CLIENT_KEY), known_hosts=str(sshd.KNOWN_HOSTS),
                uid=self.users[host.name].uid, home=str(self.users[host.name].home), netns=host.netns,
                engine_socket=engine.socket(self.users[host.name]),
            )
            for host in self.layout.hosts
        ]

    def _record(self, daemon: processes.Daemon) -> processes.Daemon:
        self.daemons.append(daemon)
        state.save(None, self.daemons)
        return daemon

    def _each_host(self, work, hosts=None, limit: int | None = None) -> None:
        """Run work(host) for every host (or `hosts`) in parallel, at most `limit` at once; raise one error naming
        every host that failed."""
        hosts = list(self.layout.hosts if hosts is None else hosts)
        with ThreadPoolExecutor(max_workers=min(len(hosts), limit or len(hosts))) as pool:
            futures = {host.name: pool.submit(work, host) for host in hosts}
        failures = {}
        for name, future in futures.items():
            if future.exception() is not None:
                failures[name] = future.exception()
        if failures:
            raise LabError("; ".join(f"{name}: {error}" for name, error in failures.items()))


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False
