"""Kubeconfigs as kind and k3d users expect them: named after the cluster, merged where kubectl looks.

kubeadm names everything in admin.conf `kubernetes` / `kubernetes-admin` /
`kubernetes-admin@kubernetes`, so two clusters' files in one `KUBECONFIG=a:b` collide
(kubectl takes the first of each name). u7s renames the cluster, the user and the
context to the cluster's name, in the file it writes and in the merged one.
Pure functions; the files are read and written by u7s/steps/kubeconfig.py.
"""

from __future__ import annotations

import os
from typing import Mapping

from u7s.errors import U7sError

LISTS = ("clusters", "users", "contexts")


def single_host_name(project: str, hostname: str) -> str:
    """A single-host cluster's name: its project and host (`u7s-host1`), unique per host and instance."""
    return project if project.endswith(f"-{hostname}") else f"{project}-{hostname}"


def renamed(text: str, name: str) -> str:
    """Pure: a one-cluster kubeconfig (kubeadm's admin.conf) with cluster, user and context all called `name`."""
    import yaml

    config = yaml.safe_load(text)
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    out = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": config.get("preferences") or {},
    }
    return yaml.safe_dump(out, sort_keys=False)


def merge_target(env: Mapping[str, str] | None = None, home: str | None = None) -> str:
    """Where `--merge` writes, as kubectl reads it: the first file of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ if env is None else env
    for item in (env.get("KUBECONFIG") or "").split(os.pathsep):
        if item.strip():
            return os.path.expanduser(item.strip())
    return os.path.join(home or os.path.expanduser("~"), ".kube", "config")


def parse_existing(existing: str | None, path: str) -> dict:
    """An existing kubeconfig, bounded and checked; U7sError (it stays as it is) when it is not one."""
    from u7s.config import safeyaml

    if not existing or not existing.strip():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, **{key: [] for key in LISTS}}
    try:
        data = safeyaml.load_text(existing, path)
    except safeyaml.YamlError as exc:
        raise U7sError(f"{exc}; left as it was: fix it, or merge into another file (KUBECONFIG=FILE)") from None
    problem = None
    if not isinstance(data, dict):
        problem = f"expected a kubeconfig mapping, got {type(data).__name__}"
    else:
        for key in LISTS:
            items = data.get(key)
            if items is not None and not (isinstance(items, list)
                                          and all(isinstance(i, dict) and "name" in i for i in items)):
                problem = f"`{key}` is not a list of named entries"
                break
    if problem:
        raise U7sError(f"{path}: {problem}; left as it was: fix it, or merge into another file (KUBECONFIG=FILE)")
    return data


def merge(existing: str | None, new: str, path: str, switch: bool = True) -> str:
    """Pure: `existing` with the cluster, user and context of `new` (a `renamed` file) added or replaced.

    The current context becomes the new one unless `switch` is false (then it is only set
    when there was none).
    """
    import yaml

    base = parse_existing(existing, path)
    incoming = yaml.safe_load(new)
    for key in LISTS:
        entry = incoming[key][0]
        items = [item for item in base.get(key) or [] if item.get("name") != entry["name"]]
        base[key] = items + [entry]
    name = incoming["current-context"]
    if switch or not base.get("current-context"):
        base["current-context"] = name
    return yaml.safe_dump(base, sort_keys=False)
