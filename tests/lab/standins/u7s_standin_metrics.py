"""metrics-server and the API aggregation in front of it, as u7s TEST STAND-INS (lab only, never ship).

The stand-in API server calls `reconcile(api)` after every write and `serve(api, request, user)` for
`/apis/metrics.k8s.io/...`. Like the real pieces:

- **The Deployment controller, for metrics-server only** (Deployment `metrics-server`): one pod per
  replica from its template (`metrics-server-HASH-XXXXX`, owned by the Deployment, no node yet: the
  scheduler stand-in of u7s_standin_storage.py binds it), replaced when deleted or when the template
  changes; the kubelet stand-in runs it. Other Deployments are stored, not run.
- **The aggregator.** The group `metrics.k8s.io` is in discovery (`/apis`, `/apis/metrics.k8s.io`,
  `/apis/metrics.k8s.io/v1beta1`) only while the APIService `v1beta1.metrics.k8s.io` exists and is
  Available: its Service exists and a pod the Service selects is Running (status condition
  `Available` True `Passed`, else False `ServiceNotFound` / `MissingEndpoints`). Then
  kubectl top works; before, kubectl says `error: Metrics API not available`. A request to the group
  while the APIService is unavailable gets 503 ServiceUnavailable, without it 404.
- **metrics-server's scraping**, done by the API server when asked (not every `--metric-resolution`):
  each Node's kubelet at the first of the pod's `--kubelet-preferred-address-types` it has, at the
  port its status reports (`--kubelet-use-node-status-port`, else `--kubelet-port`, 10250), GET
  `/metrics/resource` over HTTPS, verified against the cluster CA unless `--kubelet-insecure-tls`
  (the kubelet's certificate is self-signed: without the flag every scrape fails, as for real). A
  rate needs two scrapes: a node scraped once has no metrics yet (kubectl: `error: metrics not
  available yet`); the first request scrapes twice, a second apart. What fails is logged as
  metrics-server logs it (`Failed to scrape node`) and the node is left out.
"""

import hashlib
import json
import secrets
import ssl
import sys
import threading
import time
import urllib.request

from u7s_standin_common import now_iso

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
APISERVICE = f"{VERSION}.{GROUP}"
DEPLOYMENT = "metrics-server"
DEFAULT_ADDRESS_TYPES = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP"  # metrics-server v0.8's
SCRAPE_TIMEOUT = 5
_points = {}  # node -> [(monotonic time, parsed /metrics/resource)], the last two
_lock = threading.Lock()


# ---------------------------------------------------------------- the Deployment controller

def reconcile(api):
    import u7s_standin_resources as resources
    for deployment in api.objects_of("deployments"):
        if deployment["metadata"]["name"] != DEPLOYMENT:
            continue
        ns, uid = deployment["metadata"]["namespace"], deployment["metadata"]["uid"]
        template = deployment.get("spec", {}).get("template", {})
        revision = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        owned = [p for p in api.objects_of("pods", ns)
                 if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
        current = [p for p in owned if p["metadata"].get("labels", {}).get("pod-template-hash") == revision]
        for stale in (p for p in owned if p not in current):
            api.store.pop(("pods", ns, stale["metadata"]["name"]), None)
        for _ in range(int(deployment.get("spec", {}).get("replicas", 1)) - len(current)):
            meta = template.get("metadata", {})
            suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            pod = {"metadata": {"name": f"{DEPLOYMENT}-{revision}-{suffix}",
                                "labels": {**(meta.get("labels") or {}), "pod-template-hash": revision},
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                     "name": f"{DEPLOYMENT}-{revision}", "uid": uid,
                                                     "controller": True, "blockOwnerDeletion": True}]},
                   "spec": json.loads(json.dumps(template.get("spec", {}))), "status": {"phase": "Pending"}}
            api._create_raw(resources.BY_PATH[("", "v1", "pods")], ns, pod)
        running = sum(1 for p in api.objects_of("pods", ns) if p in current and
                      p.get("status", {}).get("phase") == "Running")
        deployment["status"] = {"replicas": len(current) or 1, "readyReplicas": running,
                                "availableReplicas": running, "updatedReplicas": len(current) or 1,
                                "observedGeneration": deployment["metadata"].get("generation", 1)}
    _apiservice_status(api)


def _pod_of_service(api, ns, name):
    """(whether Service NS/NAME exists, a Running pod it selects or None)."""
    service = api.get_object("services", ns, name)
    if service is None:
        return False, None
    selector = service.get("spec", {}).get("selector") or {}
    for pod in api.objects_of("pods", ns):
        labels = pod["metadata"].get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()) and \
                pod.get("status", {}).get("phase") == "Running":
            return True, pod
    return True, None


