"""The scheduler's volume binding and a local-path provisioner, as u7s TEST STAND-INS (lab only, never ship).

The stand-in API server calls `reconcile(api)` after every write, as it runs the
DaemonSet controller. Two parts:

- **Scheduling.** A pod without `spec.nodeName` is bound to a Ready, schedulable
  node whose taints it tolerates and whose labels match its nodeSelector. A pod
  whose PersistentVolumeClaim is not yet bound and whose StorageClass binds
  `WaitForFirstConsumer` is not bound yet: the node chosen is written to the
  claim's `volume.kubernetes.io/selected-node` annotation (as kube-scheduler's
  volume binding does) and the pod waits until the claim is Bound; a bound
  claim's volume pins the pod to the node of its nodeAffinity.
- **Provisioning**, as rancher.io/local-path-provisioner does, while its
  Deployment (`local-path-provisioner`) exists (its pod is not run: the API
  server acts for it, with the configuration of its ConfigMap `local-path-config`,
  `nodePathMap` from `config.json`). For a claim of a StorageClass with its
  provisioner name and a selected node, a helper pod
  (`helper-pod-create-pvc-UID`) runs on that node; the kubelet stand-in carries
  out its `setup` (`mkdir -m 0777 -p "$VOL_DIR"`) there. Once it succeeded, the
  PersistentVolume `pvc-UID` is made (hostPath `PATH/pvc-UID_NAMESPACE_NAME`,
  nodeAffinity to the node, the class's reclaim policy) and the claim is Bound.
  A volume whose claim is gone and whose reclaim policy is Delete gets a helper
  pod (`helper-pod-delete-pvc-UID`) running `teardown` (`rm -rf "$VOL_DIR"`),
  then the volume is deleted.

What is not modelled: claims are deleted at once (no `kubernetes.io/pvc-protection`
finalizer), no Events, no capacity, no scoring (the first fitting node by name).
"""

import json
import os

from u7s_standin_common import now_iso

PROVISIONER = "rancher.io/local-path"
DEPLOYMENT = "local-path-provisioner"
CONFIGMAP = "local-path-config"
DEFAULT_NODE = "DEFAULT_PATH_FOR_NON_LISTED_NODES"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def default_class(api):
    """The name of the StorageClass annotated as the default, or None (the DefaultStorageClass admission)."""
    for sc in api.objects_of("storageclasses"):
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true":
            return sc["metadata"]["name"]
    return None


def reconcile(api):
    schedule(api)
    provision(api)
    schedule(api)  # a claim bound a moment ago lets its pod be bound now
    reclaim(api)


# ---------------------------------------------------------------- scheduling

def _tolerated(taint, tolerations):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if not t.get("key") and t.get("operator") == "Exists":
            return True
        if t.get("key") == taint.get("key") and (t.get("operator") == "Exists" or t.get("value") == taint.get("value")):
            return True
    return False


