"""Certificates: kubeadm's expiry tables parsed, the 30-day warning, and renewal's order of commands."""

from __future__ import annotations

import datetime
import json

import pytest

from u7s.errors import U7sError
from u7s.node import certs
from u7s.node.container import Node
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, fixture, make_settings

UTC = datetime.timezone.utc
REAL = fixture("kubeadm-certs-check-expiration.txt")  # kubeadm's own output (tests/unit/fixtures/README.md)


def test_both_of_kubeadms_tables_are_read_row_by_row():
    found = certs.parse_expiration(REAL)
    leaves, cas = [c for c in found if not c.is_ca], [c for c in found if c.is_ca]
    assert [c.name for c in leaves][:3] == ["admin.conf", "apiserver", "apiserver-etcd-client"]
    assert len(leaves) == 11 and [c.name for c in cas] == ["ca", "etcd-ca", "front-proxy-ca"]
    apiserver = leaves[1]
    assert apiserver.expires == datetime.datetime(2026, 8, 19, 9, 3, tzinfo=UTC)
    assert (apiserver.residual, apiserver.authority, apiserver.external) == ("360d", "ca", False)
    assert {c.authority for c in leaves} == {"ca", "etcd-ca", "front-proxy-ca"}
    assert cas[0].expires == datetime.datetime(2035, 8, 17, 9, 3, tzinfo=UTC) and cas[0].residual == "9y"


def test_missing_certificates_and_externally_managed_ones_are_told_apart():
    text = REAL.replace("front-proxy-client         Aug 19, 2026 09:03 UTC   360d            front-proxy-ca          "
                        "no      ", "!MISSING! front-proxy-client                                                       "
                        "                ")
    text = text.replace("etcd-ca                 Aug 17, 2035 09:03 UTC   9y              no      ",
                        "etcd-ca                 Aug 17, 2035 09:03 UTC   9y              yes     ")
    found = {c.name: c for c in certs.parse_expiration(text)}
    assert found["front-proxy-client"].missing and found["front-proxy-client"].expires is None
    assert found["etcd-ca"].external and found["etcd-ca"].is_ca


@pytest.mark.parametrize("text, fragment", [
    ("error: something else\n", "no certificate table"),
    ("CERTIFICATE   EXPIRES   RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n"
     "apiserver   next year   360d   ca   no\n", "not kubeadm's expiry date"),
    ("CERTIFICATE   EXPIRES   RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n"
     "apiserver   Aug 19, 2026 09:03 UTC\n", "unexpected row"),
])
def test_other_output_is_refused(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        certs.parse_expiration(text)


def test_the_warning_comes_30_days_ahead_and_names_the_soonest_first():
    found = certs.parse_expiration(REAL)
    expiry = datetime.datetime(2026, 8, 19, 9, 3, tzinfo=UTC)
    assert certs.warning(found, expiry - datetime.timedelta(days=31), "h1", "u7s certs") is None
    said = certs.warning(found, expiry - datetime.timedelta(days=29, hours=1), "h1", "u7s certs")
    assert said.startswith("h1: certificates expire within 30 days: admin.conf in 29d, apiserver in 29d, ")
    assert said.endswith("and 7 more; renew with `u7s certs --renew`")
    late = certs.warning(found, expiry + datetime.timedelta(days=1), "h1", "u7s cluster.certs")
    assert "admin.conf expired" in late and "`u7s cluster.certs --renew`" in late


def test_a_ca_alone_near_its_end_is_not_renewed_by_renew():
    found = certs.parse_expiration(REAL)
    ca_end = datetime.datetime(2035, 8, 17, 9, 3, tzinfo=UTC)
    renewed = [c for c in found if c.is_ca]  # leaves renewed since: only the CAs are near their end
    said = certs.warning(renewed, ca_end - datetime.timedelta(days=3), "h1", "u7s certs")
    assert "ca in 3d" in said and "renewed only by hand" in said


def _node(answers):
    host = FakeHost()
    host.on("docker", "inspect", stdout='{"Running": true, "StartedAt": "x"}')
    host.on("docker", "exec", stdout="")
    host.on("docker", "exec", contains="systemctl", stdout="running\n")
    host.on("docker", "exec", contains="/readyz", stdout="ok")
    host.on("docker", "restart", stdout="u7s-node\n")
    for word, out in answers.items():
        host.on("docker", "exec", contains=word, stdout=out)
    return Node(host, make_settings(), Reporter("h1"))


def _commands(node):
    return [a[a.index("u7s-node") + 1:] if "exec" in a else a[:2] for a in node.host.calls
            if a[:2] in (["docker", "exec"], ["docker", "restart"])]


def test_renew_runs_kubeadm_then_restarts_the_node_then_waits_for_the_api():
    node = _node({"check-expiration": REAL, "renew": "certificate for serving the Kubernetes API renewed\n"})
    assert "node restarted, API answering" in certs.renew(node)
    steps = [c for c in _commands(node) if c[:1] in (["kubeadm"], ["docker"]) or "/readyz" in c]
    assert [s[:3] for s in steps] == [["kubeadm", "certs", "check-expiration"], ["kubeadm", "certs", "renew"],
                                      ["docker", "restart"], ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]]
    assert node.host.calls[[a[:2] for a in node.host.calls].index(["docker", "restart"])] == \
        ["docker", "restart", "u7s-node"]


def test_a_node_without_the_control_plane_is_refused_before_anything_changes():
    node = _node({})
    node.host.on("docker", "exec", contains="test", exited=1)  # no admin.conf
    with pytest.raises(U7sError, match="not initialised here"):
        certs.renew(node)
    assert not any("renew" in a or "restart" in a for a in node.host.calls)


def test_json_rows_carry_days_left():
    found = certs.parse_expiration(REAL)
    row = found[1].as_json(datetime.datetime(2026, 8, 9, 9, 3, tzinfo=UTC))
    assert json.loads(json.dumps(row))["days_left"] == 10.0 and row["expires"] == "2026-08-19T09:03:00+00:00"


def test_status_warns_from_kubeadms_table_and_stays_quiet_when_it_cannot_read_one(monkeypatch):
    from u7s.run.hosts import Result
    from u7s.checks import status

    monkeypatch.setattr(certs, "now_utc", lambda: datetime.datetime(2026, 8, 1, tzinfo=UTC))
    said = status.cert_warning(Result(0, REAL, ""), "cp")
    assert said.startswith("cp: certificates expire within 30 days: admin.conf in 18d")
    assert "`u7s cluster.certs --renew`" in said
    monkeypatch.setattr(certs, "now_utc", lambda: datetime.datetime(2026, 7, 1, tzinfo=UTC))
    assert status.cert_warning(Result(0, REAL, ""), "cp") is None
    assert status.cert_warning(Result(1, "", "Error: no such container"), "cp") is None
    assert status.cert_warning(None, "cp") is None
