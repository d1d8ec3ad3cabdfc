"""Air-gapped sites on the lab, whose hosts reach no registry: `bundle`, `load-bundle`, then a cluster with
no image pull attempted.

The pod images the bundle carries stand for Flannel's and the smoke test's (small real archives from
tests/image_archive.py, tagged with their names, loaded into the first host's engine: `bundle` pulls only
what the engine lacks). The kubelet stand-in records every pull it would make (an image the node's real
containerd lacks) in /var/lib/u7s-standin/pulls.jsonl.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.image_archive import docker_save
from u7s.render.bundle import POD_IMAGES
from u7s_cli import NODE, PROJECT, inventory, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

BUNDLE = "u7s-bundle.tar"  # in the first host's home
PULLS = "/var/lib/u7s-standin/pulls.jsonl"
KEPT = ".local/share/u7s/u7s/bundle-images.tar"  # what load-bundle keeps for a single-host node


def as_user(host, image, *args, check=True):
    return host.ssh(["u7s", args[0], "--set", f"NODE_IMAGE={image}", *args[1:]], check=check, timeout=600)


def pulls(host, container):
    r = host.docker(["exec", container, "cat", PULLS], check=False)
    return [line for line in r.stdout.splitlines() if line.strip()]


def give_pod_images(host, tmp) -> None:
    """The pod images, as a site with a registry would have pulled them, in the host's engine."""
    for i, ref in enumerate(POD_IMAGES):
        archive = tmp / f"pod{i}.tar"
        docker_save(str(archive), ref=ref, content=f"{ref}\n")
        host.docker(["load", "-i", str(archive)])


def forget_bundles(lab) -> None:
    """No bundle, and no image archive a load-bundle kept in a working directory (wipe_hosts leaves files)."""
    for h in lab.hosts:
        h.ssh(["sh", "-c", f"rm -f {BUNDLE} .local/share/u7s/*/bundle-* .local/share/u7s/*/*/bundle-*"])


@pytest.fixture
def site(lab, tmp_path):
    first = lab.hosts[0]
    wipe_hosts(lab)
    forget_bundles(lab)
    give_pod_images(first, tmp_path)
    yield first
    wipe_hosts(lab)
    forget_bundles(lab)


def test_a_bundle_loaded_on_a_host_makes_a_cluster_with_no_pull_and_a_cut_one_is_refused(lab, site, tmp_path):
    made = as_user(site, lab.node_image, "bundle", "--output", BUNDLE)
    assert "bundle written" in made.stderr, made.stderr
    loaded = as_user(site, lab.node_image, "load-bundle", "--input", BUNDLE)
    assert "images kept" in loaded.stderr, loaded.stderr
    created = as_user(site, lab.node_image, "create")
    assert pulls(site, "u7s-node") == []
    assert "imported the bundle's" in created.stderr, created.stderr
    listing = site.docker(["exec", "u7s-node", "ctr", "-n", "k8s.io", "images", "ls", "-q"]).stdout.split()
    assert set(POD_IMAGES) <= set(listing)

    # A bundle cut short on its way: one line naming it and the fix, and the host's kept archives untouched.
    kept = site.ssh(["sha256sum", KEPT]).stdout
    site.ssh(["sh", "-c", f'truncate -s $(($(stat -c %s {BUNDLE}) / 2)) {BUNDLE}'])  # half of it: cut mid-member
    bad = as_user(site, lab.node_image, "load-bundle", "--input", BUNDLE, check=False)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [f"u7s: --input {BUNDLE}: not a readable tar file (truncated, or not "
                                               "a bundle); rebuild it with `u7s bundle --output FILE` where a "
                                               "registry is in reach"], bad.stderr
    assert site.ssh(["sha256sum", KEPT]).stdout == kept


def fetch(host, remote: str, local) -> None:
    with open(local, "wb") as handle:
        subprocess.run([*host.ssh_argv(), "--", "cat", remote], stdout=handle, check=True, timeout=300)


@pytest.mark.extended
def test_cluster_created_and_upgraded_from_bundles_needs_no_registry(lab, site, tmp_path):
    """Three hosts: cluster.load-bundle, cluster.create, then an upgrade to a new image that only a second
    bundle brought, on nodes whose /var, /opt and /etc volumes keep the old content."""
    path = inventory(lab, tmp_path)
    for image, name in ((lab.node_image, "first.tar"), ("u7s-lab-node:next", "next.tar")):
        as_user(site, image, "bundle", "--output", BUNDLE)
        fetch(site, BUNDLE, tmp_path / name)
    u7s("cluster.load-bundle", "--input", str(tmp_path / "first.tar"), "--inventory", str(path), cwd=tmp_path)
    u7s("cluster.create", "--inventory", str(path), cwd=tmp_path)
    for h in lab.hosts:
        assert pulls(h, NODE) == [], h.name
    u7s("cluster.load-bundle", "--input", str(tmp_path / "next.tar"), "--inventory", str(path), cwd=tmp_path)
    data = yaml.safe_load(path.read_text())
    data["settings"]["NODE_IMAGE"] = "u7s-lab-node:next"
    path.write_text(yaml.safe_dump(data))
    u7s("cluster.upgrade", "--inventory", str(path), cwd=tmp_path)
    for h in lab.hosts:
        assert pulls(h, NODE) == [], h.name
        assert h.docker(["volume", "inspect", f"{PROJECT}-opt"]).returncode == 0
        # The lab images differ in a marker file in /opt and in /etc (both volumes): the new image's is there.
        marker = h.docker(["exec", NODE, "cat", "/opt/u7s-lab-image", "/etc/u7s-lab-image"]).stdout.split()
        assert marker == ["next", "next"], (h.name, marker)
