"""Single-host tasks, named after the reference's make targets. Each is a thin adapter.

Called from Python (another invoke project's task), each returns what it exists to
print: a path, the settings, the preflight results, the rendered text.
"""

from __future__ import annotations

import sys

from invoke import Exit

from u7s.tasks._common import (
    DRY_RUN, SET_HELP, clean_errors, confirm, local, make_task, out, read_only, steps_here, task, this_host,
    workflows,
)
from u7s.tasks.access import join_command, kubeconfig, kubectl  # noqa: F401  (tasks of this collection)
from u7s.tasks.hostprep import init_host  # noqa: F401

S = {"set": SET_HELP}
CHANGES = {**S, "dry-run": DRY_RUN}
ITER = ["set_"]

ONE_HOST = [("init-host", "prepare this host (the root part through sudo), once"),
            ("create", "up, kubeadm-init, sync-external-ip, install-flannel, kubeconfig"),
            ("kubeconfig --merge", "merge its kubeconfig where kubectl looks, as its current context"),
            ("smoke-test", "verify the cluster")]
STEPS = [("up", "start the node container"), ("kubeadm-init", "initialise the control plane"),
         ("install-flannel", "install the pod network"),
         ("kubeconfig", "write the admin kubeconfig (0600) and print its path"),
         ("join-command", "write a join script (0600) for another host"),
         ("kubeadm-join", "join this host's node using that script"),
         ("sync-external-ip", "set each node's ExternalIP to its host's address")]


def workflow(u: str, program: str) -> str:
    """The workflow, its commands written as the user calls them (`u7s create`, `inv u7s.create`)."""
    width = max(len(u + name) for name, _ in ONE_HOST + STEPS) + 2

    def rows(pairs):
        return "\n".join(f"  {(u + name).ljust(width)}{what}" for name, what in pairs)

    return (f"u7s: Kubernetes without root, on one host or many.\n\nOne host (this one):\n{rows(ONE_HOST)}\n\n"
            f"Step by step (the reference's make targets):\n{rows(STEPS)}\n\n"
            f"Many hosts (hosts.yaml): {u}cluster.create; see `{program} --list`.\n\n"
            f"Debug: {u}logs | shell | kubeadm-reset | down | down-v | delete\n"
            f"Settings: {u}settings; override with --set KEY=VALUE or the environment.\n")


@task(default=True)
@read_only
def help(c):
    """Show the workflow."""
    from u7s.tasks import calledas

    text = workflow(calledas.command(c, "help"), calledas.program(c))
    out(text)
    return text


@task(iterable=ITER, help={**S, "json": "print JSON"})
@read_only
def settings(c, set_=None, json=False):
    """Show every setting as resolved for this host (defaults < config < environment < --set)."""
    import json as _json

    from u7s.ui import tables

    _, s, _ = local(c, set_)
    table = s.as_table()
    if json:
        out(_json.dumps(table, indent=2))
    else:
        tables.show(tables.settings(s), stderr=False)
    return table


@task(iterable=ITER, help={**S, "json": "print results as JSON", "quick": "skip the throw-away container check"})
@read_only
def check_preflight(c, set_=None, json=False, quick=False):
    """Check that this host can run a u7s node."""
    from u7s.errors import CheckFailed
    from u7s.checks import preflight
    from u7s.ui import tables

    host, s, _ = local(c, set_)
    results = preflight.Preflight(host, s, quick=quick).run()
    if json:
        out(tables.as_json(results))
    else:
        tables.show(tables.preflight(results, f"preflight: {s.hostname}"))
    if preflight.failed(results):
        raise CheckFailed(f"preflight found {len(preflight.failed(results))} error(s)", results)
    return results


@task(iterable=ITER, help={**S, "kubeadm-config": "print the kubeadm configuration instead"})
@read_only
def render(c, set_=None, kubeadm_config=False):
    """Print the compose file u7s would use (checked by the compose tool when installed)."""
    from u7s.render import templates as _templates
    from u7s.checks import validate

    host, s, report = local(c, set_)
    text = _templates.kubeadm_config(s) if kubeadm_config else _templates.compose_file(s)
    out(text)
    if not kubeadm_config:
        validate.compose_file(host, s, text, report)
    return text


