"""Certificates (`certs`, `cluster.certs`): every certificate's expiry, and renewal. Thin adapters."""

from __future__ import annotations

from u7s.tasks import cluster
from u7s.tasks._common import DRY_RUN, SET_HELP, clean_errors, out, task, this_host

HELP = {
    "json": "print JSON (name, expires, residual, authority, is_ca, days_left, ...)",
    "renew": "renew every certificate (kubeadm certs renew all), restart the node, rewrite the kubeconfig",
    "dry-run": DRY_RUN,
}
ITER = ["set_"]


def _table(rows, title):
    from u7s.ui.tables import Grid

    g = Grid(("certificate", "expires", "residual time", "authority", "days left"), title=title)
    for r in rows:
        if r["missing"]:
            g.add(r["name"], "missing", "", r["authority"] or "(CA)", None)
        else:
            g.add(r["name"], r["expires"][:16].replace("T", " ") + " UTC", r["residual"], r["authority"] or "(CA)",
                  r["days_left"])
    return g


def _dry(report, node, kubeconfig):
    from u7s.node import certs as _certs

    report.info(f"would run kubeadm certs renew all in {node.s.node_name}")
    report.info(f"would run {' '.join(_certs.restart_argv(node))} and wait until the API answers")
    report.info(f"would rewrite the admin kubeconfig {kubeconfig} (0600) if it is there")


def run_certs(node, report, where, command, kubeconfig, refresh, json=False, renew=False, dry_run=False):
    """Renew (when asked), then show the certificates and warn about those expiring within 30 days.

    `kubeconfig` is the admin kubeconfig u7s wrote for the user: (its path, whether it is there);
    `refresh` rewrites it from the renewed admin.conf and returns its path.
    """
    from u7s.node import certs as _certs
    from u7s.ui import tables

    if renew and dry_run:
        _dry(report, node, kubeconfig[0])
        return None
    if renew:
        before = min((c.expires for c in _certs.read(node) if c.expires and not c.is_ca), default=None)
        report.done(_certs.renew(node))
        if kubeconfig[1]:
            report.done(f"admin kubeconfig rewritten (0600): {refresh()}; a copy merged elsewhere still "
                        "works until its old certificate expires (`kubeconfig --merge` again to refresh it)")
        if before:
            report.info(f"the soonest leaf certificate expired {before:%b %d, %Y %H:%M} UTC before renewal")
    now = _certs.now_utc()
    found = _certs.read(node)
    rows = [c.as_json(now) for c in found]
    if json:
        out(tables.as_json(rows))
    else:
        tables.show(_table(rows, f"certificates: {where}"), stderr=False)
    said = _certs.warning(found, now, where, command)
    if said:
        report.warn(said)
    return rows


@task(iterable=ITER, help={"set": SET_HELP, **HELP})
@clean_errors
def certs(c, set_=None, json=False, renew=False, dry_run=False):
    """Show every certificate's expiry (kubeadm certs check-expiration); --renew renews them and restarts the node."""
    from u7s.render import workdir
    from u7s.steps import lifecycle

    member = this_host(c, set_, lock=renew and not dry_run)
    node, s = member.node, member.settings
    path = s.path(workdir.KUBECONFIG)
    there = member.host.read_text(path) is not None
    return run_certs(node, member.report, s.node_name, "u7s certs", (path, there), lambda: lifecycle.kubeconfig(node),
                     json, renew, dry_run)


CLUSTER_HELP = {**cluster.COMMON, **HELP}


@task(name="certs", iterable=ITER, help=CLUSTER_HELP)
@clean_errors
def cluster_certs(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False, renew=False,
                  dry_run=False):
    """Show the control plane's certificates and their expiry; --renew renews them (workers' kubelets rotate theirs)."""
    from u7s.steps import kubeconfig as _kubeconfig
    from u7s.steps.step import raise_failures

    run = cluster._open(c, inventory, set_, accept_unknown_host_keys, dry_run, lock=renew and not dry_run)
    cp = run.control_plane
    if cp.failed:
        raise_failures(run)
    path = _kubeconfig.kubeconfig_path(run, None)
    there = _kubeconfig.controller().read_text(path) is not None
    return run_certs(cp.node, cp.report, cp.name, "u7s cluster.certs", (path, there),
                     lambda: _kubeconfig.write_kubeconfig(run, path), json, renew, dry_run)
