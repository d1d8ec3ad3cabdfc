"""Multi-host tasks (`cluster.*`): every one reads the inventory (default hosts.yaml). Each is a thin adapter."""

from __future__ import annotations

import contextlib

from invoke import Exit

from u7s.tasks._common import (
    DRY_RUN, SET_HELP, clean_errors, config_of, confirm, flags_of, make_task, option, out, read_only, task, workflows,
)

COMMON = {
    "inventory": "the inventory file (default: u7s.inventory in the config, else hosts.yaml)",
    "set": SET_HELP + " (on every host)",
    "accept-unknown-host-keys": "accept SSH host keys not in known_hosts (default: u7s.accept_unknown_host_keys, "
                                "else refuse)",
}
CHANGES = {**COMMON, "dry-run": DRY_RUN.replace("print", "print, per host,")}
ITER = ["set_"]


def _open(c, inventory, set_, accept_unknown_host_keys, dry_run=False, lock=False):
    """The task's options and settings, handed to u7s.session.open_run."""
    from u7s.config.allocation import inventory as source
    from u7s.errors import SettingsError
    from u7s.session import open_run
    from u7s.tasks import allocflag

    flags, accept = flags_of(set_), option(c, "accept_unknown_host_keys", accept_unknown_host_keys, False)
    if not isinstance(accept, bool):
        raise SettingsError(f"config u7s.accept_unknown_host_keys: expected true or false, got {accept!r}")
    allocation = option(c, allocflag.NAME, allocflag.on_command_line(), None) or None  # else the file decides
    path, config = option(c, "inventory", inventory, None if allocation else "hosts.yaml"), config_of(c)
    return open_run(c, source(path, allocation, config, flags), flags, config, accept, dry_run, lock, allocflag.forks_of(c))


def _steps(c, steps, inventory, set_, accept, dry_run):
    """Open a run that holds the locks, then run the steps on its hosts."""
    from u7s.steps.step import execute, raise_failures

    run = _open(c, inventory, set_, accept, dry_run, lock=True)
    if run.failures and run.control_plane.failed:
        raise_failures(run)
    with run.board or contextlib.nullcontext():
        execute(run, steps)
    return run


@task(iterable=ITER, help={**COMMON, "json": "print results as JSON"})
@read_only
def check_preflight(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False):
    """Check every host in parallel (one table, or --json), plus cross-host uniqueness."""
    from u7s.checks import preflight
    from u7s.ui import tables

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    rows = preflight.on_hosts(run)
    if json:
        out(tables.as_json([{"host": h, **r.__dict__} for h, r in rows]))
    else:
        tables.show(tables.preflight_by_host(rows, f"preflight: {run.inventory.path}"))
    errors = [h for h, r in rows if r.status == preflight.ERROR]
    if errors:
        from u7s.errors import CheckFailed

        raise CheckFailed(f"preflight failed on {', '.join(sorted(set(errors)))}", rows)
    return rows


@task(iterable=ITER, help={**CHANGES, "start-engine": "where no systemd user instance runs rootless Docker, start it "
                             "as a detached process (init-host.rootless.sh --start-engine)"})
@clean_errors
def init_host(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, start_engine=False):
    """Run init-host/ on every host: the root part through sudo, the rootless part as the user."""
    from u7s.steps import hostinit

    run = _open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=True)
    hostinit.run_all(c, run, start_engine=start_engine)


def _steps_task(name: str, doc: str, steps):
    """A task that runs steps on the inventory's hosts: `steps()` gives the Steps (imported as the task runs)."""

    def body(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False):
        _steps(c, steps(), inventory, set_, accept_unknown_host_keys, dry_run)

    return make_task(name, doc, body, CHANGES)


up = _steps_task("up", "Start the node container on every host.", lambda: [workflows().UP])
init = _steps_task("init", "Run kubeadm init on the control plane (skipped when done).", lambda: [workflows().INIT])
join = _steps_task(
    "join", "Join every worker (a fresh token for each, deleted after; script 0600, run, removed), then sync IPs.",
    lambda: [workflows().JOIN, workflows().SYNC])
sync_external_ip = _steps_task(
    "sync-external-ip", "Set every node's ExternalIP and flannel public IP to its host's address.",
    lambda: [workflows().SYNC])
install_flannel = _steps_task(
    "install-flannel", "Install flannel from the control plane (after sync-external-ip).", lambda: [workflows().FLANNEL])
