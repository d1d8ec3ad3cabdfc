"""The control plane's certificates: read their expiry from kubeadm, renew them, restart what reads them.

kubeadm's leaf certificates live a year, its CAs ten. `kubeadm certs check-expiration` prints two
tables (cmd/kubeadm/app/cmd/certs.go: Go's tabwriter, padding 3; dates as "Jan 02, 2006 15:04 MST",
always UTC since they are the certificates' NotAfter); the parser reads them. `kubeadm certs renew all`
re-issues every leaf certificate with the same CA; the components read theirs only when they start,
so the node container is restarted afterwards (see `renew`).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict, dataclass

from u7s.render import engine
from u7s.errors import U7sError
from u7s.node import kube
from u7s.node.container import Node

WARN_DAYS = 30
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), 1)}
_DATE = re.compile(r"^([A-Z][a-z]{2}) (\d{2}), (\d{4}) (\d{2}):(\d{2}) (UTC|GMT)$")
_CELLS = re.compile(r"\s{3,}")  # tabwriter pads with at least 3 spaces; no cell holds 3 in a row


@dataclass(frozen=True)
class Cert:
    name: str
    expires: datetime.datetime | None  # None when missing
    residual: str  # kubeadm's RESIDUAL TIME ("360d", "9y", "<invalid>")
    authority: str  # the CA that signs it; "" for a CA
    is_ca: bool = False
    external: bool = False
    missing: bool = False

    def days_left(self, now: datetime.datetime) -> float | None:
        return None if self.expires is None else (self.expires - now).total_seconds() / 86400

    def as_json(self, now: datetime.datetime) -> dict:
        d = asdict(self)
        d["expires"] = self.expires.isoformat() if self.expires else None
        left = self.days_left(now)
        d["days_left"] = None if left is None else round(left, 1)
        return d


def parse_date(text: str) -> datetime.datetime:
    """Pure: kubeadm's "Aug 19, 2026 09:03 UTC" as an aware UTC datetime (no locale involved)."""
    m = _DATE.match(text.strip())
    if not m or m.group(1) not in _MONTHS:
        raise ValueError(f"not kubeadm's expiry date: {text.strip()!r}")
    month, day, year, hour, minute = _MONTHS[m.group(1)], *(int(g) for g in m.group(2, 3, 4, 5))
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.timezone.utc)


def parse_expiration(text: str) -> list[Cert]:
    """Pure: every row of `kubeadm certs check-expiration`'s two tables; raises ValueError if there are none."""
    certs: list[Cert] = []
    section = None
    for line in text.splitlines():
        cells = _CELLS.split(line.strip())
        if cells[:2] == ["CERTIFICATE", "EXPIRES"]:
            section = "cert"
            continue
        if cells[:2] == ["CERTIFICATE AUTHORITY", "EXPIRES"]:
            section = "ca"
            continue
        if section is None or not line.strip():
            continue
        is_ca = section == "ca"
        if line.startswith("!MISSING! "):
            certs.append(Cert(line.split()[1], None, "", "", is_ca=is_ca, missing=True))
            continue
        want = 4 if is_ca else 5
        if len(cells) != want:
            raise ValueError(f"unexpected row in kubeadm's {'CA' if is_ca else 'certificate'} table: {line.strip()!r}")
        authority = "" if is_ca else cells[3]
        certs.append(Cert(cells[0], parse_date(cells[1]), cells[2], authority, is_ca=is_ca,
                          external=cells[-1] == "yes"))
    if not certs:
        raise ValueError("no certificate table in kubeadm's output")
    return certs


def expiring(certs: list[Cert], now: datetime.datetime, days: int = WARN_DAYS) -> list[Cert]:
    """Pure: the certificates that expire within DAYS of NOW (or have expired), soonest first."""
    soon = [c for c in certs if c.expires is not None and c.days_left(now) < days]
    return sorted(soon, key=lambda c: c.expires)


def warning(certs: list[Cert], now: datetime.datetime, where: str, command: str,
            days: int = WARN_DAYS) -> str | None:
    """Pure: one line naming what expires within DAYS and how to renew it, or None."""
    soon = expiring(certs, now, days)
    if not soon:
        return None

    def when(c: Cert) -> str:
        left = c.days_left(now)
        return f"{c.name} expired" if left < 0 else f"{c.name} in {int(left)}d"

    shown = ", ".join(when(c) for c in soon[:4]) + (f" and {len(soon) - 4} more" if len(soon) > 4 else "")
    fix = f"renew with `{command} --renew`" if any(not c.is_ca for c in soon) else \
        "a CA is renewed only by hand (kubeadm's `certs renew` does not)"
    return f"{where}: certificates expire within {days} days: {shown}; {fix}"


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


CHECK = ["kubeadm", "certs", "check-expiration"]


def read(node: Node) -> list[Cert]:
    """The control plane's certificates as kubeadm reports them."""
    node.require_running()
    if not kube.admin_conf_exists(node):
        raise U7sError(f"{node.host.name}: the cluster is not initialised here (no {kube.ADMIN_CONF}); "
                       "certificates live on the control plane")
    out = kube.kubeadm(node, *CHECK[1:], what="kubeadm certs check-expiration")
    try:
        return parse_expiration(out)
    except ValueError as e:
        raise U7sError(f"{node.host.name}: cannot read kubeadm certs check-expiration: {e}") from None


def restart_argv(node: Node) -> list[str]:
    return engine.engine_cmd(node.s, "restart", engine.container_name(node.s))


def renew(node: Node) -> str:
    """`kubeadm certs renew all`, then restart the node container and wait until the API answers again.

    kubeadm's documented step after renewing is to restart the control plane's static pods (each
    component reads its certificate only when it starts). They run in the node's own containerd, and
    the kubelet reads kubelet.conf only when it starts too: restarting the node container restarts all
    of them at once, with the same volumes, in the time of a boot, where moving each manifest out and
    back waits the kubelet's fileCheckFrequency (20 s) twice and leaves the kubelet as it was.
    """
    read(node)  # refuses a node that is not the control plane, before anything changes
    kube.kubeadm(node, "certs", "renew", "all", what="kubeadm certs renew all")
    with node.report.step("restarting the node so that every component reads its new certificate"):
        node.host.run(restart_argv(node))
        node.wait_booted()
        kube.wait_api(node)
    return "certificates renewed (kubeadm certs renew all); node restarted, API answering"
