"""Every step of a cluster's life, each with its --dry-run text beside its action, and the workflows.

An action takes (run, member, **params): the run the member belongs to, a cluster's or,
for the single-host tasks, one host on its own (run.alone). The operations themselves,
on one node, are u7s/steps/lifecycle.py.
"""

from __future__ import annotations

from u7s.render import engine, workdir
from u7s.errors import U7sError
from u7s.node import externalip, joinstate, kube
from u7s.session import Member, Run
from u7s.steps import jointokens, leasesteps, lifecycle, metrics, storage
from u7s.steps.outcome import ALREADY, already, skipped, status_of
from u7s.steps.step import Step


def _preflight(run: Run, m: Member) -> str:
    from u7s.checks import preflight

    if not run.alone:  # one batch: preflight's probes and what the steps after it read (u7s/node/look.py)
        lifecycle.look(run, m, preflight.Preflight(m.host, m.settings, control_plane=m.spec.is_control_plane).probes())
    results = preflight.Preflight(m.host, m.settings, quick=True, known=m.answers,
                                  control_plane=m.spec.is_control_plane).run()
    errors = preflight.failed(results)
    if run.alone:  # its error is the task's: each error on its own line, then one verdict
        for r in errors:
            m.report.error(f"preflight {r.name}: {r.detail} ({r.fix})")
        if errors:
            raise U7sError("preflight failed; fix the errors above (or --skip-preflight)")
        return ""
    for r in results:
        if r.status == preflight.WARN:
            m.report.warn(f"{r.name}: {r.detail}")
    if errors:
        raise U7sError("; ".join(f"{r.name}: {r.detail} ({r.fix})" for r in errors))
    return f"preflight passed ({sum(r.status == preflight.WARN for r in results)} warning(s))"


PREFLIGHT = Step("preflight", leasesteps.checked(_preflight), lambda m: ["run the preflight checks (read-only)"])

UP = Step("up", leasesteps.checked(lambda run, m: lifecycle.up(m.node), then_record=True), lambda m: [
    f"write {', '.join(workdir.files(m.settings))} in {m.settings.workdir}",
    "run " + " ".join(engine.compose_up(m.settings)),
])


def _down(volumes: bool) -> Step:
    action = lambda run, m: lifecycle.down(m.node, volumes=volumes)  # noqa: E731
    return Step("down-v" if volumes else "down", leasesteps.releasing(action) if volumes else action,
                lambda m: ["run " + " ".join(engine.compose_down(m.settings, volumes=volumes)),
                           *([storage.down_v_text(m.settings)] if volumes else [])])


DOWN, DOWN_V = _down(False), _down(True)


def host_ips(run: Run) -> dict[str, str]:
    """Node name -> HOST_IP of every host of the run (one host on its own: its own, as the lifecycle's default).

    The kubelet labels its Node with HOST_IP only when it registers it: the syncs set a changed one anew.
    """
    return {h.settings.node_name: h.settings.host_ip for h in run.members if h.settings is not None}


def _init(run: Run, m: Member) -> str:
    try:
        return lifecycle.kubeadm_init(m.node, host_ips(run))
    except kube.HalfInitialised as exc:
        # One host on its own cannot tell whether a worker joined by hand: say how to recover
        # (README: "Initialised means the API answers").
        if run.alone:
            raise
        # Safe to start over only while no worker depends on this control plane.
        unknown = [w.name for w in run.members if not w.spec.is_control_plane and w.failed]
        joined = [w.name for w in run.workers if w.node.running() and kube.is_joined(w.node)]
        if joined or unknown:
            why = f"{', '.join(joined)} joined it" if joined else f"{', '.join(unknown)} could not be checked"
            raise U7sError(f"{exc} (not reset by itself: {why})") from None
        m.report.warn("an earlier kubeadm init failed half-way and no worker has joined: kubeadm reset, then init")
        lifecycle.kubeadm_reset(m.node)
        return "recovered from a half-done kubeadm init; " + lifecycle.kubeadm_init(m.node, host_ips(run))


INIT = Step("init", _init, lambda m: [
    f"run kubeadm init --config {workdir.in_node(workdir.KUBEADM_CONFIG)} in {m.settings.node_name} "
    f"(unless {kube.ADMIN_CONF} exists)"], hosts="control-plane", task="kubeadm-init")


def _join(run: Run, m: Member) -> str:
    from u7s.render import templates

    node = m.node
    if m.name in run.joined:  # seen a moment ago by the network step, under this run's locks
        return already("already joined")
    node.require_running()
    state, why = joinstate.read(node)
    if state == joinstate.JOINED:
        return already("already joined")
    if state == joinstate.STALE:  # kubeadm's preflight would refuse to join again: reset first
        m.report.warn(f"{why}: kubeadm reset --force, then join again")
        kube.kubeadm_reset(node)
    with _tokens(run).join_command() as argv:  # a fresh token for this join alone: u7s/steps/jointokens.py
        cp = run.control_plane.settings
        # written (0600), run, removed; the node's state was read just above, so not again
        lifecycle.join_with(node, templates.join_script(cp.host_ip, cp.node_name, argv))
    done = f"joined {run.control_plane.settings.node_name} via {run.control_plane.settings.host_ip}"
    return done + (" (after kubeadm reset: " + why + ")" if state == joinstate.STALE else "")


def _tokens(run: Run) -> jointokens.JoinTokens:
    with run.lock:
        if run.join_tokens is None:
            run.join_tokens = jointokens.JoinTokens(run.control_plane.node)
        return run.join_tokens


