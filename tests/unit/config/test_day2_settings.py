"""U7S_PUBLISH, U7S_MOUNTS, U7S_DEVICES, POD_SUBNET and SERVICE_SUBNET: parsed, validated, rendered."""

from __future__ import annotations

import pytest
import yaml

from u7s.render import templates
from u7s.config import mounts, publish
from u7s.errors import SettingsError
from u7s.config.inventory import parse
from u7s.errors import InventoryError
from u7s.config.crosshost import check_cluster_wide
from u7s.checks.preflight import Preflight
from tests.unit.u7s_fakes import FakeHost, make_settings


def test_publish_items_parse_with_tcp_as_default():
    got = publish.parse("30080/tcp, 30443:443/tcp,5353/udp,31000")
    assert [str(p) for p in got] == ["30080/tcp", "30443:443/tcp", "5353/udp", "31000/tcp"]
    assert got[1].compose("192.0.2.10") == "192.0.2.10:30443:443/tcp"
    assert publish.parse(["30080/UDP"]) == (publish.Published(30080, 30080, "udp"),)
    assert publish.parse("") == ()


@pytest.mark.parametrize("value, fragment", [
    ("70000", "not a port from 1 to 65535"),
    ("0/tcp", "not a port"),
    ("030080", "not a port"),
    ("30080/sctp", "not tcp or udp"),
    ("30080/tcp,30080", "published twice"),
    ("1:2:3", "not NODEPORT"),
    ("30080;rm", "not NODEPORT"),
    (["30080", 5.5], "not all text"),
])
def test_publish_refuses(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        publish.parse(value)


def test_mounts_and_devices_parse():
    assert mounts.parse_mounts("/srv/data:/data:ro,/opt/x:/x") == (
        mounts.Mount("/srv/data", "/data", True), mounts.Mount("/opt/x", "/x", False))
    devices = mounts.parse_devices("/dev/fuse,nvidia.com/gpu=all,/dev/dri/card0:/dev/dri/card1")
    assert [d.compose() for d in devices] == ["/dev/fuse:/dev/fuse", "nvidia.com/gpu=all",
                                              "/dev/dri/card0:/dev/dri/card1"]
    assert devices[1].is_cdi and not devices[0].is_cdi


@pytest.mark.parametrize("value, fragment", [
    ("srv:/data", "not an absolute path"),
    ("/srv/../etc:/data", "not normalised"),
    ("/srv:/var", "u7s's or Kubernetes' own"),
    ("/srv:/etc/kubernetes/pki", "u7s's or Kubernetes' own"),
    ("/srv:/data:rx", "not ro or rw"),
    ("/srv", "not HOST:NODE"),
    ("/a:/data,/b:/data", "mounted twice"),
    ("/srv data:/data", "not an absolute path"),
])
def test_mounts_refuse(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        mounts.parse_mounts(value)


@pytest.mark.parametrize("value", ["/tmp/x", "fuse", "/dev/fuse:/tmp/fuse", "nvidia.com/gpu"])
def test_devices_refuse(value):
    with pytest.raises(ValueError):
        mounts.parse_devices(value)


@pytest.mark.parametrize("flags, fragments", [
    ({"U7S_PUBLISH": "6443"}, ["U7S_PUBLISH=6443", "6443/tcp is PORT_KUBE_APISERVER", "HOSTPORT:NODEPORT"]),
    ({"U7S_PUBLISH": "8472/udp"}, ["8472/udp is PORT_FLANNEL"]),
    ({"U7S_PUBLISH": "99999"}, ["U7S_PUBLISH=99999", "not a port", "e.g. U7S_PUBLISH="]),
    ({"U7S_MOUNTS": "data:/data"}, ["U7S_MOUNTS=data:/data", "absolute path", "e.g. U7S_MOUNTS="]),
    ({"U7S_DEVICES": "/etc/passwd"}, ["U7S_DEVICES=/etc/passwd", "not a device"]),
    ({"POD_SUBNET": "10.244.0.1/16"}, ["POD_SUBNET=10.244.0.1/16", "not an IPv4 network", "POD_SUBNET=10.244.0.0/16"]),
    ({"POD_SUBNET": "10.244.0.0/24"}, ["POD_SUBNET=10.244.0.0/24", "prefix /24 is outside /8../22"]),
    ({"SERVICE_SUBNET": "10.0.0.0/8"}, ["SERVICE_SUBNET=10.0.0.0/8", "outside /12../28"]),
    ({"SERVICE_SUBNET": "127.0.0.0/16"}, ["SERVICE_SUBNET=127.0.0.0/16", "loopback"]),
    ({"SERVICE_SUBNET": "10.244.0.0/20"}, ["SERVICE_SUBNET=10.244.0.0/20", "overlaps POD_SUBNET 10.244.0.0/16"]),
    ({"POD_SUBNET": "10.100.0.0/16"}, ["NODE_SUBNET", "overlaps the pod range 10.100.0.0/16"]),
    ({"SERVICE_SUBNET": "10.100.224.0/24"}, ["NODE_SUBNET", "overlaps the service range 10.100.224.0/24"]),
])
def test_day2_settings_refused_with_key_and_fix(flags, fragments):
    with pytest.raises(SettingsError) as err:
        make_settings(**flags)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_custom_ranges_reach_kubeadm_flannel_bypass4netns_and_node_subnet_checks():
    s = make_settings(POD_SUBNET="10.50.0.0/16", SERVICE_SUBNET="10.60.0.0/20", NODE_SUBNET="10.244.3.0/24")
    cluster = next(d for d in yaml.safe_load_all(templates.kubeadm_config(s)) if d["kind"] == "ClusterConfiguration")
    assert cluster["networking"] == {"serviceSubnet": "10.60.0.0/20", "podSubnet": "10.50.0.0/16"}
    assert s.bypass4netns_ignore_subnets == ["10.60.0.0/20", "10.50.0.0/16", "10.244.3.0/24"]
    assert s.as_table()["POD_SUBNET"] == "10.50.0.0/16" and s.as_table()["SERVICE_SUBNET"] == "10.60.0.0/20"


def test_defaults_are_the_references_ranges_and_nothing_extra():
    s = make_settings()
    assert (s.pod_subnet, s.service_subnet, s.publish, s.mounts, s.devices) == (
        "10.244.0.0/16", "10.96.0.0/16", (), (), ())
    node = yaml.safe_load(templates.compose_file(s))["services"]["node"]
    assert len(node["ports"]) == 4 and "devices" not in node and len(node["volumes"]) == 7
    assert node["volumes"][-1] == f"{s.workdir}/storage:/var/local-path-provisioner"  # U7S_STORAGE_DIR


def test_compose_file_publishes_on_host_ip_and_mounts_and_devices():
    s = make_settings(U7S_PUBLISH="30080,30443:443/tcp,5353/udp", U7S_MOUNTS="/srv/data:/data:ro",
                      U7S_DEVICES="/dev/fuse,nvidia.com/gpu=all")
    node = yaml.safe_load(templates.compose_file(s))["services"]["node"]
    assert node["ports"][4:] == ["192.0.2.10:30080:30080/tcp", "192.0.2.10:30443:443/tcp", "192.0.2.10:5353:5353/udp"]
    assert node["volumes"][-1] == "/srv/data:/data:ro"
    assert node["devices"] == ["/dev/fuse:/dev/fuse", "nvidia.com/gpu=all"]
    assert s.as_table()["U7S_PUBLISH"] == "30080/tcp,30443:443/tcp,5353/udp"
    assert s.as_table()["U7S_DEVICES"] == "/dev/fuse,nvidia.com/gpu=all"


def test_flannel_gets_the_pod_range():
    from u7s.node import flannel
    from u7s.node.container import Node

    s = make_settings(POD_SUBNET="10.50.0.0/16")
    host = FakeHost()
    host.on(s.container_engine, "exec")
    host.on(s.container_engine, "exec", contains="status", exited=1, stderr="Error: release: not found")
    flannel.install(Node(host, s))
    helm = next(argv for argv in host.calls if "upgrade" in argv)
    assert "podCidr=\"10.50.0.0/16\"" in helm


def test_preflight_names_missing_mount_and_device_paths():
    s = make_settings(U7S_MOUNTS="/srv/data:/data,/srv/here:/here", U7S_DEVICES="/dev/fuse,nvidia.com/gpu=all")
    host = FakeHost().on("test", "-e", exited=1).on("test", "-e", "/srv/here")
    check = Preflight(host, s)
    check.host_paths()
    (result,) = check.results
    assert result.status == "error"
    assert result.detail == "not found on this host: U7S_MOUNTS /srv/data, U7S_DEVICES /dev/fuse"
    assert ["test", "-e", "nvidia.com/gpu=all"] not in host.calls  # a CDI name is no path


INVENTORY = """
cluster: {name: t}
settings: {CONTAINER_ENGINE: docker}
hosts:
  - {name: cp, address: 192.0.2.1, role: control-plane, settings: {U7S_PUBLISH: [30080/tcp, "5353/udp"]}}
  - {name: w1, address: 192.0.2.2, settings: {POD_SUBNET: 10.50.0.0/16}}
"""


def test_inventory_takes_lists_and_refuses_ranges_that_differ_between_hosts():
    inv = parse(yaml.safe_load(INVENTORY))
    assert inv.hosts[0].settings["U7S_PUBLISH"] == ["30080/tcp", "5353/udp"]
    with pytest.raises(InventoryError, match="POD_SUBNET differs between hosts"):
        check_cluster_wide(inv, {}, {})


def test_inventory_refuses_a_published_port_another_instance_on_the_address_uses():
    text = INVENTORY.replace("192.0.2.2, settings: {POD_SUBNET: 10.50.0.0/16}",
                             "192.0.2.1, ssh: {user: bob}, settings: {PORT_ETCD: 30080, PORT_KUBELET: 1, "
                             "PORT_FLANNEL: 2, PORT_KUBE_APISERVER: 3}")
    with pytest.raises(InventoryError, match="share address 192.0.2.1 and port 30080"):
        parse(yaml.safe_load(text))


def test_the_subnet_pool_is_checked_against_the_inventorys_pod_range():
    text = INVENTORY.replace("cluster: {name: t}", "cluster: {name: t, node_subnet_pool: 10.50.0.0/16}").replace(
        "settings: {CONTAINER_ENGINE: docker}", "settings: {CONTAINER_ENGINE: docker, POD_SUBNET: 10.50.0.0/16}")
    with pytest.raises(InventoryError, match="cluster.node_subnet_pool: 10.50.0.0/16 overlaps the pod range"):
        parse(yaml.safe_load(text))
