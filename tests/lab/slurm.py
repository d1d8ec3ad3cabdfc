"""A real Slurm over the lab's hosts, for the tests of clusters made from a job's allocation.

Debian's daemons, run as root for one test: `munged` (a key of its own, its socket in a
temporary directory), `slurmctld` on the machine, listening on the lab bridge's address,
and one `slurmd -N hK` in each lab host's network namespace (so Slurm reaches the node by
its address, as on a real cluster). Processes are tracked by `proctrack/linuxproc` and
`task/none`, yet slurmd still starts its cgroup plugin, which wants the machine's cgroup
tree at /sys/fs/cgroup: `ip netns exec` mounts a sysfs of the namespace's own there, so
the machine's tree is bound over it (through a bind made beforehand on the machine, as a
mount from another mount namespace cannot be bound). A job submitted as a lab user runs on the hosts'
slurmds, and its environment (SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURMD_NODENAME, ...) is
the one Slurm sets. Every daemon is ended by its pid afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .host import LabHost

CTLD_PORT, SLURMD_PORT = 16817, 16818  # not Slurm's 6817/6818: a machine's own Slurm keeps its ports
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol")


def missing() -> list[str]:
    """The Slurm programs this machine lacks (tests/setup-machine.sh installs them)."""
    found = {name: shutil.which(name) or (os.path.exists(f"/usr/sbin/{name}") and f"/usr/sbin/{name}")
             for name in DAEMONS}
    return [name for name, path in found.items() if not path]


def _conf(root: Path, bridge: str, hosts: list[LabHost]) -> str:
    names = ",".join(h.name for h in hosts)
    nodes = "".join(f"NodeName={h.name} NodeAddr={h.address} CPUs=1 State=UNKNOWN\n" for h in hosts)
    return (
        f"ClusterName=u7slab\nSlurmctldHost={socket.gethostname()}({bridge})\n"
        f"SlurmctldPort={CTLD_PORT}\nSlurmdPort={SLURMD_PORT}\nSlurmUser=root\nSlurmdUser=root\n"
        f"AuthType=auth/munge\nAuthInfo=socket={root}/munge/socket\nCredType=cred/munge\n"
        f"StateSaveLocation={root}/state\nSlurmdSpoolDir={root}/spool/%n\n"
        f"SlurmctldPidFile={root}/slurmctld.pid\nSlurmdPidFile={root}/slurmd-%n.pid\n"
        f"SlurmctldLogFile={root}/slurmctld.log\nSlurmdLogFile={root}/slurmd-%n.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n"
        "MpiDefault=none\nReturnToService=2\nSelectType=select/cons_tres\n"
        f"{nodes}PartitionName=lab Nodes={names} Default=YES MaxTime=INFINITE State=UP\n"
    )


class Slurm:
    """`with Slurm(lab.hosts, lab.bridge_address) as slurm: env = slurm.job_env(user_host)`."""

    def __init__(self, hosts: list[LabHost], bridge: str):
        self.hosts, self.bridge = hosts, bridge
        self.root = Path(tempfile.mkdtemp(prefix="u7slab-slurm-"))
        self.conf = self.root / "slurm.conf"
        self.procs: list[subprocess.Popen] = []
        self.cgroup: Path | None = None  # the machine's /sys/fs/cgroup, bound here while slurmds run

    @property
    def env(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def __enter__(self) -> Slurm:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                           stdin=subprocess.DEVNULL))
        log.close()

    def _start(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o711)  # munged wants the socket's directory searchable by all
        (munge / "key").write_bytes(os.urandom(1024))
        os.chmod(munge / "key", 0o600)
        for sub in ("state", "spool"):
            (self.root / sub).mkdir()
        os.chmod(self.root, 0o755)  # the job's users read slurm.conf
        self.conf.write_text(_conf(self.root, self.bridge, self.hosts))
        self._spawn(["munged", "-F", "-f", f"--key-file={munge}/key", f"--socket={munge}/socket",
                     f"--pid-file={munge}/pid", f"--log-file={munge}/log", f"--seed-file={munge}/seed"], "munged")
        self._wait(lambda: (munge / "socket").exists(), "munged's socket")
        self._spawn(["slurmctld", "-D", "-i", "-f", str(self.conf)], "slurmctld")
        self.cgroup = Path(tempfile.mkdtemp(prefix="u7slab-slurm-cgroup-"))
        subprocess.run(["mount", "--rbind", "/sys/fs/cgroup", str(self.cgroup)], check=True, timeout=30)
        subprocess.run(["mount", "--make-rslave", str(self.cgroup)], check=True, timeout=30)
        for h in self.hosts:
            inner = 'mount --rbind "$1" /sys/fs/cgroup && exec slurmd -D -N "$2" -f "$3"'
            self._spawn(["ip", "netns", "exec", h.netns, "sh", "-c", inner, "sh", str(self.cgroup), h.name,
                         str(self.conf)], f"slurmd-{h.name}")
        self._wait(self._all_idle, "every slurmd idle in sinfo")

    def _all_idle(self) -> bool:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, env=self.env,
                           timeout=10)
        states = dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)
        return all(states.get(h.name) == "idle" for h in self.hosts)

    def _wait(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"{f.name}: {f.read_text()[-400:]}" for f in sorted(self.root.glob("*.out")))
                raise RuntimeError(f"Slurm in the lab: no {what} ({'ended: ' + ', '.join(dead) if dead else ''})"
                                   f"\n{logs}")
            time.sleep(0.2)

    def job_env(self, host: LabHost, nodes: int) -> dict[str, str]:
        """Submit a batch job of `nodes` nodes as `host`'s user; the Slurm variables its script saw.

        Submitted from a directory of its own (the job's SLURM_SUBMIT_DIR), which the user owns.
        """
        submit = self.root / f"submit-{host.ssh_user}"
        submit.mkdir(mode=0o755, exist_ok=True)
        os.chown(submit, host.uid, host.uid)
        out = submit / "slurm-env.out"
        r = subprocess.run(["runuser", "-u", host.ssh_user, "--", "sbatch", "--wait", "--quiet", "-N", str(nodes),
                            f"--output={out}", "--wrap", "env"], env=self.env, cwd=submit,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"sbatch exited {r.returncode}: {r.stderr.strip()[-400:]}")
        lines = out.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line.startswith("SLURM") and "=" in line)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.procs.clear()
        if self.cgroup is not None:
            # Only an empty directory is removed: never anything under a cgroup tree still bound there.
            if subprocess.run(["umount", "-R", str(self.cgroup)], timeout=30).returncode == 0:
                self.cgroup.rmdir()
            self.cgroup = None
        shutil.rmtree(self.root, ignore_errors=True)
