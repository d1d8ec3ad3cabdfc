"""Describe what the network check knows: its probes, each node's view, and the constants they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from u7s.session import Member

DEVICE = "u7s-netcheck"
OVERLAY = "169.254.251.{}"  # link-local: exists only inside the nodes during the check
BANNER = "u7s-netcheck"
OVERLAY_PORT = 17946  # a listener on the overlay address only, inside the node
# The test device's VNI: not flannel's (1), so that on a node where flannel runs it shares flannel.1's UDP
# socket on PORT_FLANNEL (the kernel hands each datagram to the device of its VNI) and the port is checked there too.
VNI = 30007
NOT_CHECKED = "not checked: "  # how the detail of a probe that could not run begins (for the reader only)
VXLAN_OVERHEAD = 50
TCP_PORTS = ("PORT_KUBE_APISERVER", "PORT_KUBELET", "PORT_ETCD")
TCP_CHECKS = {f"tcp {key}": key for key in TCP_PORTS}  # a TCP probe's check -> the setting of the port it probes
CONCURRENCY = 32  # hosts worked on at once; each is one SSH command at a time
PEER_JOBS = 64  # peers a node probes at once (each is six short-lived processes)


@dataclass
class Probe:
    source: str
    target: str
    check: str  # "tcp PORT_X", "vxlan", "mtu"
    ok: bool
    detail: str
    cause: str = ""
    fix: str = ""
    not_checked: str = ""  # why the probe could not run ("" when it ran): ok, not a failure, counted apart


def unchecked_probe(source: str, target: str, check: str, why: str) -> Probe:
    """A probe that could not run, and why."""
    return Probe(source, target, check, True, NOT_CHECKED + why, not_checked=why)


@dataclass
class NodeView:
    """What the check learns about one node before probing."""

    member: Member
    index: int
    mac: str
    node_mtu: int = 1500
    rp_filter: dict[str, str] = field(default_factory=dict)
    ours: set[str] = field(default_factory=set)  # ports answered by our banner
    has_ping: bool = False
    vxlan: str = ""  # "" when set up, else why not
    flannel: bool = False  # flannel's VXLAN device is there: ours shares its UDP port
    prepared: bool = False  # the node program set things up there: clean up
    path_mtus: dict[str, int | None] = field(default_factory=dict)  # peer HOST_IP -> path MTU
    podman: Probe | None = None
    probes: list[Probe] = field(default_factory=list)  # from this node to its peers

    @property
    def overlay_ip(self) -> str:
        return OVERLAY.format(self.index + 1)


def mac_for(index: int) -> str:
    return "02:75:37:00:{:02x}:{:02x}".format(index // 256, index % 256)


def unchecked(p: Probe) -> bool:
    return bool(p.not_checked)


def summary_parts(probes: list[Probe]) -> tuple[str, list[str]]:
    """Pure: "N of M probes passed", and what could not be probed, one part per kind and reason."""
    passed = sum(p.ok and not unchecked(p) for p in probes)
    counts: dict[tuple[str, str], int] = {}
    for p in filter(unchecked, probes):
        key = (p.check, p.not_checked)
        counts[key] = counts.get(key, 0) + 1
    return f"{passed} of {len(probes)} probes passed", [f"{n} {check} not checked ({why})"
                                                        for (check, why), n in counts.items()]


def summary(probes: list[Probe]) -> str:
    """Pure: summary_parts in one line, the parts after "; "."""
    passed, left = summary_parts(probes)
    return "; ".join([passed, *left])
