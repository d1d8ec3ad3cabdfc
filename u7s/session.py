"""Many hosts at once: connect, resolve each host's settings, run a step on hosts in parallel.

Steps run in sequence; within a step, hosts run in parallel. A failing host
does not stop the others: every result is collected per host, and the caller
decides which later steps can still run.
"""

from __future__ import annotations

import concurrent.futures
import socket
from dataclasses import dataclass, field
from typing import Callable

from u7s.errors import U7sError
from u7s.run.hosts import Host
from u7s.config.inventory import HostSpec, Inventory
from u7s.node.container import Node
from u7s.ui.report import Reporter
from u7s.config.settings import Settings, default_workdir
from u7s.config.resolve import resolve


@dataclass
class Member:
    spec: HostSpec
    report: Reporter
    host: Host | None = None
    settings: Settings | None = None
    failed: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def node(self) -> Node:
        assert self.host is not None and self.settings is not None
        return Node(self.host, self.settings, self.report)


@dataclass
class StepResult:
    ok: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


# Errors that mean "this host failed", not "u7s has a bug": reported per host.
HOST_ERRORS: tuple[type[BaseException], ...] = (U7sError, OSError, EOFError, socket.timeout)


def _host_errors() -> tuple[type[BaseException], ...]:
    import invoke
    import paramiko

    return HOST_ERRORS + (paramiko.SSHException, invoke.exceptions.CommandTimedOut)


def run_parallel(
    members: list[Member],
    action: Callable[[Member], str],
    *,
    limit: int | None = None,
) -> StepResult:
    """Run action on every member at once (at most `limit` at a time); collect per-host outcomes."""
    result = StepResult()
    if not members:
        return result
    host_errors = _host_errors()
    unexpected: list[BaseException] = []

    def collect(member: Member, future) -> None:
        try:
            message = future.result()
        except host_errors as exc:
            reason = str(exc) or type(exc).__name__
            reason = reason.removeprefix(f"{member.name}: ")
            member.failed = reason
            result.failed[member.name] = reason
            member.report.error(reason)
        except BaseException as exc:  # a bug: finish the others, then raise with its traceback
            unexpected.append(exc)
            member.failed = f"internal error: {exc!r}"
            result.failed[member.name] = member.failed
        else:
            result.ok[member.name] = message
            if message:
                member.report.done(message)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=limit or len(members))
    try:
        futures = {pool.submit(action, m): m for m in members}
        for future in concurrent.futures.as_completed(futures):
            collect(futures[future], future)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: hosts not started yet are not started; the ones under way
        # finish what they are doing (a file write, a command), so nothing is left half done.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    if unexpected:
        raise unexpected[0]
    return result


def members_of(inventory: Inventory, board=None) -> list[Member]:
    """One member per host, each speaking with its name as prefix (and on the board, if any)."""
    width = max(len(h.name) for h in inventory.hosts)
    return [Member(h, Reporter(f"{h.name:<{width}}", board=board)) for h in inventory.hosts]


def connect_all(members: list[Member], context, accept_unknown: bool) -> StepResult:
    """Open a connection to each host (the local one needs none)."""
    from u7s.run.hosts import LocalHost

    def open_one(member: Member) -> str:
        if member.spec.local:
            member.host = LocalHost(context, member.name)
            return ""
        from u7s.run.remote import RemoteHost, connect

        member.host = RemoteHost(connect(member.spec, None, accept_unknown), member.name)
        return ""

    return run_parallel(members, open_one)


def resolve_all(members: list[Member], inventory: Inventory, flags: dict, config: dict | None = None) -> StepResult:
    """Each host's settings from its facts; subnets assigned across hosts; cross-host checks.

    Precedence, lowest first: defaults < `config` (the u7s: section) < inventory settings < host settings < flags.
    """
    config = config or {}
    from u7s.build import engine
    from u7s.config import subnets
    from u7s.facts.host import HostFacts

    facts: dict[str, HostFacts] = {}
    workdirs: dict[str, str] = {}
    current: dict[str, str | None] = {}  # the subnet each host runs with now
    in_use: dict[str, dict] = {}  # for hosts without one: the subnets their engine already uses

    def config_of(member: Member) -> dict:
        return {"U7S_WORKDIR": workdirs[member.name], **config, **member.spec.settings}

    def first_pass(member: Member) -> str:
        facts[member.name] = HostFacts(member.host)
        # Each host's files go to a directory of its own, even where home directories are
        # shared: one per node instance (project) and inventory host.
        project = resolve(facts[member.name], config={**config, **member.spec.settings}, flags=flags).project
        workdirs[member.name] = default_workdir(facts[member.name].home(), project, member.name)
        member.settings = resolve(facts[member.name], config=config_of(member), flags=flags)
        current[member.name] = _running_subnet(member.host, member.settings, engine.COMPOSE_FILE)
        if not current[member.name]:
            in_use[member.name] = _networks_in_use(member.host, member.settings)
        return ""

    result = run_parallel(members, first_pass)
    ready = [m for m in members if m.settings and not m.failed]
    assigned = subnets.assign(
        [(m.name, flags.get("NODE_SUBNET") or m.spec.settings.get("NODE_SUBNET") or config.get("NODE_SUBNET"),
          current[m.name])
         for m in ready],
        inventory.node_subnet_pool,
        in_use,
    )

    def second_pass(member: Member) -> str:
        pinned = {"NODE_SUBNET": assigned[member.name], **flags}
        member.settings = resolve(facts[member.name], config=config_of(member), flags=pinned)
        return ""

    more = run_parallel(ready, second_pass)
    result.ok.update(more.ok)
    result.failed.update(more.failed)
    _cross_host_checks([m for m in ready if not m.failed])
    return result


def _running_subnet(host: Host, s: Settings, compose_file: str) -> str | None:
    """The NODE_SUBNET in the compose file u7s last wrote on this host, if any."""
    import yaml

    text = host.read_text(s.path(compose_file))
    if not text:
        return None
    try:
        return yaml.safe_load(text)["networks"]["default"]["ipam"]["config"][0]["subnet"]
    except (LookupError, TypeError, yaml.YAMLError):
        return None


def _networks_in_use(host: Host, s: Settings) -> dict:
    """The engine's networks other than this instance's own, with their IPv4 subnets."""
    from u7s.build import engine
    from u7s.config import subnets

    listed = host.run(engine.network_names(s), check=False)
    names = [n for n in listed.stdout.split() if n != s.network] if listed.ok else []
    if not names:
        return {}
    # A network removed in between makes inspect fail for it alone; the others are still printed.
    return subnets.networks_in_use(host.run(engine.network_inspect(s, names), check=False).stdout, s.network)


def _cross_host_checks(members: list[Member]) -> None:
    problems = []
    seen: dict[str, str] = {}
    for m in members:
        s = m.settings
        if s.node_name in seen:
            problems.append(f"{seen[s.node_name]} and {m.name} resolve to the same NODE_NAME {s.node_name}; "
                            "set NODE_NAME for one of them in hosts.yaml")
        seen.setdefault(s.node_name, m.name)
    ports: dict[tuple[str, int], str] = {}
    for m in members:
        for key, port in m.settings.ports.items():
            place = (m.settings.host_ip, port)
            if place in ports and ports[place] != m.name:
                problems.append(f"{ports[place]} and {m.name} both use {m.settings.host_ip}:{port} ({key}); "
                                "give one of them other PORT_* values")
            ports.setdefault(place, m.name)
    if problems:
        raise U7sError("\n".join(problems))
