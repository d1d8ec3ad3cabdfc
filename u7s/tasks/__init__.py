"""The u7s task collection, and its tasks as Python functions for other invoke projects.

Add it to your collection, and call its tasks from your own:

    from invoke import Collection, task
    import u7s.tasks

    @task
    def deploy(c):
        kubeconfig = u7s.tasks.create(c)          # the path of the admin kubeconfig
        u7s.tasks.kubeconfig(c, merge=True)       # merged into ~/.kube/config, current context

    ns = Collection(deploy)
    ns.add_collection(Collection.from_module(u7s.tasks), name="u7s")

Each task returns what it prints (a path, the settings, status rows); errors are
raised as u7s.errors types (all of them U7sError, an invoke Exit: uncaught, `inv`
prints them as one line and exits 1). `set_` takes ["KEY=VALUE", ...] or a dict.
"""

from invoke import Collection

from u7s.tasks import airgap, backup as _backup_module, certs as _certs_module, cluster, clustersettings, single_host
from u7s.tasks.airgap import bundle, cluster_load_bundle, load_bundle  # noqa: F401
from u7s.tasks.single_host import (  # noqa: F401  (the single-host tasks, for Python callers)
    check_preflight, create, delete, down, down_v, export_logs, init_host, install_flannel, install_storage,
    join_command, kubeadm_init, kubeadm_join, kubeadm_reset, kubeconfig, kubectl, load_image, logs, multi_node,
    render, settings, smoke_test, sync_external_ip, up, upgrade,
)

from u7s.tasks.certs import certs  # noqa: E402,F401  (a task, like those above)

ns = Collection.from_module(single_host)
ns.add_task(_certs_module.certs)
ns.add_task(airgap.bundle)
ns.add_task(_backup_module.backup)
ns.add_task(_backup_module.restore)
ns.add_task(airgap.load_bundle)
_cluster = Collection.from_module(cluster)
_cluster.add_task(_certs_module.cluster_certs)  # as `cluster.certs`
_cluster.add_task(airgap.cluster_load_bundle, name="load-bundle")
_cluster.add_task(clustersettings.settings)  # as `cluster.settings`
_cluster.add_task(_backup_module.cluster_backup)  # as `cluster.backup`
_cluster.add_task(_backup_module.cluster_restore)  # as `cluster.restore`
ns.add_collection(_cluster, name="cluster")