def _steps_task(name: str, doc: str, steps):
    """A task that runs steps on this host: `steps()` gives the Steps (imported as the task runs)."""

    def body(c, set_=None, dry_run=False):
        steps_here(c, set_, steps(), dry_run)

    return make_task(name, doc, body, CHANGES)


kubeadm_init = _steps_task(
    "kubeadm-init", "Initialise the control plane with kubeadm (skipped when already done), then sync external IPs.",
    lambda: [workflows().INIT])
down = _steps_task("down", "Stop and remove the node container; its volumes (the cluster's data) are kept.",
                   lambda: [workflows().DOWN])
down_v = _steps_task("down-v", "Remove the node container and its volumes: deletes the cluster's data.",
                     lambda: [workflows().DOWN_V])
install_flannel = _steps_task("install-flannel", "Install flannel (VXLAN on PORT_FLANNEL) unless it is installed.",
                              lambda: [workflows().FLANNEL])
install_metrics_server = _steps_task("install-metrics-server", "Install metrics-server (kubectl top), whatever "
                                     "METRICS_SERVER says.", lambda: [workflows().METRICS_INSTALL])
sync_external_ip = _steps_task(
    "sync-external-ip", "Set every node's ExternalIP and flannel public IP to its host's address (usernetes/host-ip).",
    lambda: [workflows().SYNC])
install_storage = _steps_task("install-storage", "Install the local-path provisioner, the default StorageClass.",
                              lambda: [workflows().STORAGE])
kubeadm_reset = _steps_task("kubeadm-reset", "Run `kubeadm reset --force` in the node.", lambda: [workflows().RESET])


@task(iterable=ITER, help={**CHANGES, "skip-preflight": "do not run the preflight checks first"})
@clean_errors
def up(c, set_=None, skip_preflight=False, dry_run=False):
    """Start the node container (preflight, then compose up) and wait until it has booted."""
    from u7s.steps.workflows import PREFLIGHT, UP

    steps_here(c, set_, ([] if skip_preflight else [PREFLIGHT]) + [UP], dry_run)


@task(iterable=ITER, help={**CHANGES, "yes": "do not ask for confirmation"})
@clean_errors
def delete(c, set_=None, yes=False, dry_run=False):
    """Delete this host's cluster node and all its data (down-v), after confirmation."""
    from u7s.session import one_host
    from u7s.steps.step import execute
    from u7s.steps.workflows import DOWN_V

    member = this_host(c, set_, lock=not dry_run)
    if not dry_run:
        confirm(yes, f"this deletes node {member.settings.node_name} and all its data")
    execute(one_host(member, dry_run), [DOWN_V])


def _passthrough(host, argv, tty=False) -> int:
    """A command attached to the user's terminal; its exit status is the task's."""
    code = host.passthrough(argv, tty=tty)
    if code:
        raise Exit(code=code)
    return code


def _takes_pty(body):
    body.u7s_pty = True  # coreflags: `u7s --pty shell` is `shell --pty`
    return body


@task(iterable=ITER, help={**S, "pty": "give bash a terminal even when stdin is none (as invoke's --pty)"})
@clean_errors
@_takes_pty
def shell(c, set_=None, pty=False):
    """Open bash in the node (reads commands from stdin when it is not a terminal)."""
    from u7s.render import engine

    host, s, _ = local(c, set_)
    tty = pty or sys.stdin.isatty()
    return _passthrough(host, engine.node_exec(s, ["bash"], tty=tty), tty)


@task(iterable=ITER, help={**S, "follow": "keep following (default); --no-follow prints and exits",
                           "since": "journalctl --since value (default: 1 day ago)"})
@read_only
def logs(c, set_=None, follow=True, since="1 day ago"):
    """Show the node's journal (journalctl --follow --since "1 day ago")."""
    from u7s.render import engine

    host, s, _ = local(c, set_)
    argv = ["journalctl", "--no-pager", "--since", since] + (["--follow"] if follow else [])
    return _passthrough(host, engine.node_exec(s, argv, env=False, stdin=False))


@task(iterable=ITER, help={**CHANGES, "file": "the join script (default: U7S_WORKDIR/join-command)"})
@clean_errors
def kubeadm_join(c, set_=None, file=None, dry_run=False):
    """Join this host's node to a cluster with a join script from `u7s join-command`."""
    from u7s.steps.workflows import JOIN_WITH_SCRIPT

    steps_here(c, set_, [JOIN_WITH_SCRIPT], dry_run, file=file)