def _fits(node, pod_spec):
    status = {c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions", [])}
    if status.get("Ready") != "True" or node.get("spec", {}).get("unschedulable"):
        return False
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    return all(_tolerated(t, pod_spec.get("tolerations")) for t in node.get("spec", {}).get("taints") or []
               if t.get("effect") in ("NoSchedule", "NoExecute"))


def _pinned_nodes(pv):
    """The node names a volume's required nodeAffinity allows (None: any)."""
    terms = (((pv.get("spec", {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")) or []
    names = [v for term in terms for e in term.get("matchExpressions") or []
             if e.get("key") == HOSTNAME_LABEL and e.get("operator") == "In" for v in e.get("values") or []]
    return set(names) if terms else None


def _claims(api, pod):
    ns = pod["metadata"]["namespace"]
    return [(v["persistentVolumeClaim"]["claimName"], api.get_object("persistentvolumeclaims", ns,
                                                                      v["persistentVolumeClaim"]["claimName"]))
            for v in pod.get("spec", {}).get("volumes") or [] if v.get("persistentVolumeClaim")]


def schedule(api):
    nodes = sorted(api.objects_of("nodes"), key=lambda n: n["metadata"]["name"])
    for pod in api.objects_of("pods"):
        spec = pod.get("spec", {})
        if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            continue
        candidates = [n["metadata"]["name"] for n in nodes if _fits(n, spec)]
        waiting = []
        for name, claim in _claims(api, pod):
            if claim is None:
                candidates = []  # kube-scheduler: persistentvolumeclaim "NAME" not found
                break
            if claim.get("status", {}).get("phase") == "Bound":
                pv = api.get_object("persistentvolumes", "", claim["spec"].get("volumeName", ""))
                allowed = _pinned_nodes(pv) if pv else set()
                candidates = [n for n in candidates if allowed is None or n in allowed]
            else:
                waiting.append(claim)
        if not candidates:
            continue
        if waiting:
            for claim in waiting:
                _select_node(api, claim, candidates[0])
            continue
        spec["nodeName"] = candidates[0]
        pod.setdefault("status", {}).setdefault("conditions", []).append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()})
        pod["metadata"]["resourceVersion"] = api._next_rv()


def _select_node(api, claim, node):
    sc = api.get_object("storageclasses", "", claim.get("spec", {}).get("storageClassName") or "")
    annotations = claim["metadata"].setdefault("annotations", {})
    if not sc or sc.get("volumeBindingMode") != "WaitForFirstConsumer" or annotations.get(SELECTED_NODE):
        return
    annotations[SELECTED_NODE] = node
    # The PV controller names the provisioner it waits for.
    annotations["volume.beta.kubernetes.io/storage-provisioner"] = sc.get("provisioner", "")
    annotations["volume.kubernetes.io/storage-provisioner"] = sc.get("provisioner", "")
    claim["metadata"]["resourceVersion"] = api._next_rv()


# ---------------------------------------------------------------- provisioning

def _config(api):
    """(namespace, config.json, helper pod template) while the provisioner's Deployment exists, else None."""
    for deployment in api.objects_of("deployments"):
        if deployment["metadata"]["name"] != DEPLOYMENT:
            continue
        ns = deployment["metadata"]["namespace"]
        cm = api.get_object("configmaps", ns, CONFIGMAP)
        try:
            return ns, json.loads(cm["data"]["config.json"]), cm["data"].get("helperPod.yaml", "")
        except (TypeError, KeyError, ValueError):
            return None  # the real provisioner exits when it cannot read its configuration
    return None


def node_path(config, node):
    """The directory volumes go to on NODE: its own nodePathMap entry, else the default one's (first path)."""
    entries = {e.get("node"): e.get("paths") or [] for e in config.get("nodePathMap") or []}
    paths = entries.get(node, entries.get(DEFAULT_NODE, []))
    return paths[0] if paths else None


def volume_dir(base, claim):
    meta = claim["metadata"]
    return os.path.join(base, f"pvc-{meta['uid']}_{meta['namespace']}_{meta['name']}")


def _helper_image(template):
    import yaml
    try:
        return yaml.safe_load(template)["spec"]["containers"][0]["image"]
    except (TypeError, KeyError, IndexError, ValueError):
        return "busybox"


def _helper(api, ns, name, node, script, vol_dir, image):
    """The helper pod on NODE (made once); its phase."""
    found = api.get_object("pods", ns, name)
    if found is not None:
        return found.get("status", {}).get("phase")
    import u7s_standin_resources as resources
    pod = {"metadata": {"name": name},
           "spec": {"nodeName": node, "restartPolicy": "Never",
                    "containers": [{"name": "helper-pod", "image": image, "command": ["/bin/sh", f"/script/{script}"],
                                    "env": [{"name": "VOL_DIR", "value": vol_dir},
                                            {"name": "VOL_MODE", "value": "Filesystem"}],
                                    "volumeMounts": [{"name": "data", "mountPath": os.path.dirname(vol_dir)},
                                                     {"name": "script", "mountPath": "/script"}]}],
                    "volumes": [{"name": "data", "hostPath": {"path": os.path.dirname(vol_dir),
                                                              "type": "DirectoryOrCreate"}},
                                {"name": "script", "configMap": {"name": CONFIGMAP}}]},
           "status": {"phase": "Pending"}}
    api._create_raw(resources.BY_PATH[("", "v1", "pods")], ns, pod)
    return "Pending"


def _helper_done(api, ns, name, node, script, vol_dir, template):
    """Run the helper pod NAME once; True when it succeeded. A finished one is deleted (a failed one is made
    again on the next pass, as the provisioner retries)."""
    phase = _helper(api, ns, name, node, script, vol_dir, _helper_image(template))
    if phase in ("Succeeded", "Failed"):
        api.store.pop(("pods", ns, name), None)
    return phase == "Succeeded"


def provision(api):
    found = _config(api)
    if found is None:
        return
    ns, config, template = found
    for claim in api.objects_of("persistentvolumeclaims"):
        annotations = claim["metadata"].get("annotations") or {}
        node = annotations.get(SELECTED_NODE)
        sc = api.get_object("storageclasses", "", claim.get("spec", {}).get("storageClassName") or "")
        if claim.get("status", {}).get("phase") == "Bound" or not node or not sc or sc.get("provisioner") != PROVISIONER:
            continue
        base = node_path(config, node)
        if base is None:
            continue  # the real one: "no local path available on node"
        vol_dir = volume_dir(base, claim)
        helper = f"helper-pod-create-pvc-{claim['metadata']['uid']}"
        if _helper_done(api, ns, helper, node, "setup", vol_dir, template):
            _bind(api, claim, sc, node, vol_dir)


def _bind(api, claim, sc, node, vol_dir):
    import u7s_standin_resources as resources
    meta, spec = claim["metadata"], claim.setdefault("spec", {})
    name = f"pvc-{meta['uid']}"
    capacity = (spec.get("resources") or {}).get("requests", {}).get("storage", "0")
    pv = {"metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER,
                                                     "local.path.provisioner/selected-node": node}},
          "spec": {"capacity": {"storage": capacity}, "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                   "storageClassName": sc["metadata"]["name"], "volumeMode": "Filesystem",
                   "hostPath": {"path": vol_dir, "type": "DirectoryOrCreate"},
                   "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                       {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
                   "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": meta["namespace"],
                                "name": meta["name"], "uid": meta["uid"]}},
          "status": {"phase": "Bound"}}
    api._create_raw(resources.BY_PATH[("", "v1", "persistentvolumes")], "", pv)
    spec["volumeName"] = name
    meta.setdefault("annotations", {}).update({"pv.kubernetes.io/bind-completed": "yes",
                                               "pv.kubernetes.io/bound-by-controller": "yes"})
    claim["status"] = {"phase": "Bound", "accessModes": pv["spec"]["accessModes"], "capacity": {"storage": capacity}}
    meta["resourceVersion"] = api._next_rv()


def reclaim(api):
    """Delete volumes whose claim is gone (reclaim policy Delete): teardown on their node, then the object."""
    found = _config(api)
    if found is None:
        return
    ns, _, template = found
    for pv in api.objects_of("persistentvolumes"):
        annotations, spec = pv["metadata"].get("annotations") or {}, pv.get("spec", {})
        ref = spec.get("claimRef") or {}
        claim = api.get_object("persistentvolumeclaims", ref.get("namespace", ""), ref.get("name", ""))
        if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER or (
                claim and claim["metadata"]["uid"] == ref.get("uid")):
            continue
        if pv.get("status", {}).get("phase") != "Released":
            pv["status"] = {"phase": "Released"}
            pv["metadata"]["resourceVersion"] = api._next_rv()
        if spec.get("persistentVolumeReclaimPolicy") != "Delete":
            continue
        node = annotations.get("local.path.provisioner/selected-node", "")
        if _helper_done(api, ns, f"helper-pod-delete-{pv['metadata']['name']}", node, "teardown",
                        spec["hostPath"]["path"], template):
            api.store.pop(("persistentvolumes", "", pv["metadata"]["name"]), None)
