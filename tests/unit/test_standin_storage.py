"""The lab's local-path provisioner stand-in, driven by u7s's own manifest through the real kubectl.

u7s renders the manifest (u7s/node/localpath.py); kubectl applies it to the stand-in
API server (twice: the second changes nothing); a claim of the default class and a pod
using it then go the way rancher.io/local-path goes on a real cluster: the pod's node is
the claim's selected node, a helper pod makes `pvc-UID_NAMESPACE_NAME` there, the volume
is bound with nodeAffinity to that node; deleting the claim tears the directory down.
"""

import json
import os
import stat

from u7s.node import localpath
from tests.unit.standin_nodes import CP
from tests.unit.test_standins import cluster, cp_node, kubectl, kubelet_port, poll  # noqa: F401 (fixtures)

CLAIM = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user", "namespace": "default"},
       "spec": {"tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "c", "image": "docker.io/library/busybox:1",
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}


def _apply(cluster, kubectl, path):
    return localpath.changed_objects(cluster.kubectl(kubectl, "apply", "-f", str(path)).stdout)


def test_a_claim_binds_on_its_pods_node_and_its_directory_goes_with_it(cluster, kubectl, tmp_path):
    (cluster.root / "etc/cni/net.d").mkdir(parents=True)
    (cluster.root / "etc/cni/net.d/10-test.conflist").write_text("{}")  # the node turns Ready: pods are scheduled
    manifest = tmp_path / "local-path-storage.yaml"
    manifest.write_text(localpath.manifest("test"))
    assert "storageclass.storage.k8s.io/local-path" in _apply(cluster, kubectl, manifest)
    assert _apply(cluster, kubectl, manifest) == []  # a second create changes nothing
    sc = cluster.kubectl_json(kubectl, "storageclass", "local-path")
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"

    for obj in (CLAIM, POD):
        (tmp_path / "obj.json").write_text(json.dumps(obj))
        cluster.kubectl(kubectl, "create", "-f", str(tmp_path / "obj.json"))
    claim = poll("the claim to be Bound", lambda: (c := cluster.kubectl_json(kubectl, "pvc", "data"))
                 ["status"]["phase"] == "Bound" and c, timeout=30)
    uid = claim["metadata"]["uid"]
    assert claim["spec"]["storageClassName"] == "local-path"  # the default class, given at admission
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == CP
    pv = cluster.kubectl_json(kubectl, "pv", claim["spec"]["volumeName"])
    assert pv["metadata"]["name"] == f"pvc-{uid}"
    assert pv["spec"]["hostPath"]["path"] == f"/var/local-path-provisioner/pvc-{uid}_default_data"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [CP]}]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    folder = cluster.root / f"var/local-path-provisioner/pvc-{uid}_default_data"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777
    pod = poll("the pod to run", lambda: (p := cluster.kubectl_json(kubectl, "pod", "user"))
               ["status"]["phase"] == "Running" and p, timeout=30)
    assert pod["spec"]["nodeName"] == CP
    assert not [p for p in cluster.kubectl_json(kubectl, "pods", "-n", "local-path-storage")["items"]]  # helpers gone

    cluster.kubectl(kubectl, "delete", "pod", "user", "--wait=false")
    cluster.kubectl(kubectl, "delete", "pvc", "data", "--wait=false")
    poll("the volume's directory to be removed", lambda: not folder.exists(), timeout=30)
    poll("the volume to be deleted", lambda: not cluster.kubectl_json(kubectl, "pv")["items"], timeout=30)


def test_without_the_provisioner_a_claim_stays_pending(cluster, kubectl, tmp_path):
    (cluster.root / "etc/cni/net.d").mkdir(parents=True)
    (cluster.root / "etc/cni/net.d/10-test.conflist").write_text("{}")
    for obj in (CLAIM, POD):
        (tmp_path / "obj.json").write_text(json.dumps(obj))
        cluster.kubectl(kubectl, "create", "-f", str(tmp_path / "obj.json"))
    poll("the node to be Ready", lambda: " Ready " in cluster.kubectl(kubectl, "get", "nodes").stdout)
    claim = cluster.kubectl_json(kubectl, "pvc", "data")
    assert claim["status"]["phase"] == "Pending" and "storageClassName" not in claim["spec"]
    assert "nodeName" not in cluster.kubectl_json(kubectl, "pod", "user")["spec"]
