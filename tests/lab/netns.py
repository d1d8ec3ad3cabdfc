"""The lab network: a bridge in the root namespace and one network namespace per host.

Each host namespace has lo, an eth0 (veth to the bridge) with the host address,
and a default route via an address nobody owns: `ip route get 1` resolves the
host address as source (how u7s finds HOST_IP) while no packet can leave.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from .commands import log, run, succeeds
from .layout import BRIDGE, PREFIX, HostLayout, LabLayout

ETC_NETNS = Path("/etc/netns")
# iptables rule that lets bridged lab traffic pass a FORWARD policy of DROP
# (a rootful dockerd sets it; with br_netfilter it applies to bridges too).
FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment", "--comment", PREFIX, "-j", "ACCEPT"]


def create_bridge(layout: LabLayout) -> None:
    """Create the bridge with the lab's first address and let traffic across it pass iptables."""
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{layout.bridge_address}/{layout.prefix_len}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    if shutil.which("iptables"):
        run(["iptables", "-I", *FORWARD_RULE])
    log(f"bridge {BRIDGE} {layout.bridge_address}/{layout.prefix_len}")


def create_host(host: HostLayout, layout: LabLayout) -> None:
    """Create the host's namespace, its veth to the bridge, its address and routes, and its /etc files."""
    ns = host.netns
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", host.veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{host.address}/{host.prefix_len}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", host.gateway, "dev", "eth0"])
    _write_etc(host, layout)


def set_mtu(hosts: list[HostLayout], mtu: int) -> None:
    """Give the lab's links this MTU: the bridge, each host's veth end on it, and its eth0 inside."""
    run(["ip", "link", "set", BRIDGE, "mtu", str(mtu)])
    for host in hosts:
        run(["ip", "link", "set", host.veth, "mtu", str(mtu)])
        run(["ip", "-n", host.netns, "link", "set", "eth0", "mtu", str(mtu)])


@contextlib.contextmanager
def link_mtu(lab_hosts, mtu: int) -> Iterator[None]:
    """Every lab host's link has this MTU (GCP's 1460, OpenStack's 1450, ...) until the block ends, then 1500."""
    hosts = [HostLayout(index=int(h.name[1:]), address=h.address, prefix_len=24, gateway="") for h in lab_hosts]
    set_mtu(hosts, mtu)
    try:
        yield
    finally:
        set_mtu(hosts, 1500)


def _write_etc(host: HostLayout, layout: LabLayout) -> None:
    """Give the host its own /etc/hostname and /etc/hosts (`ip netns exec` binds /etc/netns/NS/* over /etc)."""
    etc = ETC_NETNS / host.netns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(f"{host.name}\n")
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{host.name}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{h.address}\t{h.name}" for h in layout.hosts if h.name != host.name]
    (etc / "hosts").write_text("\n".join(lines) + "\n")


def route_source(netns: str) -> tuple[str | None, str]:
    """Return the preferred source address of the route to 1.0.0.0 inside netns (u7s's HOST_IP), and why not."""
    out = run(["ip", "netns", "exec", netns, "ip", "--json", "route", "get", "1"], check=False)
    if out.returncode != 0:
        return None, (out.stderr.strip() or f"exit status {out.returncode}")[-300:]
    routes = json.loads(out.stdout or "[]")
    return (routes[0].get("prefsrc"), "") if routes else (None, "no route")


# Vagrant's NAT NIC: every VM has this address, with its default route through 10.0.2.2.
NAT_ADDRESS, NAT_GATEWAY = "10.0.2.15", "10.0.2.2"
NAT_NIC = "wan0"


def _default_routes(netns: str) -> list[dict]:
    return json.loads(run(["ip", "-n", netns, "-j", "route", "show", "default"]).stdout or "[]")


def _restore_routes(netns: str, routes: list[dict]) -> None:
    for route in routes:
        via = ["via", route["gateway"]] if route.get("gateway") else []
        run(["ip", "-n", netns, "route", "replace", "default", *via, "dev", route["dev"]])


