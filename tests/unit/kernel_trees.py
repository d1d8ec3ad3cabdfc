"""Made-up roots holding a kernel's recorded module lists, for init-host/kernel-modules.sh (U7S_INIT_HOST_ROOT).

Each kind is a real host's files (see fixtures/README.md):
- `builtin`: the test machines' kernel 6.18 (everything u7s needs built in, no module support:
  no /proc/modules, no /lib/modules), its /proc/config.gz and its /sys/module entries;
- `debian`: Debian 12's cloud kernel 6.1 (everything a loadable module), its modules.builtin and
  /boot/config, with /proc/modules as `partial` (br_netfilter and vxlan not loaded) or `all`;
- `bare`: nothing readable at all (a container without /proc/config.gz, /boot or /lib/modules).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.unit.u7s_fakes import FIXTURES

SCRIPT = Path(__file__).resolve().parents[2] / "init-host" / "kernel-modules.sh"
RELEASE = os.uname().release  # the script reads the files of the running kernel's release


def make_tree(root: Path, kind: str, loaded: str = "partial") -> Path:
    """Fill `root` with the kind's files; return it."""
    if kind == "builtin":
        (root / "proc").mkdir(parents=True)
        shutil.copy(FIXTURES / "kernel-config-6.18.44.gz", root / "proc" / "config.gz")
        for name in (FIXTURES / "sys-module-6.18.44.txt").read_text().split():
            (root / "sys" / "module" / name).mkdir(parents=True)
    elif kind == "debian":
        (root / "proc").mkdir(parents=True)
        shutil.copy(FIXTURES / f"proc-modules-{loaded}.txt", root / "proc" / "modules")
        modules = root / "lib" / "modules" / RELEASE
        modules.mkdir(parents=True)
        shutil.copy(FIXTURES / "modules.builtin-6.1.0-53-cloud-amd64", modules / "modules.builtin")
        (root / "boot").mkdir()
        shutil.copy(FIXTURES / "config-6.1.0-53-cloud-amd64", root / "boot" / f"config-{RELEASE}")
    elif kind != "bare":
        raise ValueError(kind)
    root.mkdir(parents=True, exist_ok=True)
    return root


@functools.cache
def states(kind: str, modules: tuple[str, ...], loaded: str = "partial") -> str:
    """What kernel-modules.sh prints for `modules` on a host of this kind (run for real, once per kind)."""
    with tempfile.TemporaryDirectory() as top:
        root = make_tree(Path(top) / "root", kind, loaded)
        r = subprocess.run(["sh", str(SCRIPT), *modules], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                           "U7S_INIT_HOST_ROOT": str(root)}, capture_output=True, text=True, check=True)
    return r.stdout
