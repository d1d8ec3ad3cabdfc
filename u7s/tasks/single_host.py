"""Single-host tasks, named after the reference's make targets. Each is a thin adapter."""

from __future__ import annotations

import sys

from invoke import Exit, task

from u7s.tasks._common import SET_HELP, clean_errors, confirm, local, node_of, out

S = {"set": SET_HELP}
ITER = ["set_"]

WORKFLOW = """\
u7s: Kubernetes without root, on one host or many.

One host (this one):
  u7s create              up, kubeadm-init, sync-external-ip, install-flannel, kubeconfig
  export KUBECONFIG=$(u7s kubeconfig)
  u7s smoke-test          verify the cluster

Step by step (the reference's make targets):
  u7s up                  start the node container
  u7s kubeadm-init        initialise the control plane
  u7s install-flannel     install the pod network
  u7s kubeconfig          write the admin kubeconfig (0600) and print its path
  u7s join-command        write a join script (0600) for another host
  u7s kubeadm-join        join this host's node using that script
  u7s sync-external-ip    set each node's ExternalIP to its host's address

Many hosts (hosts.yaml): u7s cluster.create; see `u7s --list`.

Debug: u7s logs | shell | kubeadm-reset | down | down-v | delete
Settings: u7s settings; override with --set KEY=VALUE or the environment.
"""


@task(default=True)
def help(c):
    """Show the workflow."""
    out(WORKFLOW)


