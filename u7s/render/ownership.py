"""The names saying whose a node is: its container's labels and the working directory's marker.

Made here, where the compose file and the working directory are rendered; u7s/node/identity.py
reads them back from a host and refuses to touch another cluster's node.
"""

from __future__ import annotations

from u7s.config.settings import Settings

CLUSTER_LABEL = "io.u7s.cluster"
WORKDIR_LABEL = "io.u7s.workdir"
MARKER = ".u7s-cluster"  # in the working directory: the name of the cluster it belongs to


def owner(s: Settings) -> str:
    """The name a node carries: the inventory's cluster name; for a single host, its project."""
    return s.cluster or s.project


def labels(s: Settings) -> dict[str, str]:
    return {CLUSTER_LABEL: owner(s), WORKDIR_LABEL: s.workdir}


def marker_text(s: Settings) -> str:
    return owner(s) + "\n"