def _condition(api, apiservice):
    ref = apiservice.get("spec", {}).get("service") or {}
    found, pod = _pod_of_service(api, ref.get("namespace", ""), ref.get("name", ""))
    where = f'{ref.get("namespace")}/{ref.get("name")}'
    if not found:
        return "False", "ServiceNotFound", f'service/{ref.get("name")} in "{ref.get("namespace")}" is not present'
    if pod is None:
        return "False", "MissingEndpoints", f"endpoints for service/{where} have no addresses with port name \"https\""
    return "True", "Passed", "all checks passed"


def _apiservice_status(api):
    apiservice = api.get_object("apiservices", "", APISERVICE)
    if apiservice is None:
        return
    status, reason, message = _condition(api, apiservice)
    old = (apiservice.get("status", {}).get("conditions") or [{}])[0]
    if (old.get("status"), old.get("reason")) != (status, reason):
        apiservice["status"] = {"conditions": [{"type": "Available", "status": status, "reason": reason,
                                                "message": message, "lastTransitionTime": now_iso()}]}
        apiservice["metadata"]["resourceVersion"] = api._next_rv()


def available(api):
    """The metrics-server pod while the APIService is Available, else None; and whether the APIService exists."""
    apiservice = api.get_object("apiservices", "", APISERVICE)
    if apiservice is None:
        return None, False
    ref = apiservice.get("spec", {}).get("service") or {}
    return _pod_of_service(api, ref.get("namespace", ""), ref.get("name", ""))[1], True


# ---------------------------------------------------------------- discovery and requests

def group():
    versions = [{"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": versions,
            "preferredVersion": versions[0]}


def add_to_group_list(api, body):
    """/apis: the group is listed only while its APIService is Available."""
    if available(api)[0] is not None:
        body["groups"].append(group())
    return body


def _resource_list():
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}", "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}]}


def serve(api, request, user):
    """(code, body) for a request under /apis/metrics.k8s.io."""
    from u7s_standin_api_objects import not_found, status
    with api.lock:
        pod, exists = available(api)
        nodes = api.objects_of("nodes")
        all_pods = [p for p in api.objects_of("pods") if p.get("status", {}).get("phase") == "Running"]
        args = list((pod or {}).get("spec", {}).get("containers", [{}])[0].get("args") or [])
    if not exists:
        return 404, status(404, "the server could not find the requested resource")
    if pod is None:
        return 503, status(503, "the server is currently unable to handle the request", "ServiceUnavailable")
    parts = request.path.strip("/").split("/")[3:]  # after apis/metrics.k8s.io/v1beta1
    if len(parts) == 0 and len(request.path.strip("/").split("/")) == 2:
        return 200, group()
    if not parts:
        return 200, _resource_list()
    namespace = ""
    if parts[0] == "namespaces" and len(parts) >= 3:
        namespace, parts = parts[1], parts[2:]
    if parts[0] not in ("nodes", "pods") or len(parts) > 2 or (parts[0] == "nodes" and namespace):
        return 404, status(404, "the server could not find the requested resource")
    if not api.allowed(user, "get" if len(parts) == 2 else "list", parts[0], namespace, parts[1:] and parts[1]):
        return 403, status(403, f'{parts[0]}.{GROUP} is forbidden: User "{user.name}" cannot list resource '
                                f'"{parts[0]}" in API group "{GROUP}"', "Forbidden")
    scraped = scrape_all(nodes, args, api.ca_cert_pem)
    if parts[0] == "nodes":
        items = [node_metrics(n, scraped) for n in nodes if n["metadata"]["name"] in scraped]
        kind = "NodeMetrics"
    else:
        items = [m for p in all_pods if not namespace or p["metadata"]["namespace"] == namespace
                 for m in [pod_metrics(p, scraped)] if m]
        kind = "PodMetrics"
    if len(parts) == 2:
        found = [i for i in items if i["metadata"]["name"] == parts[1]]
        return (200, found[0]) if found else (404, not_found(parts[0], parts[1], GROUP))
    return 200, {"kind": f"{kind}List", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {}, "items": items}


# ---------------------------------------------------------------- scraping

