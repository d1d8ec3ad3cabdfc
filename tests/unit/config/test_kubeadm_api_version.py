"""A node image older than the kubeadm configuration API u7s renders is refused at settings resolution."""

import re
from pathlib import Path

import pytest

from u7s.config import nodeimage
from u7s.config.settings import DEFAULT_BASE_IMAGE, SPECS
from u7s.errors import SettingsError
from tests.unit.u7s_fakes import make_settings

ROOT = Path(__file__).resolve().parents[3]
DIGEST = "@sha256:" + "a" * 64


def test_the_rendered_template_speaks_the_api_the_check_knows():
    """If the template moves to another kubeadm API, the minimum version must move with it."""
    text = (ROOT / "compose" / "kubeadm-config.yaml.j2").read_text()
    apis = set(re.findall(r"^apiVersion: (kubeadm\.k8s\.io/\S+)$", text, re.M))
    assert apis == {nodeimage.KUBEADM_API}


@pytest.mark.parametrize("image, found", [
    ("docker.io/kindest/node:v1.35.0", ("v1.35.0", (1, 35))),
    ("kindest/node:v1.30.4" + DIGEST, ("v1.30.4", (1, 30))),
    ("registry.example:5000/kindest/node:v1.31.0-rc.1", ("v1.31.0-rc.1", (1, 31))),
    ("kindest/node:v1.29", ("v1.29", (1, 29))),
    ("localhost:5000/u7s-node", None),  # no tag: the port is no tag
    ("kindest/node" + DIGEST, None),  # a digest alone
    ("localhost/u7s-node:1.2.0", None),  # the image's own numbering: no leading v
    ("u7s-lab-node:latest", None),
])
def test_kube_version_reads_only_a_tag_that_is_a_kubernetes_version(image, found):
    assert nodeimage.kube_version(image) == found


def test_the_default_base_image_passes():
    assert nodeimage.kube_version(DEFAULT_BASE_IMAGE)[1] >= nodeimage.KUBEADM_API_SINCE
    assert make_settings().node_base_image == DEFAULT_BASE_IMAGE


def test_an_old_base_image_is_refused_in_one_line_with_version_minimum_and_fix():
    with pytest.raises(SettingsError) as exc:
        make_settings(NODE_BASE_IMAGE="docker.io/kindest/node:v1.30.4" + DIGEST)
    line = str(exc.value)
    assert "\n" not in line
    assert line.startswith("NODE_BASE_IMAGE=docker.io/kindest/node:v1.30.4")
    assert "(from --set)" in line and "tag v1.30.4" in line and "older than v1.31" in line
    assert nodeimage.KUBEADM_API in line and "use kindest/node:v1.31 or later" in line
    assert exc.value.keyed == [("NODE_BASE_IMAGE", line.split(": ", 1)[1])]


def test_an_old_prebuilt_node_image_is_refused_and_the_unused_base_is_not_judged():
    with pytest.raises(SettingsError, match=r"^NODE_IMAGE=registry.example/u7s-node:v1.28.0 .*tag v1.28.0 .*"
                                            r"use a node image built from kindest/node:v1.31 or later$"):
        make_settings(NODE_IMAGE="registry.example/u7s-node:v1.28.0")
    s = make_settings(NODE_IMAGE="localhost/u7s-node:1", NODE_BASE_IMAGE="kindest/node:v1.30.0")
    assert s.node_image == "localhost/u7s-node:1"


@pytest.mark.parametrize("image", ["kindest/node:v1.31.0", "kindest/node:v1.36.1" + DIGEST, "localhost/mynode:dev",
                                   "kindest/node" + DIGEST, "localhost/mynode:1.20.0", "kindest/node:v2.0.0"])
def test_new_or_unknowable_versions_are_accepted(image):
    assert make_settings(NODE_BASE_IMAGE=image).node_base_image == image


def test_a_bad_reference_gets_one_problem_not_two():
    with pytest.raises(SettingsError) as exc:
        make_settings(NODE_BASE_IMAGE="docker.io/Kind/Node:v1.20.0")
    assert len(exc.value.keyed) == 1 and "not an image reference" in str(exc.value)


def test_the_settings_help_says_when_u7s_cannot_tell():
    help_ = SPECS["NODE_BASE_IMAGE"].help
    assert "v1.31" in help_ and "cannot tell" in help_
