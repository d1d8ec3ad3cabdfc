"""Helpers for the integration tests: lab inventories and the u7s program run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


# What the lab inventory's cluster (`cluster: {name: lab}`) is called on each host: the compose project
# u7s-CLUSTER names the node container, its volumes, the network and the working directory
# (WORKDIR/HOST, relative to the user's home). Single-host tasks keep the names u7s-node and SINGLE_WORKDIR.
CLUSTER = "lab"
PROJECT = NETWORK = f"u7s-{CLUSTER}"
NODE = f"{PROJECT}-node"
VOLUMES = {f"{PROJECT}-var", f"{PROJECT}-opt", f"{PROJECT}-etc"}
WORKDIR = f".local/share/u7s/{PROJECT}"
SINGLE_NODE = "u7s-node"
SINGLE_WORKDIR = ".local/share/u7s/u7s"


def inventory(lab, tmp_path, name="hosts.yaml", known_hosts=None, pool=None, cluster=CLUSTER, **settings):
    hosts = []
    for i, h in enumerate(lab.hosts):
        hosts.append({
            "name": h.name,
            "address": h.address,
            "role": "control-plane" if i == 0 else "worker",
            "ssh": {"user": h.ssh_user, "port": h.ssh_port, "identity_file": h.key},
        })
    data = {
        "cluster": {"name": cluster, **({"node_subnet_pool": pool} if pool else {})},
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


def counted(*args, cwd=None):
    """u7s as `u7s()` runs it, with each host's remote operations counted (tests/lab/roundtrips.py).

    Returns the run and {host: {"operations": N, "each": [...]}}.
    """
    import json
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "HOME": str(cwd or REPO), "PYTHONPATH": str(REPO)}
        r = subprocess.run([sys.executable, "-m", "tests.lab.roundtrips", out.name, *args], capture_output=True,
                           text=True, cwd=cwd, env=env, timeout=900)
        assert r.returncode == 0, f"u7s {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r, json.loads(open(out.name).read())


def within(counts, budgets, what):
    """Each host's operations within its budget; the message lists what a host over it did."""
    over = {h: c for h, c in counts.items() if c["operations"] > budgets(h)}
    assert not over, "\n".join(
        [f"{what}: more remote operations than the budget (each is a round trip or more on a slow link):"] +
        [f"{h}: {c['operations']} > {budgets(h)}:\n  " + "\n  ".join(c["each"]) for h, c in over.items()])


def status_rows(path, *extra, **kwargs) -> list[dict]:
    """`cluster.status --json` rows where reaching the hosts is what counts: with no node up it exits 1
    (`not every node is up and Ready`), which is not an error here; any other failure is."""
    import json

    r = u7s("cluster.status", "--json", *extra, "--inventory", str(path), check=False, **kwargs)
    assert r.returncode == 0 or (r.returncode == 1 and "u7s: not every node is up and Ready: " in r.stderr), \
        f"cluster.status exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


# Where tests put stand-in switches: a cluster host's working directory, and a single host's.
SWITCH_DIRS = (WORKDIR + "/{name}/.u7s-standin", SINGLE_WORKDIR + "/.u7s-standin")


def wipe_hosts(lab, hosts=None) -> None:
    """Empty each lab host's engine (default: every host's), all at once: no container, volume or network.

    Straight through each engine's socket, as root: quicker than a u7s run, and it also clears
    what a failed test left half made. (`cluster.down-v` itself is tested in test_cluster.py.)
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(h) -> None:
        containers = h.docker(["ps", "-aq"], check=False).stdout.split()
        if containers:
            h.docker(["rm", "-f", "-v", *containers], check=False)
        volumes = h.docker(["volume", "ls", "-q"], check=False).stdout.split()
        if volumes:
            h.docker(["volume", "rm", "-f", *volumes], check=False)
        h.docker(["network", "prune", "-f"], check=False)
        h.ssh(["rm", "-rf", *(d.format(name=h.name) for d in SWITCH_DIRS)], check=False)

    hosts = list(hosts or lab.hosts)
    with ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(one, hosts))


def set_switch(host, name, value="", workdir=None):
    """Turn a stand-in switch on from the host side: the node reads /usernetes/.u7s-standin/NAME."""
    workdir = workdir or f"{WORKDIR}/{host.name}"
    host.ssh(["sh", "-c", 'mkdir -p "$1/.u7s-standin" && printf "%s\\n" "$2" >"$1/.u7s-standin/$3"',
              "sh", workdir, value, name])


def clear_switch(host, name, workdir=None):
    workdir = workdir or f"{WORKDIR}/{host.name}"
    host.ssh(["rm", "-f", f"{workdir}/.u7s-standin/{name}"])
