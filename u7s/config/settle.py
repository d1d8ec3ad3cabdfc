"""What a cluster decides after reading its hosts, put into each host's settings without resolving it again.

u7s/session.py reads every host once with its settings (its working directory, the subnet its node runs
with, the ports in use there), then decides across hosts: each host's own working directory, the
NODE_SUBNETs, the port lease. These enter as layers (u7s/config/layers.py); only the values they feed are
derived and checked again, by the resolver's own rules.
"""

from __future__ import annotations

import dataclasses

from u7s.config.layers import Layers
from u7s.config.resolve import Resolver
from u7s.config.settings import SPECS, Settings
from u7s.errors import SettingsError


def settle(s: Settings, layers: Layers) -> Settings:
    """`s` with what a cluster decided after reading its hosts (u7s/session.py): each host's working directory,
    the NODE_SUBNET assigned across hosts and the port lease, as layers of `layers`.

    The host is not resolved again: only the values these feed are derived and checked anew (NODE_IP,
    the ports, U7S_STORAGE_DIR), by the same rules as in `resolve`.
    """
    raw, sources = layers.merged()
    r = Resolver(raw, sources, None, s.cluster)
    subnet, node_ip = r.subnet(s.hostname, (s.pod_subnet, s.service_subnet))
    ports = r.ports(s.publish)
    workdir, storage_dir = r.directories(s.workdir)
    if r.problems:
        raise SettingsError("\n".join(r.problems), r.keyed)
    late = {"NODE_SUBNET": subnet, "NODE_IP": node_ip, **ports, "U7S_WORKDIR": workdir, "U7S_STORAGE_DIR": storage_dir}
    return dataclasses.replace(s, **{SPECS[key].attr: value for key, value in late.items()},
                               sources={**s.sources, **r.sources})
