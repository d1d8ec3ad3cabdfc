"""The kubelet stand-in's image pulls: imagePullPolicy IfNotPresent against the node's real containerd.

An image the node's containerd (namespace k8s.io) holds is used as it is; every other one is a pull,
recorded as one line of /var/lib/u7s-standin/pulls.jsonl ({time, node, namespace, pod, image}), so a
test can say "no pull was attempted" (an air-gapped node). Whether the pull then works is the flannel
pod stand-in's business (switch `flannel-image-pull`); other pods start as before.
"""

import os
import subprocess

import u7s_standin_common as common

PULLS = "pulls.jsonl"


def normalise(ref):
    """The name containerd gives a docker-style reference (docker.io/library/x:tag for x:tag)."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def held():
    """The image names in the node's containerd; none in unit tests (U7S_STANDIN_ROOT: no node's containerd)."""
    if os.environ.get(common.ROOT_ENV):
        return set()
    try:
        r = subprocess.run(["ctr", "--connect-timeout", "5s", "--namespace", "k8s.io", "images", "ls", "-q"],
                           capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(r.stdout.split()) if r.returncode == 0 else set()


def pod_images(pod):
    spec = pod.get("spec", {})
    return [c["image"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
            if c.get("image")]


def pull_absent(pod, node):
    """Record a pull for each of the pod's images the node lacks; return them."""
    have = held()
    absent = [image for image in pod_images(pod) if normalise(image) not in have]
    meta = pod.get("metadata", {})
    for image in absent:
        common.append_jsonl(PULLS, {"time": common.now_iso(), "node": node, "namespace": meta.get("namespace"),
                                    "pod": meta.get("name"), "image": image})
    return absent
