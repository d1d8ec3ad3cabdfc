"""Check the cross-host data path: can node containers on different hosts carry a pod network?

For every ordered pair of hosts (A -> B), from inside A's node, through B's
published ports: TCP to B's API server, kubelet and etcd ports, and VXLAN on
B's PORT_FLANNEL set up as flannel does it (static forwarding entries to the
peer's HOST_IP, checksum offload off) on a VNI of its own, then pings across that
overlay, one small and one as large as flannel's MTU allows. Its own VNI lets the
device share the UDP port with flannel.1 on nodes where flannel runs already, so
a host added to a running cluster has UDP checked both ways with every node.
Host-side causes are read too: rp_filter in each engine's network namespace, and
the path MTU. Everything the check creates (listeners, the test VXLAN device) is
removed again.

A program in the node (netcheck.sh) does a host's share in one run per phase:
prepare (facts, listeners, the device and every peer's entries), probe (all peers
at once), clean up. Hosts run each phase in parallel, so the check takes about as
long for 16 hosts as for 2; the host-side facts are one batch per host as well.
"""

from __future__ import annotations

import functools
from pathlib import Path

from u7s.facts import rpfilter
from u7s.errors import U7sError, last_line
from u7s.run.parallel import run_parallel
from u7s.session import Member
from u7s.netcheck import host as nethost
from u7s.netcheck.probe import (  # noqa: F401 (Probe, NodeView, mac_for, summary, summary_parts: its interface)
    BANNER, CONCURRENCY, DEVICE, OVERLAY_PORT, PEER_JOBS, TCP_CHECKS, TCP_PORTS, VNI, VXLAN_OVERHEAD, NodeView,
    Probe, mac_for, summary, summary_parts, unchecked_probe,
)


def diagnose(probes: list[Probe], views: dict[str, NodeView]) -> None:
    """Pure: attach the likely cause and fix to each failed probe."""
    for p in probes:
        if p.ok or p.cause:
            continue
        a, b = views[p.source], views[p.target]
        sa, sb = a.member.settings, b.member.settings
        strict = [v.member.name for v in (a, b) if rpfilter.Reading(v.rp_filter).strict]
        if p.check in TCP_CHECKS:
            port = sb.ports[TCP_CHECKS[p.check]]
            p.cause = f"{sb.host_ip}:{port} is not reachable from {p.source}'s node"
            p.fix = f"open TCP {port} to {sb.host_ip} in the firewalls between the hosts"
        elif p.check in ("vxlan", "ping") and strict:
            p.cause = f"rp_filter is 1 (strict) in the engine's network namespace on {', '.join(strict)}"
            p.fix = rpfilter.FIX
        elif p.check in ("vxlan", "ping"):
            p.cause = f"UDP {sb.port_flannel} from {sa.host_ip} to {sb.host_ip} is blocked (or {sa.port_flannel} back)"
            p.fix = f"allow UDP {sb.port_flannel} between the hosts' addresses in every firewall on the path"
        elif p.check == "mtu":
            p.cause = f"the path between {sa.host_ip} and {sb.host_ip} cannot carry {sa.cni}'s VXLAN packets"
            p.fix = (f"set NODE_MTU (for {p.source} and {p.target}) below {min(a.node_mtu, b.node_mtu)}, to the "
                     f"largest packet the path between them carries ({sa.cni} uses NODE_MTU minus {VXLAN_OVERHEAD}), "
                     "or raise the path MTU")
    return None


# -- the node program: its argument lists, and pure parsers of its output -----------------------------
@functools.cache
def program_text() -> str:
    return (Path(__file__).parent / "netcheck.sh").read_text()


def node_program(phase: str, *args: object) -> list[str]:
    """argv running one phase of the node program: the script is constant, every value is a parameter."""
    return ["bash", "-c", program_text(), "u7s-netcheck", phase, DEVICE, BANNER, str(OVERLAY_PORT),
            *(str(a) for a in args)]


def prepare_args(v: NodeView, peers: list[NodeView]) -> list[str]:
    """This node's device and ports, then the peer table: overlay address, MAC, HOST_IP, PORT_FLANNEL each."""
    s = v.member.settings
    table = [str(x) for p in peers if p is not v for x in
             (p.overlay_ip, p.mac, p.member.settings.host_ip, p.member.settings.port_flannel)]
    return [v.mac, v.overlay_ip, str(VNI), str(s.port_flannel), str(VXLAN_OVERHEAD),
            *sorted({str(s.ports[key]) for key in TCP_PORTS}), "--", *table]


