"""The port lease hooked into a cluster's settings: precedence, reuse, record, release, a taken port."""

import io
import json

import pytest

from u7s.config import leases, leasestore
from u7s.config.inventory import parse
from u7s.config.settings import PORT_DEFAULTS
from u7s.errors import U7sError
from u7s.config import leaserecord as lease
from u7s.run.hosts import Result
from u7s.session import Member, Run, resolve_all
from u7s.steps import leasesteps
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost

ABSENT = Result(1, "", "Error: No such object: u7s-alpha-node\n")
PLUS = {n: {k: p + 100 * n for k, p in PORT_DEFAULTS.items()} for n in range(4)}  # the candidate sets
CONFIG = {"CONTAINER_ENGINE": "docker", "COMPOSE": "docker compose"}


def workdir(host, cluster="alpha"):
    return f"/home/user/.local/share/u7s/u7s-{cluster}/{host}"


def proc_tcp(*ports):
    return "  sl  local_address rem_address   st\n" + "".join(
        f"   {i}: 00000000:{p:04X} 00000000:0000 0A 0\n" for i, p in enumerate(ports))


def compose(ports):
    order = lease.COMPOSE_ORDER
    return json.dumps({"services": {"node": {"ports": [
        f"{ports[k]}:{ports[k]}/{'udp' if k == 'PORT_FLANNEL' else 'tcp'}" for k in order]}}})


def open_cluster(cluster="alpha", listening=None, files=None, running=(), flags=None, config=None, hosts=2):
    """resolve_all on fake hosts h1 (control plane), h2...; listening: host -> TCP ports in use there."""
    names = [f"h{i + 1}" for i in range(hosts)]
    inv = parse({"cluster": {"name": cluster}, "hosts": [
        {"name": n, "address": f"192.0.2.{i + 1}", **({"role": "control-plane"} if i == 0 else {})}
        for i, n in enumerate(names)]}, "hosts.yaml")
    members = []
    for i, spec in enumerate(inv.hosts):
        host = FakeHost({"/proc/net/tcp": proc_tcp(*(listening or {}).get(spec.name, ())),
                         **(files or {}).get(spec.name, {})})
        host.name = spec.name
        host.on("hostname", stdout=f"{spec.name}\n")
        host.on("ip", stdout=json.dumps([{"prefsrc": f"192.0.2.{i + 1}"}]))
        host.on("sh", contains="HOME", stdout="/home/user")
        host.on("docker", "network", stdout="")
        up = Result(0, json.dumps({"labels": {"io.u7s.cluster": cluster}, "mounts": [
            {"Source": workdir(spec.name, cluster), "Destination": "/usernetes"}], "running": True}), "")
        host.on("docker", "inspect", result=up if spec.name in running else ABSENT)
        members.append(Member(spec, Reporter(stream=io.StringIO()), host=host))
    result = resolve_all(members, inv, dict(flags or {}), {**CONFIG, **(config or {})})
    assert not result.failed, result.failed
    return Run(inv, members, Reporter(stream=io.StringIO())), {m.name: m for m in members}


def ports(m):
    return {k: (m.settings.ports[k], m.settings.sources.get(k, "default")) for k in PORT_DEFAULTS}


def test_no_ports_given_takes_the_first_set_free_on_every_host():
    _, m = open_cluster(listening={"h2": [6443]})  # someone else's API server on h2
    assert ports(m["h1"]) == ports(m["h2"]) == {k: (p, "new lease") for k, p in PLUS[1].items()}
    assert m["h1"].lease_problem is None


def test_a_second_cluster_passes_over_the_first_ones_recorded_set_even_while_it_is_stopped():
    leasestore.write("alpha", PLUS[0])
    _, m = open_cluster("beta")
    assert {k: p for k, (p, _) in ports(m["h2"]).items()} == PLUS[1]


def test_explicit_ports_win_over_the_lease_which_keeps_the_others():
    leasestore.write("alpha", PLUS[2])
    _, m = open_cluster(flags={"PORT_ETCD": "12379"}, config={"PORT_KUBELET": 10999})
    got = ports(m["h1"])
    assert got["PORT_ETCD"] == (12379, "--set") and got["PORT_KUBELET"] == (10999, "config")
    assert got["PORT_KUBE_APISERVER"] == (PLUS[2]["PORT_KUBE_APISERVER"], "lease")


def test_ports_given_and_no_lease_recorded_is_as_before_leases():
    _, m = open_cluster(flags={"PORT_ETCD": "12379"})
    assert ports(m["h1"])["PORT_KUBELET"] == (10250, "default")


