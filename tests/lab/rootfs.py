"""A Debian root file system for the lab's node image, made with debootstrap and cached.

No image registry is reachable, so the lab's stand-in for kindest/node starts
from a debootstrapped bookworm with systemd and containerd. The tarball is
cached under /var/cache/u7s-lab, keyed by everything that shapes it, and made
only when that key changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from .commands import log, run
from .layout import CACHE_DIR

SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "iproute2", "iptables", "containerd", "runc", "kmod", "procps",
    "socat", "ethtool", "iputils-ping", "gettext-base", "moreutils", "python3", "python3-yaml",
    "python3-cryptography", "python3-cffi-backend",  # debootstrap resolves no virtual packages (cffi-backend-api)
    "ca-certificates", "udev", "bash",
)
# Removed after debootstrap: nothing in the lab reads them.
TRIM = (
    "var/cache/apt/archives", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/lib/apt/lists",
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
)
# Bump when the way the tarball is made changes, so caches are remade.
RECIPE = 1
DEFAULT_MIRROR = "http://deb.debian.org/debian"
STALE_SECONDS = 24 * 3600


def cache_key() -> str:
    recipe = {"suite": SUITE, "variant": VARIANT, "packages": sorted(PACKAGES), "trim": TRIM, "recipe": RECIPE}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def tarball_path() -> Path:
    return CACHE_DIR / f"rootfs-{SUITE}-{cache_key()}.tar"


def ensure_tarball() -> Path:
    """Return the cached root file system tarball, making it first if the cache lacks it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = tarball_path()
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one debootstrap at a time on this machine
        if target.exists():
            log(f"root file system cached: {target}")
            return target
        _make(target)
        # Other checkouts on this machine may use another recipe right now: only a day-old tarball is stale.
        for stale in CACHE_DIR.glob(f"rootfs-{SUITE}-*.tar"):
            if stale != target and time.time() - stale.stat().st_mtime > STALE_SECONDS:
                stale.unlink()
    return target


def _make(target: Path) -> None:
    mirror = apt_mirror()
    log(f"debootstrap {SUITE} from {mirror} (a minute or two; cached afterwards)")
    with tempfile.TemporaryDirectory(prefix="u7s-lab-rootfs-", dir="/var/tmp") as work:
        root = Path(work) / "root"
        run(["debootstrap", f"--variant={VARIANT}", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror],
            timeout=1800)
        _trim(root)
        partial = target.with_suffix(".tar.partial")
        run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."], timeout=600)
        partial.replace(target)
    log(f"root file system cached: {target} ({target.stat().st_size // 2**20} MiB)")


def _trim(root: Path) -> None:
    for relative in TRIM:
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
        elif path.exists():
            path.unlink()
    # An empty machine-id: systemd makes a fresh one at each boot, so nodes differ.
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)


def apt_mirror() -> str:
    """Return the Debian mirror this machine's apt uses for the suite (sources.list or deb822 .sources)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            mirror = _mirror_from_deb822(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            mirror = _mirror_from_one_line(text)
        else:
            mirror = None
        if mirror:
            return mirror
    return DEFAULT_MIRROR


def _mirror_from_one_line(text: str) -> str | None:
    for line in text.splitlines():
        # deb [options] URI suite components...
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
            return words[1].rstrip("/")
    return None


def _mirror_from_deb822(text: str) -> str | None:
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) and fields.get("uris"):
            return fields["uris"][0].rstrip("/")
    return None
