"""Day-2 operations on the three-host lab: published ports, mounts, load-image, export-logs, remove-node,
a changed HOST_IP, upgrade, certificates,
etcd backup and restore.

One cluster (cluster.create with U7S_PUBLISH and U7S_MOUNTS) serves every test here.
containerd, ctr, SSH and the engines are real; kubeadm, the API server and the
kubelet are the lab's stand-ins.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import re
import subprocess
import tarfile

import pytest
import yaml

from tests.image_archive import containerd_store_save, docker_save
from tests.lab import netns
from u7s_cli import CLUSTER, NETWORK, NODE, PROJECT, clear_switch, inventory, set_switch, status_rows, u7s, wipe_hosts

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.ssh]

MOUNT = "day2-data"  # in each lab user's home
PORT = 30080


@pytest.fixture(scope="module")
def day2(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("day2")
    for h in lab.hosts:
        h.ssh(["sh", "-c", f'mkdir -p "$HOME/{MOUNT}" && echo "from $(hostname)" > "$HOME/{MOUNT}/hello"'])
    path = inventory(lab, tmp, U7S_PUBLISH=f"{PORT}/tcp", U7S_MOUNTS=f"{lab.hosts[0].home}/{MOUNT}:/data:ro")
    # Mount paths are host facts: every host's user has its own home, so each host names its own.
    import yaml

    data = yaml.safe_load(path.read_text())
    for entry, h in zip(data["hosts"], lab.hosts):
        entry["settings"] = {"U7S_MOUNTS": f"{h.home}/{MOUNT}:/data:ro"}
    del data["settings"]["U7S_MOUNTS"]
    path.write_text(yaml.safe_dump(data))
    wipe_hosts(lab)
    u7s("cluster.create", "--inventory", str(path), cwd=tmp)
    yield path, tmp
    wipe_hosts(lab)


def test_published_port_answers_at_host_ip_from_another_host_and_mount_is_readable(lab, day2):
    cp, w1, _ = lab.hosts
    listener = ("import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                f"s.bind(('0.0.0.0', {PORT})); s.listen(); c, _ = s.accept(); c.sendall(b'u7s-published'); c.close()")
    cp.docker(["exec", "-d", NODE, "python3", "-c", listener])
    client = ("import socket, time\n"
              "for _ in range(50):\n"
              "    try:\n"
              f"        print(socket.create_connection(('{cp.address}', {PORT}), timeout=2).recv(64).decode()); break\n"
              "    except OSError: time.sleep(0.2)\n")
    assert w1.ssh(["python3", "-c", client]).stdout.strip() == "u7s-published"
    for h in lab.hosts:
        assert h.docker(["exec", NODE, "cat", "/data/hello"]).stdout.strip() == f"from {h.name}"
        assert h.docker(["exec", NODE, "sh", "-c", "echo x > /data/new"], check=False).returncode != 0  # :ro


def test_load_image_from_an_archive_reaches_every_node_and_a_second_run_skips(lab, day2):
    path, tmp = day2
    archive = tmp / "hello.tar"
    image_id = docker_save(str(archive), ref="docker.io/u7s-test/day2:1")
    r = u7s("cluster.load-image", "--archive", str(archive), "--inventory", str(path), cwd=tmp)
    assert r.stderr.count("imported docker.io/u7s-test/day2:1") == 3, r.stderr
    for h in lab.hosts:
        listing = h.docker(["exec", NODE, "ctr", "-n", "k8s.io", "images", "ls"]).stdout
        row = next(line for line in listing.splitlines() if line.startswith("docker.io/u7s-test/day2:1 "))
        assert f"io.u7s.image-id={image_id}" in row
    again = u7s("cluster.load-image", "--archive", str(archive), "--inventory", str(path), cwd=tmp)
    assert again.stderr.count("skipped") == 3, again.stderr


def test_load_image_of_a_containerd_store_archive_imports_the_node_s_platform_and_a_broken_one_fails_in_a_line(
        lab, day2):
    """Docker's containerd image store saves every platform's index entry but the local blobs only."""
    path, tmp = day2
    archive = tmp / "multi.tar"
    image_id = containerd_store_save(str(archive), ref="docker.io/u7s-test/multi:1")
    r = u7s("cluster.load-image", "--archive", str(archive), "--inventory", str(path), cwd=tmp)
    assert r.stderr.count("imported docker.io/u7s-test/multi:1") == 3, r.stderr
    for h in lab.hosts:
        listing = h.docker(["exec", NODE, "ctr", "-n", "k8s.io", "images", "ls"]).stdout
        row = next(line for line in listing.splitlines() if line.startswith("docker.io/u7s-test/multi:1 "))
        assert f"io.u7s.image-id={image_id}" in row and "linux/amd64" in row
    broken = tmp / "broken.tar"  # the config blob left out too: ctr cannot import even the node's platform
    containerd_store_save(str(broken), ref="docker.io/u7s-test/broken:1", content="broken\n")
    with tarfile.open(broken) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    config = json.loads(dict((m.name, d) for m, d in members)["manifest.json"])[0]["Config"]
    with tarfile.open(broken, "w") as tar:
        for m, data in members:
            if m.name != config:
                tar.addfile(m, io.BytesIO(data))
    bad = u7s("cluster.load-image", "--archive", str(broken), "--inventory", str(path), cwd=tmp, check=False)
    assert bad.returncode != 0
    failed = [line for line in bad.stderr.splitlines() if "ctr images import failed: ctr: " in line]
    assert failed and all(config.rsplit("/", 1)[-1] in line and "not found" in line for line in failed), bad.stderr


def test_export_logs_has_every_hosts_part_and_no_secret(lab, day2):
    path, tmp = day2
    cp = lab.hosts[0]
    # A bootstrap token to look for in the bundle (cluster.create deletes its own once each join is over).
    cp.docker(["exec", NODE, "kubeadm", "token", "create", "--ttl", "10m"])
    out = tmp / "logs.tar.gz"
    r = u7s("cluster.export-logs", "--output", str(out), "--inventory", str(path), cwd=tmp)
    assert r.stdout.strip() == str(out) and out.stat().st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        blob = b"\n".join(tar.extractfile(m).read() for m in tar.getmembers())
    for h in lab.hosts:
        for part in ("journal-boot.txt", "journal-kubelet.txt", "engine-inspect.json", "compose.yaml",
                     "kubeadm-config.yaml", "preflight.json", "status.json", "kubeadm-version.txt"):
            assert f"{h.name}/{part}" in names
    assert b"u7s-standin" in blob  # the journals are really there (the stand-ins log to them)
    # The cluster's real secrets: the admin key, the CA key, every bootstrap token.
    admin = cp.docker(["exec", NODE, "cat", "/etc/kubernetes/admin.conf"]).stdout
    key_data = re.search(r"client-key-data: (\S+)", admin).group(1)
    ca_key = cp.docker(["exec", NODE, "cat", "/etc/kubernetes/pki/ca.key"]).stdout
    secrets = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "secrets", "-n", "kube-system",
                                    "-o", "json"]).stdout)["items"]
    tokens = [base64.b64decode(s["data"]["token-secret"]).decode() for s in secrets
              if s.get("type") == "bootstrap.kubernetes.io/token"]
    assert tokens  # the token made above is there to be looked for
    key_body = "".join(ca_key.strip().splitlines()[1:-1])[:64]
    for secret in [key_data, base64.b64decode(key_data).decode().splitlines()[1], key_body, *tokens]:
        assert secret.encode() not in blob
    assert not re.search(rb"[a-z0-9]{6}\.[a-z0-9]{16}", blob)


def _subnet(h):
    return h.docker(["network", "inspect", NETWORK, "--format", "{{(index .IPAM.Config 0).Subnet}}"]).stdout.strip()


def test_a_worker_is_removed_and_joins_again_and_the_others_keep_their_subnets(lab, day2):
    path, tmp = day2
    cp, w1, w2 = lab.hosts
    subnets = {h.name: _subnet(h) for h in lab.hosts}
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "default"},
            "spec": {"nodeName": f"u7s-{w2.name}", "containers": [{"name": "c", "image": "u7s-test/day2:1"}]}}
    cp.docker(["exec", "-i", NODE, "kubectl", "create", "--validate=false", "-f", "-"], input=json.dumps(bare))

    refused = u7s("cluster.remove-node", "--name", w2.name, "--yes", "--timeout", "20", "--inventory", str(path),
                  cwd=tmp, check=False)
    assert refused.returncode == 1 and "only deleted with --force" in refused.stderr, refused.stderr
    assert w2.docker(["ps", "-q", "--filter", f"name={NODE}"]).stdout.strip()  # nothing after the drain ran

    u7s("cluster.remove-node", "--name", w2.name, "--yes", "--force", "--inventory", str(path), cwd=tmp)
    names = cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "name"]).stdout.split()
    assert names == [f"node/u7s-{cp.name}", f"node/u7s-{w1.name}"]
    assert w2.docker(["ps", "-aq", "--filter", f"name={NODE}"]).stdout.strip() == ""
    assert f"{PROJECT}-var" not in w2.docker(["volume", "ls", "-q"]).stdout.split()

    again = u7s("cluster.create", "--inventory", str(path), cwd=tmp)
    assert "already joined" in again.stderr and f"joined u7s-{cp.name}" in again.stderr
    names = cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "name"]).stdout.split()
    assert len(names) == 3
    assert {h.name: _subnet(h) for h in (cp, w1)} == {h.name: subnets[h.name] for h in (cp, w1)}



@pytest.fixture(scope="module")
def moved_address(lab):
    """A second address on the last host's eth0, to the module's end: after the test below its node is published
    there, and the tests after it (upgrade) run with it."""
    h = lab.hosts[-1]
    with netns.second_address(h.netns, str(ipaddress.ip_address(h.address) + 100)) as address:
        yield address


def _node(cp, name) -> dict:
    return json.loads(cp.docker(["exec", NODE, "kubectl", "get", "node", name, "-o", "json"]).stdout)


def _flannel_pods(cp) -> dict[str, str]:
    """Node name -> the uid of flannel's pod there."""
    pods = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "pods", "--namespace", "kube-flannel",
                                 "-l", "app=flannel", "-o", "json"]).stdout)["items"]
    return {p["spec"]["nodeName"]: p["metadata"]["uid"] for p in pods}


