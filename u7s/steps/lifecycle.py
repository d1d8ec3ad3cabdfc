"""The operations of a cluster's life on one host, each idempotent and each saying what it did.

The Steps in u7s/steps/workflows.py call these, on one host or on many. Each
returns a short message for the user ("started", "already initialised", ...) as an
Outcome (u7s/steps/outcome.py): whether it changed anything is its status, not its words.
"""

from __future__ import annotations

from u7s.node import calico, cni, externalip, flannel, kube, localpath, podnet
from u7s.node import staging
from u7s.render import workdir
from u7s.errors import U7sError, WaitTimeout
from u7s.node.container import Node
from u7s.steps.outcome import ALREADY, Outcome, already, changed, status_of


def _require_initialized(node: Node) -> None:
    node.require_running()
    if not kube.admin_conf_exists(node):
        raise U7sError(f"{node.host.name}: the cluster is not initialised; run `u7s kubeadm-init` first")


def look(run, m, also: list[list[str]]) -> None:
    """Ask `also` and everything an idle `create` reads on this member's host next, in one batch; the steps
    then read from it until the run changes something on one of its hosts (u7s/run/looked.py)."""
    from u7s.node import look as looks
    from u7s.run.looked import Changes, Looked

    with run.lock:  # one count of changes for the whole run: a change on one host ends every host's look
        if not isinstance(m.host, Looked):
            shared = next((o.host.changes for o in run.members if isinstance(o.host, Looked)), None)
            m.host = Looked(m.host, shared or Changes())
    m.host.look([*also, *looks.create_probes(m.settings, m.spec.is_control_plane)])


def up(node: Node) -> Outcome:
    outcome = node.up()
    if outcome == "unchanged":
        return already(f"node {node.s.node_name} already up ({node.s.node_ip}); nothing changed")
    from u7s.steps import airgap

    # A node made anew (a new image, a recreated container) gets the pod images `load-bundle` kept.
    kept = airgap.import_kept(node)
    return changed(f"node {node.s.node_name} {outcome} and booted ({node.s.node_ip})" + (f"; {kept}" if kept else ""))


def down(node: Node, volumes: bool = False) -> Outcome:
    if volumes:  # the default storage directory goes with the cluster (u7s/node/localpath.py)
        localpath.empty_in_node(node)
    outcome = node.down(volumes=volumes)
    storage = localpath.remove_dir(node) if volumes else ""
    if outcome == "absent":
        return already("; ".join(filter(None, ["no node container: nothing to stop", storage])))
    said = "node removed with its volumes (cluster data deleted)" if volumes else "node removed (volumes kept)"
    return changed("; ".join(filter(None, [said, storage])))


def kubeadm_init(node: Node, host_ips: dict[str, str] | None = None) -> Outcome:
    """Initialise the control plane, or prove the existing one answers; then sync external IPs (see sync_external_ip)."""
    node.require_running()
    staging.stage(node.host, node.s)
    ran = kube.kubeadm_init(node)
    try:
        kube.wait_api(node)
    except WaitTimeout:
        if ran:
            raise
        raise kube.HalfInitialised(node) from None
    # The kubelet registers its Node on its own, some seconds after kubeadm returns. On a cluster
    # initialised earlier, the node list the sync reads anyway shows it registered (one command fewer).
    nodes = None if ran else kube.get_nodes(node)
    if nodes is None or node.s.node_name not in {n.get("metadata", {}).get("name") for n in nodes}:
        kube.wait_registered(node, node.s.node_name)
        nodes = None
    sync = sync_external_ip(node, nodes, host_ips)
    head = "kubeadm init done" if ran else "already initialised: kubeadm init not run again"
    said = f"{head}; {sync}"
    # The sync's own outcome goes with it, for the sync after the joins (u7s/steps/workflows.py: _sync).
    if not ran and status_of(sync) == ALREADY:
        return already(said, sync=sync)
    return changed(said, sync=sync)


