"""The storage step of `create`: the default StorageClass (u7s/node/localpath.py), after the CNI."""

from __future__ import annotations

from u7s.config import storagedir
from u7s.node import localpath
from u7s.steps import lifecycle
from u7s.steps.step import Step


def down_v_text(s) -> str:
    """What down-v does with this host's volume directory (its --dry-run line)."""
    if storagedir.is_default(s):
        return f"empty {storagedir.NODE_PATH} in {s.node_name}, then remove {s.storage_dir}"
    return f"keep {s.storage_dir} (U7S_STORAGE_DIR: never deleted by u7s)"


STEP = Step("install-storage", lambda run, m: lifecycle.install_storage(m.node), lambda m: [
    f"render {m.settings.path(localpath.MANIFEST)} and kubectl apply it in {m.settings.node_name}: the "
    f"local-path provisioner and its StorageClass {localpath.STORAGE_CLASS} (the default), volumes in "
    "U7S_STORAGE_DIR on each host"], hosts="control-plane")
