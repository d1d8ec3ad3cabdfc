"""Felix's policy loop: the u7s TEST STAND-IN's NetworkPolicy enforcement (lab only).

Run by calico-node's stand-in about once a second: it reads the NetworkPolicies, pods
and namespaces, and turns the policies that select this node's pods into iptables rules
in the node, as Felix does for Kubernetes NetworkPolicy ingress: a pod no policy selects
takes any traffic; once one selects it, only what a rule of such a policy allows reaches
it (sources by podSelector, namespaceSelector, both, or ipBlock's cidr; ports by number,
name or range, TCP by default), the rest is dropped ("Drop if no policies passed packet"),
replies of allowed connections pass (conntrack). The rules sit in one chain, `cali-FORWARD`,
jumped to first from FORWARD, matched by the pod's host-side interface (`-o caliXXX`).
Not modelled: egress rules, ipBlock's `except`, Calico's own policy kinds and tiers, its
per-endpoint chains and ipsets, traffic from the node itself (Felix lets the host reach its
pods through other chains).
"""

import subprocess

from u7s_standin_common import under_test

CHAIN = "cali-FORWARD"
DROP_COMMENT = "Drop if no policies passed packet"


def selects(selector, labels):
    """A label selector (matchLabels, matchExpressions) against labels; an empty selector selects all."""
    selector, labels = selector or {}, labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def _ingress_policies(policies, pod):
    ns = pod["metadata"]["namespace"]
    out = []
    for p in policies:
        spec = p.get("spec") or {}
        types = spec.get("policyTypes") or ["Ingress"]
        if p["metadata"].get("namespace") == ns and "Ingress" in types and selects(spec.get("podSelector"), _labels(pod)):
            out.append(p)
    return out


def _sources(peer, policy_ns, pods, namespaces):
    """The source addresses (CIDRs) one `from` entry allows."""
    if "ipBlock" in peer:
        return [peer["ipBlock"]["cidr"]]
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    names = ({n["metadata"]["name"] for n in namespaces if selects(ns_sel, _labels(n))} if ns_sel is not None
             else {policy_ns})
    return [f"{p['status']['podIP']}/32" for p in pods
            if p["metadata"]["namespace"] in names and (p.get("status") or {}).get("podIP")
            and (pod_sel is None or selects(pod_sel, _labels(p)))]


def _ports(rule, pod):
    """(protocol, port text) pairs of a rule; [(None, None)] for any port."""
    out = []
    for entry in rule.get("ports") or []:
        proto, port = (entry.get("protocol") or "TCP").lower(), entry.get("port")
        if isinstance(port, str) and not port.isdigit():  # a named port: the pod's container port of that name
            named = [c.get("containerPort") for k in pod["spec"].get("containers", []) for c in k.get("ports") or []
                     if c.get("name") == port]
            if not named:
                continue
            port = named[0]
        out.append((proto, None if port is None else f"{port}:{entry['endPort']}" if entry.get("endPort") else str(port)))
    return out or [(None, None)]


def rules(policies, pods, namespaces, node_name, iface_of):
    """Pure: the chain's rules (iptables-restore lines) for this node's pods."""
    lines = [f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    mine = [p for p in pods if (p.get("spec") or {}).get("nodeName") == node_name
            and not p["spec"].get("hostNetwork") and (p.get("status") or {}).get("podIP")]
    for pod in sorted(mine, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        iface, selecting = iface_of(pod), _ingress_policies(policies, pod)
        if not selecting:
            lines.append(f"-A {CHAIN} -o {iface} -j ACCEPT")
            continue
        for policy in selecting:
            tag = f'-m comment --comment "cali:{policy["metadata"]["namespace"]}/{policy["metadata"]["name"]}"'
            for rule in policy["spec"].get("ingress") or []:
                peers = rule.get("from") or []
                sources = ([s for peer in peers for s in _sources(peer, pod["metadata"]["namespace"], pods, namespaces)]
                           if peers else [None])
                for source in sources:
                    for proto, port in _ports(rule, pod):
                        match = (f" -s {source}" if source else "") + (f" -p {proto}" if proto else "") + \
                                (f" --dport {port}" if port else "")
                        lines.append(f"-A {CHAIN} -o {iface}{match} {tag} -j ACCEPT")
        lines.append(f'-A {CHAIN} -o {iface} -m comment --comment "{DROP_COMMENT}" -j DROP')
    return lines


def restore_text(lines):
    return "\n".join(["*filter", f":{CHAIN} - [0:0]", *lines, "COMMIT", ""])


class Felix:
    """Keeps the node's chain in line with the cluster's policies; only a change is written."""

    def __init__(self):
        self.applied = None

    def sync(self, client, node_name, log):
        from u7s_standin_calico import host_iface

        policies = client.get("/apis/networking.k8s.io/v1/networkpolicies").get("items", [])
        pods = client.get("/api/v1/pods").get("items", [])
        namespaces = client.get("/api/v1/namespaces").get("items", [])
        text = restore_text(rules(policies, pods, namespaces, node_name, host_iface))
        if text == self.applied or under_test():
            self.applied = text
            return
        r = subprocess.run(["iptables-restore", "--noflush"], input=text, capture_output=True, text=True)
        if r.returncode != 0:
            log(f"calico felix: iptables-restore failed: {r.stderr.strip()}")
            return
        if subprocess.run(["iptables", "-C", "FORWARD", "-j", CHAIN], capture_output=True).returncode != 0:
            subprocess.run(["iptables", "-I", "FORWARD", "1", "-j", CHAIN], check=True, capture_output=True)
        log(f"calico felix: {len(policies)} NetworkPolicies, {text.count(' -j ')} rules in {CHAIN}")
        self.applied = text
