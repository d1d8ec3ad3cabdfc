"""Single-host tasks that let others in: the admin kubeconfig, kubectl, a join script for workers."""

from __future__ import annotations

from u7s.tasks._common import DRY_RUN, SET_HELP, clean_errors, out, task, this_host

CHANGES = {"set": SET_HELP, "dry-run": DRY_RUN}
ITER = ["set_"]


def _one_step(member, step, dry_run: bool, **params) -> str | None:
    """One step on this host, a run of one; what it returned (a path), None under --dry-run. The task says
    what was done."""
    from u7s.session import one_host
    from u7s.steps.step import execute

    run = one_host(member, dry_run)
    execute(run, [step], quiet=True, **params)
    return run.outcomes.get(step.title, {}).get(member.name)

KUBECONFIG_HELP = {
    **CHANGES, "output": "where to write it (default: U7S_WORKDIR/kubeconfig)",
    "merge": "also merge it into the first file of $KUBECONFIG (else ~/.kube/config) and make it the current "
             "context; --merge NAME names it NAME (default: PROJECT-HOSTNAME, e.g. u7s-host1)",
    "switch-context": "with --merge, make it the current context (default); --no-switch-context keeps yours",
}


@task(iterable=ITER, optional=["merge"], help=KUBECONFIG_HELP)
@clean_errors
def kubeconfig(c, set_=None, output=None, dry_run=False, merge=None, switch_context=True):
    """Write the admin kubeconfig (0600, API at 127.0.0.1) named after the cluster, and print its path."""
    from u7s.render.kubeconfigs import merge_target, single_host_name
    from u7s.run.hosts import LocalHost
    from u7s.steps import kubeconfig as _kubeconfig
    from u7s.steps.workflows import KUBECONFIG

    member = this_host(c, set_)  # reads the cluster, writes one file of its own: no host lock
    s, host = member.settings, member.host
    name = merge if isinstance(merge, str) and merge else single_host_name(s.project, s.hostname)
    target = None
    if merge:
        remote = not isinstance(host, LocalHost)  # under fab -H: that host's user's kubeconfig
        target = merge_target({}, host.run(["printenv", "HOME"]).stdout.strip()) if remote else merge_target()
        _kubeconfig.check_target(host, target)
    path = _one_step(member, KUBECONFIG, dry_run, path=output, name=name)
    if dry_run:
        if target:
            member.report.info(f"would merge it into {target} as {name}" + (" (current context)" if switch_context
                                                                            else ""))
        return None
    member.report.done(f"kubeconfig written (0600); use: export KUBECONFIG={path}")
    if target:
        _kubeconfig.merge_into(host, path, target, switch_context)
        member.report.done(f"merged into {target} as context {name}" + (", now the current context"
                                                                        if switch_context else ""))
    out(path)
    return path


@task(iterable=ITER, help={**CHANGES, "output": "where to write it (default: U7S_WORKDIR/kubectl)"})
@clean_errors
def kubectl(c, set_=None, output=None, dry_run=False):
    """Copy the node's kubectl out, for hosts that have none; prints its path."""
    from u7s.steps.workflows import KUBECTL

    member = this_host(c, set_)
    path = _one_step(member, KUBECTL, dry_run, path=output)
    if path:
        member.report.done(f"kubectl copied to {path}")
        out(path)
    return path


@task(iterable=ITER, help={**CHANGES, "output": "where to write it (default: U7S_WORKDIR/join-command)",
                           "ttl": "token lifetime, e.g. 30m (default: kubeadm's, 24h)"})
@clean_errors
def join_command(c, set_=None, output=None, ttl=None, dry_run=False):
    """Write a join script for workers (0600; it holds a token) and print its path."""
    from u7s.steps.workflows import JOIN_COMMAND

    member = this_host(c, set_, lock=not dry_run)
    path = _one_step(member, JOIN_COMMAND, dry_run, path=output, ttl=ttl)
    if path:
        member.report.done("join script written (0600, holds a secret token); copy it to a worker's U7S_WORKDIR")
        out(path)
    return path


