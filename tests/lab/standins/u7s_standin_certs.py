"""`kubeadm certs check-expiration` and `kubeadm certs renew all` for the u7s TEST STAND-IN kubeadm (lab only).

The certificates are kubeadm's set (cmd/kubeadm/app/phases/certs/renewal): eleven leaf certificates, four of
them embedded in kubeconfig files, under three CAs. `init` issues them all (`issue_all`); check-expiration
prints kubeadm's two tables (tabwriter minwidth 10, tabwidth 4, padding 3; dates as Go's
"Jan 02, 2006 15:04 MST"; residual time as apimachinery's ShortHumanDuration; `!MISSING! NAME` rows);
`renew all` re-issues every present leaf certificate with a new key, the same subject, SANs and usages,
signed by its CA, and prints kubeadm's lines. CAs are not renewed, as with kubeadm.

Switch `certs-expire-in-days` (u7s_standin_pki): leaf certificates issued while it is on expire in that many days.
"""

import base64
import datetime

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import u7s_standin_pki as pki
from u7s_standin_bootstrap_tokens import short_duration
from u7s_standin_common import host_path, write_atomic

K8S = "/etc/kubernetes"
PKI = pki.PKI_DIR
# name: (file, CA name, kubeconfig?, kubeadm's long name as `renew` prints it)
CERTS = {
    "admin.conf": (f"{K8S}/admin.conf", "ca", True,
                   "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"),
    "apiserver": (f"{PKI}/apiserver", "ca", False, "certificate for serving the Kubernetes API"),
    "apiserver-etcd-client": (f"{PKI}/apiserver-etcd-client", "etcd-ca", False,
                              "certificate the apiserver uses to access etcd"),
    "apiserver-kubelet-client": (f"{PKI}/apiserver-kubelet-client", "ca", False,
                                 "certificate for the API server to connect to kubelet"),
    "controller-manager.conf": (f"{K8S}/controller-manager.conf", "ca", True,
                                "certificate embedded in the kubeconfig file for the controller manager to use"),
    "etcd-healthcheck-client": (f"{PKI}/etcd/healthcheck-client", "etcd-ca", False,
                                "certificate for liveness probes to healthcheck etcd"),
    "etcd-peer": (f"{PKI}/etcd/peer", "etcd-ca", False, "certificate for etcd nodes to communicate with each other"),
    "etcd-server": (f"{PKI}/etcd/server", "etcd-ca", False, "certificate for serving etcd"),
    "front-proxy-client": (f"{PKI}/front-proxy-client", "front-proxy-ca", False,
                           "certificate for the front proxy client"),
    "scheduler.conf": (f"{K8S}/scheduler.conf", "ca", True,
                       "certificate embedded in the kubeconfig file for the scheduler manager to use"),
    "super-admin.conf": (f"{K8S}/super-admin.conf", "ca", True,
                         "certificate embedded in the kubeconfig file for the super-admin"),
}
CAS = {"ca": f"{PKI}/ca", "etcd-ca": f"{PKI}/etcd/ca", "front-proxy-ca": f"{PKI}/front-proxy-ca"}
KUBECONFIG_USERS = {"controller-manager.conf": ("system:kube-controller-manager", []),
                    "scheduler.conf": ("system:kube-scheduler", []),
                    "super-admin.conf": ("kubernetes-super-admin", ["system:masters"])}
RENEW_DONE = ("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, "
              "kube-scheduler and etcd, so that they can use the new certificates.")


def _read(path):
    try:
        with open(host_path(path), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _ca(name):
    return _read(CAS[name] + ".crt"), _read(CAS[name] + ".key")


def issue_all(node_name, advertise, server):
    """What init writes besides ca, apiserver, admin.conf and kubelet.conf: the other CAs and leaf certificates."""
    for ca in ("etcd-ca", "front-proxy-ca"):
        cert, key = pki.make_ca(ca)
        write_atomic(host_path(CAS[ca] + ".crt"), cert, 0o644)
        write_atomic(host_path(CAS[ca] + ".key"), key, 0o600)
    etcd_sans = (["localhost", node_name], [advertise, "127.0.0.1", "::1"])
    leaves = (("apiserver-etcd-client", "kube-apiserver-etcd-client", [], None),
              ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], None),
              ("etcd-healthcheck-client", "kube-etcd-healthcheck-client", [], None),
              ("etcd-peer", node_name, [], etcd_sans), ("etcd-server", node_name, [], etcd_sans),
              ("front-proxy-client", "front-proxy-client", [], None))
    for name, cn, groups, sans in leaves:
        ca_cert, ca_key = _ca(CERTS[name][1])
        if sans:
            cert, key = pki.make_serving_cert(ca_cert, ca_key, *sans, common_name=cn)
        else:
            cert, key = pki.make_client_cert(ca_cert, ca_key, cn, groups)
        write_atomic(host_path(CERTS[name][0] + ".crt"), cert, 0o644)
        write_atomic(host_path(CERTS[name][0] + ".key"), key, 0o600)
    ca_cert, ca_key = _ca("ca")
    for name, (user, groups) in KUBECONFIG_USERS.items():
        cert, key = pki.make_client_cert(ca_cert, ca_key, user, groups)
        write_atomic(host_path(CERTS[name][0]), yaml.safe_dump(pki.kubeconfig(server, ca_cert, user, cert, key),
                                                               sort_keys=False), 0o600)


