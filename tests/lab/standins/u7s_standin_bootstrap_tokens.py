"""Bootstrap tokens as kubeadm keeps and shows them: a u7s TEST STAND-IN helper (lab only, never ships).

The Secret `kubeadm token create` stores (type bootstrap.kubernetes.io/token in kube-system), the Go
durations `--ttl` takes, and the table `kubeadm token list` prints (kubernetes cmd/kubeadm/app/cmd/token.go:
formatBootstrapToken pads TTL, USAGES and DESCRIPTION to 9, 22 and 56 characters, and each token goes
through its own tabwriter of minimum cell width 10 and padding 3, the header with the first token only).
"""

import base64
import datetime
import re

TOKEN_ID_RE = re.compile(r"[a-z0-9]{6}")
TOKEN_RE = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
USAGE_PREFIX = "usage-bootstrap-"
COLUMNS = ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]
DEFAULT_GROUP = "system:bootstrappers:kubeadm:default-node-token"


def parse_duration(text):
    """Return the seconds in a Go duration such as `24h`, `1h30m` or `0`."""
    if text in ("0", "+0"):
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    part = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
    if not re.fullmatch(f"(?:{part})+", text):
        raise ValueError(f'invalid duration "{text}" for --ttl')
    return sum(float(n) * units[u] for n, u in re.findall(part, text))


def bootstrap_token_secret(token_id, token_secret, ttl_seconds, description="", now=None):
    """Build the Secret kubeadm stores a bootstrap token in; no `expiration` when TTL is 0 (never expires)."""
    data = {"token-id": token_id, "token-secret": token_secret,
            "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
            "auth-extra-groups": DEFAULT_GROUP}
    if description:
        data["description"] = description
    if ttl_seconds:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        data["expiration"] = (now + datetime.timedelta(seconds=ttl_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "type": SECRET_TYPE,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def token_data(secret):
    """The decoded data of a bootstrap-token Secret."""
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def short_duration(seconds):
    """Go's duration.ShortHumanDuration (k8s.io/apimachinery/pkg/util/duration), as `token list` shows TTL."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d" if s < 86400 * 365 else f"{s // (86400 * 365)}y"


def row(secret, now=None):
    """The cells kubeadm prints for one token: TOKEN, TTL, EXPIRES, USAGES, DESCRIPTION, EXTRA GROUPS."""
    data = token_data(secret)
    ttl, expires = "<forever>", "<never>"
    if data.get("expiration"):
        at = datetime.datetime.strptime(data["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        now = now or datetime.datetime.now(datetime.timezone.utc)
        ttl, expires = short_duration((at - now).total_seconds()), data["expiration"]
    usages = ",".join(sorted(k[len(USAGE_PREFIX):] for k, v in data.items()
                             if k.startswith(USAGE_PREFIX) and v == "true")) or "<none>"
    return [f"{data.get('token-id', '')}.{data.get('token-secret', '')}", f"{ttl:<9}", expires, f"{usages:<22}",
            f"{data.get('description') or '<none>':<56}", data.get("auth-extra-groups") or "<none>"]


def tabwriter(lines):
    """Go's text/tabwriter with minwidth 10, padding 3 and spaces, for tab-separated cells; last cell as is."""
    widths = {}
    for cells in lines:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 10), len(cell) + 3)
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1] + "\n"
                   for cells in lines)


def table(secrets, now=None):
    """What `kubeadm token list` prints for these Secrets: nothing at all when there is no token."""
    return "".join(tabwriter(([COLUMNS] if i == 0 else []) + [row(s, now)]) for i, s in enumerate(secrets))
