"""The version-skew rule the u7s TEST STAND-IN API server watches (lab only; not Kubernetes).

Kubernetes' version-skew policy: a kubelet must never be newer than the API server it talks to
(kube-apiserver at 1.36 supports kubelets 1.36 down to 1.33, never 1.37). The real API server does
not check it; a newer kubelet simply may use what that server lacks. The stand-in records each
Node whose kubelet reports a newer `nodeInfo.kubeletVersion` than the server's own version in
/var/lib/u7s-standin/kubelet-skew.json (first sighting per node and version pair), and says so in
its log, so that a test can tell an upgrade that moved a kubelet before the control plane.
"""

import re
import sys

from u7s_standin_common import load_state, now_iso, save_state

SKEW_STATE = "kubelet-skew"  # /var/lib/u7s-standin/kubelet-skew.json
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def _parsed(text):
    m = _VERSION.match(text or "")
    return tuple(int(g) for g in m.groups()) if m else None


def newer(kubelet, server):
    """Whether KUBELET's version is above SERVER's (unknown versions are never a skew)."""
    a, b = _parsed(kubelet), _parsed(server)
    return bool(a and b and a > b)


def note(node, server_version):
    """Record NODE (a Node object just stored) when its kubelet is newer than SERVER_VERSION; return whether."""
    kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
    if not newer(kubelet, server_version):
        return False
    name = node.get("metadata", {}).get("name", "")
    seen = load_state(SKEW_STATE, {})
    key = f"{name} {kubelet} {server_version}"
    if key not in seen:
        seen[key] = {"node": name, "kubeletVersion": kubelet, "apiserverVersion": server_version, "time": now_iso()}
        save_state(SKEW_STATE, seen)
        print(f"u7s-standin-apiserver: node {name}'s kubelet {kubelet} is newer than this API server "
              f"({server_version}): Kubernetes' version-skew policy forbids it", file=sys.stderr)
    return True
