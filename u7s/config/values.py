"""Check single values a user gives: numbers, addresses, networks, names, image references, paths.

Every check either returns the clean value or raises ValueError whose text says
what is wrong, in words that fit after "KEY: " in a one-line message. Values are
quoted with `shown`, which keeps only a short prefix of them.
Pure functions, no imports beyond the standard library: used by settings,
the inventory and the YAML loader alike.
"""

from __future__ import annotations

import ipaddress
import math
import posixpath
import re
import socket

SHOWN = 40
SERVICE_SUBNET = ipaddress.IPv4Network("10.96.0.0/16")
POD_SUBNET = ipaddress.IPv4Network("10.244.0.0/16")
DECIMAL = re.compile(r"^(?:0|[1-9][0-9]*)$", re.ASCII)
# No leading '-' (it would be read as an option), no whitespace, no shell metacharacters.
SSH_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$", re.ASCII)
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$",
    re.ASCII)
SSH_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$", re.ASCII)
ENGINES = ("docker", "podman", "nerdctl")
# A Node name is a DNS subdomain (RFC 1123, as Kubernetes checks it: FQDNs such as u7s-h1.example.com
# included); it is also the node container's hostname, which the kernel caps at 64 bytes.
NODE_NAME_FORM = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
NODE_NAME_RULE = ("not a DNS name (lowercase letters, digits, '-' and '.', each part starting and ending with a "
                  "letter or digit, at most 63 characters)")
COMPOSE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+@-]*$", re.ASCII)
# The image reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
IMAGE_REF = re.compile(
    rf"^(?P<name>{_NAME})(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$", re.ASCII)
IMAGE_NAME_MAX = 255
# Directories that belong to the system: a working directory there would mix u7s's files into it.
SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
               "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
               "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share", "/var/lib", "/var/tmp",
               "/var/log", "/var/run"}
KERNEL_TREES = ("/proc/", "/sys/", "/dev/")


def _short_repr():
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxset = 2, 4, 4, 4, 4
    r.maxstring = r.maxother = r.maxlong = SHOWN
    return r


_REPR = _short_repr()


def shown(value, limit: int = SHOWN, quote: bool = True) -> str:
    """The value as it appears in a message: at most `limit` characters of it, on one line.

    Strings are quoted (quote=False for `KEY=value` forms); characters that are not
    printable are escaped either way, so a message stays one line.
    """
    if isinstance(value, str):
        text = value if value.isprintable() else repr(value)[1:-1]
    else:  # reprlib stops early: a structure built from aliases may be huge once walked
        text, quote = _REPR.repr(value), False
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"'{text}'" if quote else text


class OutOfRange(ValueError):
    """A whole number, but outside the range asked for."""


