"""Open a multi-host run: load the inventory, connect to every host, resolve each host's settings.

What a cluster task works with is a `Run`: the inventory, one `Member` per host
(its connection, its settings, its reporter) and the failures so far. Steps then
run on its members (u7s/steps/step.py: execute).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from u7s.config.crosshost import check_resolved
from u7s.config.inventory import HostSpec, Inventory
from u7s.config.layers import Layers
from u7s.config.resolve import resolve
from u7s.config.settle import settle
from u7s.config.settings import Settings, default_workdir
from u7s.node.container import Node
from u7s.run.hosts import Host
from u7s.run.parallel import StepResult, run_parallel
from u7s.ui.report import Reporter

if TYPE_CHECKING:
    from u7s.facts.host import HostFacts


@dataclass
class Member:
    """One inventory host in a run: how it is reached, its settings, and why it failed (if it did)."""

    spec: HostSpec
    report: Reporter
    host: Host | None = None
    settings: Settings | None = None
    failed: str | None = None
    facts: HostFacts | None = None  # what resolving its settings asked the host
    lease_problem: str | None = None  # a leased port someone else holds here (u7s/node/leasehook.py)
    lease_on_host: dict = field(default_factory=dict)  # the ports this cluster's record on the host names

    @property
    def answers(self) -> dict:
        """The host's answers to the commands this run already ran there (read-only probes)."""
        return self.facts.answers if self.facts is not None else {}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def node(self) -> Node:
        assert self.host is not None and self.settings is not None
        return Node(self.host, self.settings, self.report)


@dataclass
class Run:
    """What a cluster task works with: the inventory, its members and the outcome so far."""

    inventory: Inventory
    members: list[Member]
    report: Reporter
    dry_run: bool = False
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    join_tokens: object | None = None  # u7s.steps.jointokens.JoinTokens, made at the run's first join
    joined: set[str] = field(default_factory=set)  # workers seen joined during this run
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)  # step title -> host -> what it said (an Outcome)
    board: object | None = None  # report.Board on a terminal
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # One host on its own (the single-host tasks): the run does not know the rest of its cluster (other hosts
    # may have joined it by hand), and a step's error reaches the task as it is.
    alone: bool = False

    @property
    def healthy(self) -> list[Member]:
        return [m for m in self.members if not m.failed]

    @property
    def control_plane(self) -> Member:
        return next(m for m in self.members if m.spec.is_control_plane)

    @property
    def workers(self) -> list[Member]:
        return [m for m in self.healthy if not m.spec.is_control_plane]



def alone(host: Host, settings: Settings, report: Reporter) -> Member:
    """One host on its own (the single-host tasks): the control plane of a cluster of one."""
    from u7s.config.inventory import Ssh

    return Member(HostSpec(host.name, None, "control-plane", True, Ssh()), report, host, settings)


def one_host(member: Member, dry_run: bool = False) -> Run:
    """A run whose one member is this host on its own (see `alone`): steps run on it as on a cluster's hosts."""
    inventory = Inventory("", member.settings.project, [member.spec])
    return Run(inventory, [member], member.report, dry_run=dry_run, alone=True)


def members_of(inventory: Inventory, board=None) -> list[Member]:
    """One member per host, each speaking with its name as prefix (and on the board, if any)."""
    width = max(len(h.name) for h in inventory.hosts)
    return [Member(h, Reporter(f"{h.name:<{width}}", board=board)) for h in inventory.hosts]


def connect_all(members: list[Member], context, accept_unknown: bool) -> StepResult:
    """Open a connection to each host (the local one needs none); hosts behind one jump host share it."""
    from u7s.run.hosts import LocalHost
    from u7s.run.remote import Gateways

    gateways = Gateways()

    def open_one(member: Member) -> str:
        if member.spec.local:
            member.host = LocalHost(context, member.name)
            return ""
        from u7s.run.remote import RemoteHost, connect

        member.host = RemoteHost(connect(member.spec, None, accept_unknown, gateways), member.name)
        member.host.echo = LocalHost(context).echo  # --echo reaches the hosts' commands too
        return ""

    return run_parallel(members, open_one)


