"""An inventory from a batch job's allocation (Slurm or Flux) instead of a list of hosts.

`--allocation slurm` (or `allocation: slurm` in hosts.yaml) makes the job's nodes the
cluster: the first one (or `slurm:NODE`) is the control plane, the node u7s runs on is
used without SSH, the others are reached over SSH by their names (~/.ssh/config and the
file's `ssh:` apply). Everything that names the cluster on a host derives from the job
id, so two jobs sharing nodes never meet: the cluster is `job-JOBID` (its compose project
`u7s-job-JOBID`), its node subnets come from a /16 picked by the job id, and its
kubeconfig goes to the job's submit directory as `u7s-JOBID.kubeconfig`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import Any, Mapping

from u7s.errors import InventoryError, last_line

SCHEDULERS = ("slurm", "flux", "auto")
FILE_KEYS = {"allocation", "cluster", "settings", "ssh"}
_JOB_ID = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class Allocation:
    scheduler: str
    job_id: str
    nodes: list[str]
    here: set[str]  # the names this node goes by
    output_dir: str  # on the shared file system: where the job was submitted from

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.output_dir, f"u7s-{self.job_id}.kubeconfig")


def choice(value: Any, where: str) -> tuple[str, str | None]:
    """`slurm`, `flux`, `auto`, or one of them with `:NODE` naming the control plane."""
    text = value if isinstance(value, str) else ""
    scheduler, _, node = text.partition(":")
    if scheduler not in SCHEDULERS or (_ and not node):
        raise InventoryError([f"{where}: expected one of {', '.join(SCHEDULERS)} (optionally :NODE for the "
                              f"control plane, e.g. slurm:node01), got {value!r}"])
    return scheduler, node or None


def read(scheduler: str, env: Mapping[str, str] | None = None, runner=subprocess.run) -> Allocation:
    """The job this process runs in, as its scheduler describes it; InventoryError outside a job."""
    env = os.environ if env is None else env
    if scheduler == "auto":
        scheduler = "slurm" if _first(env, "SLURM_JOB_ID", "SLURM_JOBID") else \
            "flux" if env.get("FLUX_JOB_ID") else ""
        if not scheduler:
            raise InventoryError(["--allocation auto: neither SLURM_JOB_ID nor FLUX_JOB_ID is set; run u7s inside "
                                  "a batch job (sbatch, salloc, flux batch/alloc) or give an inventory of hosts"])
    return _slurm(env, runner) if scheduler == "slurm" else _flux(env, runner)


def _first(env: Mapping[str, str], *names: str) -> str:
    return next((env[n] for n in names if env.get(n)), "")


def _here(env: Mapping[str, str], *names: str) -> set[str]:
    full = socket.gethostname()
    return {n for n in (full, full.split(".")[0], *(env.get(name, "") for name in names)) if n}


def _slurm(env: Mapping[str, str], runner) -> Allocation:
    from u7s.config.hostlist import HostlistError, expand

    job_id = _first(env, "SLURM_JOB_ID", "SLURM_JOBID")
    nodelist = _first(env, "SLURM_JOB_NODELIST", "SLURM_NODELIST")
    if not job_id or not nodelist:
        missing = "SLURM_JOB_ID" if not job_id else "SLURM_JOB_NODELIST"
        raise InventoryError([f"--allocation slurm: {missing} is not set; run u7s inside a Slurm job "
                              f"(sbatch, salloc) or give an inventory of hosts"])
    if not _JOB_ID.match(job_id):
        raise InventoryError([f"SLURM_JOB_ID: expected a job number, got {job_id!r}"])
    try:
        nodes = expand(nodelist, "SLURM_JOB_NODELIST", runner)
    except HostlistError as exc:
        raise InventoryError([f"{exc}; Slurm sets it in the job: run u7s there, or fix or unset it"]) from None
    return Allocation("slurm", job_id, _unique(nodes), _here(env, "SLURMD_NODENAME"),
                      env.get("SLURM_SUBMIT_DIR") or os.getcwd())


def _flux(env: Mapping[str, str], runner) -> Allocation:
    job = env.get("FLUX_JOB_ID", "")
    flux = shutil.which("flux")
    if not job or not flux:
        why = "FLUX_JOB_ID is not set" if not job else "the flux command is not on PATH"
        raise InventoryError([f"--allocation flux: {why}; run u7s inside a Flux job (flux batch, flux alloc) "
                              f"or give an inventory of hosts"])
    # Flux prints job ids in several encodings (f58 `ƒ...` by default): the decimal one names things.
    job_id = _flux_out(runner, [flux, "job", "id", "--to=dec", job]).strip()
    nodes = _flux_out(runner, [flux, "hostlist", "--expand", "local"]).split()
    if not _JOB_ID.match(job_id) or not nodes:
        raise InventoryError([f"--allocation flux: job {job!r} gave id {job_id!r} and hosts {nodes!r}; "
                              f"check `flux hostlist local` in the job"])
    return Allocation("flux", job_id, _unique(nodes), _here(env), os.getcwd())


def _flux_out(runner, argv: list[str]) -> str:
    try:
        done = runner(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError([f"--allocation flux: `{' '.join(argv[1:])}` failed: {exc}"]) from None
    if done.returncode != 0:
        tail = last_line(done.stderr, f"exit status {done.returncode}")
        raise InventoryError([f"--allocation flux: `{' '.join(argv[1:])}`: {tail}"])
    return done.stdout


def _unique(nodes: list[str]) -> list[str]:
    return list(dict.fromkeys(nodes))


def node_subnet_pool(job_id: str) -> str:
    """A /16 for the job's node subnets, 10.100.0.0/16 to 10.199.0.0/16 by job id (clear of the default
    pod and service ranges); a subnet already used on a host is passed over as for any cluster."""
    return f"10.{100 + int(job_id) % 100}.0.0/16"


def inventory_data(alloc: Allocation, control_plane: str | None, base: Mapping[str, Any], where: str) -> dict:
    """The hosts.yaml mapping of the allocation: `base` (the file's cluster, settings, ssh) plus its hosts."""
    if control_plane and control_plane not in alloc.nodes:
        raise InventoryError([f"{where}: control plane {control_plane!r} is not a node of {alloc.scheduler} job "
                              f"{alloc.job_id} ({', '.join(alloc.nodes)})"])
    first = control_plane or alloc.nodes[0]
    cluster = base.get("cluster") or {}
    if isinstance(cluster, dict):  # anything else is reported by the inventory's own checks
        cluster = dict(cluster)
        prefix = cluster.get("name", "job")
        cluster["name"] = f"{prefix}-{alloc.job_id}" if isinstance(prefix, str) else prefix
        cluster.setdefault("node_subnet_pool", node_subnet_pool(alloc.job_id))
    hosts = []
    for node in [first] + [n for n in alloc.nodes if n != first]:
        host: dict[str, Any] = {"name": node, "role": "control-plane" if node == first else "worker"}
        host.update({"local": True} if node in alloc.here else {"address": node})
        hosts.append(host)
    return {**{k: v for k, v in base.items() if k != "allocation"}, "cluster": cluster, "hosts": hosts}


def load(value: Any, base: Mapping[str, Any], where: str | None = None, env=None, runner=subprocess.run,
         overrides: tuple = ()):
    """The Inventory of the allocation `value` names (`slurm`, `flux:node3`, ...), with `base` from the file
    `where` (its cluster, settings and ssh), or none (--allocation without an inventory); its settings checked
    with `overrides` (the u7s: config's and --set's, inventory.parse)."""
    import dataclasses

    from u7s.config.inventory import parse

    unknown = sorted(str(k) for k in base if k not in FILE_KEYS)
    if unknown:
        why = "the hosts come from the allocation" if "hosts" in unknown else f"expected {', '.join(sorted(FILE_KEYS))}"
        raise InventoryError([f"{where}: {unknown[0]}: not with `allocation` ({why}); remove it"])
    label = f"{where}: allocation" if where else "--allocation"
    scheduler, control_plane = choice(value, label)
    alloc = read(scheduler, env, runner)
    path = where or f"{alloc.scheduler} job {alloc.job_id}"
    inv = parse(inventory_data(alloc, control_plane, base, label), path, *overrides)
    return dataclasses.replace(inv, kubeconfig=alloc.kubeconfig)


def inventory(path: str, given: str | None, config: dict | None = None, flags: dict | None = None) -> Any:
    """What a cluster task works on: the inventory file at `path` (which may say `allocation:`), or with
    `given` (--allocation), that allocation, with the file's settings and ssh if `path` was given. Its settings
    are checked with the u7s: config's (`config`) and --set's (`flags`) on top (inventory.parse)."""
    from u7s.config import inventory as files

    if given:
        return load(given, files.read_mapping(path) if path else {}, path, overrides=(config, flags))
    data = files.read_mapping(path)
    if isinstance(data, dict) and "allocation" in data:  # the file says the hosts are a batch job's nodes
        return load(data["allocation"], data, path, overrides=(config, flags))
    return files.parse(data, path, config, flags)
