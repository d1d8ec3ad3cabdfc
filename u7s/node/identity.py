"""Whose a node is, and the refusal to touch another cluster's.

Each cluster has its own names on a host: the compose project (`u7s-CLUSTER` when the
inventory names a cluster, `u7s` otherwise and for the single-host tasks), and from it the
node container, its volumes, the network and the working directory (where the host lock
lives). Names can still meet: two inventories given the same U7S_PROJECT, or a node made by
an earlier u7s, which named every inventory's nodes `u7s`. So the node container carries
labels saying whose it is (the cluster, and the working directory it was made with), the
working directory holds a marker naming its cluster, and a run that finds another cluster's
there stops with one line before it changes anything.

Volumes carry no label of ours: Docker Compose (2.32 and later) offers to delete and
recreate a volume whose configuration, labels included, changed since it was made, so
labelling the volumes of existing clusters would put their data at risk. The container's
labels and the marker stand for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from u7s.render import engine
from u7s.config.settings import Settings, default_workdir
from u7s.run.hosts import Result
from u7s.render.ownership import CLUSTER_LABEL, MARKER, WORKDIR_LABEL, owner

# One JSON object from any engine's inspect (Docker, Podman and nerdctl all know these fields).
INSPECT_FORMAT = '{"labels": {{json .Config.Labels}}, "mounts": {{json .Mounts}}, "running": {{json .State.Running}}}'


@dataclass(frozen=True)
class Legacy:
    """Where an earlier u7s, which named every inventory's nodes after `u7s`, would have put this host's node."""

    container: str
    workdir: str


def legacy_layout(s: Settings, home, inventory_host: str | None) -> Legacy | None:
    """The earlier names for a cluster whose names changed (a named inventory, project not given); else None.

    `home()` gives the user's home directory; it is asked only when the earlier working directory depends on it.
    """
    from u7s.config.resolve import project_for

    if "U7S_PROJECT" in s.sources:
        return None
    project = project_for("", s.hostname if s.multi_node else None)
    if project == s.project:
        return None
    workdir = s.workdir if "U7S_WORKDIR" in s.sources else default_workdir(home(), project, inventory_host)
    return Legacy(f"{project}-node", workdir)


def inspect_container(s: Settings, name: str) -> list[str]:
    return engine.engine_cmd(s, "inspect", "--type", "container", "--format", INSPECT_FORMAT, name)


def probes(s: Settings, legacy: Legacy | None = None) -> list[list[str]]:
    """Read-only commands (one batch) whose answers `problem` judges."""
    out = [inspect_container(s, engine.container_name(s)), ["cat", s.path(MARKER)]]
    if legacy:
        out += [inspect_container(s, legacy.container),
                ["cat", str(PurePosixPath(legacy.workdir, MARKER))]]
    return out


def parse_inspect(result: Result) -> dict | None:
    """{"labels": {...}, "workdir": mount source of /usernetes or None}; None when there is no such container."""
    if not result.ok:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    mounts = data.get("mounts") if isinstance(data.get("mounts"), list) else []
    workdir = next((m.get("Source") for m in mounts
                    if isinstance(m, dict) and m.get("Destination") == _node_mount()), None)
    return {"labels": data.get("labels") if isinstance(data.get("labels"), dict) else {}, "workdir": workdir}


def _node_mount() -> str:
    from u7s.render.workdir import NODE_MOUNT

    return NODE_MOUNT


def _same_path(a: str | None, b: str) -> bool:
    return a is not None and str(PurePosixPath(a)) == str(PurePosixPath(b))


def problem(s: Settings, answers: list[Result], legacy: Legacy | None = None) -> str | None:
    """Pure: why this run must not act on what it found on the host (one line), or None when all is its own."""
    mine, name = owner(s), engine.container_name(s)
    fix = "give each cluster its own U7S_PROJECT (by default, u7s-CLUSTER) or U7S_WORKDIR"
    found = parse_inspect(answers[0])
    if found is not None:
        theirs = found["labels"].get(CLUSTER_LABEL)
        made_in = found["labels"].get(WORKDIR_LABEL)
        if theirs is not None and theirs != mine:
            return f"node container {name} belongs to cluster {theirs}, not {mine} (label {CLUSTER_LABEL}); {fix}"
        if theirs is not None and made_in is not None and not _same_path(made_in, s.workdir):
            return (f"node container {name} of {mine} was made with working directory {made_in}, not {s.workdir} "
                    f"(label {WORKDIR_LABEL}); run with U7S_WORKDIR={made_in}, or `down` it with that first")
        if theirs is None and not _same_path(found["workdir"], s.workdir):
            return (f"node container {name} was made by an earlier u7s for working directory "
                    f"{found['workdir'] or 'unknown'}, not {s.workdir}, and names no cluster; {fix}, "
                    f"or remove that node")
    marker = answers[1]
    theirs = marker.stdout.strip() if marker.ok else ""
    if theirs and theirs != mine:
        return f"working directory {s.workdir} belongs to cluster {theirs}, not {mine} ({MARKER}); {fix}"
    if legacy and found is None and len(answers) >= 4:
        old = parse_inspect(answers[2])
        claimed = answers[3].ok and answers[3].stdout.strip()
        if old is not None and CLUSTER_LABEL not in old["labels"] and not claimed \
                and _same_path(old["workdir"], legacy.workdir):
            return (f"node container {legacy.container} here was made by an earlier u7s, which named every "
                    f"cluster's nodes after u7s (working directory {legacy.workdir}), and names no cluster: if it "
                    f"is {mine}'s, add `U7S_PROJECT: {legacy.container[:-len('-node')]}` to the inventory's settings "
                    "to keep it (the next `cluster.up` labels it); if it is another cluster's, do that in that "
                    "cluster's inventory first")
    return None


def check(host, s: Settings, legacy: Legacy | None = None) -> None:
    """Raise U7sError (the host named) when the host holds another cluster's node or working directory."""
    from u7s.errors import U7sError

    why = problem(s, host.run_many(probes(s, legacy)), legacy)
    if why:
        raise U7sError(f"{host.name}: {why}")