def test_a_changed_host_ip_reaches_the_registered_node_and_restarts_flannel_there_only(lab, day2, moved_address):
    """The kubelet applies --node-labels only when it registers its Node. After the last host's HOST_IP moves to
    its second address, create sets the label anew; its ExternalIP, flannel's overwrite and (from a new pod, as
    flannel reads the address once) flannel's public-ip follow. Compose makes that node container anew (its
    published ports move): its kubelet finds its Node registered and keeps it. A second run changes nothing."""
    path, tmp = day2
    cp, _, moved = lab.hosts
    name = f"u7s-{moved.name}"
    pods, uid = _flannel_pods(cp), _node(cp, name)["metadata"]["uid"]
    container = moved.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout
    data = yaml.safe_load(path.read_text())
    data["hosts"][2].setdefault("settings", {})["HOST_IP"] = moved_address
    path.write_text(yaml.safe_dump(data))

    r = u7s("cluster.create", "--inventory", str(path), cwd=tmp)
    assert f"label usernetes/host-ip {moved.address} -> {moved_address}" in r.stderr, r.stderr
    assert f"flannel restarted on {name} (now at {moved_address})" in r.stderr, r.stderr
    node = _node(cp, name)
    annotations = node["metadata"]["annotations"]
    assert (node["metadata"]["labels"]["usernetes/host-ip"], node["status"]["addresses"],
            annotations["flannel.alpha.coreos.com/public-ip-overwrite"],
            annotations["flannel.alpha.coreos.com/public-ip"]) == (
        moved_address, [{"type": "ExternalIP", "address": moved_address}], moved_address, moved_address)
    after = _flannel_pods(cp)
    assert after[name] != pods[name]
    assert {n: u for n, u in after.items() if n != name} == {n: u for n, u in pods.items() if n != name}
    # The node container is new, its kubelet is given the new label, and still it kept the registered Node.
    assert moved.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout != container
    assert f"usernetes/host-ip={moved_address}" in moved.docker(["exec", NODE, "cat", "/etc/default/kubelet"]).stdout
    assert node["metadata"]["uid"] == uid

    again = u7s("cluster.create", "--inventory", str(path), cwd=tmp)
    assert "nothing to do: every node was already up" in again.stderr, again.stderr
    assert _flannel_pods(cp) == after


