"""The new image's kubeadm, placed in the node container that still runs the old image.

kubeadm's upgrade procedure moves kubeadm first and runs it (`upgrade apply`, `upgrade node`) while the
node's old kubelet still runs; only then does the kubelet move, so that it is never newer than the API
server (Kubernetes' version-skew policy). In a container the kubelet moves with the image. So the new
image's kubeadm is copied into the running node first: out of a throw-away container of the new image
(created, never started) into the host's working directory, which the node sees at /usernetes, and from
there to /usr/local/lib/u7s/kubeadm-VERSION in the node (not a volume: the new container goes without it).
"""

from __future__ import annotations

from u7s.render import engine, workdir
from u7s.errors import U7sError
from u7s.node import kube
from u7s.node.container import Node

IN_IMAGE = "/usr/bin/kubeadm"  # where kindest/node (and so the node image) has kubeadm
IN_NODE = "/usr/local/lib/u7s"


def path_in_node(version: str) -> str:
    return f"{IN_NODE}/kubeadm-{version}"


def _staged(version: str) -> str:
    """The copy's name in the working directory, while it passes through the host."""
    return f"kubeadm-{version}"


def placed(node: Node, version: str) -> bool:
    """Whether the node already holds that kubeadm, answering with that version (a cut copy would not)."""
    r = node.exec([path_in_node(version), "version", "-o", "short"], check=False, env=False)
    return r.ok and r.stdout.strip().splitlines()[-1:] == [version]


def copy_argvs(node: Node, image: str, version: str, source: str) -> list[list[str]]:
    """Pure: the engine commands that bring `source` of `image` to the working directory, in order."""
    s, scratch = node.s, f"{node.s.project}-kubeadm-{version}"
    return [engine.engine_cmd(s, "rm", "-f", scratch),  # a scratch container an interrupted run left
            engine.engine_cmd(s, "create", "--name", scratch, image),
            engine.engine_cmd(s, "cp", f"{scratch}:{source}", s.path(_staged(version))),
            engine.engine_cmd(s, "rm", "-f", scratch)]


def place(node: Node, image: str, version: str) -> str:
    """Copy the kubeadm of `image` into the running node, unless it is there; what was done."""
    where = path_in_node(version)
    if placed(node, version):
        return f"kubeadm {version} already in {node.s.node_name} ({where})"
    host, s = node.host, node.s
    # A link in the image (as the lab's) is resolved in the image: engines differ in how `cp` treats links.
    real = host.run(engine.engine_cmd(s, "run", "--rm", "--entrypoint", "readlink", image, "-f", IN_IMAGE),
                    check=False, timeout=300)
    source = real.stdout.strip() if real.ok and real.stdout.strip().startswith("/") else IN_IMAGE
    remove, create, copy, remove_again = copy_argvs(node, image, version, source)
    host.run(remove, check=False)
    try:
        host.run(create, timeout=300)
        host.run(copy, timeout=300)
    finally:
        host.run(remove_again, check=False)
    try:
        node.exec(["install", "-D", "-m", "0755", workdir.in_node(_staged(version)), where], env=False)
    finally:
        host.remove(s.path(_staged(version)))
    if not placed(node, version):
        raise U7sError(f"{host.name}: {image}'s kubeadm, copied to {where} in {node.s.node_name}, does not "
                       f"say {version} (`kubeadm version -o short`)")
    return f"kubeadm {version} copied from {image} into {node.s.node_name} ({where})"


def run(node: Node, version: str, *args: str) -> str:
    """Run the placed kubeadm in the node; a failure quotes kubeadm's own error lines. Returns stdout."""
    result = node.exec([path_in_node(version), *args], check=False)
    if not result.ok:
        raise U7sError(f"{node.host.name}: kubeadm {' '.join(args[:2])} failed: {kube.kubeadm_error(result)}")
    return result.stdout