down = _steps_task("down", "Stop the node container on every host (volumes kept).", lambda: [workflows().DOWN])

KUBECONFIG_HELP = {
    **COMMON,
    "output": "where to write it (default: kubeconfig beside the inventory; from an allocation, "
              "u7s-JOBID.kubeconfig in the job's submit directory)",
    "merge": "also merge it into the first file of $KUBECONFIG (else ~/.kube/config) and make it the current "
             "context; --merge NAME names it NAME (default: the inventory's cluster.name)",
    "switch-context": "with --merge, make it the current context (default); --no-switch-context keeps yours",
}


def _kubeconfig_out(run, output, merge, switch_context, dry_run=False):
    """Write the kubeconfig named after the cluster (or --merge NAME) and merge it; its path (None when dry)."""
    from u7s.render.kubeconfigs import merge_target
    from u7s.steps.kubeconfig import controller, kubeconfig_path, merge_into, write_kubeconfig

    name = merge if isinstance(merge, str) and merge else run.inventory.name
    path, target = kubeconfig_path(run, output), merge_target() if merge else None
    if dry_run:
        run.report.info(f"would write the kubeconfig to {path}" +
                        (f" and merge it into {target} as {name}" if target else ""))
        return None
    write_kubeconfig(run, path, name)
    if target:
        merge_into(controller(), path, target, switch_context)
        run.report.done(f"merged into {target} as context {name}" + (", now the current context"
                                                                     if switch_context else ""))
    return path


def _check_merge_target(merge) -> None:
    """A malformed kubeconfig to merge into is refused before anything runs (it is left as it is)."""
    if merge:
        from u7s.render.kubeconfigs import merge_target
        from u7s.steps.kubeconfig import check_target, controller

        check_target(controller(), merge_target())


@task(iterable=ITER, optional=["merge"], help={**KUBECONFIG_HELP, "dry-run": CHANGES["dry-run"]})
@clean_errors
def kubeconfig(c, inventory=None, set_=None, accept_unknown_host_keys=False, output=None, merge=None,
               switch_context=True, dry_run=False):
    """Write the admin kubeconfig (0600; API at the control plane's HOST_IP), named after the cluster; print its path."""
    _check_merge_target(merge)
    run = _open(c, inventory, set_, accept_unknown_host_keys)
    path = _kubeconfig_out(run, output, merge, switch_context, dry_run)
    if path:
        run.report.done(f"kubeconfig written (0600): export KUBECONFIG={path}")
        out(path)
    return path


@task(iterable=ITER, optional=["merge"], help={**KUBECONFIG_HELP, **CHANGES,
                                               "skip-network-check": "do not check the data path between hosts "
                                                                     "before joining"})
@clean_errors
def create(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, output=None,
           merge=None, switch_context=True, skip_network_check=False):
    """Create the cluster: preflight, up, init, check-network, join, sync-external-ip, flannel, kubeconfig."""
    from u7s.steps import workflows

    _check_merge_target(merge)
    steps = [s for s in workflows.CREATE if not (skip_network_check and s is workflows.NETWORK)]
    run = _steps(c, steps, inventory, set_, accept_unknown_host_keys, dry_run)
    path = _kubeconfig_out(run, output, merge, switch_context, dry_run)
    if dry_run:
        return None
    if workflows.nothing_done(run.outcomes):
        run.report.done(workflows.NOTHING_TO_DO)
    run.report.done(f"cluster ready: export KUBECONFIG={path}")
    out(path)
    return path


@task(iterable=ITER, help={**COMMON, "json": "print results as JSON (every probe)",
                           "only": "check only these hosts (comma-separated names, e.g. a pair)",
                           "all": "list every probe, not only the failed ones"})
@read_only
def check_network(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False, only=None, all_=False):
    """Check the data path between every pair of hosts (TCP ports, VXLAN, MTU, rp_filter); needs nodes up."""
    from u7s.netcheck import check as netcheck
    from u7s.ui import tables

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    probes = netcheck.on_hosts(run, only)
    if json:
        out(tables.as_json(probes))
    else:
        tables.show(tables.network(probes, *netcheck.summary_parts(probes), every=all_))
    netcheck.raise_failures(run, probes)
    return probes


