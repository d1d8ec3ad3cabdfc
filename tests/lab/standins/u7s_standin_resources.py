"""Describe the API resources the u7s TEST STAND-IN API server serves, and its discovery documents.

Only what u7s, kubeadm's join, the kubelet, flannel and helm (and kubectl for them)
need. Discovery is the plain (unaggregated) form: kubectl asks for aggregated
discovery first and falls back when the answer is application/json.
"""

from u7s_standin_common import KUBE_VERSION  # noqa: E402  (the version this image carries)


class Resource:
    """One API resource: where it lives, what it is called, and what can be done to it."""

    def __init__(self, name, kind, group="", version="v1", namespaced=True, short=(), subresources=(),
                 verbs=("create", "delete", "get", "list", "patch", "update")):
        self.name, self.kind, self.group, self.version = name, kind, group, version
        self.namespaced, self.short, self.subresources, self.verbs = namespaced, list(short), subresources, verbs

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self):
        return self.kind.lower()


RESOURCES = [
    Resource("namespaces", "Namespace", namespaced=False, short=("ns",), subresources=("status",)),
    Resource("nodes", "Node", namespaced=False, short=("no",), subresources=("status",)),
    Resource("configmaps", "ConfigMap", short=("cm",)),
    Resource("secrets", "Secret"),
    Resource("pods", "Pod", short=("po",), subresources=("status", "eviction")),
    Resource("serviceaccounts", "ServiceAccount", short=("sa",)),
    Resource("daemonsets", "DaemonSet", group="apps", short=("ds",), subresources=("status",)),
    Resource("certificatesigningrequests", "CertificateSigningRequest", group="certificates.k8s.io",
             namespaced=False, short=("csr",), subresources=("approval", "status")),
    # What a local-path provisioner's manifest holds, and the volumes it makes (u7s_standin_storage.py).
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), subresources=("status",)),
    Resource("persistentvolumes", "PersistentVolume", namespaced=False, short=("pv",), subresources=("status",)),
    Resource("deployments", "Deployment", group="apps", short=("deploy",), subresources=("status",)),
    Resource("storageclasses", "StorageClass", group="storage.k8s.io", namespaced=False, short=("sc",)),
    Resource("clusterroles", "ClusterRole", group="rbac.authorization.k8s.io", namespaced=False),
    Resource("clusterrolebindings", "ClusterRoleBinding", group="rbac.authorization.k8s.io", namespaced=False),
    Resource("roles", "Role", group="rbac.authorization.k8s.io"),
    Resource("rolebindings", "RoleBinding", group="rbac.authorization.k8s.io"),
    # What Calico's manifest holds (stored; the CRDs serve no new API here), and the policies it enforces
    # (u7s_standin_calico.py).
    Resource("customresourcedefinitions", "CustomResourceDefinition", group="apiextensions.k8s.io",
             namespaced=False, short=("crd", "crds"), subresources=("status",)),
    Resource("networkpolicies", "NetworkPolicy", group="networking.k8s.io", short=("netpol",)),
    # What metrics-server's manifest holds besides (u7s_standin_metrics.py): stored; the APIService's status is kept.
    Resource("services", "Service", short=("svc",), subresources=("status",)),
    Resource("apiservices", "APIService", group="apiregistration.k8s.io", namespaced=False, subresources=("status",)),
]
BY_PATH = {(r.group, r.version, r.name): r for r in RESOURCES}


def group_versions():
    """Return {group: [versions]} for the non-core groups, in first-seen order."""
    groups = {}
    for r in RESOURCES:
        if r.group:
            groups.setdefault(r.group, [])
            if r.version not in groups[r.group]:
                groups[r.group].append(r.version)
    return groups


def api_versions(server_address):
    """GET /api."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list():
    """GET /apis."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in group_versions()]}


def api_group(group):
    """GET /apis/GROUP."""
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in group_versions()[group]]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def resource_list(group, version):
    """GET /api/v1 or /apis/GROUP/VERSION, or None when not served."""
    found = [r for r in RESOURCES if r.group == group and r.version == version]
    if not found:
        return None
    items = []
    for r in found:
        entry = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short:
            entry["shortNames"] = r.short
        items.append(entry)
        for sub in r.subresources:
            if sub == "eviction":  # as the real one lists it: kubectl drain looks for this entry
                items.append({"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
                              "version": "v1", "kind": "Eviction", "verbs": ["create"]})
                continue
            items.append({"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced,
                          "kind": r.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": items}


def version_info(version=None):
    """GET /version: the control plane's version (what kubeadm init or upgrade apply last set)."""
    version = version or KUBE_VERSION
    major, minor, _ = version.lstrip("v").split(".")
    return {"major": major, "minor": minor, "gitVersion": version, "gitCommit": "u7s-test-standin",
            "gitTreeState": "clean", "buildDate": "2025-12-17T00:00:00Z", "goVersion": "none",
            "compiler": "gc", "platform": "linux/amd64"}
