"""The node networks on a host: the subnet u7s last gave its node, and the engine's other networks."""

from __future__ import annotations

import ipaddress
import json

from u7s.render import engine
from u7s.config.settings import Settings
from u7s.run.hosts import Host


def parse_compose_subnet(text: str | None) -> str | None:
    """The NODE_SUBNET in a compose file u7s wrote; None for no file or another shape."""
    import yaml

    if not text:
        return None
    try:
        return yaml.safe_load(text)["networks"]["default"]["ipam"]["config"][0]["subnet"]
    except (LookupError, TypeError, yaml.YAMLError):
        return None


def compose_file_probe(s: Settings) -> list[str]:
    """Read the compose file u7s last wrote (its NODE_SUBNET: parse_compose_subnet)."""
    # `cat`, not SFTP: a run that only reads (status, preflight) then never opens an SFTP session.
    return ["cat", s.path(engine.COMPOSE_FILE)]




def networks_in_use(inspect_json: str, own: str) -> dict[str, list[ipaddress.IPv4Network]]:
    """Network name -> IPv4 subnets, from `<engine> network inspect`, leaving out the network `own`."""
    try:
        data = json.loads(inspect_json)
    except ValueError:
        return {}
    out: dict[str, list[ipaddress.IPv4Network]] = {}
    for network in data if isinstance(data, list) else []:
        name = network.get("Name") or network.get("name") if isinstance(network, dict) else None
        if not name or name == own:
            continue
        texts = [c.get("Subnet") for c in ((network.get("IPAM") or {}).get("Config") or [])]
        texts += [c.get("subnet") for c in (network.get("subnets") or [])]
        found = []
        for text in texts:
            try:
                subnet = ipaddress.ip_network(text, strict=False)
            except (TypeError, ValueError):
                continue
            if subnet.version == 4:
                found.append(subnet)
        if found:
            out[name] = found
    return out



def other_networks(host: Host, s: Settings) -> dict[str, list[ipaddress.IPv4Network]]:
    """The engine's networks other than this instance's own, with their IPv4 subnets."""
    listed = host.run(engine.network_names(s), check=False)
    names = [n for n in listed.stdout.split() if n != s.network] if listed.ok else []
    if not names:
        return {}
    # A network removed in between makes inspect fail for it alone; the others are still printed.
    return networks_in_use(host.run(engine.network_inspect(s, names), check=False).stdout, s.network)
