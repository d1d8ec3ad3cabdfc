"""The one place u7s writes to a user's configuration: `multi-node` records U7S_MULTI_NODE."""

from __future__ import annotations

import os
from pathlib import Path

from u7s.errors import U7sError



def user_config_file(prefix: str) -> str:
    """The per-user config file the running program reads: ~/.u7s.yaml for `u7s`, ~/.invoke.yaml for `inv`."""
    return f"~/.{prefix}.yaml"


def enable_multi_node(path: str | None = None) -> Path:
    """Set u7s.U7S_MULTI_NODE: true in the config file, keeping everything else in it (and its mode)."""
    import yaml

    from u7s.config import safeyaml

    target = Path(os.path.expanduser(path or user_config_file("u7s")))
    data = {}
    if target.exists():
        try:
            data = safeyaml.load_file(str(target)) or {}
        except safeyaml.YamlError as exc:
            raise U7sError(f"{exc}; fix or remove it") from None
        if not isinstance(data, dict) or not isinstance(data.get("u7s", {}), dict):
            raise U7sError(f"{target}: expected a mapping with a `u7s` mapping in it")
    data.setdefault("u7s", {})["U7S_MULTI_NODE"] = True
    # The file may hold secrets (sudo.password): the new one gets the old one's mode, or 0600.
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
    tmp = target.with_name(target.name + ".u7s-new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, target)
    return target
