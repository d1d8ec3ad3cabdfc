"""Talk to the Kubernetes API over TLS as a kubeconfig says, for the u7s TEST STAND-INS (lab only).

kubeadm's join, helm, the kubelet and flannel are API clients in a real cluster;
their stand-ins use this: the server and CA from the kubeconfig (verified, by
name), the client certificate or a bearer token, JSON in and out.
"""

import base64
import http.client
import json
import os
import socket
import ssl
import tempfile
from urllib.parse import quote, urlencode, urlsplit

import yaml

from u7s_standin_common import ADMIN_CONF, StandinError, host_path, resolve_from_hosts


class ApiError(Exception):
    """The API answered with a failure Status (or could not be reached: code 0)."""

    def __init__(self, code, body):
        self.code, self.body = code, body if isinstance(body, dict) else {"message": str(body)}
        super().__init__(self.body.get("message") or f"HTTP {code}")

    @property
    def reason(self):
        return self.body.get("reason", "")


def load_kubeconfig(path):
    """Return (server, CA PEM, client cert PEM, client key PEM, token) of the current context."""
    with open(host_path(path), encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    contexts = {c["name"]: c.get("context", {}) for c in config.get("contexts") or []}
    clusters = {c["name"]: c.get("cluster", {}) for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) for u in config.get("users") or []}
    context = contexts.get(config.get("current-context"), {})
    cluster, user = clusters.get(context.get("cluster"), {}), users.get(context.get("user"), {})
    if "server" not in cluster:
        raise StandinError(f"{path}: no server for the current context")

    def data(entry, key):
        if entry.get(f"{key}-data"):
            return base64.b64decode(entry[f"{key}-data"]).decode()
        if entry.get(key):
            with open(host_path(entry[key]), encoding="utf-8") as f:
                return f.read()
        return None

    return (cluster["server"], data(cluster, "certificate-authority"), data(user, "client-certificate"),
            data(user, "client-key"), user.get("token"))


def find_kubeconfig(explicit=None):
    """Return the kubeconfig a tool would use: --kubeconfig, then KUBECONFIG, then admin.conf; or None."""
    candidates = [explicit] if explicit else [p for p in os.environ.get("KUBECONFIG", "").split(":") if p] \
        or [ADMIN_CONF]
    for candidate in candidates:
        if os.path.isfile(host_path(candidate)):
            return candidate
    return None


class _Connection(http.client.HTTPSConnection):
    """HTTPS to ADDRESS while verifying the certificate for the URL's host name."""

    def __init__(self, address, host, port, timeout, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Client:
    """A small REST client: `get/post/put/patch/delete(path, ...)` return decoded JSON or raise ApiError."""

    def __init__(self, server, ca_pem=None, cert_pem=None, key_pem=None, token=None, insecure=False,
                 timeout=10, agent="u7s-standin"):
        url = urlsplit(server)
        self.host, self.port = url.hostname, url.port or 443
        # Names resolve through /etc/hosts only, as in the node (the join script writes the control plane there).
        self.address = resolve_from_hosts(self.host) or self.host
        self.token, self.timeout, self.agent = token, timeout, agent
        self.context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if insecure:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        elif ca_pem:
            self.context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
        if cert_pem and key_pem:
            # ssl loads a client certificate only from files: a private 0600 file, removed at once.
            fd, path = tempfile.mkstemp(prefix=".u7s-standin-client-")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(cert_pem + ("\n" if not cert_pem.endswith("\n") else "") + key_pem)
                self.context.load_cert_chain(path)
            finally:
                os.unlink(path)

    @classmethod
    def from_kubeconfig(cls, path, **kwargs):
        server, ca, cert, key, token = load_kubeconfig(path)
        return cls(server, ca, cert, key, token, **kwargs)

    def request(self, method, path, body=None, content_type="application/json", query=None):
        """Send one request; return the decoded answer (or text), raise ApiError on a failure status."""
        if query:
            path += "?" + urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": self.agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        conn = _Connection(self.address, self.host, self.port, self.timeout, self.context)
        try:
            conn.request(method, path, data, headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            raise ApiError(0, {"message": f"{method} https://{self.host}:{self.port}{path}: {e}"}) from None
        finally:
            conn.close()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = raw.decode(errors="replace")
        if response.status >= 400:
            raise ApiError(response.status, answer if isinstance(answer, dict) else {"message": answer})
        return answer

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def post(self, path, body):
        return self.request("POST", path, body)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body, kind="merge"):
        types = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}
        return self.request("PATCH", path, body, types[kind])

    def delete(self, path):
        return self.request("DELETE", path)


def path_of(name, namespace=None, resource="", group_version=""):
    """Return the REST path of RESOURCE/NAME (the core group's v1 when GROUP_VERSION, e.g. apps/v1, is empty)."""
    base = f"/apis/{group_version}" if group_version else "/api/v1"
    ns = f"/namespaces/{quote(namespace)}" if namespace else ""
    return f"{base}{ns}/{resource}" + (f"/{quote(name)}" if name else "")
