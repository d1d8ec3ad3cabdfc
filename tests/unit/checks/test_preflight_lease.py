"""cluster.check-preflight names a leased port someone else took in the lease's own line (u7s/config/leases.py)."""

from __future__ import annotations

from types import SimpleNamespace

from u7s.checks import preflight
from u7s.checks.verdict import ERROR, OK, Check

LINE = ("leased port PORT_ETCD=2379 is in use by another program: stop it, or set PORT_ETCD to a free port for this "
        "cluster (explicit PORT_* win over the lease; `cluster.down-v` releases the lease with the cluster's data)")


def test_the_ports_row_is_the_lease_line_when_a_leased_port_is_taken():
    rows = [Check("engine", OK, "docker"), Check("ports", ERROR, "already in use: PORT_ETCD=2379/tcp", "choose other")]
    out = preflight.with_lease(rows, LINE)
    assert out == [Check("engine", OK, "docker"), Check("ports", ERROR, LINE)]
    assert preflight.with_lease(rows, None) == rows


def test_on_hosts_reports_the_lease_line(monkeypatch):
    class Fixed:
        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            return [Check("ports", ERROR, "already in use: PORT_ETCD=2379/tcp", "stop what holds them")]

    monkeypatch.setattr(preflight, "Preflight", Fixed)

    class Report:
        def error(self, *a):
            pass

        done = error

    member = SimpleNamespace(name="h1", host=None, settings=None, answers={}, failed=None, report=Report(),
                             spec=SimpleNamespace(is_control_plane=True), lease_problem=LINE)
    run = SimpleNamespace(healthy=[member], failures={})
    assert preflight.on_hosts(run) == [("h1", Check("ports", ERROR, LINE))]