def _node_versions(cp):
    nodes = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "nodes", "-o", "json"]).stdout)["items"]
    return {n["metadata"]["name"]: (n["status"]["nodeInfo"]["kubeletVersion"], bool(n["spec"].get("unschedulable")))
            for n in nodes}


def test_upgrade_moves_the_control_plane_then_each_worker_and_the_volumes_survive(lab, day2):
    import yaml

    from tests.lab.image import NEXT_KUBE_VERSION

    path, tmp = day2
    cp, w1, w2 = lab.hosts
    data = yaml.safe_load(path.read_text())
    data["settings"]["NODE_IMAGE"] = "u7s-lab-node:next"
    path.write_text(yaml.safe_dump(data))
    archive = tmp / "kept.tar"
    docker_save(str(archive), ref="docker.io/u7s-test/kept:1", content="kept across the upgrade\n")
    u7s("cluster.load-image", "--archive", str(archive), "--inventory", str(path), cwd=tmp)
    volumes = {h.name: h.docker(["volume", "inspect", f"{PROJECT}-var", "--format", "{{.CreatedAt}}"]).stdout for h in lab.hosts}
    containers = {h.name: h.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout for h in lab.hosts}

    dry = u7s("cluster.upgrade", "--dry-run", "--inventory", str(path), cwd=tmp)
    would = [line for line in dry.stderr.splitlines() if "would " in line]
    assert f"cluster at v1.35.0; the node image carries {NEXT_KUBE_VERSION}" in dry.stderr
    assert [line.split()[0] for line in would] == [cp.name] * 4 + [w1.name] * 6 + [w2.name] * 6
    assert "copy kubeadm v1.36.0 from u7s-lab-node:next" in would[0]
    assert "kubeadm v1.36.0 upgrade apply --yes v1.36.0" in would[1] and "kubectl drain" in would[4]
    assert containers == {h.name: h.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout for h in lab.hosts}

    # The new image's kubeadm applies in the old control-plane container; its health checks fail once (waited
    # out), then it is cut short after it upgraded the control plane (exit 137, as killed): the run stops with
    # every kubelet still at the old version, below the API server.
    set_switch(cp, "upgrade-health-fails", "1 2")
    set_switch(cp, "upgrade-apply-interrupted", "1")
    cut = u7s("cluster.upgrade", "--inventory", str(path), cwd=tmp, check=False)
    assert cut.returncode == 1 and f"{cp.name}: kubeadm upgrade apply failed (exit 137)" in cut.stderr, cut.stderr
    assert [c["rc"] for c in _standin_calls(cp) if c["argv"][:2] == ["upgrade", "apply"]] == [1, 137]
    assert _server_version(cp) == NEXT_KUBE_VERSION
    assert _node_versions(cp) == {f"u7s-{h.name}": ("v1.35.0", False) for h in lab.hosts}
    assert containers == {h.name: h.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout for h in lab.hosts}
    assert not _kubelet_skew(cp), f"a kubelet was newer than the API server: {_kubelet_skew(cp)}"

    # The next run completes the apply (kubeadm's way to recover) and moves on; the last worker's
    # `kubeadm upgrade node` fails: the run stops there, and the run after it finishes the upgrade.
    set_switch(w2, "upgrade-node-fails")
    failed = u7s("cluster.upgrade", "--inventory", str(path), cwd=tmp, check=False)
    assert failed.returncode == 1
    assert (f"upgrade: kubeadm upgrade node failed on {w2.name}: {w2.name}: kubeadm upgrade node failed: error: "
            "error execution phase kubelet-config: error downloading kubelet configuration") in failed.stderr
    assert "To see the stack trace" not in failed.stderr
    assert _steps(failed) == [(cp.name, "apply"), (w1.name, "drained"), (w1.name, "upgrade node"),
                              (w1.name, "uncordoned"), (w2.name, "drained")], failed.stderr
    assert not _kubelet_skew(cp), f"a kubelet was newer than the API server: {_kubelet_skew(cp)}"
    clear_switch(w2, "upgrade-node-fails")
    r = u7s("cluster.upgrade", "--inventory", str(path), cwd=tmp)
    assert f"control plane already at {NEXT_KUBE_VERSION}" in r.stderr
    assert _steps(r) == [(cp.name, "apply"), (w1.name, "drained"), (w1.name, "upgrade node"), (w1.name, "uncordoned"),
                         (w2.name, "drained"), (w2.name, "upgrade node"), (w2.name, "uncordoned")], r.stderr
    assert not _kubelet_skew(cp), f"a kubelet was newer than the API server: {_kubelet_skew(cp)}"
    # kubeadm-config was written by the new kubeadm (its client says its version), in the old container.
    assert any("/configmaps/kubeadm-config" in a.get("uri", "") and a.get("agent", "").startswith(
        f"kubeadm/{NEXT_KUBE_VERSION} ") and a.get("verb") == "PUT" for a in _audit(cp))
    assert [c["argv"] for c in _standin_calls(cp) if c["argv"][:2] == ["upgrade", "apply"]][-1] == \
        ["upgrade", "apply", "--yes", NEXT_KUBE_VERSION]
    for w in (w1, w2):
        assert ["upgrade", "node"] in [c["argv"] for c in _standin_calls(w) if c["rc"] == 0]
    assert _node_versions(cp) == {f"u7s-{h.name}": (NEXT_KUBE_VERSION, False) for h in lab.hosts}
    assert _server_version(cp) == NEXT_KUBE_VERSION
    for h in lab.hosts:  # new containers on the same volumes: the cluster's data survived
        assert h.docker(["inspect", NODE, "--format", "{{.Id}}"]).stdout != containers[h.name]
        assert h.docker(["volume", "inspect", f"{PROJECT}-var", "--format", "{{.CreatedAt}}"]).stdout == volumes[h.name]
        assert "docker.io/u7s-test/kept:1" in h.docker(["exec", NODE, "ctr", "-n", "k8s.io", "images", "ls",
                                                         "-q"]).stdout

    data["settings"]["NODE_IMAGE"] = "u7s-lab-node:latest"
    path.write_text(yaml.safe_dump(data))
    down = u7s("cluster.upgrade", "--inventory", str(path), cwd=tmp, check=False)
    assert down.returncode == 1 and "kubeadm does not support downgrades" in down.stderr
    assert {h.name: h.docker(["inspect", NODE, "--format", "{{.Config.Image}}"]).stdout.strip()
            for h in lab.hosts} == {h.name: "u7s-lab-node:next" for h in lab.hosts}


