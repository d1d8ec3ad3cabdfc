"""The multi-host workflow: one ordered list of titled phases, each on a set of hosts.

Phases run in sequence, hosts in parallel within a phase. A host that fails
is left out of later phases; phases that need the control plane stop when it
failed. Every phase is idempotent and can describe itself for --dry-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from u7s.build import engine, workdir
from u7s.node import kube
from u7s.steps import lifecycle
from u7s.errors import U7sError
from u7s.run.parallel import StepResult, run_parallel
from u7s.session import Member, Run

JOIN_TTL = "15m"


@dataclass(frozen=True)
class Phase:
    title: str
    hosts: str  # "all", "control-plane" or "workers"
    action: Callable[[Run, Member], str] | None
    describe: Callable[[Member], list[str]]
    limit: Callable[[Run], int | None] = lambda run: None
    # A phase about the hosts together (not each on its own): returns {host: reason} for failures.
    together: Callable[[Run, list[Member]], dict[str, str]] | None = None


def _select(run: Run, which: str) -> list[Member]:
    if which == "all":
        return run.healthy
    if which == "workers":
        return run.workers
    cp = run.control_plane
    return [] if cp.failed else [cp]


def execute(run: Run, phases: list[Phase]) -> None:
    """Run the phases in order; raise one error naming every failed host at the end."""
    for phase in phases:
        chosen = _select(run, phase.hosts)
        if phase.hosts == "control-plane" and not chosen:
            run.report.warn(f"{phase.title}: skipped, the control plane failed earlier")
            continue
        if not chosen:
            continue
        run.report.info(f"== {phase.title} ({', '.join(m.name for m in chosen)})")
        if run.dry_run:
            for m in chosen:
                for line in phase.describe(m):
                    m.report.info(f"would {line}")
            continue
        if phase.together is not None:
            failed = phase.together(run, chosen)
            for m in chosen:
                if m.name in failed:
                    m.failed = failed[m.name]
            if failed:
                run.failures[phase.title] = failed
            continue
        result: StepResult = run_parallel(chosen, lambda m: phase.action(run, m), limit=phase.limit(run))
        if result.failed:
            run.failures[phase.title] = result.failed
    if run.failures:
        lines = [f"{title}: {host}: {reason}" for title, failed in run.failures.items()
                 for host, reason in failed.items()]
        raise U7sError("failed on " + f"{sum(len(f) for f in run.failures.values())} host(s):\n" + "\n".join(lines))


# -- phase actions ------------------------------------------------------------------------
def _preflight(run: Run, m: Member) -> str:
    from u7s.steps import preflight

    results = preflight.Preflight(m.host, m.settings, quick=True).run()
    errors = preflight.failed(results)
    for r in results:
        if r.status == preflight.WARN:
            m.report.warn(f"{r.name}: {r.detail}")
    if errors:
        raise U7sError("; ".join(f"{r.name}: {r.detail} ({r.fix})" for r in errors))
    return f"preflight passed ({sum(r.status == preflight.WARN for r in results)} warning(s))"


def _up(run: Run, m: Member) -> str:
    return lifecycle.up(m.node)


def _init(run: Run, m: Member) -> str:
    try:
        return lifecycle.kubeadm_init(m.node)
    except kube.HalfInitialised as exc:
        # Safe to start over only while no worker depends on this control plane.
        unknown = [w.name for w in run.members if not w.spec.is_control_plane and w.failed]
        joined = [w.name for w in run.workers if w.node.running() and kube.is_joined(w.node)]
        if joined or unknown:
            why = f"{', '.join(joined)} joined it" if joined else f"{', '.join(unknown)} could not be checked"
            raise U7sError(f"{exc} (not reset by itself: {why})") from None
        m.report.warn("an earlier kubeadm init failed half-way and no worker has joined: kubeadm reset, then init")
        lifecycle.kubeadm_reset(m.node)
        return "recovered from a half-done kubeadm init; " + lifecycle.kubeadm_init(m.node)


def _join(run: Run, m: Member) -> str:
    node = m.node
    node.require_running()
    if kube.is_joined(node):
        return "already joined"
    script = _join_script(run)
    node.host.write_file(node.s.path(workdir.JOIN_COMMAND), script, 0o600)
    lifecycle.kubeadm_join(node)  # runs the script and removes it
    return f"joined {run.control_plane.settings.node_name} via {run.control_plane.settings.host_ip}"


def _join_script(run: Run) -> str:
    """One fresh short-lived token per run, made on the control plane when first needed."""
    from u7s.build import render

    with run.lock:
        if run.join_script is None:
            cp = run.control_plane
            argv = kube.create_join_command(cp.node, JOIN_TTL)
            run.join_script = render.join_script(cp.settings.host_ip, cp.settings.node_name, argv)
        return run.join_script


def _sync(run: Run, m: Member) -> str:
    return lifecycle.sync_external_ip(m.node)


def _flannel(run: Run, m: Member) -> str:
    return lifecycle.install_flannel(m.node)


def _ready(run: Run, m: Member) -> str:
    return lifecycle.wait_ready(m.node, [h.settings.node_name for h in run.healthy])


def _down(volumes: bool):
    return lambda run, m: lifecycle.down(m.node, volumes=volumes)


def _reset(run: Run, m: Member) -> str:
    node = m.node
    if not node.running():
        return "no node container: nothing to reset"
    return lifecycle.kubeadm_reset(node)


# -- descriptions for --dry-run -----------------------------------------------------------
def _d_preflight(m: Member) -> list[str]:
    return ["run the preflight checks (read-only)"]


def _d_up(m: Member) -> list[str]:
    files = ", ".join(workdir.files(m.settings))
    return [f"write {files} in {m.settings.workdir}", "run " + " ".join(engine.compose_up(m.settings))]


def _d_init(m: Member) -> list[str]:
    return [f"run kubeadm init --config {workdir.in_node(workdir.KUBEADM_CONFIG)} in {m.settings.node_name} "
            "(unless /etc/kubernetes/admin.conf exists)"]


def _d_join(m: Member) -> list[str]:
    return [f"upload a join script (0600) to {m.settings.path(workdir.JOIN_COMMAND)}, run it in "
            f"{m.settings.node_name}, remove it (unless already joined)"]


def _d_sync(m: Member) -> list[str]:
    return ["set each node's ExternalIP and flannel public-ip to its usernetes/host-ip label"]


def _d_flannel(m: Member) -> list[str]:
    return [f"helm upgrade --install flannel (backendPort {m.settings.port_flannel}) unless deployed"]


def _d_ready(m: Member) -> list[str]:
    return ["wait until every node is Ready (syncing external IPs of nodes that register late)"]


def _d_down(volumes: bool):
    return lambda m: ["run " + " ".join(engine.compose_down(m.settings, volumes=volumes))]


def _d_reset(m: Member) -> list[str]:
    return [f"run kubeadm reset --force in {m.settings.node_name}"]


def _network(run: Run, members: list[Member]) -> dict[str, str]:
    """The data-path check; every host in a failing pair is reported with the likely cause."""
    from u7s.steps import netcheck

    if len(members) < 2:
        return {}
    check = netcheck.NetworkCheck(members)
    probes = check.run()
    failed: dict[str, str] = dict(check.unreachable)
    for p in netcheck.failures(probes):
        for name in {p.source, p.target}:
            failed.setdefault(name, f"network check {p.source} -> {p.target} {p.check}: {p.cause}; fix: {p.fix}")
    ok = len(probes) - len(netcheck.failures(probes))
    run.report.info(f"network check: {ok} of {len(probes)} probes passed")
    return failed


def _d_network(m: Member) -> list[str]:
    return ["check TCP and VXLAN to every other host from inside the node (temporary listeners and device)"]


NETWORK = Phase("check-network", "all", None, _d_network, together=_network)
PREFLIGHT = Phase("preflight", "all", _preflight, _d_preflight)
UP = Phase("up", "all", _up, _d_up)
INIT = Phase("init", "control-plane", _init, _d_init)
JOIN = Phase("join", "workers", _join, _d_join, limit=lambda run: run.inventory.join_concurrency)
SYNC = Phase("sync-external-ip", "control-plane", _sync, _d_sync)
FLANNEL = Phase("install-flannel", "control-plane", _flannel, _d_flannel)
READY = Phase("wait-ready", "control-plane", _ready, _d_ready)
DOWN = Phase("down", "all", _down(False), _d_down(False))
DOWN_V = Phase("down-v", "all", _down(True), _d_down(True))
RESET = Phase("reset", "all", _reset, _d_reset)
CREATE = [PREFLIGHT, UP, INIT, NETWORK, JOIN, SYNC, FLANNEL, READY]


# -- controller-side steps ----------------------------------------------------------------
def write_kubeconfig(run: Run, path: str, merge_context: str | None = None) -> str:
    """The admin kubeconfig with the API at the control plane's HOST_IP (in the certificate SANs)."""
    import os

    from u7s.run.hosts import LocalHost

    cp = run.control_plane
    if cp.failed:
        raise U7sError(f"{cp.name}: the control plane failed; no kubeconfig")
    text = kube.admin_kubeconfig(cp.node, cp.settings.host_ip)
    local = LocalHost(None, "controller")  # files only: nothing is run on the controller here
    local.write_file(os.path.abspath(path), text, 0o600)
    if merge_context:
        from u7s.build import kubeconfigs

        target = os.path.expanduser("~/.kube/config")
        local.write_file(target, kubeconfigs.merge(local.read_text(target), text, merge_context), 0o600)
    return path


def status_rows(run: Run) -> list[dict]:
    """Per host: reachable, engine, rootless, node container state, Kubernetes node Ready."""
    from u7s.facts.engine import engine_info

    ready: dict[str, bool] = {}
    cp = run.control_plane
    if not cp.failed and cp.node.running() and kube.is_initialized(cp.node):
        for obj in kube.get_nodes(cp.node):
            ready[obj["metadata"]["name"]] = kube.node_is_ready(obj)

    def row(m: Member) -> dict:
        out = {"host": m.name, "role": m.spec.role, "reachable": not m.failed, "engine": None,
               "rootless": None, "node": None, "node_name": None, "ready": None, "error": m.failed}
        if m.failed:
            return out
        s = m.settings
        out["engine"], out["node_name"] = s.container_engine, s.node_name
        info = engine_info(m.host, s)
        if info is not None:
            out["rootless"] = info.rootless
        state = m.node.state()
        out["node"] = (state or {}).get("Status", "absent")
        out["ready"] = ready.get(s.node_name)
        return out

    rows: dict[str, dict] = {}
    run_parallel(run.members, lambda m: rows.__setitem__(m.name, row(m)) or "")
    return [rows.get(m.name) or {"host": m.name, "error": m.failed} for m in run.members]
