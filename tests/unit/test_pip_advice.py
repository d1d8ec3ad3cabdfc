"""Which Python the tests use, and setup-machine.sh's one line when pip cannot install into it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pip_advice import VENV, advice, externally_managed

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tests" / "setup-machine.sh"


def stdlib(tmp_path: Path, marked: bool) -> str:
    directory = tmp_path / "lib" / "python3.13"
    directory.mkdir(parents=True)
    if marked:  # what Debian 12's python3.11 and 13's python3.13 ship in /usr/lib/python3.X
        (directory / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=use a venv\n")
    return str(directory)


def test_debians_own_python_is_externally_managed_and_a_venv_of_it_is_not(tmp_path):
    marked = stdlib(tmp_path, marked=True)
    assert externally_managed("/usr", "/usr", marked)
    assert not externally_managed(VENV, "/usr", marked)  # the marker stays in the base's stdlib; pip ignores it there


def test_a_python_of_ones_own_is_not_externally_managed(tmp_path):
    assert not externally_managed("/root/.pyenv/versions/3.11.7", "/root/.pyenv/versions/3.11.7",
                                  stdlib(tmp_path, marked=False))


def test_the_system_python_given_as_python_is_told_to_leave_python_unset_or_use_a_venv(tmp_path):
    line = advice("/usr/bin/python3", "/usr", "/usr", stdlib(tmp_path, marked=True), has_pip=False)
    assert "/usr/bin/python3 is the system's Python, externally managed (PEP 668)" in line
    assert f"leave PYTHON unset (setup-machine.sh then makes {VENV} and uses it)" in line
    assert "python3 -m venv DIR && PYTHON=DIR/bin/python bash tests/run.sh" in line
    assert "\n" not in line


def test_a_venv_without_pip_is_told_to_install_pip(tmp_path):
    line = advice(f"{VENV}/bin/python", VENV, "/usr", stdlib(tmp_path, marked=True), has_pip=False)
    assert "PEP 668" not in line
    assert f"{VENV}/bin/python has no pip: install pip into the venv" in line


def test_a_python_with_pip_that_failed_points_at_pips_output(tmp_path):
    line = advice("/root/.pyenv/shims/python3", "/root/.pyenv/versions/3.11.7", "/root/.pyenv/versions/3.11.7",
                  stdlib(tmp_path, marked=False), has_pip=True)
    assert line == "setup-machine.sh: pip failed for /root/.pyenv/shims/python3 (its output is above)"


def test_the_script_reads_the_running_interpreter(tmp_path):
    # A real venv without pip: the script, run by it, sees a venv (not externally managed) and no pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    script = str(REPO / "tests" / "pip_advice.py")
    assert subprocess.run([str(python), script, "--externally-managed"], timeout=60).returncode == 1
    result = subprocess.run([str(python), script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr.strip().startswith(f"setup-machine.sh: {python} has no pip: install pip into the venv")


@pytest.mark.skipif(os.geteuid() != 0, reason="setup-machine.sh runs as root only")
def test_setup_machine_prints_the_python_it_chose_and_nothing_else_on_stdout():
    result = subprocess.run(["bash", str(SETUP), "--print-python"], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == sys.executable + "\n"
    assert f"machine ready (tests run with {sys.executable})" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="setup-machine.sh runs as root only")
def test_setup_machine_ends_with_the_advice_when_pip_cannot_install(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": str(python)}, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"setup-machine.sh: {python} has no pip: "), result.stderr


def test_setup_machine_makes_the_venv_this_advice_names():
    script = (Path(__file__).resolve().parents[2] / "tests" / "setup-machine.sh").read_text()
    assert f"\nvenv={VENV}  " in script