@task(iterable=ITER, help={**COMMON, "json": "print JSON"})
@read_only
def status(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False):
    """Show each host: reachable, engine, rootless, node container, Kubernetes node Ready; exit 1 unless all are."""
    from u7s.checks.status import status_problems, status_rows
    from u7s.ui import tables

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    rows = status_rows(run)
    if json:
        out(tables.as_json(rows))
    else:
        tables.show(tables.status(rows), stderr=False)
    for said in filter(None, (r.get(k) for r in rows for k in ("cert_warning", "lease_problem"))):
        run.report.warn(said)
    unreachable = [r["host"] for r in rows if r.get("error")]
    if unreachable:
        raise Exit(f"u7s: not reachable or not resolved: {', '.join(unreachable)}", code=1)
    unwell = status_problems(rows)
    if unwell:
        raise Exit(f"u7s: not every node is up and Ready: {'; '.join(unwell)}", code=1)
    return rows


def _confirmed_task(name: str, doc: str, step, question: str):
    """A task that asks first (unless --yes or --dry-run), then runs one step (`step()`) on every host."""

    def body(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, yes=False):
        if not dry_run:
            confirm(yes, question)
        _steps(c, [step()], inventory, set_, accept_unknown_host_keys, dry_run)

    return make_task(name, doc, body, {**CHANGES, "yes": "do not ask for confirmation"})


down_v = _confirmed_task("down-v", "Remove the node container and its volumes on every host: deletes the cluster.",
                         lambda: workflows().DOWN_V, "this deletes the cluster's data on every host")
reset = _confirmed_task("reset", "Run kubeadm reset on every host.", lambda: workflows().RESET,
                        "this resets Kubernetes on every host")


@task(iterable=["set_", "image"], help={**CHANGES, "image": "an image of the controller's engine (repeatable)",
                                         "archive": "load this `docker save` or OCI archive instead"})
@clean_errors
def load_image(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, image=None,
               archive=None):
    """Load images (from the controller's engine, or an archive) into every node's containerd, hosts in parallel."""
    from u7s.steps import images
    from u7s.steps.step import execute
    from u7s.tasks._common import local

    host, s = (None, None) if archive else local(c)[:2]
    source = images.Source(host, s, image, archive)
    run = _open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=True)
    if dry_run:
        execute(run, [images.load_step(source, None)])
        return
    with source as loaded, run.board or contextlib.nullcontext():
        execute(run, [images.load_step(source, loaded)])


@task(iterable=ITER, help={**COMMON, "output": "the bundle to write (default: ./u7s-logs-DATE-TIME.tar.gz)"})
@clean_errors
def export_logs(c, inventory=None, set_=None, accept_unknown_host_keys=False, output=None):
    """Write one .tar.gz with every host's logs, state and versions (a folder per host, secrets redacted)."""
    from u7s.checks import logbundle

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    path = output or logbundle.default_output()
    logbundle.write_bundle(path, logbundle.collect_all(run.members, logbundle.known_secrets(c.config)))
    run.report.done(f"log bundle written (0600): {path}")
    out(path)
    return path


@task(iterable=ITER, help={**CHANGES, "name": "the inventory name of the worker to remove",
                           "yes": "do not ask for confirmation", "force": "also delete pods no controller manages "
                           "(kubectl drain --force)", "timeout": "seconds the drain may take (default 300)"})
@clean_errors
def remove_node(c, name=None, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, yes=False,
                force=False, timeout=300):
    """Remove a worker: drain it, delete its Node, kubeadm reset in it, down-v on its host."""
    from u7s.steps import nodes_remove

    if not name:
        from u7s.errors import Refused

        raise Refused("cluster.remove-node: give the host with --name NAME")
    run = _open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=True)
    nodes_remove.leaving_member(run, name)  # before asking: a wrong name is refused at once
    if not dry_run:
        confirm(yes, f"this drains {name}, deletes its Node and its node container's data")
    nodes_remove.remove(run, name, int(timeout), force)


@task(iterable=ITER, help={**CHANGES, "force": "drain also deletes pods no controller manages",
                           "timeout": "seconds each drain may take (default 300)"})
@clean_errors
def upgrade(c, inventory=None, set_=None, accept_unknown_host_keys=False, dry_run=False, force=False, timeout=300):
    """Upgrade to the node image's Kubernetes version: control plane first, then each worker (drain, uncordon)."""
    from u7s.steps import upgrade as _upgrade

    run = _open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=True)
    _upgrade.run_upgrade(run, int(timeout), force)
