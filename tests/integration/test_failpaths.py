"""Failure paths of the Kubernetes components, as the real ones take them (tests/lab/README.md switches).

A join that failed half-way, a worker of a control plane made anew, an expired token, a
failing `kubeadm reset`, an API server that goes away for some seconds (or for good) in
the middle of a run, a Ready node that turns NotReady, flannel images that cannot be
pulled: u7s recovers where it can and
otherwise says what kubeadm, the API or the kubelet said.
"""

from __future__ import annotations

import time

import pytest
import yaml
from u7s_cli import NODE, SINGLE_WORKDIR, clear_switch, inventory, set_switch, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

HINT = "To see the stack trace of this error"


def single(host, image, *args, extra=(), check=True):
    """`u7s ARGS` as the lab host's user over SSH (a single-host task) with the lab node image."""
    sets = [w for item in (f"NODE_IMAGE={image}", *extra) for w in ("--set", item)]
    return host.ssh(["u7s", args[0], *sets, *args[1:]], check=check, timeout=600)


@pytest.fixture
def two_hosts(lab, tmp_path):
    """An inventory of the control plane and one worker (the lab's first two hosts), wiped before and after."""
    full = yaml.safe_load(inventory(lab, tmp_path).read_text())
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(dict(full, hosts=full["hosts"][:2])))
    wipe_hosts(lab, lab.hosts[:2])
    yield path
    wipe_hosts(lab, lab.hosts[:2])


@pytest.mark.extended  # 42 s; the half-done init's recovery runs by default (test_kubernetes.py)
def test_a_half_finished_join_is_reset_and_a_short_api_outage_is_ridden_out(lab, two_hosts, tmp_path):
    cp, w1 = lab.hosts[:2]
    set_switch(w1, "kubeadm-join-fails")  # fails after writing ca.crt and kubelet.conf, as a kubelet-start timeout
    create = ["cluster.create", "--skip-network-check", "--set", "U7S_TIMEOUT=30", "--inventory", str(two_hosts)]
    failed = u7s(*create, cwd=tmp_path, check=False)
    assert failed.returncode == 1
    assert ("kubeadm join failed: error execution phase kubelet-start: failed while waiting for the kubelet to "
            "start") in failed.stderr
    assert HINT not in failed.stderr
    clear_switch(w1, "kubeadm-join-fails")
    # The API goes away as in a control-plane restart, at a request only u7s makes: the public-ip annotation.
    set_switch(cp, "apiserver-outage", f"refuse 6 after PATCH /api/v1/nodes/u7s-{w1.name}?")
    again = u7s(*create, cwd=tmp_path, check=False)
    assert again.returncode == 0, again.stderr
    assert f"node u7s-{w1.name} never registered: an earlier kubeadm join failed half-way" in again.stderr
    assert "after kubeadm reset" in again.stderr
    played = cp.docker(["exec", NODE, "cat", "/var/lib/u7s-standin/apiserver-outage.played"], check=False)
    assert played.returncode == 0  # the outage happened in this run, and the run rode it out


@pytest.mark.extended
def test_create_names_the_images_a_node_cannot_pull_and_how_an_air_gapped_site_provides_them(lab, two_hosts, tmp_path):
    cp, w1 = lab.hosts[:2]
    set_switch(w1, "flannel-image-pull")  # every pull fails there, as with no registry in reach
    create = ["cluster.create", "--skip-network-check", "--set", "U7S_TIMEOUT=20", "--inventory", str(two_hosts)]
    failed = u7s(*create, cwd=tmp_path, check=False)
    assert failed.returncode == 1, failed.stderr
    line = next(x for x in failed.stderr.splitlines() if x.startswith(f"u7s: u7s-{w1.name}: "))
    assert line.startswith(f"u7s: u7s-{w1.name}: Ready=False (KubeletNotReady: container runtime network not ready")
    assert "Pending, init container install-cni-plugin waiting: ImagePullBackOff (Back-off pulling image " \
           '"ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1")' in line
    assert ("u7s: fix: the node cannot pull ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1, "
            "ghcr.io/flannel-io/flannel:v0.27.4: on an air-gapped site load them into every node") in failed.stderr
    assert "`u7s cluster.load-image --archive FILE`" in failed.stderr
    clear_switch(w1, "flannel-image-pull")  # as after `cluster.load-image`: the images are there
    again = u7s(*create, cwd=tmp_path, check=False)
    assert again.returncode == 0, again.stderr
    # The kubelet's next pull (after its 10 s, then 20 s back-off) may come before the wait begins; if not,
    # the wait restarts the pod at its first look (tests/unit/node/test_podnet.py).
    assert "every node is Ready" in again.stderr or "every node became Ready" in again.stderr


