"""The one place u7s writes to a user's configuration: `multi-node` records U7S_MULTI_NODE."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import U7sError

DEFAULT = "~/.u7s.yaml"


def enable_multi_node(path: str | None = None) -> Path:
    """Set u7s.U7S_MULTI_NODE: true in the config file, keeping everything else in it."""
    import yaml

    target = Path(os.path.expanduser(path or DEFAULT))
    data = {}
    if target.exists():
        try:
            data = yaml.safe_load(target.read_text()) or {}
        except yaml.YAMLError as exc:
            raise U7sError(f"{target}: not valid YAML ({exc}); fix or remove it") from None
        if not isinstance(data, dict) or not isinstance(data.get("u7s", {}), dict):
            raise U7sError(f"{target}: expected a mapping with a `u7s` mapping in it")
    data.setdefault("u7s", {})["U7S_MULTI_NODE"] = True
    tmp = target.with_name(target.name + ".u7s-new")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, target)
    return target
