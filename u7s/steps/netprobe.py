"""Describe what the network check knows: its probes, each node's view, and the constants they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from u7s.session import Member

DEVICE = "u7s-netcheck"
OVERLAY = "169.254.251.{}"  # link-local: exists only inside the nodes during the check
BANNER = "u7s-netcheck"
OVERLAY_PORT = 17946  # a listener on the overlay address only, inside the node
VXLAN_OVERHEAD = 50
TCP_PORTS = ("PORT_KUBE_APISERVER", "PORT_KUBELET", "PORT_ETCD")
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
    prepared: bool = False  # the node program set things up there: clean up
    path_mtus: dict[str, int | None] = field(default_factory=dict)  # peer HOST_IP -> path MTU
    podman: Probe | None = None
    probes: list[Probe] = field(default_factory=list)  # from this node to its peers

    @property
    def overlay_ip(self) -> str:
        return OVERLAY.format(self.index + 1)


def mac_for(index: int) -> str:
    return "02:75:37:00:{:02x}:{:02x}".format(index // 256, index % 256)
