"""The cross-host data path: can node containers on different hosts carry a pod network?

For every ordered pair of hosts (A -> B), from inside A's node, through B's
published ports: TCP to B's API server, kubelet and etcd ports, and VXLAN on
B's PORT_FLANNEL set up as flannel does it (VNI 1, static forwarding entries to
the peer's HOST_IP, checksum offload off), then pings across that overlay, one
small and one as large as flannel's MTU allows. Host-side causes are read too:
rp_filter in each engine's network namespace, and the path MTU. Everything the
check creates (listeners, the test VXLAN device) is removed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from u7s.facts import rpfilter
from u7s.facts.system import parse_listening, path_mtu
from u7s.errors import U7sError
from u7s.run.parallel import run_parallel
from u7s.session import Member

DEVICE = "u7s-netcheck"
OVERLAY = "169.254.251.{}"  # link-local: exists only inside the nodes during the check
BANNER = "u7s-netcheck"
OVERLAY_PORT = 17946  # a listener on the overlay address only, inside the node
VXLAN_OVERHEAD = 50
TCP_PORTS = ("PORT_KUBE_APISERVER", "PORT_KUBELET", "PORT_ETCD")


@dataclass
class Probe:
    source: str
    target: str
    check: str  # "tcp PORT_X", "vxlan", "mtu"
    ok: bool
    detail: str
    cause: str = ""
    fix: str = ""


@dataclass
class NodeView:
    """What the check learns about one node before probing."""

    member: Member
    index: int
    mac: str
    node_mtu: int = 1500
    rp_filter: dict[str, str] = field(default_factory=dict)
    listeners: list[str] = field(default_factory=list)  # pids we started
    ours: set[str] = field(default_factory=set)  # ports answered by our banner
    has_ping: bool = False
    vxlan: str = ""  # "" when set up, else why not

    @property
    def overlay_ip(self) -> str:
        return OVERLAY.format(self.index + 1)


# -- pure helpers ---------------------------------------------------------------------------
def mac_for(index: int) -> str:
    return "02:75:37:00:{:02x}:{:02x}".format(index // 256, index % 256)


def diagnose(probes: list[Probe], views: dict[str, NodeView]) -> None:
    """Pure: attach the likely cause and fix to each failed probe."""
    for p in probes:
        if p.ok or p.cause:
            continue
        a, b = views[p.source], views[p.target]
        sa, sb = a.member.settings, b.member.settings
        strict = [v.member.name for v in (a, b) if rpfilter.Reading(v.rp_filter).strict]
        if p.check.startswith("tcp"):
            p.cause = f"{sb.host_ip}:{getattr(sb, p.check.split()[1].lower())} is not reachable from {p.source}'s node"
            p.fix = f"open TCP {getattr(sb, p.check.split()[1].lower())} to {sb.host_ip} in the firewalls between the hosts"
        elif p.check in ("vxlan", "ping") and strict:
            p.cause = f"rp_filter is 1 (strict) in the engine's network namespace on {', '.join(strict)}"
            p.fix = rpfilter.FIX
        elif p.check in ("vxlan", "ping"):
            p.cause = f"UDP {sb.port_flannel} from {sa.host_ip} to {sb.host_ip} is blocked (or {sa.port_flannel} back)"
            p.fix = f"allow UDP {sb.port_flannel} between the hosts' addresses in every firewall on the path"
        elif p.check == "mtu":
            p.cause = f"the path between {sa.host_ip} and {sb.host_ip} cannot carry flannel's VXLAN packets"
            p.fix = ("raise the path MTU, or give the node network a smaller MTU "
                     f"(flannel uses the node's MTU {a.node_mtu} minus {VXLAN_OVERHEAD})")
    return None


# -- the check ------------------------------------------------------------------------------
class NetworkCheck:
    def __init__(self, members: list[Member]):
        if len(members) < 2:
            raise U7sError("the network check needs at least two hosts with running nodes")
        self.views = {m.name: NodeView(m, i, mac_for(i)) for i, m in enumerate(members)}
        self.probes: list[Probe] = []
        self.unreachable: dict[str, str] = {}  # hosts that failed during the check, and why

    def run(self) -> list[Probe]:
        """Probe every pair of the hosts that stay reachable; always clean up."""
        views = list(self.views.values())
        try:
            active = self._each(views, self.prepare)
            self.host_side(active)
            self._each(active, lambda v: self.probe_from(v, active))
        finally:
            run_parallel([v.member for v in views], lambda m: self.cleanup(self.views[m.name]))
        diagnose(self.probes, self.views)
        return self.probes

    def _each(self, views: list[NodeView], action) -> list[NodeView]:
        """Run action on each view in parallel; a host that fails is set aside, the rest go on."""
        result = run_parallel([v.member for v in views], lambda m: action(self.views[m.name]) or "")
        self.unreachable.update(result.failed)
        return [v for v in views if v.member.name not in result.failed]

    def prepare(self, v: NodeView) -> None:
        node = v.member.node
        node.require_running()
        s = node.s
        v.node_mtu = int(node.exec(["cat", "/sys/class/net/eth0/mtu"], env=False).stdout.strip() or 1500)
        v.has_ping = node.exec(["sh", "-c", "command -v ping"], check=False, env=False).ok
        v.rp_filter = self.engine_rp_filter(v)
        busy = {port for _, port in parse_listening(node.exec(["ss", "-H", "-l", "-n", "-t"], env=False).stdout)}
        for key in TCP_PORTS:
            port = s.ports[key]
            if port in busy:
                continue
            v.listeners.append(self.listen(node, f"TCP-LISTEN:{port},reuseaddr,fork"))
            v.ours.add(key)
        self.setup_vxlan(v)

    def host_side(self, views: list[NodeView]) -> None:
        """Causes that live on the hosts: rp_filter and Podman's network in each engine, path MTU per pair."""
        for v in views:
            if v.member.settings.engine_type == "podman":
                self.probes.append(self.podman_network(v))
            strict = rpfilter.Reading(v.rp_filter).strict
            self.probes.append(Probe(
                v.member.name, v.member.name, "rp_filter", not strict,
                "engine network namespace: " + (", ".join(f"{k}={x}" for k, x in v.rp_filter.items()) or "unknown"),
                "rp_filter is 1 (strict) where VXLAN arrives: flannel's packets are dropped" if strict else "",
                rpfilter.FIX if strict else "",
            ))
        for a in views:
            for b in views:
                if a is b:
                    continue
                mtu = path_mtu(a.member.host, b.member.settings.host_ip)
                ok = mtu is None or mtu >= a.node_mtu
                self.probes.append(Probe(
                    a.member.name, b.member.name, "path-mtu", ok,
                    f"host path MTU {mtu if mtu is not None else 'unknown'}, node MTU {a.node_mtu}",
                    "" if ok else f"the path MTU {mtu} is below the node's MTU {a.node_mtu}: "
                    "flannel's VXLAN packets must be fragmented, and are often dropped",
                    "" if ok else f"raise the MTU between the hosts to {a.node_mtu}, or give the node network "
                    f"an MTU of {mtu} (the engine's network MTU option)",
                ))

    @staticmethod
    def podman_network(v: NodeView) -> Probe:
        """Podman 5 defaults to pasta: preflight's verdict (slirp4netns, or pasta as Usernetes configures it)."""
        from u7s.facts import podmannet
        from u7s.facts.engine import engine_info

        host, s = v.member.host, v.member.settings
        info = engine_info(host, s)
        if info is None:
            return Probe(v.member.name, v.member.name, "podman-network", True, "rootless network command: unknown")
        ok, detail, fix = podmannet.read(host, info)
        return Probe(v.member.name, v.member.name, "podman-network", ok, f"rootless network command: {detail}",
                     "" if ok else detail, "" if ok else f"{fix}, then recreate the node")

    @staticmethod
    def listen(node, address: str) -> str:
        """Start a socat that answers every connection with the banner; returns its pid."""
        return node.exec(["sh", "-c", 'socat "$@" </dev/null >/dev/null 2>&1 & echo $!', "sh",
                          address, f"SYSTEM:echo {BANNER}"], env=False).stdout.strip()

    def engine_rp_filter(self, v: NodeView) -> dict[str, str]:
        """rp_filter where VXLAN arrives: the engine's network namespace (preflight's fact)."""
        host, s = v.member.host, v.member.settings
        from u7s.build import engine

        image = host.run(engine.node_image_of(s)).stdout.strip()
        return rpfilter.read(host, s, image).values

    def setup_vxlan(self, v: NodeView) -> None:
        node, s = v.member.node, v.member.settings
        existing = node.exec(["ip", "-o", "link", "show", "type", "vxlan"], env=False, check=False).stdout
        if "flannel.1" in existing:
            v.vxlan = "flannel is running on this node (its VXLAN device owns the port)"
            return
        node.exec(["ip", "link", "del", DEVICE], env=False, check=False)
        add = node.exec(["ip", "link", "add", DEVICE, "address", v.mac, "type", "vxlan", "id", "1",
                         "dstport", str(s.port_flannel), "dev", "eth0", "nolearning"], env=False, check=False)
        if not add.ok:
            v.vxlan = f"cannot create a VXLAN device: {add.stderr.strip()}"
            return
        mtu = v.node_mtu - VXLAN_OVERHEAD
        for argv in (
            ["ip", "link", "set", DEVICE, "mtu", str(mtu)],
            ["ip", "addr", "add", f"{v.overlay_ip}/24", "dev", DEVICE],
            ["ip", "link", "set", DEVICE, "up"],
        ):
            node.exec(argv, env=False)
        # As the node image's udev rule does for flannel.1: checksums behind NAT are otherwise wrong.
        node.exec(["ethtool", "-K", DEVICE, "tx-checksum-ip-generic", "off"], env=False, check=False)
        v.listeners.append(self.listen(node, f"TCP-LISTEN:{OVERLAY_PORT},bind={v.overlay_ip},reuseaddr,fork"))
        for peer in self.views.values():
            if peer is v:
                continue
            ps = peer.member.settings
            node.exec(["ip", "neigh", "replace", peer.overlay_ip, "lladdr", peer.mac, "dev", DEVICE,
                       "nud", "permanent"], env=False)
            node.exec(["bridge", "fdb", "append", peer.mac, "dev", DEVICE, "dst", ps.host_ip,
                       "port", str(ps.port_flannel), "self", "permanent"], env=False)

    def probe_from(self, a: NodeView, views: list[NodeView]) -> str:
        node = a.member.node
        for b in views:
            if b is a:
                continue
            sb = b.member.settings
            for key in TCP_PORTS:
                port = sb.ports[key]
                r = node.exec(["socat", "-T", "3", "-u", f"TCP:{sb.host_ip}:{port},connect-timeout=3", "STDOUT"],
                              env=False, check=False)
                if key in b.ours:
                    ok = BANNER in r.stdout
                    detail = "answered" if ok else (r.stderr.strip().splitlines() or ["no answer"])[-1]
                else:
                    ok, detail = r.ok, "a service is listening" if r.ok else "refused or timed out"
                self.add(a, b, f"tcp {key}", ok, f"{sb.host_ip}:{port} {detail}")
            self.probe_overlay(a, b)
        return ""

    def probe_overlay(self, a: NodeView, b: NodeView) -> None:
        if a.vxlan or b.vxlan:
            self.add(a, b, "vxlan", True, f"not checked: {a.vxlan or b.vxlan}")
            return
        node, port = a.member.node, b.member.settings.port_flannel
        r = node.exec(["socat", "-T", "3", "-u", f"TCP:{b.overlay_ip}:{OVERLAY_PORT},connect-timeout=3", "STDOUT"],
                      env=False, check=False)
        ok = BANNER in r.stdout
        self.add(a, b, "vxlan", ok, f"TCP across the overlay to {b.overlay_ip} over UDP {port}"
                 + ("" if ok else " got no answer"))
        if not a.has_ping:
            self.add(a, b, "ping", True, "not checked: the node has no ping")
            return
        small = node.exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", b.overlay_ip], env=False, check=False)
        self.add(a, b, "ping", small.ok, f"ping {b.overlay_ip}" + ("" if small.ok else " got no answer"))
        if ok and small.ok:
            size = min(a.node_mtu, b.node_mtu) - VXLAN_OVERHEAD - 28
            big = node.exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", str(size), b.overlay_ip],
                            env=False, check=False)
            self.add(a, b, "mtu", big.ok, f"{size + 28}-byte packets across the overlay"
                     + ("" if big.ok else " were lost"))

    def add(self, a: NodeView, b: NodeView, check: str, ok: bool, detail: str) -> None:
        self.probes.append(Probe(a.member.name, b.member.name, check, ok, detail))

    def cleanup(self, v: NodeView) -> str:
        if v.member.name in self.unreachable:
            return ""  # nothing can be done there now; the next check starts by removing its device
        node = v.member.node
        for pid in v.listeners:
            if pid.isdigit():
                node.exec(["kill", pid], env=False, check=False)
        if not v.vxlan:
            node.exec(["ip", "link", "del", DEVICE], env=False, check=False)
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