@pytest.mark.extended
def test_a_worker_of_a_control_plane_made_anew_is_reset_and_joins_again(lab, two_hosts, tmp_path):
    cp, w1 = lab.hosts[:2]
    create = ["cluster.create", "--skip-network-check", "--set", "U7S_TIMEOUT=30", "--inventory", str(two_hosts)]
    u7s(*create, cwd=tmp_path)
    wipe_hosts(lab, [cp])  # its node and volumes go: the next create makes a new cluster CA
    again = u7s(*create, cwd=tmp_path, check=False)
    assert again.returncode == 0, again.stderr
    assert "/etc/kubernetes/kubelet.conf belongs to another cluster" in again.stderr
    assert "after kubeadm reset" in again.stderr


@pytest.mark.extended
def test_single_host_failures_are_told_in_kubeadms_and_the_apis_words(lab):
    cp, w1 = lab.hosts[:2]
    wipe_hosts(lab, [cp, w1])
    try:
        single(cp, lab.node_image, "create")
        # A Ready node turns NotReady: create waits for it and names the kubelet's reason.
        set_switch(cp, "kubelet-not-ready", workdir=SINGLE_WORKDIR)
        r = single(cp, lab.node_image, "create", extra=["U7S_TIMEOUT=8"], check=False)
        assert r.returncode == 1
        assert ("u7s-h1: Ready=False (KubeletNotReady: container runtime network not ready: NetworkReady=false "
                "reason:NetworkPluginNotReady") in r.stderr
        clear_switch(cp, "kubelet-not-ready", workdir=SINGLE_WORKDIR)

        # An expired token: kubeadm's discovery retries until its timeout, then says so.
        single(cp, lab.node_image, "join-command", "--ttl", "1s")
        script = cp.ssh(["cat", f"{SINGLE_WORKDIR}/join-command"]).stdout
        w1.ssh(["sh", "-c", 'umask 077 && cat >"$HOME/join.sh"'], input=script)
        single(w1, lab.node_image, "up")
        set_switch(w1, "kubeadm-discovery-timeout", "6", workdir=SINGLE_WORKDIR)
        started = time.monotonic()
        r = single(w1, lab.node_image, "kubeadm-join", "--file", "join.sh", check=False)
        assert r.returncode == 1 and time.monotonic() - started >= 6
        assert ("kubeadm join failed: error execution phase preflight: couldn't validate the identity of the API "
                "Server: could not find a JWS signature in the cluster-info ConfigMap for token ID") in r.stderr
        assert HINT not in r.stderr

        # An API that stays away: the sync gives up after its window with the last error.
        set_switch(cp, "apiserver-outage", "503 120 after GET /api/v1/nodes", workdir=SINGLE_WORKDIR)
        r = single(cp, lab.node_image, "sync-external-ip", extra=["U7S_TIMEOUT=8"], check=False)
        assert r.returncode == 1
        assert ("the API server did not answer for 8s (kubectl get nodes); last error: Error from server "
                "(ServiceUnavailable): the server is currently unable to handle the request") in r.stderr

        # kubeadm reset failing: its own error line, not the stack-trace hint.
        set_switch(cp, "kubeadm-reset-fails", workdir=SINGLE_WORKDIR)
        r = single(cp, lab.node_image, "kubeadm-reset", check=False)
        assert r.returncode == 1
        assert "kubeadm reset --force failed: error execution phase cleanup-node: failed to unmount" in r.stderr
    finally:
        wipe_hosts(lab, [cp, w1])
