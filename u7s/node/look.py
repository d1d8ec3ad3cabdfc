"""What `create`'s steps read on a host when there is nothing to do, asked together in one batch.

Each step reads before it acts (is the node up with these files, initialised, joined,
flannel deployed, storage applied?). Over a slow link each read is a round trip;
`create` asks them all at its start (u7s/run/looked.py keeps the answers until the run
changes something) and the steps find their answers there. The argument lists are
the steps' own (built by the same functions), so a read answered here is the read the
step makes; one that is not simply goes to the host, as before.
"""

from __future__ import annotations

from u7s.config.settings import Settings
from u7s.node import flannel, joinstate, kube, localpath, podnet
from u7s.node.container import UP_STAMP
from u7s.render import engine, workdir


def _inside(s: Settings, argv, env: bool = True) -> list[str]:
    """A read in the node, as Node.exec sends it (no input)."""
    return engine.node_exec(s, list(argv), env=env, stdin=False)


def node_probes(s: Settings) -> list[list[str]]:
    """`up` and the working directory's staging: the node's state, its stamp, each file, the volume directory."""
    wanted = workdir.files(s)
    return [engine.inspect_state(s), ["cat", s.path(UP_STAMP)], *workdir.file_probes(s, wanted),
            ["test", "-d", s.storage_dir]]


def worker_probes(s: Settings) -> list[list[str]]:
    """Whether the worker joined (u7s/node/joinstate.py)."""
    return [_inside(s, argv, env=False) for argv in joinstate.probes(s.node_name)]


def control_plane_probes(s: Settings) -> list[list[str]]:
    """init (admin.conf, the API, the nodes), flannel's release, storage, the wait for Ready, the kubeconfig."""
    return [
        _inside(s, ["test", "-e", kube.ADMIN_CONF], env=False),
        _inside(s, kube.readyz()),
        _inside(s, ["kubectl", *kube.GET_NODES]),
        _inside(s, flannel.STATUS),
        *localpath.probes(s),
        _inside(s, ["kubectl", *podnet.nodes_and_pods(s)]),
        _inside(s, ["cat", kube.ADMIN_CONF], env=False),
    ]


def create_probes(s: Settings, control_plane: bool) -> list[list[str]]:
    """Everything an idle `create` reads on this host after its preflight."""
    return node_probes(s) + (control_plane_probes(s) if control_plane else worker_probes(s))
