"""Say in one line why pip cannot install the test packages into an interpreter, and what to do.

tests/setup-machine.sh runs this with the interpreter it installs into (PYTHON), by path and
with the standard library only (the interpreter may have nothing else), after pip failed
or is missing. Debian 13's /usr/bin/python3 comes without pip and is marked externally
managed (PEP 668), so pip refuses it; Debian 12's has no such marker.
"""

from __future__ import annotations

import sys
from pathlib import Path

VENV = "/opt/u7s-test"


def advice(executable: str, prefix: str, base_prefix: str, stdlib: str, has_pip: bool) -> str:
    """Return the line for an interpreter whose pip failed or is missing."""
    in_venv = prefix != base_prefix
    fix = (f"make a venv and use it: {Path(executable).name} -m venv {VENV} && "
           f"PYTHON={VENV}/bin/python bash tests/run.sh (tests/setup-machine.sh takes PYTHON too)")
    if not in_venv and (Path(stdlib) / "EXTERNALLY-MANAGED").is_file():
        return f"setup-machine.sh: {executable} is the system's Python, externally managed (PEP 668): {fix}"
    if not has_pip:
        where = "the venv" if in_venv else "it"
        return f"setup-machine.sh: {executable} has no pip: install pip into {where} (Debian: python3-pip), or {fix}"
    return f"setup-machine.sh: pip failed for {executable} (its output is above)"


def main() -> int:
    import importlib.util
    import sysconfig

    print(advice(sys.executable, sys.prefix, sys.base_prefix, sysconfig.get_path("stdlib"),
                 importlib.util.find_spec("pip") is not None), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
