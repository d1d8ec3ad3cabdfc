"""Write a cluster's admin kubeconfig, named after the cluster, and merge it where kubectl looks."""

from __future__ import annotations

import os

from u7s.render import kubeconfigs
from u7s.errors import U7sError
from u7s.node import kube
from u7s.run.hosts import Host, LocalHost
from u7s.session import Run


def write_kubeconfig(run: Run, path: str, name: str | None = None) -> str:
    """The admin kubeconfig with the API at the control plane's HOST_IP (in the certificate SANs)."""
    cp = run.control_plane
    if cp.failed:
        raise U7sError(f"{cp.name}: the control plane failed; no kubeconfig")
    text = kubeconfigs.renamed(kube.admin_kubeconfig(cp.node, cp.settings.host_ip), name or run.inventory.name)
    controller().write_file(os.path.abspath(path), text, 0o600)
    return path


def merge_into(host: Host, kubeconfig_file: str, target: str, switch: bool = True) -> str:
    """Merge the kubeconfig at `kubeconfig_file` into `target` (both on `host`); a malformed target stays as it is."""
    text = host.read_text(kubeconfig_file)
    if text is None:
        raise U7sError(f"{kubeconfig_file}: not found; nothing to merge")
    host.write_file(target, kubeconfigs.merge(host.read_text(target), text, target, switch), 0o600)
    return target


def check_target(host: Host, target: str) -> None:
    """Refuse a malformed merge target before a long run, not after it."""
    kubeconfigs.parse_existing(host.read_text(target), target)


def kubeconfig_path(run: Run, output: str | None) -> str:
    """Where the cluster's kubeconfig goes: --output, else the allocation's (u7s/config/allocation.py), else beside
    the inventory."""
    return output or run.inventory.kubeconfig or os.path.join(os.path.dirname(os.path.abspath(run.inventory.path)), "kubeconfig")


def controller() -> LocalHost:
    """The machine u7s runs on, for its files only: nothing is run on it here."""
    return LocalHost(None, "controller")