@task(iterable=ITER, help={**S, "json": "print JSON"})
@clean_errors
def settings(c, set_=None, json=False):
    """Show every setting as resolved for this host (defaults < config < environment < --set)."""
    import json as _json

    _, s, _ = local(c, set_)
    table = s.as_table()
    if json:
        out(_json.dumps(table, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("setting", "value", "from")
    for key, value in table.items():
        t.add_row(key, value, s.sources.get(key, "default"))
    Console().print(t)


@task(iterable=ITER, help={**S, "json": "print results as JSON", "quick": "skip the throw-away container check"})
@clean_errors
def check_preflight(c, set_=None, json=False, quick=False):
    """Check that this host can run a u7s node."""
    from u7s.steps import preflight

    host, s, _ = local(c, set_)
    results = preflight.Preflight(host, s, quick=quick).run()
    if json:
        out(preflight.as_json(results))
    else:
        from rich.console import Console

        Console(stderr=True).print(preflight.table(results, f"preflight: {s.hostname}"))
    if preflight.failed(results):
        raise Exit(f"u7s: preflight found {len(preflight.failed(results))} error(s)", code=1)


@task(iterable=ITER, help={**S, "kubeadm-config": "print the kubeadm configuration instead"})
@clean_errors
def render(c, set_=None, kubeadm_config=False):
    """Print the compose file u7s would use (checked by the compose tool when installed)."""
    from u7s.build import render as _render

    host, s, report = local(c, set_)
    if kubeadm_config:
        out(_render.kubeadm_config(s))
        return
    text = _render.compose_file(s)
    out(text)
    _validate_with_compose(host, s, text, report)


def _validate_with_compose(host, s, text, report):
    """Let the compose tool check the file when it is installed; never needs a running engine."""
    import tempfile

    from u7s.build import engine

    if not host.run([*s.compose, "version"], check=False).ok:
        report.warn(f"`{' '.join(s.compose)}` is not installed: compose file not validated")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/{engine.COMPOSE_FILE}"
        with open(path, "w") as handle:
            handle.write(text)
        r = host.run([*s.compose, "-f", path, "-p", s.project, "config", "--quiet"], check=False)
    if r.ok:
        report.done(f"valid for {' '.join(s.compose)}")
    else:
        raise Exit(f"u7s: {' '.join(s.compose)} rejects the rendered file: {r.stderr.strip()}", code=1)


@task(iterable=ITER, help={**S, "skip-preflight": "do not run the preflight checks first"})
@clean_errors
def up(c, set_=None, skip_preflight=False):
    """Start the node container (preflight, then compose up) and wait until it has booted."""
    from u7s.steps import preflight, lifecycle

    node = node_of(c, set_, lock=True)
    if not skip_preflight:
        _require_preflight(node, preflight)
    node.report.done(lifecycle.up(node))


def _require_preflight(node, preflight):
    results = preflight.Preflight(node.host, node.s, quick=True).run()
    for r in preflight.failed(results):
        node.report.error(f"preflight {r.name}: {r.detail} ({r.fix})")
    if preflight.failed(results):
        raise Exit("u7s: preflight failed; fix the errors above (or --skip-preflight)", code=1)


@task(iterable=ITER, help=S)
@clean_errors
def down(c, set_=None):
    """Stop and remove the node container; its volumes (the cluster's data) are kept."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.down(node))


@task(iterable=ITER, help=S, name="down-v")
@clean_errors
def down_v(c, set_=None):
    """Remove the node container and its volumes: deletes the cluster's data."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.down(node, volumes=True))


@task(iterable=ITER, help={**S, "yes": "do not ask for confirmation"})
@clean_errors
def delete(c, set_=None, yes=False):
    """Delete this host's cluster node and all its data (down-v), after confirmation."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    confirm(yes, f"this deletes node {node.s.node_name} and all its data")
    node.report.done(lifecycle.down(node, volumes=True))


@task(iterable=ITER, help=S)
@clean_errors
def shell(c, set_=None):
    """Open bash in the node (reads commands from stdin when it is not a terminal)."""
    from u7s.build import engine

    host, s, _ = local(c, set_)
    argv = engine.node_exec(s, ["bash"], tty=sys.stdin.isatty())
    raise Exit(code=host.passthrough(argv))


@task(iterable=ITER, help={**S, "follow": "keep following (default); --no-follow prints and exits",
                           "since": "journalctl --since value (default: 1 day ago)"})
@clean_errors
def logs(c, set_=None, follow=True, since="1 day ago"):
    """Show the node's journal (journalctl --follow --since "1 day ago")."""
    from u7s.build import engine

    host, s, _ = local(c, set_)
    argv = ["journalctl", "--no-pager", "--since", since] + (["--follow"] if follow else [])
    raise Exit(code=host.passthrough(engine.node_exec(s, argv, env=False, stdin=False)))


@task(iterable=ITER, help=S, name="kubeadm-init")
@clean_errors
def kubeadm_init(c, set_=None):
    """Initialise the control plane with kubeadm (skipped when already done), then sync external IPs."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.kubeadm_init(node))


@task(iterable=ITER, help=S, name="install-flannel")
@clean_errors
def install_flannel(c, set_=None):
    """Install flannel (VXLAN on PORT_FLANNEL) unless it is installed."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.install_flannel(node))


@task(iterable=ITER, help=S, name="sync-external-ip")
@clean_errors
def sync_external_ip(c, set_=None):
    """Set every node's ExternalIP and flannel public IP to its host's address (usernetes/host-ip)."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.sync_external_ip(node))


@task(iterable=ITER, help={**S, "output": "where to write it (default: U7S_WORKDIR/kubeconfig)"})
@clean_errors
def kubeconfig(c, set_=None, output=None):
    """Write the admin kubeconfig (0600, API at 127.0.0.1) and print its path."""
    from u7s.steps import lifecycle

    node = node_of(c, set_)
    path = lifecycle.kubeconfig(node, output)
    node.report.done(f"kubeconfig written (0600); use: export KUBECONFIG={path}")
    out(path)


@task(iterable=ITER, help={**S, "output": "where to write it (default: U7S_WORKDIR/kubectl)"})
@clean_errors
def kubectl(c, set_=None, output=None):
    """Copy the node's kubectl out, for hosts that have none; prints its path."""
    from u7s.build import engine

    host, s, report = local(c, set_)
    path = output or s.path("kubectl")
    host.run(engine.copy_from_node(s, "/usr/bin/kubectl", path))
    host.run(["chmod", "0755", path])
    report.done(f"kubectl copied to {path}")
    out(path)


@task(iterable=ITER, help={**S, "output": "where to write it (default: U7S_WORKDIR/join-command)",
                           "ttl": "token lifetime, e.g. 30m (default: kubeadm's, 24h)"})
@clean_errors
def join_command(c, set_=None, output=None, ttl=None):
    """Write a join script for workers (0600; it holds a token) and print its path."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    path = lifecycle.join_command(node, output, ttl)
    node.report.done("join script written (0600, holds a secret token); copy it to a worker's U7S_WORKDIR")
    out(path)


@task(iterable=ITER, help={**S, "file": "the join script (default: U7S_WORKDIR/join-command)"})
@clean_errors
def kubeadm_join(c, set_=None, file=None):
    """Join this host's node to a cluster with a join script from `u7s join-command`."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.kubeadm_join(node, file))


@task(iterable=ITER, help=S, name="kubeadm-reset")
@clean_errors
def kubeadm_reset(c, set_=None):
    """Run `kubeadm reset --force` in the node."""
    from u7s.steps import lifecycle

    node = node_of(c, set_, lock=True)
    node.report.done(lifecycle.kubeadm_reset(node))


@task(iterable=ITER, help={**S, "config-file": "the config file to record it in (default: ~/.u7s.yaml)"})
@clean_errors
def multi_node(c, set_=None, config_file=None):
    """Make this host's project and network names unique (hosts sharing a home directory)."""
    from u7s.config import userconfig

    path = userconfig.enable_multi_node(config_file or userconfig.user_config_file(c.config.prefix))
    _, s, report = local(c, [*(set_ or []), "U7S_MULTI_NODE=true"])
    report.done(f"U7S_MULTI_NODE recorded in {path}: project {s.project}, network {s.network}, "
                f"files in {s.workdir}")


@task(iterable=ITER, help={**S, "skip-preflight": "do not run the preflight checks first"})
@clean_errors
def create(c, set_=None, skip_preflight=False):
    """Create a single-host cluster: up, kubeadm-init, sync-external-ip, install-flannel, kubeconfig."""
    from u7s.steps import preflight, lifecycle

    node = node_of(c, set_, lock=True)
    if not skip_preflight:
        _require_preflight(node, preflight)
    for step in lifecycle.single_host_create():
        node.report.done(f"{step.title}: {step.run(node)}")
    out(node.s.path("kubeconfig"))


@task(iterable=ITER, help={**S, "kubeconfig": "kubeconfig to use (default: U7S_WORKDIR/kubeconfig)",
                           "kubectl": "kubectl to run (default: kubectl on PATH, else U7S_WORKDIR/kubectl)"})
@clean_errors
def smoke_test(c, set_=None, kubeconfig=None, kubectl=None):
    """Verify the cluster: nodes Ready, a 3-replica StatefulSet reachable by DNS from a pod."""
    from u7s.steps import smoke

    host, s, report = local(c, set_)
    smoke.run(host, s, report, kubeconfig=kubeconfig, kubectl=kubectl)