def _steps(run):
    """(host, step) of each upgrade step a run reported, in order."""
    done = [line for line in run.stderr.splitlines() if line.split()[1:2] == ["✓"]]
    return [(line.split()[0], word) for line in done for word in ("apply", "drained", "upgrade node", "uncordoned")
            if word in line]


def _standin_calls(host):
    text = host.docker(["exec", NODE, "cat", "/var/lib/u7s-standin/calls.jsonl"], check=False).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _server_version(cp):
    return json.loads(cp.docker(["exec", NODE, "kubectl", "version", "-o", "json"]).stdout)["serverVersion"][
        "gitVersion"]


def _kubelet_skew(host):
    """What the stand-in API server recorded of kubelets newer than itself (u7s_standin_skew.py)."""
    text = host.docker(["exec", NODE, "cat", "/var/lib/u7s-standin/kubelet-skew.json"], check=False).stdout
    return json.loads(text) if text.strip() else {}


def _audit(host):
    text = host.docker(["exec", NODE, "cat", "/var/lib/u7s-standin/audit.jsonl"], check=False).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _served_not_after(host):
    """The notAfter of the certificate the API server serves now (so: the one it read when it started)."""
    import ssl

    from cryptography import x509

    cert = x509.load_pem_x509_certificate(ssl.get_server_certificate((host.address, 6443)).encode())
    return cert.not_valid_after_utc if hasattr(cert, "not_valid_after_utc") else cert.not_valid_after


