"""invoke config files (`/etc/u7s.yaml`, `~/.u7s.yaml`, `./u7s.yaml`, `-f FILE`; invoke.yaml under `inv`).

They go through the same bounded loader as inventories (u7s/config/safeyaml.py), then
through checks of their shape, before invoke merges them: a problem is one line naming
the file, the line and the key, never a traceback (also for `u7s --list` and `--help`).
- the file is a mapping; a section invoke or u7s keeps as a mapping (`u7s`, `run`,
  `sudo`, ...) is one in the file too (`u7s: 5` would otherwise stop invoke's merge);
- the `u7s` section names known settings and task options only;
- a key given twice, an alias bomb or a tag is refused by the loader.
Under the `u7s` program this happens as each file is loaded (u7s/program.py); under
`inv`, `fab` or another project's program, the files invoke loaded are checked the same
way when a u7s task starts (`check_loaded`). Values are checked with the settings, where
each is named with the file and line it came from (`origins`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from u7s.config.safeyaml import YamlError, load_file_with_lines
from u7s.config.values import shown

LEVELS = ("system", "user", "project", "runtime")  # invoke's order: later files win
OPTIONS = ("inventory", "accept_unknown_host_keys")  # task options the u7s section may hold (u7s/tasks/_common.py)


def load(path: str, defaults: dict) -> tuple[dict, dict[str, str]]:
    """A config file's data, checked; and where each key of its `u7s` section is (`FILE line N`)."""
    path = os.fspath(path)
    if path.endswith(".json"):
        data, lines = _load_json(path), {}
    elif path.endswith((".yaml", ".yml")):
        data, lines = load_file_with_lines(path)
    else:
        raise YamlError(f"{path}: u7s reads config files in YAML (.yaml, .yml) or JSON (.json) only")
    data = {} if data is None else data
    _check(data, lines, path, defaults)
    section = data.get("u7s") or {}
    return data, {key: _where(path, lines, "u7s", key) for key in section}


def _load_json(path: str):
    from u7s.config.safeyaml import MAX_BYTES

    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise YamlError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a config is much smaller")
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys(path))
    except OSError as exc:
        raise YamlError(f"{path}: cannot read it ({exc.strerror})") from None
    except (ValueError, RecursionError) as exc:
        line = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise YamlError(f"{path}:{line}: not valid JSON ({' '.join(str(exc).split())[:160]})") from None


def _unique_keys(path: str):
    def pairs(items):
        seen = {}
        for key, value in items:
            if key in seen:
                raise YamlError(f"{path}: key {shown(key)} given twice; keep one")
            seen[key] = value
        return seen

    return pairs


def _where(path: str, lines: dict, *keys: str) -> str:
    line = lines.get(tuple(keys))
    return f"{path} line {line}" if line else path


def _at(path: str, lines: dict, *keys: str) -> str:
    """Where a problem is, as the YAML loader says it: `FILE: line N`."""
    line = lines.get(tuple(keys))
    return f"{path}: line {line}" if line else path


def _check(data: Any, lines: dict, path: str, defaults: dict) -> None:
    from u7s.config.settings import SPECS

    if not isinstance(data, dict):
        raise YamlError(f"{path}: expected a mapping of sections (e.g. `u7s: {{PORT_ETCD: 12379}}`), "
                        f"got {type(data).__name__}")
    problems = []
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(f"{_at(path, lines, str(key))}: {shown(key)}: a section name must be text")
            continue
        mapping = key == "u7s" or isinstance(defaults.get(key), dict)
        if mapping and value is not None and not isinstance(value, dict):
            problems.append(f"{_at(path, lines, key)}: {key}: expected a mapping, got "
                            f"{type(value).__name__} {shown(value)}")
    section = data.get("u7s")
    if isinstance(section, dict):
        for key in section:
            if key not in SPECS and key not in OPTIONS:
                problems.append(f"{_at(path, lines, 'u7s', str(key))}: u7s.{shown(key, quote=False)}: "
                                f"unknown setting; known: {', '.join(SPECS)}")
    if problems:
        raise YamlError("\n".join(problems))


def defaults_of(config) -> dict:
    """The sections invoke (and fabric) keep as mappings, from the config's class."""
    try:
        return type(config).global_defaults()
    except Exception:  # a Config-like object of another kind: only the u7s section is known
        return {}


def check_loaded(config) -> None:
    """Check the config files invoke loaded for `config` (inv, fab, a Python caller) once each; note origins."""
    if config is None or getattr(type(config), "u7s_checked", False):
        return  # u7s's own program checked each file as it loaded it
    defaults = defaults_of(config)
    origins: dict[str, str] = {}
    for level in LEVELS:
        try:
            found, path = getattr(config, f"_{level}_found"), getattr(config, f"_{level}_path")
        except AttributeError:
            return
        if found and path and not str(path).endswith(".py"):
            origins.update(_checked(str(path), defaults))
    section = config.get("u7s")
    if section is not None and not isinstance(section, dict):
        raise YamlError(f"config u7s: expected a mapping of settings, got {type(section).__name__} "
                        f"{shown(section)}")
    config._set(_u7s_origins=origins)


_CHECKED: dict[tuple, dict] = {}


def _checked(path: str, defaults: dict) -> dict:
    try:
        stamp = os.stat(path)
        key = (path, stamp.st_mtime_ns, stamp.st_size)
    except OSError:
        key = (path, None, None)
    if key not in _CHECKED:
        _CHECKED[key] = load(path, defaults)[1]
    return _CHECKED[key]


def origins(config) -> dict[str, str]:
    """Where each key of the `u7s` section came from, as far as known (else it is just `config`)."""
    try:
        return dict(getattr(config, "_u7s_origins", None) or {})
    except AttributeError:
        return {}
