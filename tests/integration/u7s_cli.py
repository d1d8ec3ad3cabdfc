"""Helpers for the integration tests: lab inventories and the u7s program run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def inventory(lab, tmp_path, name="hosts.yaml", known_hosts=None, pool=None, **settings):
    hosts = []
    for i, h in enumerate(lab.hosts):
        hosts.append({
            "name": h.name,
            "address": h.address,
            "role": "control-plane" if i == 0 else "worker",
            "ssh": {"user": h.ssh_user, "port": h.ssh_port, "identity_file": h.key},
        })
    data = {
        "cluster": {"name": "lab", **({"node_subnet_pool": pool} if pool else {})},
        "settings": {"NODE_IMAGE": lab.node_image, **settings},
        "ssh": {"known_hosts": known_hosts or lab.hosts[0].known_hosts, "connect_timeout": 5},
        "hosts": hosts,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def u7s(*args, cwd=None, check=True, timeout=900):
    """The u7s program from this checkout, as a user on the controller would run it."""
    env = {**os.environ, "HOME": str(cwd or REPO), "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "u7s", *args], capture_output=True, text=True,
                       cwd=cwd, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"u7s {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r
