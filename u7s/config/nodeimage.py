"""NODE_IMAGE and NODE_BASE_IMAGE: image references, and the Kubernetes version a tag names.

compose/kubeadm-config.yaml.j2 is written in kubeadm's v1beta4 API, which kubeadm reads
from v1.31 on: an older kindest/node would stop `kubeadm init` with an unknown API version,
after the image was pulled and the node started. The tag tells the version before anything
starts, when it is one (kindest/node's are: v1.35.0). A tag that is no version (a locally
built image, a digest alone, an image's own numbering) says nothing, and is let through.
Pure: no commands.
"""

from __future__ import annotations

import re

from u7s.config import values

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBEADM_API_SINCE = (1, 31)  # the first kubeadm that reads KUBEADM_API
# A Kubernetes release tag: v1.35.0, v1.31.0-rc.1, v1.31 (the leading v is required: without it a tag is
# more likely an image's own numbering, e.g. u7s-node:1.2.0, than a Kubernetes version).
KUBE_TAG = re.compile(r"^v(\d{1,4})\.(\d{1,4})(?:\.\d{1,6})?(?:[-+][0-9A-Za-z.-]+)?$", re.ASCII)


def tag_of(image: str) -> str:
    """The tag of an image reference ("" when it has none): after the last ':' of the last path part."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def kube_version(image: str) -> tuple[str, tuple[int, int]] | None:
    """(tag, (major, minor)) when the image's tag is a Kubernetes version, else None (u7s cannot tell)."""
    tag = tag_of(image)
    m = KUBE_TAG.match(tag)
    return (tag, (int(m.group(1)), int(m.group(2)))) if m else None


def image_problem(key: str, image: str) -> tuple[str, str] | None:
    """(why, fix) when the image's tag names a Kubernetes older than KUBEADM_API_SINCE, else None."""
    found = kube_version(image)
    if found is None or found[1] >= KUBEADM_API_SINCE:
        return None
    tag, _ = found
    since = "v%d.%d" % KUBEADM_API_SINCE
    why = (f"its tag {tag} is Kubernetes older than {since}, the first whose kubeadm reads the "
           f"{KUBEADM_API} configuration u7s renders")
    if key == "NODE_IMAGE":
        return why, f"use a node image built from kindest/node:{since} or later"
    return why, f"use kindest/node:{since} or later (unset {key} for u7s's pinned default)"


def problems(image: str, base: str) -> list[tuple[str, str, str]]:
    """(key, why, fix) for each bad reference, and for the image that decides the version if it is too old.

    A given NODE_IMAGE is used as it is: NODE_BASE_IMAGE is then not built from, and not judged by its tag.
    """
    found = []
    for key, value in (("NODE_IMAGE", image), ("NODE_BASE_IMAGE", base)):
        if value:
            try:
                values.image_reference(value)
            except ValueError as exc:
                found.append((key, str(exc), "give one image reference, e.g. localhost/u7s-node:1"))
    key, value = ("NODE_IMAGE", image) if image else ("NODE_BASE_IMAGE", base)
    too_old = image_problem(key, value) if not any(k == key for k, _, _ in found) else None
    return found + ([(key, *too_old)] if too_old else [])
