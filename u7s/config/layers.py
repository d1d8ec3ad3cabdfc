"""Which value of a setting wins when several places give one: the one place that says so.

Lowest first (ORDER):

    defaults (u7s/config/settings.py; derived from the host's facts in resolve.py)
    < lease        the cluster's port lease, PORT_* only (cluster tasks; u7s/config/leases.py)
    < config       the `u7s:` section of invoke's config files, or a parent collection's ns.configure
    < inventory    hosts.yaml's top-level `settings` (cluster tasks)
    < host         a host's own `settings` in hosts.yaml (cluster tasks)
    < environment  this host's environment (single-host tasks on this host only: under fab -H and for
                   cluster tasks the controller's environment describes the controller, not the hosts)
    < flags        `--set KEY=VALUE`

A value given in a layer is used as given, even when a lower one gives it too; a value given nowhere is
derived (resolve.py). Each value keeps a label saying where it came from (`Settings.sources`): the lease's
origin (`lease`, `new lease`), `config` for config, inventory and host values (or the config file and line),
`environment`, `--set`. Values a cluster decides after reading its hosts enter above what they may be
derived from: a host's working directory with config, the NODE_SUBNET assigned across hosts with the
flags (u7s/config/settle.py); their labels then say where they came from when nobody gave them (the pool,
the running node's subnet; the default directory) (u7s/session.py, `decided_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from u7s.config.settings import SPECS, unknown
from u7s.errors import SettingsError

ORDER = ("lease", "config", "inventory", "host", "environment", "flags")
_LABELS = {"config": "config", "inventory": "config", "host": "config", "environment": "environment", "flags": "--set"}


@dataclass(frozen=True)
class Layers:
    """One host's layers of settings, each a mapping of setting name to the value given there."""

    lease: Mapping[str, Any] = field(default_factory=dict)
    lease_origin: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    config_sources: Mapping[str, str] = field(default_factory=dict)  # config key -> `FILE line N`
    inventory: Mapping[str, Any] = field(default_factory=dict)
    host: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)

    def _layer(self, name: str) -> Mapping[str, Any]:
        if name == "environment":  # the environment holds much else: only settings' names count
            return {key: value for key, value in self.env.items() if key in SPECS}
        return getattr(self, name) or {}

    def _label(self, name: str, key: str) -> str:
        if name == "lease":
            return self.lease_origin
        if name == "config":
            return self.config_sources.get(key) or "config"
        return _LABELS[name]

    def merged(self) -> Tuple[Dict[str, Any], Dict[str, str]]:
        """(the value that wins for each setting given anywhere, where it came from); unknown names refused."""
        for key in self.config:
            if key not in SPECS:
                where = self.config_sources.get(key)
                raise SettingsError(f"{where + ': ' if where else 'config '}u7s.{key}: unknown setting; "
                                    f"known: {', '.join(SPECS)}")
        for key in self.flags:
            if key not in SPECS:
                raise SettingsError(f"--set {key}: {unknown(key)}")
        raw: Dict[str, Any] = {}
        sources: Dict[str, str] = {}
        for name in ORDER:
            for key, value in self._layer(name).items():
                raw[key], sources[key] = value, self._label(name, key)
        return raw, sources

    def explicit(self) -> Dict[str, Any]:
        """The values the user gave (every layer but the lease), the winning one for each setting."""
        out: Dict[str, Any] = {}
        for name in ORDER[1:]:
            out.update(self._layer(name))
        return out

    def winner(self, key: str) -> Optional[str]:
        """The layer whose value of `key` wins (None: given nowhere, derived)."""
        return next((name for name in reversed(ORDER) if key in self._layer(name)), None)