def sync_external_ip(node: Node, nodes: list[dict] | None = None, host_ips: dict[str, str] | None = None) -> Outcome:
    """Each node's host-ip label, ExternalIP, flannel public-ip-overwrite and taint from its host; restart flannel
    where stale and wait until its new pods use their host's address.

    `nodes`: the node list, when the caller has just read it (the node runs, then). `host_ips`: node name ->
    HOST_IP of the hosts u7s knows (default: this node's own); other nodes keep their label's address.
    """
    if nodes is None:
        node.require_running()
        nodes = kube.get_nodes(node)
    host_ips = _own(node, host_ips)
    plans, restarted = _sync(node, nodes, set(), host_ips)
    moved = next((p for p in plans if p.node == node.s.node_name and p.set_label and p.label), None)
    if moved and len(host_ips) > 1:  # workers reach this control plane at the address they joined
        node.report.warn(f"the control plane's HOST_IP changed ({moved.label} -> {moved.host_ip}): its API server "
                         f"certificate and the workers' join configuration still name {moved.label}, which u7s "
                         "does not change (README: Day-2 operations, a host's address changed)")
    changed_nodes = [f"{p.node} ({', '.join(p.changes)})" for p in plans if p.changes]
    text = ("external IPs synced: " + "; ".join(changed_nodes) if changed_nodes
            else f"external IPs in sync on {len(plans)} node(s)")
    if restarted:
        flannel.wait_public_ip(node, restarted)
        text += "; flannel restarted on " + ", ".join(f"{name} (now at {ip})" for name, ip in restarted.items())
    return changed(text) if changed_nodes or restarted else already(text)


def _own(node: Node, host_ips: dict[str, str] | None) -> dict[str, str]:
    return {node.s.node_name: node.s.host_ip} if host_ips is None else host_ips


def _sync(node: Node, nodes: list[dict], restarted: set[str],
          host_ips: dict[str, str]) -> tuple[list[externalip.ExternalIpPlan], dict[str, str]]:
    """Sync what differs; restart flannel pods that may have missed the overwrite (once per node and call).

    Returns the plans and the nodes whose flannel was restarted, each with the address its new pod is to use.
    """
    plans = externalip.sync_external_ip(node, nodes, host_ips)
    want = {p.node: p.host_ip for p in plans if p.host_ip}
    if cni.of(node.s) is cni.CALICO_CNI:  # its new pod is waited for as any calico-node pod (wait-ready)
        restarted.update(cni.restart_calico(node, sorted(set(cni.wrong_calico_address(nodes, want)) - restarted)))
        return plans, {}
    # Flannel reads the overwrite once, when its pod starts: pods that may have missed it start again.
    stale = {p.node for p in plans if p.set_annotation} | set(flannel.wrong_public_ip(nodes, want))
    done = flannel.restart_pods(node, sorted(stale - restarted))
    restarted.update(done)
    return plans, {name: want[name] for name in done}


def install_flannel(node: Node, mtu: int | None = None) -> Outcome:
    """The pod network: flannel, or Calico with CNI=calico (u7s/node/calico.py)."""
    node.require_running()
    if cni.of(node.s) is cni.CALICO_CNI:
        said, fresh = calico.install(node, mtu)
        return changed(said) if fresh else already(said)
    installed = flannel.install(node, mtu)
    return changed(installed) if installed else already("flannel already installed")


def install_storage(node: Node) -> Outcome:
    said, fresh = localpath.install(node)
    return changed(said) if fresh else already(said)


def untaint_control_plane(node: Node) -> Outcome:
    if externalip.remove_control_plane_taint(node, node.s.node_name):
        return changed(f"control-plane taint removed from {node.s.node_name} (single-host cluster)")
    return already(f"{node.s.node_name} has no control-plane taint")