def _flag(args, name, default=None):
    for a in args:
        if a == f"--{name}":
            return "true"
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def kubelet_url(node, args):
    """Where metrics-server reaches a Node's kubelet, or raise ValueError (its words) when it cannot tell."""
    addresses = node.get("status", {}).get("addresses") or []
    wanted = _flag(args, "kubelet-preferred-address-types", DEFAULT_ADDRESS_TYPES).split(",")
    address = next((a["address"] for t in wanted for a in addresses if a.get("type") == t), None)
    if address is None:
        raise ValueError(f'unable to extract connection information for node "{node["metadata"]["name"]}": node '
                         f'{node["metadata"]["name"]} had no addresses that matched types {wanted}')
    port = int(_flag(args, "kubelet-port", "10250"))
    if _flag(args, "kubelet-use-node-status-port") in ("true", "True", "1"):
        port = node.get("status", {}).get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port") or port
    return f"https://{address}:{port}/metrics/resource"


def parse(text):
    """Prometheus text of /metrics/resource -> {"node": {...}, "containers": {(ns, pod, container): {...}}}."""
    out = {"node": {}, "containers": {}}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 2)[0], line.rsplit(" ", 2)[1]
        name, _, labels = name_labels.partition("{")
        if name.startswith("node_"):
            out["node"][name] = float(value)
        elif name.startswith("container_"):
            pairs = dict(p.split("=", 1) for p in labels.rstrip("}").split(",") if "=" in p)
            key = tuple(pairs.get(k, "").strip('"') for k in ("namespace", "pod", "container"))
            out["containers"].setdefault(key, {})[name] = float(value)
    return out


def _get(url, insecure, ca_pem):
    context = ssl.create_default_context(cadata=ca_pem) if not insecure else ssl._create_unverified_context()
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT, context=context) as r:  # noqa: S310 (a lab URL)
        return r.read().decode()


def _scrape(node, args, ca_pem):
    name = node["metadata"]["name"]
    try:
        url = kubelet_url(node, args)
        point = (time.monotonic(), parse(_get(url, _flag(args, "kubelet-insecure-tls") == "true", ca_pem)))
    except (OSError, ValueError, ssl.SSLError) as e:
        reason = getattr(e, "reason", e)
        sys.stderr.write(f'{now_iso()} metrics-server stand-in: "Failed to scrape node" err="{reason}" '
                         f'node="{name}"\n')
        return
    with _lock:
        _points[name] = (_points.get(name, [])[-1:] + [point])


def scrape_all(nodes, args, ca_pem):
    """{node: (earlier point, later point)} of the nodes with two scrapes; scrape first (twice if new)."""
    for node in nodes:
        _scrape(node, args, ca_pem)
    if any(len(_points.get(n["metadata"]["name"], [])) == 1 for n in nodes):
        time.sleep(1)  # a rate needs two points: the first request waits for a second scrape
        for node in nodes:
            if len(_points.get(node["metadata"]["name"], [])) == 1:
                _scrape(node, args, ca_pem)
    with _lock:
        return {n: tuple(p) for n, p in _points.items() if len(p) == 2}


def _rate(earlier, later, key):
    (t0, a), (t1, b) = earlier, later
    return max(0.0, (b.get(key, 0) - a.get(key, 0)) / max(t1 - t0, 1e-3))


def _usage(cores, memory):
    return {"cpu": f"{int(cores * 1e9)}n", "memory": f"{int(memory) // 1024}Ki"}


def node_metrics(node, scraped):
    (t0, a), (t1, b) = scraped[node["metadata"]["name"]]
    cores = _rate((t0, a["node"]), (t1, b["node"]), "node_cpu_usage_seconds_total")
    return {"metadata": {"name": node["metadata"]["name"], "creationTimestamp": now_iso(),
                         "labels": node["metadata"].get("labels") or {}},
            "timestamp": now_iso(), "window": f"{t1 - t0:.3f}s",
            "usage": _usage(cores, b["node"].get("node_memory_working_set_bytes", 0))}


def pod_metrics(pod, scraped):
    node, meta = pod.get("spec", {}).get("nodeName"), pod["metadata"]
    if node not in scraped:
        return None
    (t0, a), (t1, b) = scraped[node]
    containers = []
    for c in pod.get("spec", {}).get("containers") or []:
        key = (meta["namespace"], meta["name"], c["name"])
        if key in a["containers"] and key in b["containers"]:
            cores = _rate((t0, a["containers"][key]), (t1, b["containers"][key]), "container_cpu_usage_seconds_total")
            containers.append({"name": c["name"], "usage": _usage(
                cores, b["containers"][key].get("container_memory_working_set_bytes", 0))})
    if not containers:
        return None
    return {"metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": now_iso(),
                         "labels": meta.get("labels") or {}},
            "timestamp": now_iso(), "window": f"{t1 - t0:.3f}s", "containers": containers}