@task(iterable=ITER, help={**CHANGES, "config-file": "the config file to record it in (default: ~/.u7s.yaml)"})
@clean_errors
def multi_node(c, set_=None, config_file=None, dry_run=False):
    """Make this host's project and network names unique (hosts sharing a home directory)."""
    from u7s.config import userconfig
    from u7s.errors import Refused
    from u7s.tasks.fabhost import is_connection

    if is_connection(c):
        raise Refused("multi-node records a setting in the controller's config file; under fab -H give "
                      "U7S_MULTI_NODE: true in the u7s section of fabric.yaml instead")
    path = config_file or userconfig.user_config_file(c.config.prefix)
    _, s, report = local(c, [*(set_ or []), "U7S_MULTI_NODE=true"])
    if dry_run:
        report.info(f"would record U7S_MULTI_NODE: true in {path}")
        return None
    path = userconfig.enable_multi_node(path)
    report.done(f"U7S_MULTI_NODE recorded in {path}: project {s.project}, network {s.network}, "
                f"files in {s.workdir}")
    return str(path)


@task(iterable=ITER, help={**CHANGES, "skip-preflight": "do not run the preflight checks first"})
@clean_errors
def create(c, set_=None, skip_preflight=False, dry_run=False):
    """Create a single-host cluster: up, kubeadm-init, sync-external-ip, install-flannel, kubeconfig."""
    from u7s.steps.workflows import CREATE_ONE_HOST, PREFLIGHT

    run = steps_here(c, set_, ([] if skip_preflight else [PREFLIGHT]) + CREATE_ONE_HOST, dry_run, titled=True)
    if dry_run:
        return None
    path = run.control_plane.settings.path("kubeconfig")
    out(path)
    return path


@task(iterable=ITER, help={**S, "kubeconfig": "kubeconfig to use (default: U7S_WORKDIR/kubeconfig)",
                           "kubectl": "kubectl to run (default: kubectl on PATH, else U7S_WORKDIR/kubectl)"})
@clean_errors
def smoke_test(c, set_=None, kubeconfig=None, kubectl=None):
    """Verify the cluster: nodes Ready, a 3-replica StatefulSet reachable by DNS from a pod."""
    from u7s.checks import smoke

    host, s, report = local(c, set_)
    smoke.run(host, s, report, kubeconfig=kubeconfig, kubectl=kubectl)


@task(iterable=["set_", "image"], help={**S, "image": "an image of this host's engine (repeatable)",
                                         "archive": "load this `docker save` or OCI archive instead"})
@clean_errors
def load_image(c, set_=None, image=None, archive=None):
    """Load images (from the engine, or an archive) into the node's containerd, for imagePullPolicy: IfNotPresent."""
    from u7s.errors import Refused
    from u7s.steps import images
    from u7s.tasks.fabhost import is_connection

    if is_connection(c):  # its archive is made and read on the controller
        raise Refused("load-image under fab -H: use cluster.load-image with an inventory of those hosts "
                      "(it streams the controller's images to every host)")
    node = this_host(c, set_).node
    with images.Source(node.host, node.s, image, archive) as (path, found):
        node.report.done(images.load(node, path, found, node.report.info))


@task(iterable=["set_"], help={**S, "output": "the bundle to write (default: ./u7s-logs-DATE-TIME.tar.gz)"})
@clean_errors
def export_logs(c, set_=None, output=None):
    """Write a .tar.gz of the node's logs, state and versions for a bug report (secrets redacted); print its path."""
    from u7s.checks import logbundle

    host, s, report = local(c, set_)
    path = output or logbundle.default_output()
    files = logbundle.collect(host, s, logbundle.known_secrets(c.config))
    logbundle.write_bundle(path, {s.hostname: files})
    report.done(f"log bundle written (0600): {path}")
    out(path)
    return path


@task(iterable=["set_"], help={**S, "dry-run": "print the steps in order; change nothing"})
@clean_errors
def upgrade(c, set_=None, dry_run=False):
    """Move this single-host cluster to the Kubernetes version of the node image the settings now name."""
    from u7s.session import one_host
    from u7s.steps import upgrade as _upgrade

    _upgrade.run_upgrade(one_host(this_host(c, set_, lock=not dry_run), dry_run))
