"""etcd backup and restore (`backup`/`restore`, `cluster.backup`/`cluster.restore`). Thin adapters."""

from __future__ import annotations

from u7s.tasks import cluster
from u7s.tasks._common import SET_HELP, clean_errors, task, this_host

BACKUP_HELP = {"output": "the backup file to write (0600): etcd's snapshot and what it was taken from"}
RESTORE_HELP = {"input": "a backup file `backup`/`cluster.backup` of this cluster wrote; checked before anything "
                         "is touched"}
ITER = ["set_"]


def run_backup(node, report, output, name):
    from u7s.errors import U7sError
    from u7s.node import etcdbackup
    from u7s.steps.kubeconfig import controller

    if not output:
        raise U7sError("--output: give the backup file to write, e.g. --output etcd-backup.tar")
    data, meta = etcdbackup.take(node, name)
    controller().write_file(output, data, mode=0o600)
    report.done(f"etcd backup written (0600): {output} ({meta['size']} bytes of snapshot from {meta['node']} on "
                f"{meta['host']}, Kubernetes {meta['kubernetes_version']}, {meta['taken']})")
    return output


def run_restore(node, report, path, cluster):
    """Check the file first (nothing touched if it is not a good backup of CLUSTER), then restore it onto NODE."""
    from u7s.errors import U7sError
    from u7s.node import etcdbackup

    if not path:
        raise U7sError("--input: give a backup file `cluster.backup --output FILE` wrote")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise U7sError(f"{path}: cannot read the backup ({e.strerror}); give the file `cluster.backup` wrote") \
            from None
    meta, snapshot = etcdbackup.check(path, data)
    etcdbackup.check_origin(meta, path, cluster, node.s.node_name)
    same_ca = etcdbackup.has_ca_of(node, meta)
    said = etcdbackup.restore(node, snapshot)
    if not same_ca:
        etcdbackup.publish_ca(node)
        said += ("; this control plane was made anew since the backup (another CA): its certificates are kept and "
                 "cluster-info names them; a worker still joined to the old CA re-joins at `cluster.create`")
    report.done(f"{said} (backup of {meta['taken']} from {meta['node']})")
    return said


@task(iterable=ITER, help={"set": SET_HELP, **BACKUP_HELP})
@clean_errors
def backup(c, output=None, set_=None):
    """Write a consistent etcd snapshot of this host's control plane to --output FILE (0600)."""
    member = this_host(c, set_)
    return run_backup(member.node, member.report, output, member.settings.node_name)


@task(iterable=ITER, help={"set": SET_HELP, **RESTORE_HELP})
@clean_errors
def restore(c, input=None, set_=None):
    """Restore this host's control plane from --input FILE (etcd's data replaced, node restarted)."""
    member = this_host(c, set_, lock=True)
    return run_restore(member.node, member.report, input, member.settings.node_name)


def _control_plane(c, inventory, set_, accept_unknown_host_keys, lock):
    from u7s.steps.step import raise_failures

    run = cluster._open(c, inventory, set_, accept_unknown_host_keys, lock=lock)
    if run.control_plane.failed:
        raise_failures(run)
    return run, run.control_plane


@task(name="backup", iterable=ITER, help={**cluster.COMMON, **BACKUP_HELP})
@clean_errors
def cluster_backup(c, inventory=None, set_=None, accept_unknown_host_keys=False, output=None):
    """Write a consistent etcd snapshot of the cluster's control plane to --output FILE (0600)."""
    run, cp = _control_plane(c, inventory, set_, accept_unknown_host_keys, lock=False)
    return run_backup(cp.node, cp.report, output, run.inventory.name or cp.name)


@task(name="restore", iterable=ITER, help={**cluster.COMMON, **RESTORE_HELP})
@clean_errors
def cluster_restore(c, inventory=None, set_=None, accept_unknown_host_keys=False, input=None):
    """Restore the control plane from --input FILE; workers keep their kubelet."""
    run, cp = _control_plane(c, inventory, set_, accept_unknown_host_keys, lock=True)
    return run_restore(cp.node, cp.report, input, run.inventory.name or cp.name)
