"""/opt/u7s-lab/venv: the repo's u7s installed where every lab user can run it.

Built with Debian's /usr/bin/python3 (root's own Python may live in a home
that other users cannot read). The checkout is installed non-editable, so lab
users need no access to it. The first install brings the dependencies; later
ones reinstall only u7s itself, unless pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .commands import LabError, log, run
from .layout import VENV_DIR

SYSTEM_PYTHON = "/usr/bin/python3"
NO_INSTALL_ENV = "U7S_LAB_NO_INSTALL"
_MARKER = ".u7s-lab-deps"
PODMAN_COMPOSE = "1.0.6"


def install(repo: Path, venv: Path = VENV_DIR) -> Path | None:
    """Install the checkout at repo into venv; return the u7s program's path (None if skipped)."""
    pyproject = repo / "pyproject.toml"
    if not pyproject.is_file():
        if os.environ.get(NO_INSTALL_ENV) == "1":
            log(f"no {pyproject}; {NO_INSTALL_ENV}=1, so lab hosts get no u7s")
            return None
        raise LabError(f"cannot install u7s into the lab: no {pyproject} (set {NO_INSTALL_ENV}=1 to go on without)")
    old_umask = os.umask(0o022)  # world-readable: lab users run it
    try:
        python = venv / "bin" / "python"
        if not python.exists():
            log(f"creating {venv} with {SYSTEM_PYTHON}")
            venv.parent.mkdir(parents=True, exist_ok=True)
            run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
        deps_key = hashlib.sha256(pyproject.read_bytes()).hexdigest()
        marker = venv / _MARKER
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        # podman-compose: the compose tool u7s uses with Podman (the lab's first host runs Podman too), at the
        # oldest version u7s accepts (Ubuntu 24.04's), as preflight tells a Debian 12 user to install it beside
        # Debian's 1.0.3 (which setup-machine.sh installs, as init-host.root.sh does).
        installed = run([str(python), "-c", "import importlib.metadata as m; print(m.version('podman-compose'))"],
                        check=False).stdout.strip()
        if installed != PODMAN_COMPOSE:
            run([*pip, f"podman-compose=={PODMAN_COMPOSE}"], timeout=600)
        if marker.exists() and marker.read_text() == deps_key:
            run([*pip, "--force-reinstall", "--no-deps", str(repo)], timeout=600)
            log(f"reinstalled u7s from {repo} into {venv}")
        else:
            log(f"installing u7s and its dependencies from {repo} into {venv}")
            # [compose]: the standalone docker-compose, so COMPOSE=docker-compose can be tested too.
            run([*pip, f"{repo}[compose]"], timeout=1200)
            marker.write_text(deps_key)
    finally:
        os.umask(old_umask)
    program = venv / "bin" / "u7s"
    if not program.exists():
        raise LabError(f"{program} is missing after installing {repo}: does pyproject.toml declare the u7s script?")
    return program