def _kubeconfig_cert(text):
    config = yaml.safe_load(text) or {}
    user = (config.get("users") or [{}])[0].get("user", {})
    data = user.get("client-certificate-data")
    return base64.b64decode(data).decode() if data else None


def _cert_of(name):
    """The PEM of certificate NAME, or None when it is missing."""
    path, _, embedded, _ = CERTS[name]
    text = _read(path if embedded else path + ".crt")
    if text is None:
        return None
    return _kubeconfig_cert(text) if embedded else text


def _tabwriter(rows, minwidth=10, padding=3):
    """Go's text/tabwriter (minwidth 10, tabwidth 4, padding 3, ' ') for rows of tab-terminated cells.

    Each line's last cell is not tab-terminated and so is not aligned; a blank line ends a column block.
    """
    out, block = [], []

    def flush():
        if not block:
            return
        cells = [line.split("\t") for line in block]
        widths = {}
        for row in cells:
            for i, cell in enumerate(row[:-1]):
                widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
        for row in cells:
            out.append("".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + row[-1])
        block.clear()

    for line in rows:
        if line == "":
            flush()
            out.append("")
        else:
            block.append(line)
    flush()
    return "\n".join(out) + "\n"


def _expiry(pem, now):
    cert = pki.load_cert(pem)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    residual = short_duration((not_after - now).total_seconds())
    return not_after.strftime("%b %d, %Y %H:%M UTC"), residual


def check_expiration(now=None):
    """kubeadm's text output of `certs check-expiration` (its two tables)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lines = ["CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"]
    for name, (_, ca, _, _) in sorted(CERTS.items()):
        pem = _cert_of(name)
        if pem is None:
            lines.append(f"!MISSING! {name}\t\t\t\t")
            continue
        expires, residual = _expiry(pem, now)
        lines.append(f"{name}\t{expires}\t{residual}\t{ca}\t{'no':<8}")
    lines += ["", "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED"]
    for name in CAS:
        pem = _ca(name)[0]
        if pem is None:
            lines.append(f"!MISSING! {name}\t\t\t")
            continue
        expires, residual = _expiry(pem, now)
        lines.append(f"{name}\t{expires}\t{residual}\t{'no':<8}")
    return _tabwriter(lines)


def reissue(old_pem, ca_cert_pem, ca_key_pem):
    """A new certificate and key with OLD_PEM's subject, SANs and usages, valid from now, signed by the CA."""
    old = pki.load_cert(old_pem)
    key = pki.new_key()
    ca_cert, ca_key = pki.load_cert(ca_cert_pem), pki.load_key(ca_key_pem)
    builder = pki.builder(old.subject, ca_cert.subject, key.public_key())
    for ext in old.extensions:
        if isinstance(ext.value, x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
    return pki.cert_pem(builder.sign(ca_key, hashes.SHA256())), pki.key_pem(key)


def renew_all():
    """`certs renew all`: each present leaf certificate re-issued; returns kubeadm's output lines."""
    said = []
    for name, (path, ca, embedded, long_name) in sorted(CERTS.items()):
        pem = _cert_of(name)
        if pem is None:
            said.append(f"MISSING! {long_name}")
            continue
        ca_cert, ca_key = _ca(ca)
        if ca_key is None:
            said.append(f"Detected external {ca}, {long_name} can't be renewed")
            continue
        cert, key = reissue(pem, ca_cert, ca_key)
        if embedded:
            config = yaml.safe_load(_read(path)) or {}
            config["users"][0]["user"].update({"client-certificate-data": pki.b64(cert),
                                               "client-key-data": pki.b64(key)})
            write_atomic(host_path(path), yaml.safe_dump(config, sort_keys=False), 0o600)
        else:
            write_atomic(host_path(path + ".key"), key, 0o600)
            write_atomic(host_path(path + ".crt"), cert, 0o644)
        said.append(f"{long_name} renewed")
    return said + [RENEW_DONE]


OTHER_KUBECONFIGS = tuple(CERTS[name][0] for name in KUBECONFIG_USERS)  # what reset removes besides admin.conf