def whole_number(value, low: int, high: int) -> int:
    """An int from YAML, or a string of plain decimal digits; in [low, high]."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is a boolean, not a number")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{shown(value)} is not a number")
        raise ValueError(f"{shown(value)} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not DECIMAL.match(text):
            raise ValueError(f"{shown(value)} is not a plain whole number (digits 0-9 only, no sign, "
                             "'_' or leading zero)")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError(f"{shown(value)} is not a number")
    if not low <= value <= high:
        raise OutOfRange(f"{value} is out of range {low}..{high}")
    return value


def ipv4(text) -> ipaddress.IPv4Address:
    """A dotted-quad IPv4 address written the usual way (four decimal parts, no leading zeros)."""
    if not isinstance(text, str):
        raise ValueError(f"{shown(text)} is not an IPv4 address")
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError(f"{shown(text)} is not an IPv4 address (four decimal parts, e.g. 192.168.1.10)") from None


def host_ip_problem(addr: ipaddress.IPv4Address, allow_loopback: bool) -> str | None:
    """Why other hosts cannot reach this address, or None when they can."""
    if addr.is_unspecified:
        return f"{addr} is the unspecified address"
    if addr == ipaddress.IPv4Address("255.255.255.255"):
        return f"{addr} is the broadcast address"
    if addr.is_multicast:
        return f"{addr} is a multicast address"
    if addr.is_link_local:
        return f"{addr} is link-local"
    if addr.is_loopback and not allow_loopback:
        return f"{addr} is a loopback address, which no other host can reach"
    if addr.is_reserved:
        return f"{addr} is in a reserved range"
    if addr in ipaddress.IPv4Network("0.0.0.0/8"):
        return f"{addr} is in 0.0.0.0/8 (this network)"
    return None


def subnet_problem(net: ipaddress.IPv4Network, pods=POD_SUBNET, services=SERVICE_SUBNET) -> str | None:
    """Why `net` cannot be a node network, or None when it can (given the cluster's pod and service ranges)."""
    for other, what in ((ipaddress.IPv4Network(services, strict=False), "the service range"),
                        (ipaddress.IPv4Network(pods, strict=False), "the pod range")):
        if net.overlaps(other):
            return f"{net} overlaps {what} {other}"
    return special_range_problem(net)


def special_range_problem(net: ipaddress.IPv4Network) -> str | None:
    """Why `net` cannot hold cluster addresses (loopback, link-local, multicast, reserved), or None."""
    for other, what in ((ipaddress.IPv4Network("127.0.0.0/8"), "loopback"),
                        (ipaddress.IPv4Network("169.254.0.0/16"), "link-local"),
                        (ipaddress.IPv4Network("224.0.0.0/4"), "multicast"),
                        (ipaddress.IPv4Network("240.0.0.0/4"), "the reserved range"),
                        (ipaddress.IPv4Network("0.0.0.0/8"), "0.0.0.0/8 (this network)")):
        if net.overlaps(other):
            return f"{net} overlaps {what} {other}"
    return None


def ssh_user(text) -> str:
    if not isinstance(text, str) or not SSH_USER.match(text):
        raise ValueError(f"{shown(text)} is not a user name (letters, digits, '.', '_', '-', '@'; "
                         "not starting with '-')")
    return text


def ssh_address(text) -> str:
    """A host name or an IP address (IPv4 in any form `ssh` accepts, or IPv6)."""
    if isinstance(text, str) and (_ip_form(text) or (DNS_NAME.match(text) and not _numeric_tld(text))):
        return text
    raise ValueError(f"{shown(text)} is not a host name or an IP address")


def _numeric_tld(text: str) -> bool:
    """A name whose last label is all digits is a mistyped address, never a DNS name (RFC 3696)."""
    return text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def ssh_alias(text) -> str:
    if not isinstance(text, str) or not SSH_ALIAS.match(text):
        raise ValueError(f"{shown(text)} is not a ~/.ssh/config host name (letters, digits, '.', '_', '-')")
    return text


def jump_host(text) -> str:
    """`[user@]host[:port]` or an ssh_config alias."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{shown(text)} is not a jump host")
    user, at, rest = text.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):  # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    try:
        if at:
            ssh_user(user)
        if not (DNS_NAME.match(host) or SSH_ALIAS.match(host) or _ip_form(host)):
            raise ValueError
        if port is not None:
            whole_number(port, 1, 65535)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a jump host ([user@]host[:port] or a ~/.ssh/config name)") from None
    return text


def canonical_address(text: str) -> str:
    """One spelling per address, so `127.3`, `127.0.0.3` and `0x7f.0.0.3` compare equal."""
    ip = _ip_form(text)
    if ip is not None:
        return str(ip)
    name = text.lower().rstrip(".")
    return "127.0.0.1" if name == "localhost" else name


def _ip_form(text: str):
    """The address `text` names when it is written as an IP address in any form, else None."""
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.strip("[]"))
        except ValueError:
            return None
    return ipv4_any_form(text)


def ipv4_any_form(text: str):
    """inet_aton's reading (what ssh and getaddrinfo accept: 127.3, 0x7f.1, 2130706433), or None."""
    if not re.match(r"^[0-9a-fA-FxX.]+$", text) or not re.match(r"^[0-9]", text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def engine(text) -> str:
    """docker, podman or nerdctl, or an absolute path whose last part is one of them."""
    if isinstance(text, str):
        if text in ENGINES:
            return text
        if SAFE_PATH.match(text) and posixpath.basename(text) in ENGINES:
            return text
    raise ValueError(f"{shown(text)} is not docker, podman or nerdctl (or an absolute path to one)")


def image_reference(text) -> str:
    if not isinstance(text, str) or not IMAGE_REF.match(text):
        raise ValueError(f"{shown(text)} is not an image reference (e.g. docker.io/library/name:tag)")
    name = IMAGE_REF.match(text).group("name")
    if len(name) > IMAGE_NAME_MAX:
        raise ValueError(f"{shown(text)}: the image name is longer than {IMAGE_NAME_MAX} characters")
    return text


def workdir(text) -> str:
    """An absolute, normalised path that is not / or a system directory."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise ValueError(f"{shown(text)} is not an absolute path")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in text) or len(text) > 1024:
        raise ValueError(f"{shown(text)} has control characters or is too long")
    if posixpath.normpath(text) != text or text.startswith("//"):
        raise ValueError(f"{shown(text)} is not normalised (no '..', '.', '//' or trailing '/'); "
                         f"use {shown(posixpath.normpath(text))}")
    if text in SYSTEM_DIRS or text.startswith(KERNEL_TREES):
        raise ValueError(f"{shown(text)} is a system directory")
    return text


ENGINE_HOST = re.compile(
    r"^(?:unix:///[A-Za-z0-9._/+@-]+"
    r"|tcp://[A-Za-z0-9.-]+:[0-9]{1,5}"
    r"|ssh://(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._/+@-]*)?)$",
    re.ASCII)


def engine_host(text) -> str:
    """The engine's API address as its CLI takes it: unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]."""
    if isinstance(text, str) and ENGINE_HOST.match(text) and "/../" not in text + "/":
        return text
    raise ValueError(f"{shown(text)} is not an engine address (unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST)")
