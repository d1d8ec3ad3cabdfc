"""export-logs: a folder per host, every part collected, no secret left in the bundle."""

from __future__ import annotations

import os
import tarfile

from u7s.checks import logbundle
from u7s.session import Member
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import FakeHost, make_settings

TOKEN = "abcdef.0123456789abcdef"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecret\n-----END RSA PRIVATE KEY-----"
EC_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIsecret\n-----END EC PRIVATE KEY-----"
KUBECONFIG = ("users:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n"
              "    client-key-data: S0VZc2VjcmV0\n    token: sa-token-value\n")
JOIN = f"kubeadm join u7s-cp:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{'a' * 64}"
SECRETS = [TOKEN, "MIIEowIBAAKCAQEAsecretsecret", "MHcCAQEEIsecret", "S0VZc2VjcmV0", "sa-token-value",
           "a" * 64, "hunter2-sudo"]


def test_redact_removes_every_kind_of_secret_and_keeps_the_rest():
    text = "\n".join([KEY, EC_KEY, KUBECONFIG, JOIN, f"Nov 30 kubelet: using bootstrap token {TOKEN}",
                      '{"password": "pw-in-json"}', "sudo said hunter2-sudo"])
    out = logbundle.redact(text, ["hunter2-sudo"])
    for secret in SECRETS + ["pw-in-json"]:
        assert secret not in out
    assert "client-certificate-data: Q0VSVA==" in out and "kubeadm join u7s-cp:6443 --token" in out
    assert "-----BEGIN RSA PRIVATE KEY-----<redacted by u7s>-----END RSA PRIVATE KEY-----" in out


def _host(journal: str) -> FakeHost:
    s = make_settings()
    host = FakeHost({s.path("docker-compose.yaml"): "services: {}\n", s.path("kubeadm-config.yaml"): "kind: x\n"})
    host.on("docker", exited=1, stderr="not here")  # anything else of the engine
    host.on("docker", "compose", stdout="NAME  STATUS\n")
    host.on("docker", "inspect", stdout='{"Running": true, "Status": "running"}')
    host.on("docker", "exec", stdout=journal)
    host.on("docker", "exec", contains="kubeadm", stdout="v1.35.0\n")
    host.on("sh", exited=1).on("ss", stdout="").on("test", exited=1)
    host.on("systemctl", exited=1).on("loginctl", exited=1).on("cat", exited=1).on("ip", exited=1)
    return host


def test_collect_gathers_each_part_and_notes_what_failed():
    s = make_settings()
    files = logbundle.collect(_host(f"kubelet: token {TOKEN}\n{KEY}\n"), s, ["hunter2-sudo"])
    assert {"journal-boot.txt", "journal-kubelet.txt", "journal-containerd.txt", "engine-ps.txt",
            "engine-inspect.json", "compose-ps.txt", "compose.yaml", "kubeadm-config.yaml", "preflight.json",
            "status.json", "versions.txt", "kubeadm-version.txt", "errors.txt"} <= set(files)
    assert files["kubeadm-version.txt"].startswith(b"v1.35.0")
    assert b"engine-ps.txt" in files["errors.txt"]  # `docker ps` failed here: said so, the rest still collected
    blob = b"".join(files.values())
    assert TOKEN.encode() not in blob and b"MIIEowIBAAKCAQEAsecretsecret" not in blob


def test_bundle_has_a_folder_per_host_is_0600_and_holds_no_secret(tmp_path):
    s = make_settings()
    members = [Member(spec=type("Spec", (), {"name": n})(), report=Reporter(n)) for n in ("cp", "w1", "w2")]
    members[0].host, members[0].settings = _host(JOIN + "\n" + KUBECONFIG), s
    members[1].host, members[1].settings = _host("sudo: hunter2-sudo\n" + EC_KEY), s
    members[2].failed = "connection refused by 127.0.0.4"
    parts = logbundle.collect_all(members, ["hunter2-sudo"])
    path = tmp_path / "bundle.tar.gz"
    logbundle.write_bundle(str(path), parts)
    assert os.stat(path).st_mode & 0o777 == 0o600
    with tarfile.open(path) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers())
    assert {n.split("/")[0] for n in names} == {"cp", "w1", "w2"}
    assert "cp/journal-boot.txt" in names and "w2/errors.txt" in names
    assert b"connection refused" in blob
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
