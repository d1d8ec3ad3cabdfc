"""The port lease in a cluster's steps: refused where a leased port is taken, recorded at `up`, released at `down-v`.

The lease is recorded when a node is made with it (not when it is chosen: --dry-run,
status and down-v of a cluster that is gone record nothing): on each host in the
cluster's working directory, and on the controller when the control plane comes up.
"""

from __future__ import annotations

from typing import Callable

from u7s.config import leases, leasestore
from u7s.errors import U7sError
from u7s.config import leaserecord as lease
from u7s.node import identity


def leased(s) -> dict:
    """The PORT_* these settings took from the lease (explicit ones are not the lease's)."""
    return {key: port for key, port in s.ports.items() if s.sources.get(key) in (leases.LEASE, leases.NEW)}


def check(m) -> None:
    """Stop with the lease's one line when a leased port of this host is held by someone else."""
    if m.lease_problem:
        raise U7sError(m.lease_problem)


def record(run, m) -> None:
    """Write the lease where the next run finds it: the host's working directory (0600), the controller's state."""
    ports = leased(m.settings)  # none on one host on its own: leases are an inventory's (u7s/node/leasehook.py)
    if not ports or len(ports) < len(m.settings.ports):
        return  # part of the set given explicitly: the record made with the whole set stays as it was
    cluster = identity.owner(m.settings)
    if m.lease_on_host != ports:  # read in this run's first batch: writing the same record again is a round trip
        m.host.write_file(lease.host_path(m.settings.workdir), lease.record(cluster, ports), mode=0o600)
    if m.spec.is_control_plane:
        leasestore.write(cluster, ports)


def release(run, m) -> None:
    """Remove the host's record, and with the control plane's the controller's: the set is free again."""
    if leases.LEASE in m.settings.sources.values():  # a record was found: no file session to remove nothing
        m.host.remove(lease.host_path(m.settings.workdir))
    if not run.alone and m.spec.is_control_plane:  # the controller keeps records of inventories' clusters only
        leasestore.release(identity.owner(m.settings))


def checked(action: Callable[..., str], then_record: bool = False) -> Callable[..., str]:
    """A step action that first refuses a taken leased port (and with then_record, records the lease once the
    action made the node: a run that could not start it, e.g. on a port another run took, records nothing)."""

    def step(run, m, **params) -> str:
        check(m)
        said = action(run, m, **params)
        if then_record:
            record(run, m)
        return said

    return step


def releasing(action: Callable[..., str]) -> Callable[..., str]:
    """A step action (down-v) after which the lease is released."""

    def step(run, m, **params) -> str:
        said = action(run, m, **params)
        release(run, m)
        return said

    return step
