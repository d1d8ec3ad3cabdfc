"""setup-machine.sh's one line when pip cannot install (Debian 13's externally managed python3, no pip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pip_advice import VENV, advice

REPO = Path(__file__).resolve().parents[2]


def stdlib(tmp_path: Path, marked: bool) -> str:
    directory = tmp_path / "lib" / "python3.13"
    directory.mkdir(parents=True)
    if marked:  # what Debian 13's python3.13 ships in /usr/lib/python3.13
        (directory / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=use a venv\n")
    return str(directory)


def test_debians_externally_managed_python_is_told_to_use_a_venv(tmp_path):
    line = advice("/usr/bin/python3", "/usr", "/usr", stdlib(tmp_path, marked=True), has_pip=False)
    assert "/usr/bin/python3 is the system's Python, externally managed (PEP 668)" in line
    assert f"python3 -m venv {VENV} && PYTHON={VENV}/bin/python bash tests/run.sh" in line
    assert "\n" not in line


def test_a_venv_of_that_python_is_not_externally_managed(tmp_path):
    # The marker stays in the base's stdlib, but pip ignores it in a venv, and so does the advice.
    line = advice(f"{VENV}/bin/python", VENV, "/usr", stdlib(tmp_path, marked=True), has_pip=False)
    assert "PEP 668" not in line
    assert f"{VENV}/bin/python has no pip: install pip into the venv" in line


def test_an_unmarked_python_without_pip_is_told_to_install_pip(tmp_path):
    # Debian 12's /usr/bin/python3 without python3-pip.
    line = advice("/usr/bin/python3", "/usr", "/usr", stdlib(tmp_path, marked=False), has_pip=False)
    assert line.startswith("setup-machine.sh: /usr/bin/python3 has no pip: install pip into it (Debian: python3-pip)")


def test_a_python_with_pip_that_failed_points_at_pips_output(tmp_path):
    line = advice("/root/.pyenv/shims/python3", "/root/.pyenv/versions/3.11.7", "/root/.pyenv/versions/3.11.7",
                  stdlib(tmp_path, marked=False), has_pip=True)
    assert line == "setup-machine.sh: pip failed for /root/.pyenv/shims/python3 (its output is above)"


def test_the_script_reads_the_running_interpreter(tmp_path):
    # A real venv without pip: the script, run by it, sees a venv and no pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    result = subprocess.run([str(python), str(REPO / "tests" / "pip_advice.py")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert result.stderr.strip() == (
        f"setup-machine.sh: {python} has no pip: install pip into the venv (Debian: python3-pip), or make a venv "
        f"and use it: python -m venv {VENV} && PYTHON={VENV}/bin/python bash tests/run.sh "
        "(tests/setup-machine.sh takes PYTHON too)")


@pytest.mark.skipif(os.geteuid() != 0, reason="setup-machine.sh runs as root only")
def test_setup_machine_ends_with_the_advice_when_pip_cannot_install(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    result = subprocess.run(["bash", str(REPO / "tests" / "setup-machine.sh")], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": str(python)}, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"setup-machine.sh: {python} has no pip: "), result.stderr