def resolve_all(members: list[Member], inventory: Inventory, flags: dict, config: dict | None = None) -> StepResult:
    """Each host's settings from its facts; subnets assigned across hosts; cross-host checks.

    Resolved once per host with its facts (the layers in their order: u7s/config/layers.py), which tells
    what to read there (its working directory, engine and network); what the hosts' answers decide (each
    host's working directory, the NODE_SUBNETs, the port lease) is then settled in (u7s/config/settle.py).
    """
    config = config or {}
    from u7s.node.leasehook import LeaseHook
    from u7s.config import subnets
    from u7s.facts import networks
    from u7s.errors import U7sError
    from u7s.facts.host import HostFacts, likely_probes
    from u7s.node import identity

    facts: dict[str, HostFacts] = {}
    workdirs: dict[str, str] = {}
    current: dict[str, str | None] = {}  # the subnet each host runs with now
    in_use: dict[str, dict] = {}  # for hosts without one: the subnets their engine already uses
    hook = LeaseHook(config, [h.settings for h in inventory.hosts], flags)

    def layers_of(member: Member) -> Layers:
        return Layers(config=config, host=member.spec.settings, flags=flags)

    def first_pass(member: Member) -> str:
        facts[member.name] = member.facts = HostFacts(member.host, reached_by(member))
        # One round trip for the facts settings need.
        facts[member.name].prefetch(likely_probes(layers_of(member).explicit(), facts[member.name].reached_by))
        found = resolve(facts[member.name], layers=layers_of(member), cluster=inventory.name)
        # Each host's files go to a directory of its own, even where home directories are
        # shared: one per node instance (project) and inventory host, unless U7S_WORKDIR is given.
        given = "U7S_WORKDIR" in found.sources
        workdirs[member.name] = found.workdir if given else default_workdir(facts[member.name].home(),
                                                                            found.project, member.name)
        member.settings = s = dataclasses.replace(found, workdir=workdirs[member.name])
        # One batch: the subnet this host's node last had, and whose node and working directory are there.
        legacy = identity.legacy_layout(s, facts[member.name].home, member.name)
        compose, *answers = member.host.run_many([networks.compose_file_probe(s), *identity.probes(s, legacy),
                                                  *hook.probes(s)])
        answers = hook.take(member.name, s, answers, compose.stdout if compose.ok else None)
        why = identity.problem(s, answers, legacy)
        if why:
            raise U7sError(why)
        current[member.name] = networks.parse_compose_subnet(compose.stdout if compose.ok else None)
        if not current[member.name]:
            in_use[member.name] = networks.other_networks(member.host, member.settings)
        return ""

    result = run_parallel(members, first_pass)
    ready = [m for m in members if m.settings and not m.failed]
    hook.decide([m.name for m in sorted(ready, key=lambda m: not m.spec.is_control_plane)])
    assigned = subnets.assign(
        [(m.name, layers_of(m).explicit().get("NODE_SUBNET"), current[m.name]) for m in ready],
        inventory.node_subnet_pool,
        in_use,
    )

    def second_pass(member: Member) -> str:
        # The host's working directory and its NODE_SUBNET enter above what they may be derived from; their
        # labels say where they came from (a default, the node's own, the pool), unless the user gave them.
        given, before = layers_of(member), member.settings.sources
        settled = settle(member.settings, Layers(
            lease=hook.layer(), lease_origin=hook.origin, config={"U7S_WORKDIR": workdirs[member.name], **config},
            host=member.spec.settings, flags={"NODE_SUBNET": assigned[member.name], **flags}))
        member.settings = dataclasses.replace(settled, sources=decided_labels(
            settled.sources, before, given, subnets.same(assigned[member.name], current[member.name]), inventory.node_subnet_pool))
        member.lease_problem = hook.problems.get(member.name)
        member.lease_on_host = dict(hook.views[member.name].record) if member.name in hook.views else {}
        return ""

    more = run_parallel(ready, second_pass)
    result.ok.update(more.ok)
    result.failed.update(more.failed)
    check_resolved([m for m in ready if not m.failed])
    return result


