"""Answer Kubernetes REST requests for the u7s TEST STAND-IN API server (lab only; not Kubernetes).

`Api.handle(request)` takes a parsed request and the authenticated user and returns
(HTTP code, body, content type); the transport (TLS, client certificates) lives in
`u7s-standin-apiserver`. Objects are kept in memory and written through to
/var/lib/u7s-standin/objects.json, as the real one keeps them in etcd. It also acts
as the controllers a kubeadm cluster runs: the DaemonSet controller (one Pod per
Node), the node IPAM (podCIDR), the CSR approver and signer for kubelet client
certificates, the namespace and pod garbage collection.
"""

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import secrets
import threading
import time
import uuid
from urllib.parse import parse_qs

import yaml

import u7s_standin_api_objects as objects
import u7s_standin_etcd as etcd
import u7s_standin_metrics as metrics
import u7s_standin_openapi as openapi
import u7s_standin_resources as resources
import u7s_standin_skew as skew
import u7s_standin_storage as storage
from u7s_standin_common import now_iso, save_state, load_state

ADMIN_GROUPS = {"system:masters", "kubeadm:cluster-admins"}
BOOTSTRAP_GROUP = "system:bootstrappers"
NODE_GROUP = "system:nodes"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_POD_SUBNET = "10.244.0.0/16"  # kube-controller-manager's --cluster-cidr is kubeadm's podSubnet
NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
TABLE_ACCEPT = "as=Table"
NODE_MONITOR_GRACE = 40  # seconds without a heartbeat before a Node's Ready turns Unknown (controller-manager)



def _expired(token_data):
    """Tell whether a bootstrap token's `expiration` (RFC 3339, UTC) has passed."""
    expiration = token_data.get("expiration")
    return bool(expiration) and datetime.datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc) <= datetime.datetime.now(datetime.timezone.utc)

class User:
    """Who sent a request: name and groups, from a client certificate, a bootstrap token, or nobody."""

    def __init__(self, name, groups=()):
        self.name, self.groups = name, list(groups)

    def __repr__(self):
        return f"User({self.name!r}, {self.groups!r})"


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"])


class Request:
    """One REST request: method, path, query, a few headers, body."""

    def __init__(self, method, target, headers=None, body=b""):
        self.method = method
        path, _, query = target.partition("?")
        self.path = path.rstrip("/") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(query).items()}
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body or b""


def _age_cell(obj):
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    seconds = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _node_row(obj):
    conditions = {c.get("type"): c for c in obj.get("status", {}).get("conditions", [])}
    ready = conditions.get("Ready", {}).get("status")
    state = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    if obj.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj.get("metadata", {}).get("labels", {})
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) \
        or "<none>"
    version = obj.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
    return [obj["metadata"]["name"], state, roles, _age_cell(obj), version]


def _pod_row(obj):
    statuses = obj.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(obj.get("spec", {}).get("containers", [])) or len(statuses)
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [obj["metadata"]["name"], f"{ready}/{total}", _pod_status_cell(obj), restarts, _age_cell(obj)]


def _pod_status_cell(obj):
    """kubectl's STATUS of a pod (printers.go printPod): an init container's trouble, a waiting reason, or the phase."""
    status = obj.get("status", {})
    inits = status.get("initContainerStatuses") or []
    for i, s in enumerate(inits):
        state = s.get("state", {})
        if (state.get("terminated") or {}).get("exitCode") == 0:
            continue
        if state.get("terminated"):
            return "Init:" + (state["terminated"].get("reason") or f"ExitCode:{state['terminated'].get('exitCode')}")
        waiting = (state.get("waiting") or {}).get("reason")
        return f"Init:{waiting}" if waiting and waiting != "PodInitializing" else f"Init:{i}/{len(inits)}"
    for s in reversed(status.get("containerStatuses") or []):
        state = s.get("state", {})
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason:
            return reason
    return status.get("reason") or status.get("phase", "Pending")


TABLES = {
    "nodes": ([("Name", "string"), ("Status", "string"), ("Roles", "string"), ("Age", "string"),
               ("Version", "string")], _node_row),
    "pods": ([("Name", "string"), ("Ready", "string"), ("Status", "string"), ("Restarts", "integer"),
              ("Age", "string")], _pod_row),
    "namespaces": ([("Name", "string"), ("Status", "string"), ("Age", "string")],
                   lambda o: [o["metadata"]["name"], o.get("status", {}).get("phase", "Active"), _age_cell(o)]),
}


