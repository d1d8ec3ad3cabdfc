"""The port lease as one layer of a cluster's settings: below every explicit value, above the defaults.

session.resolve_all asks each host for its lease within the batch it already sends
(compose file, identity probes): this cluster's record there, the ports in use, and
whether this cluster's node runs. Then, once for the cluster, the lease is decided
(u7s/config/leases.py) and handed to the second resolution as config values whose
source is `lease`. A leased port someone else now holds is kept per host in
`problems`: the steps that would start a node there say so in one line; tasks that
only read or remove (status, down-v) go on.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from u7s.config import leases, leasestore
from u7s.render.ownership import owner
from u7s.config import leaserecord as lease


class LeaseHook:
    """One cluster's lease across its hosts, for one run."""

    def __init__(self, config: dict, host_settings: List[dict], flags: dict):
        self.given = leases.given_ports(config, *host_settings, flags)
        self.views: Dict[str, leases.HostView] = {}
        self.cluster = ""
        self.ports: Dict[str, int] = {}
        self.origin = ""
        self.problems: Dict[str, str] = {}

    @staticmethod
    def probes(s) -> list:
        """Read-only commands to add to the host's batch (answered in take())."""
        return [["cat", lease.host_path(s.workdir)], *lease.port_probes()]

    def take(self, name: str, s, answers: list, compose: Optional[str]) -> list:
        """Keep this host's lease answers (the last ones of the batch); return the others, in order.

        answers[0] must be identity.probes()'s inspect of this cluster's node container.
        """
        count = len(self.probes(s))
        own, mine = answers[:-count], answers[-count:]
        self.cluster = owner(s)
        made = lease.compose_ports(compose)
        record = lease.read(mine[0].stdout, self.cluster) if mine[0].ok else {}
        in_use = lease.ports_from(mine[1:])
        if own and lease.running(own[0]):
            in_use = leases.without(in_use, made)
        self.views[name] = leases.HostView(record, in_use, made)
        return own

    def decide(self, order: List[str]) -> None:
        """Decide the lease from what the hosts in `order` said (the control plane first)."""
        if not self.views:
            return
        views = {name: self.views[name] for name in order if name in self.views}
        self.ports, self.origin, self.problems = leases.decide(
            self.given, leasestore.read(self.cluster), views, leasestore.others(self.cluster))

    def layer(self) -> dict:
        """The config values the lease adds (lowest layer: explicit values win)."""
        return dict(self.ports)

    def sources(self) -> dict:
        return {key: self.origin for key in self.ports}
