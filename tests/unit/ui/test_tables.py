"""The network check's table: its title from the summary's parts, one line when every probe passed."""

from u7s.netcheck.probe import Probe, summary, summary_parts, unchecked_probe
from u7s.ui import tables


def test_the_network_title_counts_hosts_and_keeps_what_was_not_checked():
    probes = [Probe("h1", "h2", "tcp PORT_ETCD", True, "connected"),
              unchecked_probe("h2", "h1", "vxlan", "h2: no vxlan device"),
              Probe("h3", "h1", "tcp PORT_KUBELET", False, "timed out", "a firewall", "open it")]
    assert summary(probes) == "1 of 3 probes passed; 1 vxlan not checked (h2: no vxlan device)"
    grid = tables.network(probes, *summary_parts(probes))
    assert grid.title == "network check: 1 of 3 probes passed between 3 hosts; 1 vxlan not checked (h2: no vxlan device)"
    assert [row[:4] for row in grid.rows] == [["h3", "h1", "tcp PORT_KUBELET", "failed"]]
    passed = probes[:1]
    assert tables.network(passed, *summary_parts(passed)) == \
        "network check: 1 of 1 probes passed between 2 hosts (--all lists them)"


def test_a_probe_counts_as_not_checked_by_its_field_not_by_the_words_of_its_detail():
    worded = Probe("h1", "h2", "ping", True, "not checked: only the words")  # ran and passed
    assert summary_parts([worded]) == ("1 of 1 probes passed", [])
    assert summary_parts([unchecked_probe("h1", "h2", "ping", "the node has no ping")]) == (
        "0 of 1 probes passed", ["1 ping not checked (the node has no ping)"])