def read_facts(v: NodeView, text: str) -> None:
    """Pure: the prepare phase's key=value lines onto the view (MTU, ping, our listeners, flannel, the device)."""
    ports = {str(port): key for key, port in v.member.settings.ports.items() if key in TCP_PORTS}
    v.vxlan = "the node program did not report on the VXLAN device"
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "mtu" and value.isdigit():
            v.node_mtu = int(value)
        elif key == "ping":
            v.has_ping = value == "yes"
        elif key == "ours":
            v.ours |= {k for port, k in ports.items() if port == value}
        elif key == "flannel":
            v.flannel = value == "yes"
        elif key == "vxlan":
            v.vxlan = "" if value == "ok" else value


def probe_args(a: NodeView, peers: list[NodeView], jobs: int) -> list[str]:
    """The probe phase's table: per peer its index, HOST_IP, overlay address (- when not checked), ping size, ports."""
    args = [str(jobs), str(len(TCP_PORTS))]
    for b in peers:
        if b is a:
            continue
        sb = b.member.settings
        overlay = "-" if a.vxlan or b.vxlan else b.overlay_ip
        size = min(a.node_mtu, b.node_mtu) - VXLAN_OVERHEAD - 28
        args += [str(b.index), sb.host_ip, overlay, str(size), *(str(sb.ports[key]) for key in TCP_PORTS)]
    return args


def parse_probe_lines(text: str) -> dict[tuple[int, str, str], tuple[int, str, str]]:
    """Pure: (peer index, kind, port or -) -> (exit status, banner seen 1/0/-, last error line)."""
    found = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 5 or not fields[0].isdigit() or not fields[3].lstrip("-").isdigit():
            continue
        found[(int(fields[0]), fields[1], fields[2])] = (int(fields[3]), fields[4], "\t".join(fields[5:]).strip())
    return found


def probes_from(a: NodeView, peers: list[NodeView], text: str) -> list[Probe]:
    """Pure: the probe phase's output as Probes, in the order and with the words the check has always used."""
    lines = parse_probe_lines(text)
    probes = []

    def add(b, check, ok, detail):
        probes.append(Probe(a.member.name, b.member.name, check, ok, detail))

    for b in peers:
        if b is a:
            continue
        sb = b.member.settings
        for key in TCP_PORTS:
            port = sb.ports[key]
            rc, seen, error = lines.get((b.index, "tcp", str(port)), (-1, "0", "the probe did not run"))
            if key in b.ours:
                ok = seen == "1"
                detail = "answered" if ok else error or "no answer"
            else:
                ok, detail = rc == 0, "a service is listening" if rc == 0 else "refused or timed out"
            add(b, f"tcp {key}", ok, f"{sb.host_ip}:{port} {detail}")
        if a.vxlan or b.vxlan:
            why = "; ".join(f"{v.member.name}: {v.vxlan}" for v in (a, b) if v.vxlan)
            probes.append(unchecked_probe(a.member.name, b.member.name, "vxlan", why))
            continue
        _, seen, _ = lines.get((b.index, "vxlan", "-"), (-1, "0", ""))
        ok = seen == "1"
        add(b, "vxlan", ok, f"TCP across the overlay to {b.overlay_ip} over UDP {sb.port_flannel}"
            + (f" (beside {sb.cni}'s device there)" if b.flannel else "") + ("" if ok else " got no answer"))
        if not a.has_ping:
            probes.append(unchecked_probe(a.member.name, b.member.name, "ping", "the node has no ping"))
            continue
        small = lines.get((b.index, "ping", "-"), (-1, "-", ""))[0] == 0
        add(b, "ping", small, f"ping {b.overlay_ip}" + ("" if small else " got no answer"))
        if ok and small:
            size = min(a.node_mtu, b.node_mtu) - VXLAN_OVERHEAD
            big = lines.get((b.index, "mtu", "-"), (-1, "-", ""))[0] == 0
            add(b, "mtu", big, f"{size}-byte packets across the overlay" + ("" if big else " were lost"))
    return probes