@contextlib.contextmanager
def nat_nic(netns: str) -> Iterator[None]:
    """The host gets a first NIC as Vagrant gives every VM: wan0 with 10.0.2.15/24 and the default route
    through it (a veth pair inside the namespace: no packet leaves). eth0, with the lab address the
    inventory names, becomes the second NIC. Undone when the block ends."""
    before = _default_routes(netns)
    run(["ip", "-n", netns, "link", "add", NAT_NIC, "type", "veth", "peer", "name", f"{NAT_NIC}-peer"])
    try:
        run(["ip", "-n", netns, "addr", "add", f"{NAT_ADDRESS}/24", "dev", NAT_NIC])
        for link in (NAT_NIC, f"{NAT_NIC}-peer"):
            run(["ip", "-n", netns, "link", "set", link, "up"])
        run(["ip", "-n", netns, "route", "replace", "default", "via", NAT_GATEWAY, "dev", NAT_NIC])
        yield
    finally:
        run(["ip", "-n", netns, "link", "delete", NAT_NIC], check=False)  # its peer and routes go with it
        _restore_routes(netns, before)


@contextlib.contextmanager
def no_default_route(netns: str) -> Iterator[None]:
    """The host has no default route (an air-gapped site): only its own subnet is reachable. Undone afterwards."""
    before = _default_routes(netns)
    run(["ip", "-n", netns, "route", "flush", "exact", "0.0.0.0/0"])
    try:
        yield
    finally:
        _restore_routes(netns, before)


@contextlib.contextmanager
def second_address(netns: str, address: str, prefix_len: int = 24) -> Iterator[str]:
    """eth0 gets a second address in the lab subnet (a host's address changed, or a user picks another): the
    others reach it on the bridge, while `ip route get 1` still gives the first. Removed when the block ends."""
    run(["ip", "-n", netns, "addr", "add", f"{address}/{prefix_len}", "dev", "eth0"])
    try:
        yield address
    finally:
        run(["ip", "-n", netns, "addr", "del", f"{address}/{prefix_len}", "dev", "eth0"], check=False)


def _forward_rule(port: int, address: str, bridge_address: str) -> list[str]:
    return ["OUTPUT", "-d", bridge_address, "-p", "tcp", "--dport", str(port), "-m", "comment", "--comment",
            PREFIX, "-j", "DNAT", "--to-destination", f"{address}:22"]


@contextlib.contextmanager
def forwarded_ssh(port: int, address: str, bridge_address: str) -> Iterator[None]:
    """The controller reaches a host's sshd at BRIDGE_ADDRESS:PORT, as Vagrant forwards 127.0.0.1:2222 to a VM:
    an address the host does not have. A nat OUTPUT rule (teardown removes any left over)."""
    rule = _forward_rule(port, address, bridge_address)
    run(["iptables", "-t", "nat", "-A", *rule])
    try:
        yield
    finally:
        run(["iptables", "-t", "nat", "-D", *rule], check=False)


def forward_rules() -> list[list[str]]:
    """The lab's nat OUTPUT rules still in place, each as the arguments that delete it."""
    if not shutil.which("iptables"):
        return []
    out = run(["iptables", "-t", "nat", "-S", "OUTPUT"], check=False).stdout
    return [line.split()[1:] for line in out.splitlines() if line.startswith("-A OUTPUT") and PREFIX in line]


def lab_namespaces() -> list[str]:
    """Return every network namespace named like a lab host's."""
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"{PREFIX}-")]


def namespace_pids(netns: str) -> list[int]:
    """Return the pids of every process inside a lab namespace (all of them are the lab's own)."""
    out = run(["ip", "netns", "pids", netns], check=False).stdout
    return [int(p) for p in out.split()]


def lab_links() -> list[str]:
    """Return every root-namespace link named like the lab's (bridge, veth ends)."""
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(PREFIX):
            names.append(name)
    return names


def remove_all() -> list[str]:
    """Delete every lab namespace, link, /etc/netns entry and iptables rule; return what was removed."""
    removed = []
    for ns in lab_namespaces():
        run(["ip", "netns", "delete", ns], check=False)
        removed.append(f"netns {ns}")
    for link in lab_links():
        run(["ip", "link", "delete", link], check=False)
        removed.append(f"link {link}")
    if ETC_NETNS.is_dir():
        for etc in ETC_NETNS.glob(f"{PREFIX}-*"):
            shutil.rmtree(etc, ignore_errors=True)
            removed.append(f"{etc}")
    while has_forward_rule():
        run(["iptables", "-D", *FORWARD_RULE])
        removed.append("iptables FORWARD rule")
    for rule in forward_rules():
        run(["iptables", "-t", "nat", "-D", *rule], check=False)
        removed.append("iptables nat rule " + " ".join(rule))
    return removed


def has_forward_rule() -> bool:
    return bool(shutil.which("iptables")) and succeeds(["iptables", "-C", *FORWARD_RULE])
