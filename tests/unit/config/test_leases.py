"""Leased port sets: choosing a set free on every host, the lease record, precedence."""

import pytest

from u7s.config import leases
from u7s.config.settings import PORT_DEFAULTS
from u7s.errors import SettingsError
from u7s.config import leaserecord as lease

FREE = (set(), set())


def test_first_candidate_is_the_defaults_then_plus_100():
    sets = list(leases.candidates(count=3))
    assert sets[0] == PORT_DEFAULTS
    assert sets[2]["PORT_ETCD"] == PORT_DEFAULTS["PORT_ETCD"] + 200


def test_choose_skips_a_set_busy_on_any_host():
    in_use = {"h1": FREE, "h2": ({6443}, set())}
    assert leases.choose(in_use)["PORT_KUBE_APISERVER"] == 6543


def test_flannel_port_counts_only_when_udp_is_bound():
    assert leases.choose({"h1": ({8472}, set())}) == PORT_DEFAULTS
    assert leases.choose({"h1": (set(), {8472})})["PORT_FLANNEL"] == 8572


def test_choose_skips_sets_held_by_another_lease():
    assert leases.choose({"h1": FREE}, held=[dict(PORT_DEFAULTS)])["PORT_ETCD"] == 2479


def test_no_free_set_names_hosts_and_fix():
    every = {p for s in leases.candidates() for p in s.values()}
    with pytest.raises(SettingsError, match=r"h1.*set PORT_ETCD"):
        leases.choose({"h1": (every, set())})


def test_stale_lease_reported_with_the_fix():
    msg = leases.stale(PORT_DEFAULTS, {"h1": FREE, "h2": ({2379}, set())})
    assert msg.startswith("h2: leased port PORT_ETCD=2379 is in use") and "cluster.down-v" in msg
    assert leases.stale(PORT_DEFAULTS, {"h1": FREE}) is None


PROC = """## /proc/net/tcp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:094B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1
   1: 0100007F:1A0B 0100007F:094B 01 00000000:00000000 00:00000000 00000000  1000        0 2
## /proc/net/tcp6
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A 0
## /proc/net/udp
  sl  local_address rem_address   st
   0: 00000000:2118 00000000:0000 07 0
## /proc/net/udp6
"""


def test_parse_proc_net_listening_tcp_and_bound_udp():
    tcp, udp = lease.parse_ports(PROC)
    assert tcp == {2379, 6443}  # 0x1A0B is a connection's local port, not a listener
    assert udp == {8472}


def test_port_probes_read_each_table_and_a_missing_one_is_empty():
    from u7s.run.hosts import Result

    assert lease.port_probes()[-1] == ["cat", "/proc/net/udp6"]
    answers = [Result(0, "  sl  local_address\n   0: 00000000:094B 00000000:0000 0A 0\n", ""),
               Result(1, "", "No such file"), Result(0, "   0: 00000000:2118 00000000:0000 07 0\n", ""),
               Result(1, "", "")]
    assert lease.ports_from(answers) == ({2379}, {8472})


def test_lease_record_round_trip_and_other_cluster_ignored():
    text = lease.record("alpha", {"PORT_ETCD": 2479})
    assert lease.read(text, "alpha") == {"PORT_ETCD": 2479}
    assert lease.read(text, "beta") == {}
    assert lease.read("not json", "alpha") == {}
    assert lease.host_path("/home/u/u7s-alpha").endswith("/u7s-alpha/u7s-lease.json")
    assert lease.controller_path("/s/u7s", "alpha") == "/s/u7s/leases/alpha.json"