# -- the check ------------------------------------------------------------------------------
class NetworkCheck:
    """Every ordered pair, in three rounds of one command per host (hosts in parallel): prepare, probe, clean up."""

    def __init__(self, members: list[Member], limit: int = CONCURRENCY, peer_jobs: int = PEER_JOBS):
        if len(members) < 2:
            raise U7sError("the network check needs at least two hosts with running nodes")
        self.views = {m.name: NodeView(m, i, mac_for(i)) for i, m in enumerate(members)}
        self.limit, self.peer_jobs = limit, peer_jobs
        self.probes: list[Probe] = []
        self.unreachable: dict[str, str] = {}  # hosts that failed during the check, and why

    def run(self) -> list[Probe]:
        """Probe every pair of the hosts that stay reachable; always clean up."""
        views = list(self.views.values())
        try:
            active = self._each(views, self.prepare)
            probed = self._each(active, lambda v: self.probe_from(v, active))
        finally:
            run_parallel([v.member for v in views], lambda m: self.cleanup(self.views[m.name]), limit=self.limit)
        self.probes = nethost.probes(active) + [p for v in probed for p in v.probes]
        diagnose(self.probes, self.views)
        return self.probes

    def _each(self, views: list[NodeView], action) -> list[NodeView]:
        """Run action on each view in parallel; a host that fails is set aside, the rest go on."""
        result = run_parallel([v.member for v in views], lambda m: action(self.views[m.name]) or "", limit=self.limit)
        self.unreachable.update(result.failed)
        return [v for v in views if v.member.name not in result.failed]

    def prepare(self, v: NodeView) -> None:
        """One run of the node program (facts, listeners, VXLAN device) and the host's own facts: one batch."""
        from u7s.node.container import Node
        from u7s.render import engine
        from u7s.run.answered import Answered

        m = v.member
        program = node_program("prepare", *prepare_args(v, list(self.views.values())))
        peers = [p.member.settings.host_ip for p in self.views.values() if p is not v]
        host = Answered(m.host, [engine.node_exec(m.settings, program, env=False, stdin=False),
                                 *nethost.probes_of(m.settings, peers)])
        node = Node(host, m.settings, m.report)
        r = node.exec(program, env=False, check=False)
        if not r.ok:
            node.require_running()  # the clearer message when the node is not up
            why = last_line(r.stderr, f"exit status {r.exited}")
            raise U7sError(f"{v.member.name}: the network check cannot prepare the node: {why}")
        v.prepared = True
        read_facts(v, r.stdout)
        nethost.read(v, peers, host)

    podman_network = staticmethod(nethost.podman_network)

    def probe_from(self, a: NodeView, views: list[NodeView]) -> str:
        """One run of the node program probes every peer at once."""
        r = a.member.node.exec(node_program("probe", *probe_args(a, views, self.peer_jobs)), env=False, check=False)
        if not r.ok:
            why = last_line(r.stderr, f"exit status {r.exited}")
            raise U7sError(f"{a.member.name}: the network check's probes did not run: {why}")
        a.probes = probes_from(a, views, r.stdout)
        return ""

    def cleanup(self, v: NodeView) -> str:
        if not v.prepared:
            return ""  # nothing set up, or the program cleaned up as it failed (and every prepare removes leftovers)
        v.member.node.exec(node_program("cleanup"), env=False, check=False)
        return ""


def failures(probes: list[Probe]) -> list[Probe]:
    return [p for p in probes if not p.ok]


def on_hosts(run, only: str | None = None) -> list[Probe]:
    """Check the healthy hosts (or those named in `only`, comma-separated); hosts lost on the way go to run.failures."""
    names = only.split(",") if only else None
    chosen = [m for m in run.healthy if names is None or m.name in names]
    if names is not None and len(chosen) != len(names):
        raise U7sError(f"--only {only}: unknown or unreachable host(s)")
    check = NetworkCheck(chosen)
    probes = check.run()
    for name, reason in check.unreachable.items():
        run.failures.setdefault("check-network", {})[name] = reason
    return probes


def raise_failures(run, probes: list[Probe]) -> None:
    """One error counting the failed probes and naming the hosts that could not be checked."""
    bad = failures(probes)
    if bad or run.failures:
        lost = sorted({name for failed in run.failures.values() for name in failed})
        raise U7sError(f"network check: {len(bad)} failed probe(s)" + (f"; not checked: {', '.join(lost)}" if lost else ""))
