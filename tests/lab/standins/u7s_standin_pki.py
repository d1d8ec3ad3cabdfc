"""Make kubeadm-style certificates and kubeconfigs for the u7s TEST STAND-INS (lab only).

The layout and contents follow kubeadm's: a cluster CA (`/etc/kubernetes/pki/ca.crt`,
`ca.key`), an API serving certificate whose SANs are what kubeadm puts there, and
client certificates whose subject carries the user (CN) and groups (O). Written for
the cryptography of Debian 12 (38.x) as well as newer ones.
"""

import base64
import datetime
import hashlib
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PKI_DIR = "/etc/kubernetes/pki"
CA_NAME = "kubernetes"
SERVICE_SUBNET = "10.96.0.0/16"
CLUSTER_DOMAIN = "cluster.local"
VALIDITY_DAYS = 365  # kubeadm's leaf certificates (constants.CertificateValidityPeriod)
CA_VALIDITY_DAYS = 3650  # kubeadm's CAs (constants.CACertificateValidityPeriod)


def leaf_validity_days():
    """Days a leaf certificate is valid: kubeadm's year, or the `certs-expire-in-days` switch's value."""
    from u7s_standin_common import StandinError, switch

    value = switch("certs-expire-in-days")
    if not value:
        return VALIDITY_DAYS
    try:
        return float(value)
    except ValueError:
        raise StandinError(f"switch certs-expire-in-days: {value!r} is not a number of days") from None


def _key():
    # P-256 instead of kubeadm's RSA-2048: as real to a TLS client, and made in a millisecond.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name, organizations=()):
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def key_pem(key):
    """Return KEY as an unencrypted PKCS#8 PEM string."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def cert_pem(cert):
    """Return CERT as a PEM string."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem):
    """Parse a PEM certificate (str or bytes)."""
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def load_key(pem):
    """Parse a PEM private key (str or bytes)."""
    return serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)


def _builder(subject, issuer, public_key, days=None):
    now = datetime.datetime.utcnow().replace(microsecond=0)
    days = leaf_validity_days() if days is None else days
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)))


new_key, builder = _key, _builder  # for u7s_standin_certs


def make_ca(common_name=CA_NAME):
    """Return (certificate PEM, key PEM) of a new CA (the cluster's is named `kubernetes`), as kubeadm's."""
    key = _key()
    name = _name(common_name)
    cert = (_builder(name, name, key.public_key(), CA_VALIDITY_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def first_service_ip(service_subnet=SERVICE_SUBNET):
    """Return the first address of the service subnet (the `kubernetes` Service's ClusterIP)."""
    return str(ipaddress.ip_network(service_subnet)[1])


def apiserver_sans(node_name, advertise_address, cert_sans=(), service_subnet=SERVICE_SUBNET):
    """List the API serving certificate's SANs in kubeadm's order: DNS names, then IPs, deduplicated."""
    wanted = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
              f"kubernetes.default.svc.{CLUSTER_DOMAIN}", node_name,
              first_service_ip(service_subnet), advertise_address, *cert_sans]
    dns, ips = [], []
    for item in wanted:
        try:
            address = str(ipaddress.ip_address(item))
        except ValueError:
            if item not in dns:
                dns.append(item)
        else:
            if address not in ips:
                ips.append(address)
    return dns, ips


def _sign(ca_cert_pem, ca_key_pem, subject, public_key, usage, sans=None):
    ca_cert, ca_key = load_cert(ca_cert_pem), load_key(ca_key_pem)
    builder = (_builder(subject, ca_cert.subject, public_key)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if sans is not None:
        dns, ips = sans
        general = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return cert_pem(builder.sign(ca_key, hashes.SHA256()))


def make_serving_cert(ca_cert_pem, ca_key_pem, dns, ips, common_name="kube-apiserver"):
    """Return (certificate PEM, key PEM) for a TLS server with the given SANs, signed by the CA."""
    key = _key()
    cert = _sign(ca_cert_pem, ca_key_pem, _name(common_name), key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH,
                 (dns, ips))
    return cert, key_pem(key)


def make_client_cert(ca_cert_pem, ca_key_pem, user, groups=()):
    """Return (certificate PEM, key PEM) of a client certificate: CN = user, O = groups."""
    key = _key()
    cert = _sign(ca_cert_pem, ca_key_pem, _name(user, groups), key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH)
    return cert, key_pem(key)


def make_csr(user, groups=()):
    """Return (CSR PEM, key PEM) for a client certificate request, as the kubelet's TLS bootstrap makes."""
    key = _key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(user, groups)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key)


def sign_csr(ca_cert_pem, ca_key_pem, csr_pem):
    """Sign a client CSR with the CA; return (certificate PEM, user, groups)."""
    csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature is invalid")
    user, groups = subject_identity(csr.subject)
    cert = _sign(ca_cert_pem, ca_key_pem, csr.subject, csr.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH)
    return cert, user, groups


def subject_identity(subject):
    """Return (user, groups) from a certificate subject, as the API server reads it."""
    user = next((a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)), "")
    groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return user, groups


def ca_cert_hash(ca_cert_pem):
    """Return kubeadm's `sha256:<hex>` pin: the SHA-256 of the CA's DER SubjectPublicKeyInfo."""
    spki = load_cert(ca_cert_pem).public_key().public_bytes(serialization.Encoding.DER,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def sans_of(cert_pem_text):
    """Return (DNS names, IP strings) of a certificate's SubjectAlternativeName."""
    ext = load_cert(cert_pem_text).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), [str(i) for i in ext.get_values_for_type(x509.IPAddress)]


def b64(text):
    """Base64 of a str, as kubeconfigs carry certificates and keys."""
    return base64.b64encode(text.encode()).decode()


def kubeconfig(server, ca_cert_pem, user, cert=None, key=None, token=None, cluster="kubernetes"):
    """Return a kubeconfig dict like kubeadm's: one cluster, one user, one context."""
    credentials = {}
    if cert is not None:
        credentials = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    if token is not None:
        credentials["token"] = token
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"certificate-authority-data": b64(ca_cert_pem), "server": server}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": credentials}],
    }
