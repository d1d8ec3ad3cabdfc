"""Multi-host tasks (`cluster.*`): every one reads the inventory (default hosts.yaml)."""

from __future__ import annotations

from invoke import Exit, task

from u7s.tasks._common import SET_HELP, clean_errors, config_of, confirm, option, out

COMMON = {
    "inventory": "the inventory file (default: u7s.inventory in the config, else hosts.yaml)",
    "set": SET_HELP + " (on every host)",
    "accept-unknown-host-keys": "accept SSH host keys not in known_hosts (default: u7s.accept_unknown_host_keys, "
                                "else refuse)",
}
CHANGES = {**COMMON, "dry-run": "print, per host, what would run; change nothing"}
ITER = ["set_"]


def _open(c, inventory, set_, accept_unknown_host_keys, dry_run=False, lock=False):
    """The task's options and settings, handed to u7s.session.open_run."""
    from u7s.config.settings import parse_assignments
    from u7s.errors import SettingsError
    from u7s.session import open_run

    flags = parse_assignments(set_ or [])
    accept = option(c, "accept_unknown_host_keys", accept_unknown_host_keys, False)
    if not isinstance(accept, bool):
        raise SettingsError(f"config u7s.accept_unknown_host_keys: expected true or false, got {accept!r}")
    return open_run(c, option(c, "inventory", inventory, "hosts.yaml"), flags, config_of(c), accept,
                    dry_run=dry_run, lock=lock)


def _phases(c, phases, inventory, set_, accept, dry_run):
    import contextlib

    from u7s.steps.cluster import execute

    run = _open(c, inventory, set_, accept, dry_run, lock=True)
    if run.failures and run.control_plane.failed:
        execute(run, [])  # reports every failure so far
    with run.board or contextlib.nullcontext():
        execute(run, phases)
    return run


