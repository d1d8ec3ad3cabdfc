"""U7S_STORAGE_DIR: the host directory of a node's local-path volumes (pure).

The node sees it at NODE_PATH, the path the local-path provisioner's
configuration names (u7s/node/localpath.py). By default it is `storage` in the
host's working directory, so it lives and goes with the cluster: `down-v`
removes it. A directory the user chose is theirs: u7s never deletes it.
"""

from __future__ import annotations

import posixpath

from u7s.config import values
from u7s.config.mounts import PATH

NODE_PATH = "/var/local-path-provisioner"  # as kind's node image has it
SUBDIR = "storage"
MODE = 0o711  # pods of any user in the node reach their volume's directory; its list stays the owner's
FIX = "give an absolute directory of its own, e.g. U7S_STORAGE_DIR=/srv/u7s-volumes"


def default(workdir: str) -> str:
    return posixpath.join(workdir, SUBDIR)


def check(text: str, workdir: str) -> str:
    """The directory, or ValueError saying why it cannot hold volumes."""
    values.workdir(text)  # absolute, normalised, not a system directory
    if not PATH.match(text):  # written into the compose file, which splits volumes on ':' and ','
        raise ValueError(f"{values.shown(text)} has characters other than letters, digits and ._/+@=~-")
    if text == workdir or workdir.startswith(text.rstrip("/") + "/"):
        raise ValueError(f"{values.shown(text)} holds the working directory {workdir} (its kubeconfig, join scripts)")
    return text


def resolve(given: str, workdir: str) -> tuple[str, str]:
    """The directory for U7S_STORAGE_DIR's value (empty: the default), and why it cannot be used ("" if it can)."""
    if not given:
        return default(workdir), ""
    try:
        return check(given, workdir), ""
    except ValueError as exc:
        return given, str(exc)


def is_default(s) -> bool:
    """Whether the settings use the default directory (U7S_STORAGE_DIR not set): only that one goes with down-v."""
    return "U7S_STORAGE_DIR" not in s.sources and s.storage_dir == default(s.workdir)
