"""Write a cluster's admin kubeconfig on the controller, optionally merged into ~/.kube/config."""

from __future__ import annotations

import os

from u7s.errors import U7sError
from u7s.node import kube
from u7s.session import Run


def write_kubeconfig(run: Run, path: str, merge_context: str | None = None) -> str:
    """The admin kubeconfig with the API at the control plane's HOST_IP (in the certificate SANs)."""
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


def kubeconfig_path(run: Run, output: str | None) -> str:
    """Where the cluster's kubeconfig goes: --output, else beside the inventory."""
    return output or os.path.join(os.path.dirname(os.path.abspath(run.inventory.path)), "kubeconfig")