def reached_by(member: Member) -> list[str]:
    """The IPv4 addresses the inventory reaches a host by (HOST_IP's first choice, u7s/facts/hostip.py)."""
    from u7s.facts import hostip

    conn = None if member.spec.local else getattr(member.host, "context", None)  # a fabric Connection
    target, peer = hostip.ssh_target(conn) if conn is not None else (member.spec.address, None)
    return hostip.reached_by(target, peer)


def open_run(context, inventory_path: str | Inventory, flags: dict, config: dict, accept_unknown: bool,
             dry_run: bool = False, lock: bool = False, forks: int | None = None) -> Run:
    """Load and validate the inventory, connect to every host, resolve each host's settings.

    Precedence: u7s/config/layers.py (`config` is the u7s: section, `flags` --set). With `lock` (runs that
    change the cluster, not under --dry-run), the cluster's lock on the controller is taken before any host is touched,
    and each host's lock once its working directory is known (u7s/run/lock.py, hostlock.py).
    `forks` (--forks or u7s.forks) beats the inventory's cluster.forks; every step of the run
    handles at most that many hosts at once (u7s/run/parallel.py).
    """
    from u7s.config.crosshost import check_cluster_wide, check_overrides
    from u7s.config.allocation import inventory as source
    from u7s.run.parallel import forks as at_once, set_forks
    from u7s.ui.report import Board

    inv = inventory_path if isinstance(inventory_path, Inventory) else source(inventory_path, None, config, flags)
    if inv.checked_with != (config, flags):  # bad --set or config values never reach a host either
        check_overrides(inv, flags, config)
    check_cluster_wide(inv, config, flags)
    board = Board.for_hosts([h.name for h in inv.hosts])
    members = members_of(inv, board)
    report = Reporter(board=board)
    set_forks(forks or inv.forks)
    if len(members) > at_once():
        report.info(f"{len(members)} hosts, {at_once()} at a time (--forks); the others wait their turn")
    locking = lock and not dry_run
    if locking:
        _lock_cluster(inv, report)
    run = Run(inv, members, report, dry_run=dry_run, board=board)
    connected = connect_all(members, context, accept_unknown)
    resolved = resolve_all([m for m in members if not m.failed], inv, flags, config)
    if locking:
        from u7s.run.hostlock import lock_all

        lock_all([m for m in members if not m.failed])
    for title, result in (("connect", connected), ("settings", resolved)):
        if result.failed:
            run.failures[title] = result.failed
    return run


def _lock_cluster(inv: Inventory, report: Reporter) -> None:
    from u7s.run import lock

    taken = lock.take_cluster(inv.path, inv.name)
    if taken.took_over:
        report.warn(f"took over the lock of {lock.describe(taken.took_over)}, which ended without releasing it")


def decided_labels(sources: dict, before: dict, given: Layers, kept: bool, pool: str) -> dict:
    """Pure: `sources` with the labels of what the cluster decided: NODE_SUBNET and the host's working
    directory keep the label they had `before` when the user gave them, else say where they came from
    (the running node's subnet, the pool; the default directory)."""
    out = dict(sources)
    for key in ("NODE_SUBNET", "U7S_WORKDIR"):
        if given.winner(key) is not None:
            out[key] = before.get(key, out.get(key))
        elif key == "NODE_SUBNET":
            out[key] = "the subnet its node runs with" if kept else f"assigned from {pool}"
        else:
            out.pop(key, None)
    return out