def table(resource, items, resource_version):
    """Build the meta.k8s.io/v1 Table kubectl asks for when it prints for humans."""
    columns, row = TABLES.get(resource.name, ([("Name", "string"), ("Age", "string")],
                                              lambda o: [o["metadata"]["name"], _age_cell(o)]))
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
                               "priority": 0} for n, t in columns],
        "rows": [{"cells": row(o), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                              "metadata": o["metadata"]}} for o in items],
    }


def node_view(obj, now=None):
    """Return a Node as the node lifecycle controller leaves it: Ready Unknown once its kubelet went quiet."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    conditions = obj.get("status", {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    beat = (ready or {}).get("lastHeartbeatTime")
    if not beat or ready.get("status") == "Unknown":
        return obj
    then = datetime.datetime.strptime(beat, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    if (now - then).total_seconds() <= NODE_MONITOR_GRACE:
        return obj
    view = json.loads(json.dumps(obj))
    for c in view["status"]["conditions"]:
        c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
    return view


class Api:
    """The objects of one cluster and the REST verbs on them."""

    def __init__(self, ca_cert_pem=None, ca_key_pem=None, server_address="", ready_after=0.0, persist=True):
        self.lock = threading.RLock()
        self.ca_cert_pem, self.ca_key_pem = ca_cert_pem, ca_key_pem
        self.server_address = server_address
        self.ready_at = time.monotonic() + ready_after
        self.persist = persist
        saved = (etcd.adopt_restored() or load_state("objects", None)) if persist else None
        self.rv = int((saved or {}).get("resourceVersion", 1))
        self.store = {}
        for key, obj in ((saved or {}).get("objects") or {}).items():
            self.store[tuple(key.split("|"))] = obj
        for ns in DEFAULT_NAMESPACES:
            if ("namespaces", "", ns) not in self.store:
                self._create_raw(resources.BY_PATH[("", "v1", "namespaces")], "", self._namespace(ns))
        self._save()

    # ------------------------------------------------------------ persistence

    def _save(self):
        if self.persist:
            save_state("objects", {"resourceVersion": self.rv,
                                   "objects": {"|".join(k): v for k, v in sorted(self.store.items())}}, 0o600)

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    # ------------------------------------------------------------ object helpers

    @staticmethod
    def _namespace(name):
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _create_raw(self, resource, namespace, obj):
        meta = obj.setdefault("metadata", {})
        meta.update({"uid": str(uuid.uuid4()), "resourceVersion": self._next_rv(),
                     "creationTimestamp": now_iso()})
        if resource.namespaced:
            meta["namespace"] = namespace
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if resource.name in ("daemonsets",):
            meta["generation"] = 1
        self.store[(resource.name, namespace, meta["name"])] = obj
        self._watch_skew(resource, obj)
        return obj

    def _watch_skew(self, resource, obj):
        """Note a Node whose kubelet is newer than this server's version (u7s_standin_skew)."""
        if resource.name == "nodes":
            skew.note(obj, resources.version_info(self.cluster_version())["gitVersion"])

    def objects_of(self, name, namespace=None):
        """Return the stored objects of resource NAME (in NAMESPACE if given), sorted by key."""
        return [o for (r, ns, _), o in sorted(self.store.items())
                if r == name and (namespace is None or ns == namespace)]

    def get_object(self, name, namespace, obj_name):
        return self.store.get((name, namespace, obj_name))

    # ------------------------------------------------------------ authentication helpers

    def bootstrap_user(self, token):
        """Return the bootstrap-token User for a bearer TOKEN, or None when unknown or expired."""
        m = re.fullmatch(r"([a-z0-9]{6})\.([a-z0-9]{16})", token or "")
        if not m:
            return None
        with self.lock:
            secret = self.store.get(("secrets", "kube-system", f"bootstrap-token-{m.group(1)}"))
        if not secret or secret.get("type") != "bootstrap.kubernetes.io/token":
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        if not secrets.compare_digest(data.get("token-secret", ""), m.group(2)):
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        if _expired(data):
            return None
        extra = [g for g in data.get("auth-extra-groups", "").split(",") if g]
        return User(f"system:bootstrap:{m.group(1)}", [BOOTSTRAP_GROUP, *extra, "system:authenticated"])

    # ------------------------------------------------------------ authorisation

    @staticmethod
    def allowed(user, verb, resource, namespace, name):
        """Decide like the RBAC rules of a fresh kubeadm cluster, for the users the lab has."""
        groups = set(user.groups)
        if groups & ADMIN_GROUPS or NODE_GROUP in groups:
            return True  # nodes: the Node authorizer's finer limits are not modelled
        public = resource == "configmaps" and namespace == "kube-public" and name == "cluster-info" and verb == "get"
        if public:
            return True
        if BOOTSTRAP_GROUP in groups:
            if resource == "configmaps" and namespace == "kube-system" and verb == "get" and \
                    name in ("kubeadm-config", "kubelet-config", "kube-proxy"):
                return True
            if resource == "nodes" and verb == "get":
                return True
            if resource == "certificatesigningrequests" and verb in ("create", "get", "list"):
                return True
        return False

    # ------------------------------------------------------------ dispatch

    def handle(self, request, user):
        """Serve REQUEST for USER; return (code, body, content type)."""
        path = request.path
        if path in ("/livez", "/healthz", "/readyz") or path.startswith(("/livez/", "/readyz/")):
            return self._health(path)
        if path == "/version":
            return 200, resources.version_info(self.cluster_version()), "application/json"
        if user is ANONYMOUS and not path.startswith("/api/v1/namespaces/kube-public/configmaps/cluster-info"):
            return self._forbidden_path(user, request)
        if path == "/api":
            return 200, resources.api_versions(self.server_address), "application/json"
        if path == "/apis":
            return 200, metrics.add_to_group_list(self, resources.api_group_list()), "application/json"
        if path == f"/apis/{metrics.GROUP}" or path.startswith(f"/apis/{metrics.GROUP}/"):
            return (*metrics.serve(self, request, user), "application/json")  # the aggregated API
        if path.startswith("/openapi/v3"):
            found = openapi.handle(path)
            return (*found, "application/json") if found else self._json(
                objects.status(404, "the server could not find the requested resource"))
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] in resources.group_versions():
                return 200, resources.api_group(parts[1]), "application/json"
            return self._json(objects.status(404, "the server could not find the requested resource"))
        if parts[:1] == ["api"] and len(parts) == 2 or parts[:1] == ["apis"] and len(parts) == 3:
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            found = resources.resource_list(group, version)
            if found is None:
                return self._json(objects.status(404, "the server could not find the requested resource"))
            return 200, found, "application/json"
        return self._resource_request(request, user, parts)

    def _json(self, body, code=None):
        return code or body.get("code", 200), body, "application/json"

    def _health(self, path):
        ready = time.monotonic() >= self.ready_at
        if path.startswith("/livez"):
            return 200, b"ok", "text/plain; charset=utf-8"
        if ready:
            return 200, b"ok", "text/plain; charset=utf-8"
        # The shape of kube-apiserver's answer while its post-start hooks run.
        checks = ["[+]ping ok", "[+]log ok", "[+]etcd ok", "[+]etcd-readiness ok", "[+]informer-sync ok",
                  "[-]poststarthook/start-apiextensions-controllers failed: reason withheld",
                  "[-]poststarthook/rbac/bootstrap-roles failed: reason withheld",
                  "[+]shutdown ok", "readyz check failed"]
        return 500, ("\n".join(checks) + "\n").encode(), "text/plain; charset=utf-8"

    def pod_subnet(self):
        """The cluster's pod range (the stored kubeadm ClusterConfiguration's networking.podSubnet)."""
        cm = self.store.get(("configmaps", "kube-system", "kubeadm-config"))
        try:
            text = yaml.safe_load(cm["data"]["ClusterConfiguration"])["networking"]["podSubnet"]
            return ipaddress.IPv4Network(text)
        except (TypeError, KeyError, ValueError, yaml.YAMLError):
            return ipaddress.IPv4Network(DEFAULT_POD_SUBNET)

    def cluster_version(self):
        """kubernetesVersion of the stored kubeadm ClusterConfiguration (the static pods' version), if any."""
        cm = self.store.get(("configmaps", "kube-system", "kubeadm-config"))
        try:
            return yaml.safe_load(cm["data"]["ClusterConfiguration"]).get("kubernetesVersion")
        except (TypeError, KeyError, AttributeError, yaml.YAMLError):
            return None

    def _forbidden_path(self, user, request):
        return self._json(objects.status(
            403, f'forbidden: User "{user.name}" cannot {request.method.lower()} path "{request.path}"', "Forbidden",
            {}))

    def _resource_request(self, request, user, parts):
        # /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] or /apis/G/V[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._json(objects.status(404, "the server could not find the requested resource"))
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in resources.BY_PATH:
            namespace, rest = rest[1], rest[2:]
        resource = resources.BY_PATH.get((group, version, rest[0]))
        if resource is None or len(rest) > 3:
            return self._json(objects.status(404, "the server could not find the requested resource"))
        name = rest[1] if len(rest) >= 2 else ""
        sub = rest[2] if len(rest) == 3 else ""
        if sub and sub not in resource.subresources:
            return self._json(objects.status(404, "the server could not find the requested resource"))
        if resource.namespaced != bool(namespace) and name:
            return self._json(objects.status(404, "the server could not find the requested resource"))
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(request.method)
        if verb is None:
            return self._json(objects.status(405, f"the server does not allow this method on the requested "
                                                  f"resource ({request.method})"))
        if request.query.get("watch") in ("1", "true"):
            verb = "watch"
        if not self.allowed(user, verb, resource.name, namespace, name):
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            what = f'resource "{resource.name}"' + (f"/{sub}" if sub else "")
            subject = resource.name + (f".{group}" if group else "") + (f' "{name}"' if name else "")
            return self._json(objects.status(
                403, f'{subject} is forbidden: User "{user.name}" cannot {verb} {what} in API group "{group}" {where}',
                "Forbidden", {"name": name, "group": group, "kind": resource.name}))
        if verb == "watch":
            return self._json(objects.status(405, "watch is not served by the u7s stand-in"))
        with self.lock:
            handler = getattr(self, f"_{verb}")
            code, body = handler(request, user, resource, namespace, name, sub)
            if request.method != "GET" and 200 <= code < 300 and request.query.get("dryRun") != "All":
                self._reconcile()
                self._save()
        if verb == "list" and code == 200 and TABLE_ACCEPT in request.headers.get("accept", ""):
            body = table(resource, body["items"], body["metadata"]["resourceVersion"])
        elif verb == "get" and code == 200 and not sub and TABLE_ACCEPT in request.headers.get("accept", ""):
            body = table(resource, [body], body["metadata"]["resourceVersion"])
        return code, body, "application/json"

    # ------------------------------------------------------------ verbs

    def _get(self, request, user, resource, namespace, name, sub):
        obj = self.store.get((resource.name, namespace, name))
        if obj is None:
            return 404, objects.not_found(resource.name, name, resource.group)
        if resource.name == "nodes":
            return 200, node_view(obj)
        if (resource.name, namespace, name) == ("configmaps", "kube-public", "cluster-info"):
            return 200, self._signed_cluster_info(obj)
        return 200, obj

    def _signed_cluster_info(self, obj):
        """Add a JWS per signing bootstrap token, as the bootstrap signer controller keeps them."""
        signed = json.loads(json.dumps(obj))
        content = signed.get("data", {}).get("kubeconfig", "")
        for secret in self.objects_of("secrets", "kube-system"):
            if secret.get("type") != "bootstrap.kubernetes.io/token":
                continue
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            # The bootstrap signer signs only with tokens that have not expired (pkg/controller/bootstrap/util.go).
            if data.get("usage-bootstrap-signing") == "true" and data.get("token-id") and data.get("token-secret") \
                    and not _expired(data):
                signed["data"][f"jws-kubeconfig-{data['token-id']}"] = objects.detached_jws(
                    content, data["token-id"], data["token-secret"])
        return signed

    def _list(self, request, user, resource, namespace, name, sub):
        try:
            labels = objects.parse_label_selector(request.query.get("labelSelector", ""))
            fields = objects.parse_field_selector(request.query.get("fieldSelector", ""))
        except ValueError as e:
            return 400, objects.status(400, str(e))
        items = [o for o in self.objects_of(resource.name, namespace if resource.namespaced and namespace else None)
                 if objects.labels_match(labels, o.get("metadata", {}).get("labels"))
                 and objects.fields_match(fields, o)]
        if resource.name == "nodes":
            items = [node_view(o) for o in items]
        return 200, {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                     "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    def _decode(self, request):
        ctype = request.headers.get("content-type", "application/json").split(";", 1)[0].strip()
        if ctype == objects.PROTOBUF:
            try:
                return objects.decode_protobuf(request.body), None
            except ValueError as e:
                return None, objects.status(400, f"the body of the request was in an unknown format: {e}")
        if ctype not in ("application/json", ""):
            return None, objects.status(415, f"the body of the request was in an unknown format - accepted media "
                                             f"types include: application/json, application/yaml", "UnsupportedMediaType")
        try:
            obj = json.loads(request.body or b"null")
        except ValueError as e:
            return None, objects.status(400, f"the body of the request was in an unknown format: {e}")
        if not isinstance(obj, dict):
            return None, objects.status(400, "the body of the request is not an object")
        return obj, None

    def _create(self, request, user, resource, namespace, name, sub):
        obj, error = self._decode(request)
        if error:
            return error["code"], error
        if sub == "eviction":
            return self._evict(request, user, resource, namespace, name, obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        obj_name = meta.get("name", "")
        causes = []
        if not obj_name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif resource.group == "rbac.authorization.k8s.io" and (obj_name in (".", "..") or "/" in obj_name
                                                                  or "%" in obj_name):
            causes.append(("metadata.name", f'Invalid value: "{obj_name}": may not contain \'/\' or \'%\''))
        elif resource.group != "rbac.authorization.k8s.io" and (not NAME_RE.fullmatch(obj_name) or len(obj_name) > 253):
            # RBAC names are path segments (system:metrics-server); other names are DNS subdomains.
            causes.append(("metadata.name", f'Invalid value: "{obj_name}": a lowercase RFC 1123 subdomain must '
                                            "consist of lower case alphanumeric characters, '-' or '.', and must "
                                            "start and end with an alphanumeric character"))
        if obj.get("kind") not in (None, resource.kind):
            return 400, objects.status(400, f"the API version in the data ({obj.get('apiVersion')}) does not match "
                                            f"the expected API version ({resource.api_version})")
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                return 400, objects.status(400, "the namespace of the provided object does not match the "
                                                "namespace sent on the request")
            if ("namespaces", "", namespace) not in self.store:
                return 404, objects.not_found("namespaces", namespace)
        causes += self._validate(resource, obj)
        if causes:
            return 422, objects.invalid(resource.kind, obj_name, causes, resource.group)
        if (resource.name, namespace, obj_name) in self.store:
            return 409, objects.already_exists(resource.name, obj_name, resource.group)
        obj = self._defaults(resource, obj, user)
        if request.query.get("dryRun") == "All":
            return 201, obj
        return 201, self._create_raw(resource, namespace, obj)

    def _validate(self, resource, obj):
        causes = []
        if resource.name == "nodes":
            for i, taint in enumerate(obj.get("spec", {}).get("taints") or []):
                if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                    causes.append((f"spec.taints[{i}].effect",
                                   f'Unsupported value: "{taint.get("effect", "")}": supported values: '
                                   '"NoSchedule", "PreferNoSchedule", "NoExecute"'))
        for field in ("labels", "annotations"):
            for key, value in (obj.get("metadata", {}).get(field) or {}).items():
                if not isinstance(value, str):
                    causes.append((f"metadata.{field}", f"Invalid value: {json.dumps(value)}: must be a string"))
        return causes

    def _defaults(self, resource, obj, user):
        if resource.name == "namespaces":
            base = self._namespace(obj["metadata"]["name"])
            base["metadata"]["labels"].update(obj["metadata"].get("labels") or {})
            base["metadata"]["annotations"] = obj["metadata"].get("annotations") or {}
            return base
        if resource.name == "pods":
            obj.setdefault("status", {"phase": "Pending"})
        if resource.name == "persistentvolumeclaims":  # the DefaultStorageClass admission plugin, then Pending
            if obj.setdefault("spec", {}).get("storageClassName") is None and storage.default_class(self):
                obj["spec"]["storageClassName"] = storage.default_class(self)
            obj["status"] = {"phase": "Pending"}
        if resource.name == "nodes":
            obj.setdefault("spec", {})
            if "podCIDR" not in obj["spec"]:
                used = {o.get("spec", {}).get("podCIDR") for o in self.objects_of("nodes")}
                obj["spec"]["podCIDR"] = next(str(net) for net in self.pod_subnet().subnets(new_prefix=24)
                                              if str(net) not in used)
                obj["spec"]["podCIDRs"] = [obj["spec"]["podCIDR"]]
        if resource.name == "certificatesigningrequests":
            obj.setdefault("spec", {})["username"] = user.name
            obj["spec"]["groups"] = user.groups
            obj.setdefault("status", {})
        return obj

    def _write(self, resource, namespace, name, old, new, sub):
        """Store NEW in place of OLD; a subresource write changes only that part."""
        if sub == "status":
            merged = dict(old)
            merged["status"] = new.get("status", {})
            new = merged
        elif resource.subresources and "status" in resource.subresources and sub == "":
            new = dict(new)
            if "status" in old:
                new["status"] = old["status"]  # the main resource ignores status changes, as the real one does
        meta = new.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "name", "namespace"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        causes = self._validate(resource, new)
        if causes:
            return 422, objects.invalid(resource.kind, name, causes, resource.group)
        if resource.name == "daemonsets" and new.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        meta["resourceVersion"] = self._next_rv()
        self.store[(resource.name, namespace, name)] = new
        self._watch_skew(resource, new)
        return 200, new

    def _update(self, request, user, resource, namespace, name, sub):
        old = self.store.get((resource.name, namespace, name))
        if old is None:
            return 404, objects.not_found(resource.name, name, resource.group)
        new, error = self._decode(request)
        if error:
            return error["code"], error
        rv = new.get("metadata", {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            return 409, objects.status(409, f'Operation cannot be fulfilled on {resource.name} "{name}": the object '
                                            "has been modified; please apply your changes to the latest version "
                                            "and try again", "Conflict", {"name": name, "kind": resource.name})
        return self._write(resource, namespace, name, old, new, sub)

    def _patch(self, request, user, resource, namespace, name, sub):
        old = self.store.get((resource.name, namespace, name))
        if old is None:
            return 404, objects.not_found(resource.name, name, resource.group)
        try:
            new = objects.apply_patch(old, request.headers.get("content-type"), request.body)
        except objects.PatchError as e:
            return e.code, objects.status(e.code, str(e))
        if not isinstance(new, dict):
            return 422, objects.invalid(resource.kind, name, [("", "the patch result is not an object")])
        rv = new.get("metadata", {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            return 409, objects.status(409, f'Operation cannot be fulfilled on {resource.name} "{name}": the object '
                                            "has been modified; please apply your changes to the latest version "
                                            "and try again", "Conflict", {"name": name, "kind": resource.name})
        if request.query.get("dryRun") == "All":
            return 200, new
        return self._write(resource, namespace, name, old, new, sub)

    def _evict(self, request, user, resource, namespace, name, obj):
        """POST pods/NAME/eviction (policy/v1 Eviction): the pod is deleted at once (no disruption budgets here)."""
        if obj.get("kind") != "Eviction" or obj.get("apiVersion") not in ("policy/v1", "policy/v1beta1"):
            return 400, objects.status(400, f"the API version in the data ({obj.get('apiVersion')}) does not match "
                                            "the expected API version (policy/v1)")
        if (obj.get("metadata") or {}).get("name") not in (None, name):
            return 400, objects.status(400, f"name in URL does not match name in Eviction object")
        if ("pods", namespace, name) not in self.store:
            return 404, objects.not_found("pods", name)
        if request.query.get("dryRun") != "All":
            self._delete(request, user, resource, namespace, name, "")
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _delete(self, request, user, resource, namespace, name, sub):
        obj = self.store.pop((resource.name, namespace, name), None)
        if obj is None:
            return 404, objects.not_found(resource.name, name, resource.group)
        if resource.name == "namespaces":
            for key in [k for k in self.store if k[1] == name]:
                del self.store[key]
        if resource.name == "nodes":
            for key in [k for k, o in self.store.items() if k[0] == "pods"
                        and o.get("spec", {}).get("nodeName") == name]:
                del self.store[key]
        self._orphans_of(obj)
        return 200, obj

    def _deletecollection(self, request, user, resource, namespace, name, sub):
        code, listed = self._list(request, user, resource, namespace, name, sub)
        if code != 200:
            return code, listed
        for obj in listed["items"]:
            self._delete(request, user, resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], "")
        return 200, listed

    def _orphans_of(self, owner):
        """Delete what OWNER owned (the garbage collector's foreground work, done at once)."""
        uid = owner["metadata"].get("uid")
        for key in [k for k, o in self.store.items()
                    if any(r.get("uid") == uid for r in o.get("metadata", {}).get("ownerReferences") or [])]:
            self.store.pop(key, None)

    # ------------------------------------------------------------ controllers

    def _reconcile(self):
        self._sign_csrs()
        self._run_daemonsets()
        metrics.reconcile(self)
        storage.reconcile(self)

    def _sign_csrs(self):
        import u7s_standin_pki as pki
        for csr in self.objects_of("certificatesigningrequests"):
            spec, state = csr.get("spec", {}), csr.setdefault("status", {})
            if state.get("certificate") or spec.get("signerName") != KUBELET_SIGNER or not self.ca_key_pem:
                continue
            requester = set(spec.get("groups") or [])
            if not requester & {BOOTSTRAP_GROUP, NODE_GROUP}:
                continue
            try:
                cert, cn, groups = pki.sign_csr(self.ca_cert_pem, self.ca_key_pem,
                                                base64.b64decode(spec.get("request", "")))
            except ValueError as e:
                state["conditions"] = [{"type": "Failed", "status": "True", "reason": "SigningError",
                                        "message": str(e), "lastUpdateTime": now_iso()}]
                continue
            if not cn.startswith("system:node:") or groups != [NODE_GROUP]:
                state["conditions"] = [{"type": "Denied", "status": "True", "reason": "NotNodeClient",
                                        "message": "only system:node:NAME in system:nodes", "lastUpdateTime": now_iso()}]
                continue
            # csrapproving auto-approves a node client CSR from bootstrappers; csrsigning signs it.
            state["conditions"] = [{"type": "Approved", "status": "True", "reason": "AutoApproved",
                                    "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
                                    "lastUpdateTime": now_iso()}]
            state["certificate"] = base64.b64encode(cert.encode()).decode()
            csr["metadata"]["resourceVersion"] = self._next_rv()

    def _run_daemonsets(self):
        nodes = {o["metadata"]["name"]: o for o in self.objects_of("nodes")}
        pods_res = resources.BY_PATH[("", "v1", "pods")]
        for ds in self.objects_of("daemonsets"):
            ns, uid = ds["metadata"]["namespace"], ds["metadata"]["uid"]
            template = ds.get("spec", {}).get("template", {})
            revision = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            owned = [p for p in self.objects_of("pods", ns)
                     if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
            on_node = {}
            for pod in owned:
                node = pod.get("spec", {}).get("nodeName")
                stale = node not in nodes or node in on_node or \
                    pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision
                if stale:  # an old template, a gone node, or a duplicate: replaced below
                    self.store.pop(("pods", ns, pod["metadata"]["name"]), None)
                else:
                    on_node[node] = pod
            for node in sorted(set(nodes) - set(on_node)):
                meta = template.get("metadata", {})
                spec = json.loads(json.dumps(template.get("spec", {})))
                spec["nodeName"] = node
                # The DaemonSet controller adds these tolerations to every daemon pod.
                spec.setdefault("tolerations", []).extend([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}])
                pod = {"metadata": {
                    "name": f"{ds['metadata']['name']}-{''.join(secrets.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}",
                    "labels": {**(meta.get("labels") or {}), "controller-revision-hash": revision},
                    "annotations": dict(meta.get("annotations") or {}),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds["metadata"]["name"],
                                         "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
                    "spec": spec, "status": {"phase": "Pending"}}
                self._create_raw(pods_res, ns, pod)
            pods = [p for p in self.objects_of("pods", ns)
                    if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
            ready = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running")
            ds["status"] = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": len(nodes),
                            "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": len(pods),
                            "numberMisscheduled": 0, "observedGeneration": ds["metadata"].get("generation", 1)}