def wait_ready(node: Node, expected: list[str] | None = None, host_ips: dict[str, str] | None = None) -> Outcome:
    """Wait until every node is Ready with a working pod network (each of `expected` included), syncing nodes
    that registered late or whose HOST_IP changed (then until flannel there uses the new address); flannel pods
    failing at the first look (an earlier run left them so, or a cause fixed since) are restarted once: the fix
    takes effect at once, not after the kubelet's back-off."""
    expected = expected or [node.s.node_name]
    host_ips = _own(node, host_ips)
    restarted: set[str] = set()
    moved: dict[str, str] = {}  # flannel restarted: node -> the address its new pod is to use
    changes: list[bool] = []

    def poll(nodes: list[dict], pods: list[dict], first: bool) -> None:
        plans, done = _sync(node, nodes, restarted, host_ips)
        moved.update(done)
        failing = podnet.failing_pods(pods, cni.of(node.s)) if first else []
        if failing:
            node.report.info(f"flannel pods failing when the wait began, restarted once: {', '.join(failing)}")
            cni.delete_pods(node, failing)
        changes.append(bool(done) or bool(failing) or any(p.changes for p in plans))

    looks = podnet.wait_all_ready(node, expected, on_poll=poll)
    flannel.wait_public_ip(node, moved)
    names = ", ".join(sorted(expected))
    # "is Ready" only when the first look found it so and nothing was changed: `create` then says nothing was done.
    if looks == 1 and not any(changes):
        return already(f"every node is Ready ({names})")
    return changed(f"every node became Ready ({names})")


def kubeconfig(node: Node, path: str | None = None, server_host: str = "127.0.0.1", name: str | None = None) -> str:
    """Write the admin kubeconfig (0600) on the node's host, named after the cluster; returns its path."""
    from u7s.render import kubeconfigs

    _require_initialized(node)
    path = path or node.s.path(workdir.KUBECONFIG)
    name = name or kubeconfigs.single_host_name(node.s.project, node.s.hostname)
    node.host.write_file(path, kubeconfigs.renamed(kube.admin_kubeconfig(node, server_host), name), 0o600)
    return path


def join_command(node: Node, path: str | None = None, ttl: str | None = None) -> str:
    """Write a join script (0600) for workers; returns its path. The token is never printed."""
    from u7s.render import templates

    _require_initialized(node)
    argv = kube.create_join_command(node, ttl)
    script = templates.join_script(node.s.host_ip, node.s.node_name, argv)
    path = path or node.s.path(workdir.JOIN_COMMAND)
    node.host.write_file(path, script, 0o600)
    return path


def kubeadm_join(node: Node, script_path: str | None = None) -> str:
    """Run a join script in the node, then wait until its kubelet has registered the Node."""
    from u7s.node import joinstate

    node.require_running()
    state, why = joinstate.read(node)
    if state == joinstate.JOINED:
        return already("already joined: kubeadm join not run again")
    inside = node.s.path(workdir.JOIN_COMMAND)
    source = script_path or inside
    script = node.host.read_text(source)
    if script is None:
        raise U7sError(
            f"{node.host.name}: no join script at {source}; run `u7s join-command` on the control plane "
            "and copy the file here (or use `u7s cluster.join`)"
        )
    if state == joinstate.STALE:  # kubeadm's preflight would refuse to join again: reset first
        node.report.warn(f"{why}: kubeadm reset --force, then join again")
        kube.kubeadm_reset(node)
    join_with(node, script if source != inside else None)
    return (f"joined; node {node.s.node_name} registered; run `u7s sync-external-ip` on the control plane "
            "(cluster.join does it for you)")


def join_with(node: Node, script: str | None) -> None:
    """kubeadm join by the join script (written first, 0600, when given), removed after; wait for the Node.

    The caller has seen that the node runs and has not joined (or has reset it).
    """
    inside = node.s.path(workdir.JOIN_COMMAND)
    try:
        if script is not None:
            node.host.write_file(inside, script, 0o600)
        kube.kubeadm_join(node)
    finally:
        node.host.remove(inside)
    # The node's own kubelet credentials may read its Node: registration is seen without admin rights.
    kube.wait_registered(node, node.s.node_name, kubeconfig=kube.KUBELET_CONF)


def kubeadm_reset(node: Node) -> str:
    node.require_running()
    kube.kubeadm_reset(node)
    return "kubeadm reset done"