@task(iterable=ITER, help={**COMMON, "json": "print results as JSON"})
@clean_errors
def check_preflight(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False):
    """Check every host in parallel (one table, or --json), plus cross-host uniqueness."""
    import json as _json

    from u7s.steps import preflight
    from u7s.run.parallel import run_parallel

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    found: dict[str, list] = {}
    run_parallel(run.healthy, lambda m: found.__setitem__(m.name, preflight.Preflight(m.host, m.settings).run()) or "")
    rows = [(name, r) for name, results in found.items() for r in results]
    rows += [(host, preflight.Check("connect", preflight.ERROR, why)) for host, why in
             {**run.failures.get("connect", {}), **run.failures.get("settings", {})}.items()]
    if json:
        out(_json.dumps([{"host": h, **r.__dict__} for h, r in rows], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table("host", "check", "status", "detail", "fix", title=f"preflight: {run.inventory.path}")
        for h, r in rows:
            t.add_row(h, r.name, r.status, r.detail, r.fix)
        Console(stderr=True).print(t)
    errors = [h for h, r in rows if r.status == preflight.ERROR]
    if errors:
        raise Exit(f"u7s: preflight failed on {', '.join(sorted(set(errors)))}", code=1)


@task(iterable=ITER, help=CHANGES)
@clean_errors
def init_host(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False):
    """Run init-host/ on every host: the root part through sudo, the rootless part as the user."""
    from u7s.steps import hostinit

    run = _open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=True)
    hostinit.run_all(c, run)


def _phase_task(name: str, doc: str, *phases: str):
    """A task that runs phases of u7s.steps.cluster (named by their constants) on the inventory's hosts."""

    def body(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False):
        from u7s.steps import cluster

        chosen = [getattr(cluster, phase) for phase in phases]
        _phases(c, chosen, inventory, set_, accept_unknown_host_keys, dry_run)

    body.__doc__ = doc
    return task(name=name, iterable=ITER, help=CHANGES)(clean_errors(body))


up = _phase_task("up", "Start the node container on every host.", "UP")
init = _phase_task("init", "Run kubeadm init on the control plane (skipped when done).", "INIT")
join = _phase_task(
    "join", "Join every worker (fresh 15-minute token; script uploaded 0600, run, removed), then sync IPs.",
    "JOIN", "SYNC")
sync_external_ip = _phase_task(
    "sync-external-ip", "Set every node's ExternalIP and flannel public IP to its host's address.", "SYNC")
install_flannel = _phase_task(
    "install-flannel", "Install flannel from the control plane (after sync-external-ip).", "FLANNEL")
down = _phase_task("down", "Stop the node container on every host (volumes kept).", "DOWN")


KUBECONFIG_HELP = {
    **COMMON,
    "output": "where to write it (default: kubeconfig beside the inventory)",
    "merge": "also merge it into ~/.kube/config under this context name",
}


def _kubeconfig_path(run, output):
    import os

    return output or os.path.join(os.path.dirname(os.path.abspath(run.inventory.path)), "kubeconfig")


@task(iterable=ITER, help=KUBECONFIG_HELP)
@clean_errors
def kubeconfig(c, inventory=None, set_=None, accept_unknown_host_keys=False, output=None, merge=None):
    """Write the admin kubeconfig (0600; API at the control plane's HOST_IP) and print its path."""
    from u7s.steps.cluster import write_kubeconfig

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    path = write_kubeconfig(run, _kubeconfig_path(run, output), merge)
    run.report.done(f"kubeconfig written (0600): export KUBECONFIG={path}")
    out(path)


@task(iterable=ITER, help={**KUBECONFIG_HELP, **CHANGES,
                           "skip-network-check": "do not check the data path between hosts before joining"})
@clean_errors
def create(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, output=None,
           merge=None, skip_network_check=False):
    """Create the cluster: preflight, up, init, check-network, join, sync-external-ip, flannel, kubeconfig."""
    from u7s.steps import cluster

    phases = [p for p in cluster.CREATE if not (skip_network_check and p is cluster.NETWORK)]
    run = _phases(c, phases, inventory, set_, accept_unknown_host_keys, dry_run)
    if dry_run:
        run.report.info(f"would write the kubeconfig to {_kubeconfig_path(run, output)}")
        return
    path = cluster.write_kubeconfig(run, _kubeconfig_path(run, output), merge)
    run.report.done(f"cluster ready: export KUBECONFIG={path}")
    out(path)


@task(iterable=ITER, help={**COMMON, "json": "print results as JSON",
                           "only": "check only these hosts (comma-separated names, e.g. a pair)"})
@clean_errors
def check_network(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False, only=None):
    """Check the data path between every pair of hosts (TCP ports, VXLAN, MTU, rp_filter); needs nodes up."""
    from u7s.steps import netcheck

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    chosen = [m for m in run.healthy if not only or m.name in only.split(",")]
    if only and len(chosen) != len(only.split(",")):
        raise Exit(f"u7s: --only {only}: unknown or unreachable host(s)", code=1)
    check = netcheck.NetworkCheck(chosen)
    probes = check.run()
    for name, reason in check.unreachable.items():
        run.failures.setdefault("check-network", {})[name] = reason
    if json:
        out(netcheck.as_json(probes))
    else:
        from rich.console import Console

        Console(stderr=True).print(netcheck.table(probes))
    bad = netcheck.failures(probes)
    if bad or run.failures:
        lost = sorted({name for failed in run.failures.values() for name in failed})
        raise Exit(f"u7s: network check: {len(bad)} failed probe(s)"
                   + (f"; not checked: {', '.join(lost)}" if lost else ""), code=1)


@task(iterable=ITER, help={**COMMON, "json": "print JSON"})
@clean_errors
def status(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False):
    """Show each host: reachable, engine, rootless, node container, Kubernetes node Ready."""
    import json as _json

    from u7s.steps.cluster import status_rows

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    rows = status_rows(run)
    if json:
        out(_json.dumps(rows, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table("host", "role", "reachable", "engine", "rootless", "node", "ready", "error")
        for r in rows:
            t.add_row(*(str(r.get(k, "")) if r.get(k) is not None else "-" for k in
                        ("host", "role", "reachable", "engine", "rootless", "node", "ready", "error")))
        Console().print(t)
    unreachable = [r["host"] for r in rows if r.get("error")]
    if unreachable:
        raise Exit(f"u7s: not reachable or not resolved: {', '.join(unreachable)}", code=1)


@task(iterable=ITER, help={**CHANGES, "yes": "do not ask for confirmation"})
@clean_errors
def down_v(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, yes=False):
    """Remove the node container and its volumes on every host: deletes the cluster."""
    from u7s.steps.cluster import DOWN_V

    if not dry_run:
        confirm(yes, "this deletes the cluster's data on every host")
    _phases(c, [DOWN_V], inventory, set_, accept_unknown_host_keys, dry_run)


@task(iterable=ITER, help={**CHANGES, "yes": "do not ask for confirmation"})
@clean_errors
def reset(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, yes=False):
    """Run kubeadm reset on every host."""
    from u7s.steps.cluster import RESET

    if not dry_run:
        confirm(yes, "this resets Kubernetes on every host")
    _phases(c, [RESET], inventory, set_, accept_unknown_host_keys, dry_run)
