"""Tell whether pip may install into an interpreter, and say in one line what to do when it cannot.

tests/setup-machine.sh runs this by path with the interpreter in question, with the standard
library only (the interpreter may have nothing else): `--externally-managed` exits 0 for a
system Python that pip refuses (PEP 668: Debian 12's and 13's own python3), so that the
script makes a venv for the tests instead; with no argument, after pip failed or is
missing, it prints the line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Where tests/setup-machine.sh makes the tests' venv (the same path is written there).
VENV = "/opt/u7s-test-venv"


def externally_managed(prefix: str, base_prefix: str, stdlib: str) -> bool:
    """Tell whether pip refuses this interpreter: its stdlib has the PEP 668 marker, and it is no venv."""
    return prefix == base_prefix and (Path(stdlib) / "EXTERNALLY-MANAGED").is_file()


def advice(executable: str, prefix: str, base_prefix: str, stdlib: str, has_pip: bool) -> str:
    """Return the line for an interpreter whose pip failed or is missing."""
    fix = (f"leave PYTHON unset (setup-machine.sh then makes {VENV} and uses it), or make a venv "
           f"and use it: {Path(executable).name} -m venv DIR && PYTHON=DIR/bin/python bash tests/run.sh")
    if externally_managed(prefix, base_prefix, stdlib):
        return f"setup-machine.sh: {executable} is the system's Python, externally managed (PEP 668): {fix}"
    if not has_pip:
        where = "the venv" if prefix != base_prefix else "it"
        return f"setup-machine.sh: {executable} has no pip: install pip into {where} (Debian: python3-pip), or {fix}"
    return f"setup-machine.sh: pip failed for {executable} (its output is above)"


def main(argv: list[str]) -> int:
    import importlib.util
    import sysconfig

    stdlib = sysconfig.get_path("stdlib")
    if argv == ["--externally-managed"]:
        return 0 if externally_managed(sys.prefix, sys.base_prefix, stdlib) else 1
    print(advice(sys.executable, sys.prefix, sys.base_prefix, stdlib, importlib.util.find_spec("pip") is not None),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