def test_a_recorded_lease_is_reused_even_when_the_defaults_are_free_and_its_own_node_holds_it():
    files = {h: {workdir(h): "", workdir(h) + "/docker-compose.yaml": compose(PLUS[2])} for h in ("h1", "h2")}
    files["h2"][lease.host_path(workdir("h2"))] = lease.record("alpha", PLUS[2])  # no controller record
    _, m = open_cluster(files=files, running={"h1", "h2"}, listening={"h1": [6643, 2579], "h2": [6643]})
    assert ports(m["h1"]) == {k: (p, "lease") for k, p in PLUS[2].items()}
    assert m["h1"].lease_problem is m["h2"].lease_problem is None


def test_a_cluster_made_before_leases_keeps_the_ports_its_nodes_have():
    files = {"h1": {workdir("h1") + "/docker-compose.yaml": compose(PLUS[3])}}
    _, m = open_cluster(files=files, running={"h1"}, listening={"h1": list(PLUS[3].values())[:3]})
    assert ports(m["h2"])["PORT_ETCD"] == (PLUS[3]["PORT_ETCD"], "new lease")


def test_a_leased_port_someone_else_took_is_one_line_naming_host_port_and_fix_where_a_node_starts():
    leasestore.write("alpha", PLUS[1])
    run, m = open_cluster(listening={"h2": [PLUS[1]["PORT_ETCD"]]})  # alpha's nodes are down
    assert m["h1"].lease_problem is None
    line = m["h2"].lease_problem
    assert line.startswith("leased port PORT_ETCD=2479 is in use by another program") and "set PORT_ETCD" in line
    called = []
    step = leasesteps.checked(lambda run, m: called.append(m.name) or "up")
    assert step(run, m["h1"]) == "up"
    with pytest.raises(U7sError, match="PORT_ETCD=2479"):
        step(run, m["h2"])
    assert called == ["h1"]


def test_up_records_the_lease_on_each_host_0600_and_on_the_controller_and_down_v_releases_it():
    run, m = open_cluster()
    up = leasesteps.checked(lambda run, m: "up", then_record=True)
    for name in ("h1", "h2"):
        up(run, m[name])
        text, mode = m[name].host.written[lease.host_path(workdir(name))]
        assert mode == 0o600 and lease.read(text.decode(), "alpha") == PLUS[0]
    assert leasestore.read("alpha") == PLUS[0]
    assert oct(leasestore._path("alpha").stat().st_mode & 0o777) == "0o600"
    # The next run reuses it (source `lease`), then down-v releases it on the hosts and the controller.
    files = {h: {lease.host_path(workdir(h)): lease.record("alpha", PLUS[0])} for h in ("h1", "h2")}
    run, m = open_cluster(files=files)
    assert ports(m["h2"])["PORT_FLANNEL"] == (8472, "lease")
    # An up that finds the same record on the host writes nothing there (one round trip less on every run).
    for name in ("h1", "h2"):
        up(run, m[name])
        assert m[name].host.written == {}
    down_v = leasesteps.releasing(lambda run, m: "node removed with its volumes")
    for name in ("h2", "h1"):
        assert down_v(run, m[name]) == "node removed with its volumes"
        assert lease.host_path(workdir(name)) not in m[name].host.files
    assert leasestore.read("alpha") == {}


def test_an_up_that_fails_records_nothing():
    run, m = open_cluster()

    def taken(run, m):
        raise U7sError("Bind for 0.0.0.0:6443 failed: port is already allocated")

    with pytest.raises(U7sError):
        leasesteps.checked(taken, then_record=True)(run, m["h1"])
    assert m["h1"].host.written == {} and leasestore.read("alpha") == {}


def test_down_v_of_a_cluster_without_a_recorded_lease_opens_no_file_session_on_its_hosts():
    run, m = open_cluster()
    m["h2"].host.remove = lambda path: pytest.fail("removed " + path)
    leasesteps.release(run, m["h2"])


def test_a_dry_run_or_a_partly_explicit_set_records_nothing():
    leasestore.write("alpha", PLUS[1])
    run, m = open_cluster(flags={"PORT_ETCD": "12379"})
    leasesteps.record(run, m["h1"])
    assert m["h1"].host.written == {} and leasestore.read("alpha") == PLUS[1]


def test_status_shows_the_ports_and_where_they_came_from():
    run, m = open_cluster()
    assert leases.ports_text(m["h1"].settings) == "6443,2379,10250,8472/udp (new lease)"
    leasestore.write("alpha", PLUS[1])
    run, m = open_cluster(flags={"PORT_ETCD": "12379"})
    assert leases.ports_text(m["h1"].settings) == "6543 (lease),12379 (--set),10350 (lease),8572/udp (lease)"