def test_certificates_near_their_end_are_warned_about_and_renewal_moves_their_expiry(lab, day2):
    from tests.lab.kubectl import controller_kubectl

    path, tmp = day2
    cp = lab.hosts[0]
    shown = json.loads(u7s("cluster.certs", "--json", "--inventory", str(path), cwd=tmp).stdout)
    assert len(shown) == 14 and {r["name"] for r in shown if r["is_ca"]} == {"ca", "etcd-ca", "front-proxy-ca"}
    assert all(r["days_left"] > 360 for r in shown) and not any(r["missing"] for r in shown)

    # The lab's year in short: kubeadm re-issues them to expire in 10 days (the API server keeps its old one).
    set_switch(cp, "certs-expire-in-days", "10")
    cp.docker(["exec", NODE, "kubeadm", "certs", "renew", "all"])
    clear_switch(cp, "certs-expire-in-days")
    (row,) = [r for r in status_rows(path, cwd=tmp) if r["host"] == cp.name]
    assert "certificates expire within 30 days: admin.conf in 9d" in row["cert_warning"]
    table = u7s("cluster.certs", "--inventory", str(path), cwd=tmp)
    assert "apiserver" in table.stdout and " 9d " in table.stdout
    assert "renew with `u7s cluster.certs --renew`" in table.stderr

    dry = u7s("cluster.certs", "--renew", "--dry-run", "--inventory", str(path), cwd=tmp)
    assert "would run kubeadm certs renew all" in dry.stderr
    assert " 9d " in u7s("cluster.certs", "--inventory", str(path), cwd=tmp).stdout  # the dry run changed nothing
    served = _served_not_after(cp)
    kubeconfig = tmp / "kubeconfig"
    before = kubeconfig.read_text()
    r = u7s("cluster.certs", "--renew", "--inventory", str(path), cwd=tmp)
    assert "node restarted, API answering" in r.stderr and "within 30 days" not in r.stderr
    assert f"admin kubeconfig rewritten (0600): {kubeconfig}" in r.stderr
    after = json.loads(u7s("cluster.certs", "--json", "--inventory", str(path), cwd=tmp).stdout)
    assert all(r["days_left"] > 360 for r in after)
    # The restarted API server serves its renewed certificate (until then it served the one it started with).
    apiserver = next(r for r in after if r["name"] == "apiserver")
    now_served = _served_not_after(cp)
    assert now_served > served and f"{now_served:%Y-%m-%dT%H:%M}" == apiserver["expires"][:16]
    assert kubeconfig.stat().st_mode & 0o777 == 0o600 and kubeconfig.read_text() != before
    nodes = subprocess.run([controller_kubectl(), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
                           capture_output=True, text=True, timeout=60)
    assert nodes.returncode == 0 and f"node/u7s-{cp.name}" in nodes.stdout, nodes.stderr
    (row,) = [r for r in status_rows(path, cwd=tmp) if r["host"] == cp.name]
    assert row["cert_warning"] is None


def _kubectl(tmp, *args, check=True):
    from tests.lab.kubectl import controller_kubectl

    r = subprocess.run([controller_kubectl(), "--kubeconfig", str(tmp / "kubeconfig"), *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 or not check, r.stderr
    return r


def _make_configmap(tmp, name, made):
    """Sent as JSON (`create -f -`): of kubectl's protobuf bodies the stand-in API decodes only the metadata
    (u7s_standin_api_objects.decode_protobuf), so `create configmap --from-literal` loses the data. Validated
    as kubectl asks (the stand-in's /openapi/v3 offers fieldValidation)."""
    from tests.lab.kubectl import controller_kubectl

    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"made": made}}
    r = subprocess.run([controller_kubectl(), "--kubeconfig", str(tmp / "kubeconfig"), "create", "-f", "-"],
                       input=json.dumps(doc), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _configmap(tmp, name):
    """The ConfigMap's `made` value, or None when it is not there."""
    r = _kubectl(tmp, "get", "configmap", name, "-o", "json", check=False)
    assert r.returncode == 0 or "NotFound" in r.stderr, r.stderr
    return json.loads(r.stdout)["data"]["made"] if r.returncode == 0 else None


def _all_nodes_ready(tmp, count, timeout=60):
    """Poll until COUNT Nodes are Ready (the kubelets update their restored Nodes at their next heartbeat)."""
    import time

    deadline, items = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        items = json.loads(_kubectl(tmp, "get", "nodes", "-o", "json").stdout)["items"]
        if len(items) == count and all(c["status"] == "True" for n in items for c in n["status"]["conditions"]
                                       if c["type"] == "Ready"):
            return
        time.sleep(1)
    raise AssertionError(f"not {count} Ready nodes after {timeout}s: {[n['metadata']['name'] for n in items]}")


def _repack(backup, out, meta_change=None, snapshot_change=None):
    """A copy of the backup with its metadata or its snapshot bytes changed (the sha256 left as it was)."""
    with tarfile.open(backup) as tar:
        meta = json.loads(tar.extractfile("u7s-backup.json").read())
        snapshot = tar.extractfile("snapshot.db").read()
    meta.update(meta_change or {})
    snapshot = snapshot_change(snapshot) if snapshot_change else snapshot
    with tarfile.open(out, "w") as tar:
        for name, data in (("u7s-backup.json", json.dumps(meta).encode()), ("snapshot.db", snapshot)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _refused(path, tmp, bad, error):
    r = u7s("cluster.restore", "--input", str(bad), "--inventory", str(path), cwd=tmp, check=False)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"u7s: {bad}: {error}"), r.stderr


def test_a_backup_restored_in_place_brings_back_what_it_held_and_drops_what_came_after(lab, day2):
    """The restore drill on the running control plane: backed up, changed, refused bad files, restored."""
    path, tmp = day2
    cp = lab.hosts[0]
    _make_configmap(tmp, "before-backup", "before")
    backup = tmp / "etcd-backup.tar"
    r = u7s("cluster.backup", "--output", str(backup), "--inventory", str(path), cwd=tmp)
    assert f"etcd backup written (0600): {backup}" in r.stderr and backup.stat().st_mode & 0o777 == 0o600
    meta = json.loads(tarfile.open(backup).extractfile("u7s-backup.json").read())
    assert (meta["cluster"], meta["host"], meta["node"]) == (CLUSTER, cp.name, f"u7s-{cp.name}"), meta
    serving = json.loads(cp.docker(["exec", NODE, "kubectl", "get", "--raw", "/version"]).stdout)["gitVersion"]
    assert meta["kubernetes_version"] == serving and meta["taken"].endswith("+00:00")  # v1.36.0 after the upgrade test
    _kubectl(tmp, "delete", "configmap", "before-backup")
    _make_configmap(tmp, "after-backup", "after")

    garbage, damaged, other = tmp / "garbage.tar", tmp / "damaged.tar", tmp / "other.tar"
    garbage.write_bytes(b"these are not etcd's bytes\n" * 100)
    _refused(path, tmp, garbage, "not a u7s etcd backup")
    _repack(backup, damaged, snapshot_change=lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:])
    _refused(path, tmp, damaged, "the snapshot is damaged")
    _repack(backup, other, meta_change={"cluster": "elsewhere"})
    _refused(path, tmp, other, "a backup of cluster 'elsewhere'")
    assert _configmap(tmp, "after-backup") == "after"  # nothing touched

    r = u7s("cluster.restore", "--input", str(backup), "--inventory", str(path), cwd=tmp)
    assert "etcd restored" in r.stderr and "API answering" in r.stderr and "made anew" not in r.stderr, r.stderr
    assert _configmap(tmp, "before-backup") == "before"
    assert _configmap(tmp, "after-backup") is None
    _all_nodes_ready(tmp, len(lab.hosts))
    kept = cp.docker(["exec", NODE, "sh", "-c", "ls -d /var/lib/etcd/member.before-restore-*"]).stdout.split()
    assert len(kept) == 1, kept


@pytest.mark.extended  # 32 s in the lab (a second cluster.create); the in-place drill above (8 s) runs by default
def test_a_backup_restored_onto_a_fresh_control_plane_brings_back_a_configmap_made_before_it(lab, day2):
    """The acceptance drill: the control plane's node and volumes lost, made anew, the backup restored."""
    path, tmp = day2
    cp = lab.hosts[0]
    _make_configmap(tmp, "made-before", "before")
    backup = tmp / "before-loss.tar"
    u7s("cluster.backup", "--output", str(backup), "--inventory", str(path), cwd=tmp)
    wipe_hosts(lab, [cp])  # its node and volumes go: etcd's data and the cluster CA with them
    r = u7s("cluster.create", "--inventory", str(path), cwd=tmp)
    assert "/etc/kubernetes/kubelet.conf belongs to another cluster" in r.stderr  # the workers re-joined
    assert _configmap(tmp, "made-before") is None
    _make_configmap(tmp, "made-on-the-fresh-one", "fresh")

    r = u7s("cluster.restore", "--input", str(backup), "--inventory", str(path), cwd=tmp)
    assert "etcd restored" in r.stderr and "made anew since the backup" in r.stderr, r.stderr
    assert _configmap(tmp, "made-before") == "before"
    assert _configmap(tmp, "made-on-the-fresh-one") is None
    _all_nodes_ready(tmp, len(lab.hosts))
    info = yaml.safe_load(json.loads(_kubectl(tmp, "-n", "kube-public", "get", "configmap", "cluster-info", "-o",
                                              "json").stdout)["data"]["kubeconfig"])
    fresh_ca = cp.docker(["exec", NODE, "cat", "/etc/kubernetes/pki/ca.crt"]).stdout
    assert base64.b64decode(info["clusters"][0]["cluster"]["certificate-authority-data"]).decode() == fresh_ca
