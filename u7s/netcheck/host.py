"""Read the network check's host-side causes: rp_filter and Podman's network per engine, path MTU per pair.

Each host answers in as few commands as it can: the path MTUs to all its peers
come from one constant script that takes the addresses as arguments.
"""

from __future__ import annotations

from u7s.facts import rpfilter
from u7s.facts.system import parse_route
from u7s.netcheck.probe import NodeView, Probe

# Per address its route as one JSON line, then every device's MTU (for routes that set none).
ROUTES = r"""
for address; do printf 'route %s %s\n' "$address" "$(ip -j route get "$address" 2>/dev/null)"; done
for file in /sys/class/net/*/mtu; do
	dev=${file%/mtu}
	printf 'dev %s %s\n' "${dev##*/}" "$(cat "$file" 2>/dev/null)"
done
"""


def path_mtus_argv(addresses: list[str]) -> list[str]:
    return ["sh", "-c", ROUTES, "path-mtu", *addresses]


def parse_path_mtus(text: str) -> dict[str, int | None]:
    """Pure: address -> the path MTU (the route's own, else its device's); None when unknown."""
    routes, devices = {}, {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        name, _, value = rest.partition(" ")
        if kind == "route":
            routes[name] = parse_route(value)
        elif kind == "dev" and value.strip().isdigit():
            devices[name] = int(value)
    return {address: mtu if mtu is not None else devices.get(dev) for address, (mtu, dev) in routes.items()}


def probes_of(s, peers: list[str]) -> list[list[str]]:
    """What `read` asks first, for the batch that prepares the node (u7s/netcheck/check.py)."""
    from u7s.render import engine

    return [rpfilter.namespace_probe(s), path_mtus_argv(peers), *([engine.engine_info(s)]
                                                                   if s.engine_type == "podman" else [])]


def read(v: NodeView, peers: list[str], host=None) -> None:
    """The host's facts onto its view: rp_filter in the engine, Podman's network, path MTU to each peer address.

    `host`: the member's host, or one that answers probes_of from a batch (u7s/run/answered.py).
    """
    host, s = host or v.member.host, v.member.settings
    v.rp_filter = engine_rp_filter(v, host)
    if s.engine_type == "podman":
        v.podman = podman_network(v, host)
    v.path_mtus = parse_path_mtus(host.run(path_mtus_argv(peers), check=False).stdout)


def engine_rp_filter(v: NodeView, host=None) -> dict[str, str]:
    """rp_filter where VXLAN arrives: the engine's network namespace (preflight's fact)."""
    from u7s.render import engine

    host, s = host or v.member.host, v.member.settings
    reading = rpfilter.read(host, s)  # entering the namespace needs no image: look the image up only if that fails
    if not reading.values:
        reading = rpfilter.read(host, s, host.run(engine.node_image_of(s)).stdout.strip())
    return reading.values


def podman_network(v: NodeView, host=None) -> Probe:
    """Podman 5 defaults to pasta: preflight's verdict (slirp4netns, or pasta as Usernetes configures it)."""
    from u7s.facts import podmannet
    from u7s.facts.engine import engine_info

    host, s = host or v.member.host, v.member.settings
    info = engine_info(host, s)
    if info is None:
        return Probe(v.member.name, v.member.name, "podman-network", True, "rootless network command: unknown")
    ok, detail, fix = podmannet.read(host, info)
    return Probe(v.member.name, v.member.name, "podman-network", ok, f"rootless network command: {detail}",
                 "" if ok else detail, "" if ok else f"{fix}, then recreate the node")


def probes(views: list[NodeView]) -> list[Probe]:
    """Pure: the host-side facts of these views as Probes (each engine, then each ordered pair)."""
    found = []
    for v in views:
        if v.podman is not None:
            found.append(v.podman)
        strict = rpfilter.Reading(v.rp_filter).strict
        found.append(Probe(
            v.member.name, v.member.name, "rp_filter", not strict,
            "engine network namespace: " + (", ".join(f"{k}={x}" for k, x in v.rp_filter.items()) or "unknown"),
            "rp_filter is 1 (strict) where VXLAN arrives: flannel's packets are dropped" if strict else "",
            rpfilter.FIX if strict else "",
        ))
    for a in views:
        for b in views:
            if a is not b:
                found.append(path_mtu_probe(a, b))
    return found


def path_mtu_probe(a: NodeView, b: NodeView) -> Probe:
    mtu = a.path_mtus.get(b.member.settings.host_ip)
    ok = mtu is None or mtu >= a.node_mtu
    return Probe(
        a.member.name, b.member.name, "path-mtu", ok,
        f"host path MTU {mtu if mtu is not None else 'unknown'}, node MTU {a.node_mtu}",
        "" if ok else f"the path MTU {mtu} is below the node's MTU {a.node_mtu}: "
        "flannel's VXLAN packets must be fragmented, and are often dropped",
        "" if ok else path_mtu_fix(a, mtu),
    )


def path_mtu_fix(a: NodeView, mtu: int) -> str:
    """Pure: set NODE_MTU; or, when it is set and the node network still has the old MTU, make that network again."""
    s = a.member.settings
    if s.node_mtu <= mtu and s.node_mtu != a.node_mtu:
        return (f"NODE_MTU is {s.node_mtu} but {a.member.name}'s node network was made with MTU {a.node_mtu}: "
                f"remove the node and its network there (`u7s down`, then `{s.container_engine} network rm "
                f"{s.network}` if it is still there) and create again")
    return (f"set NODE_MTU={mtu} for {a.member.name} (a setting; or raise the MTU between the hosts to "
            f"{a.node_mtu}), then run create again: the node network is made again with it")
