"""Check a kubeadm config file against the Usernetes reference (u7s TEST STAND-IN, never ships).

`problems(text, env)` returns one message per mismatch, each starting with the field
it is about (`ClusterConfiguration.networking.podSubnet: ...`), so a failing test
says what u7s rendered wrong.
"""

import ipaddress
import json

import yaml

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KINDS = {
    "InitConfiguration": KUBEADM_API,
    "ClusterConfiguration": KUBEADM_API,
    "KubeletConfiguration": "kubelet.config.k8s.io/v1beta1",
    "KubeProxyConfiguration": "kubeproxy.config.k8s.io/v1alpha1",
}
REQUIRED_ENV = ("HOST_IP", "NODE_NAME", "NODE_IP", "PORT_ETCD", "PORT_KUBELET", "PORT_KUBE_APISERVER")
PORT_ENV = ("PORT_ETCD", "PORT_KUBELET", "PORT_KUBE_APISERVER")
_MISSING = object()


def env_problems(env):
    """List the node environment variables kubeadm init needs but lacks or has malformed."""
    found = []
    for name in REQUIRED_ENV:
        if not env.get(name):
            found.append(f"environment: {name} is not set (u7s passes it to every command in the node)")
        elif name in PORT_ENV and not env[name].isdigit():
            found.append(f"environment: {name}={env[name]!r} is not a port number")
    return found


def problems(text, env):
    """Return every way the multi-document kubeadm config TEXT departs from the reference."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        return [f"config: not valid YAML: {e}"]
    found = []
    by_kind = _split_kinds(docs, found)
    if len(by_kind) < len(KINDS):
        return found
    e = env
    port = int(e["PORT_KUBE_APISERVER"])
    etcd = e["PORT_ETCD"]
    init, cluster = by_kind["InitConfiguration"], by_kind["ClusterConfiguration"]
    kubelet, proxy = by_kind["KubeletConfiguration"], by_kind["KubeProxyConfiguration"]

    _expect(found, "InitConfiguration", init, "localAPIEndpoint.bindPort", port)

    c = "ClusterConfiguration"
    _expect(found, c, cluster, "controlPlaneEndpoint", f"{e['NODE_NAME']}:{port}")
    _expect_members(found, c, cluster, "apiServer.certSANs",
                    ["localhost", "127.0.0.1", e["NODE_NAME"], e["HOST_IP"]])
    _expect_args(found, c, cluster, "apiServer.extraArgs", {
        "etcd-servers": f"https://127.0.0.1:{etcd}",
        "advertise-address": e["HOST_IP"],
        "secure-port": str(port),
        "kubelet-preferred-address-types": "ExternalIP",
    })
    _expect_args(found, c, cluster, "controllerManager.extraArgs", {"cloud-provider": "external"})
    # Any IPv4 ranges kubeadm accepts (u7s's POD_SUBNET, SERVICE_SUBNET; defaults 10.244.0.0/16, 10.96.0.0/16).
    _expect_cidr(found, c, cluster, "networking.serviceSubnet")
    _expect_cidr(found, c, cluster, "networking.podSubnet")
    _expect_args(found, c, cluster, "etcd.local.extraArgs", {
        "listen-client-urls": f"https://127.0.0.1:{etcd},https://{e['NODE_IP']}:{etcd}",
        "advertise-client-urls": f"https://{e['NODE_IP']}:{etcd}",
    })

    k = "KubeletConfiguration"
    _expect(found, k, kubelet, "failSwapOn", False)
    _expect(found, k, kubelet, "port", int(e["PORT_KUBELET"]))
    _expect(found, k, kubelet, "featureGates.KubeletInUserNamespace", True)

    p = "KubeProxyConfiguration"
    _expect(found, p, proxy, "mode", "iptables")
    _expect(found, p, proxy, "conntrack.maxPerCore", 0)
    _expect(found, p, proxy, "conntrack.tcpEstablishedTimeout", "0s")
    _expect(found, p, proxy, "conntrack.tcpCloseWaitTimeout", "0s")
    return found


def _split_kinds(docs, found):
    """Index DOCS by kind, reporting unknown, duplicate, missing kinds and wrong apiVersions."""
    by_kind = {}
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            found.append(f"document {i + 1}: not a mapping")
            continue
        kind = doc.get("kind")
        if kind not in KINDS:
            found.append(f"document {i + 1}: kind {kind!r} is not one of {', '.join(KINDS)}")
        elif kind in by_kind:
            found.append(f"{kind}: appears more than once")
        else:
            if doc.get("apiVersion") != KINDS[kind]:
                found.append(f"{kind}.apiVersion: want {KINDS[kind]!r}, got {doc.get('apiVersion')!r}")
            by_kind[kind] = doc
    for kind in KINDS:
        if kind not in by_kind:
            found.append(f"{kind}: missing (want apiVersion {KINDS[kind]})")
    return by_kind


def _get(doc, dotted):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _show(value):
    return "nothing" if value is _MISSING else json.dumps(value)


def _expect(found, kind, doc, field, want):
    got = _get(doc, field)
    # Compare types too: YAML `0` is not `false`, and `"6443"` is not a port number.
    if type(got) is not type(want) or got != want:
        found.append(f"{kind}.{field}: want {json.dumps(want)}, got {_show(got)}")


def _expect_cidr(found, kind, doc, field):
    got = _get(doc, field)
    try:
        ipaddress.IPv4Network(got, strict=True)
    except (TypeError, ValueError):
        found.append(f"{kind}.{field}: want an IPv4 CIDR, got {_show(got)}")


def _expect_members(found, kind, doc, field, wanted):
    got = _get(doc, field)
    if not isinstance(got, list):
        found.append(f"{kind}.{field}: want a list containing {json.dumps(wanted)}, got {_show(got)}")
        return
    for item in wanted:
        if item not in got:
            found.append(f"{kind}.{field}: missing {json.dumps(item)}")


def _expect_args(found, kind, doc, field, wanted):
    """Check a v1beta4 extraArgs list of {name, value} entries holds each of WANTED once."""
    got = _get(doc, field)
    if isinstance(got, dict):
        found.append(f"{kind}.{field}: is a mapping; {KUBEADM_API} takes a list of {{name, value}} entries")
        return
    if not isinstance(got, list):
        found.append(f"{kind}.{field}: want a list of {{name, value}} entries, got {_show(got)}")
        return
    values = {}
    for i, item in enumerate(got):
        if not isinstance(item, dict) or set(item) != {"name", "value"}:
            found.append(f"{kind}.{field}[{i}]: want a {{name, value}} entry, got {json.dumps(item)}")
            continue
        if not isinstance(item["value"], str):
            found.append(f"{kind}.{field}[{item['name']}]: value must be a string, "
                         f"got {json.dumps(item['value'])}")
        values.setdefault(item["name"], []).append(item["value"])
    for name, want in wanted.items():
        have = values.get(name)
        if have is None:
            found.append(f"{kind}.{field}[{name}]: missing, want {json.dumps(want)}")
        elif have != [want]:
            shown = json.dumps(have[0] if len(have) == 1 else have)
            found.append(f"{kind}.{field}[{name}]: want {json.dumps(want)}, got {shown}")
