"""Merging a cluster's kubeconfig into the user's ~/.kube/config under one named context."""

from __future__ import annotations


def merge(existing: str | None, new: str, context: str) -> str:
    """Pure: `existing` with the cluster, user and context of `new` added (or replaced) as `context`."""
    import yaml

    base = yaml.safe_load(existing) if existing else None
    base = base or {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    incoming = yaml.safe_load(new)
    cluster = incoming["clusters"][0]["cluster"]
    user = incoming["users"][0]["user"]
    for key, entry in (
        ("clusters", {"name": context, "cluster": cluster}),
        ("users", {"name": context, "user": user}),
        ("contexts", {"name": context, "context": {"cluster": context, "user": context}}),
    ):
        items = [item for item in base.get(key) or [] if item.get("name") != context]
        base[key] = items + [entry]
    base.setdefault("current-context", context)
    return yaml.safe_dump(base, sort_keys=False)