JOIN = Step("join", _join, lambda m: [
    f"create a bootstrap token ({jointokens.TTL}) on the control plane for this join alone, deleted after it",
    f"upload a join script (0600) to {m.settings.path(workdir.JOIN_COMMAND)}, run it in "
    f"{m.settings.node_name}, remove it (unless already joined)"],
    hosts="workers", limit=lambda run: run.inventory.join_concurrency)

JOIN_WITH_SCRIPT = Step("kubeadm-join", lambda run, m, file=None: lifecycle.kubeadm_join(m.node, file),
                        lambda m, file=None: [
    f"run the join script {file or m.settings.path(workdir.JOIN_COMMAND)} in {m.settings.node_name}, "
    "remove it (unless already joined)"])

def _sync(run: Run, m: Member) -> str:
    """Sync after the joins; when this run joined no one, init's sync a moment ago saw every node there is.

    (wait-ready syncs any node that registers late.)
    """
    init = run.outcomes.get("init", {}).get(m.name)
    if status_of(init) == ALREADY and all(status_of(said) == ALREADY for said in run.outcomes.get("join", {}).values()):
        return init.parts["sync"]  # "external IPs in sync on N node(s)"
    return lifecycle.sync_external_ip(m.node, host_ips=host_ips(run))


SYNC = Step("sync-external-ip", _sync, lambda m: [
    f"set each node's {externalip.HOST_IP_LABEL} label (where its host's HOST_IP changed), ExternalIP and flannel "
    "public-ip to its host's address; restart flannel where it uses another"], hosts="control-plane")

def _flannel(run: Run, m: Member) -> str:
    """The pod network (flannel; Calico with CNI=calico), one MTU for every node: the inventory's smallest."""
    from u7s.node.flannel import cluster_mtu

    return lifecycle.install_flannel(m.node, cluster_mtu([h.settings.node_mtu for h in run.members if h.settings]))


FLANNEL = Step("install-flannel", _flannel, lambda m: [
    f"kubectl apply calico's manifest (VXLAN on UDP {m.settings.port_flannel})" if m.settings.cni == "calico" else
    f"helm upgrade --install flannel (backendPort {m.settings.port_flannel}) unless deployed"],
    hosts="control-plane")

STORAGE = storage.STEP
METRICS, METRICS_INSTALL = metrics.STEP, metrics.INSTALL

KUBECONFIG = Step("kubeconfig", lambda run, m, path=None, name=None: lifecycle.kubeconfig(m.node, path, name=name),
                  lambda m, path=None, name=None: [
    f"write the admin kubeconfig (0600) to {path or m.settings.path(workdir.KUBECONFIG)}"])

JOIN_COMMAND = Step("join-command", lambda run, m, path=None, ttl=None: lifecycle.join_command(m.node, path, ttl),
                    lambda m, path=None, ttl=None: [
    f"create a bootstrap token (ttl {ttl or 'kubeadm default'}) and write a join script (0600) to "
    f"{path or m.settings.path(workdir.JOIN_COMMAND)}"])

UNTAINT = Step("untaint", lambda run, m: lifecycle.untaint_control_plane(m.node), lambda m: [
    f"remove the control-plane taint from {m.settings.node_name}"], hosts="control-plane")


def _ready(run: Run, m: Member) -> str:
    return lifecycle.wait_ready(m.node, [h.settings.node_name for h in run.healthy], host_ips(run))


READY = Step("wait-ready", _ready, lambda m: [
    "wait until every node is Ready with flannel running there (syncing external IPs of nodes that register late)"],
    hosts="control-plane")


def _reset(run: Run, m: Member) -> str:
    node = m.node
    # A cluster-wide reset passes over hosts without a node; one host on its own says its node does not run.
    if not run.alone and not node.running():
        return skipped("no node container: nothing to reset", "no node container")
    return lifecycle.kubeadm_reset(node)


RESET = Step("reset", _reset, lambda m: [f"run kubeadm reset --force in {m.settings.node_name}"])


def _network(run: Run, members: list[Member]) -> dict[str, str]:
    from u7s.netcheck import guard

    return guard.check_before_joins(run, members)


NETWORK = Step("check-network", None, lambda m: [
    "check TCP and VXLAN to every other host from inside the node (temporary listeners and device)"],
    together=_network)

# The steps of `create` that change things; the others (preflight, check-network) only read.
CHANGING = (UP, INIT, JOIN, SYNC, FLANNEL, STORAGE, METRICS, READY)
NOTHING_TO_DO = "nothing to do: every node was already up, initialised, joined and Ready"


def nothing_done(outcomes: dict[str, dict[str, str]]) -> bool:
    """Pure: whether every step that changes things found its work done, on every host (outcomes by step, host)."""
    return all(s.title in outcomes for s in (UP, INIT, READY)) and all(
        status_of(said) == ALREADY for s in CHANGING for said in outcomes.get(s.title, {}).values())


# `create` on one host, in the order that works: flannel only after external IPs are synced.
CREATE_ONE_HOST = [UP, INIT, SYNC, FLANNEL, STORAGE, METRICS, KUBECONFIG, UNTAINT, READY]
CREATE = [PREFLIGHT, UP, INIT, NETWORK, JOIN, SYNC, FLANNEL, STORAGE, METRICS, READY]


def _kubectl(run, m: Member, path: str | None = None) -> str:
    path = path or m.settings.path("kubectl")
    m.host.run(engine.copy_from_node(m.settings, "/usr/bin/kubectl", path))
    m.host.run(["chmod", "0755", path])
    return path


KUBECTL = Step("kubectl", _kubectl, lambda m, path=None: [
    f"copy /usr/bin/kubectl out of {m.settings.node_name} to {path or m.settings.path('kubectl')} (mode 0755)"])
