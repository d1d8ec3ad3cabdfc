"""Python 3.9 and later: a static check of the minimum version the shipped code needs (vermin), and what says so.

The unit tests also run on a Python 3.9 when the machine has one (tests/run.sh); this
check covers every line, also those no test reaches.
"""

import re
import subprocess
import sys

from tests.unit.tasks.test_tasks_cli import ROOT

MINIMUM = "3.9"


def test_the_shipped_code_needs_no_python_newer_than_3_9():
    shipped = [str(ROOT / "u7s"), str(ROOT / "tasks.py"), str(ROOT / "fabfile.py"), str(ROOT / "bench")]
    vermin = "import sys, vermin; sys.exit(vermin.main())"  # its console script's entry point (no __main__)
    r = subprocess.run([sys.executable, "-c", vermin, f"-t={MINIMUM}-", "--no-tips", "--eval-annotations",
                        "--violations", *shipped], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_package_and_the_readme_say_3_9():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^requires-python = ">=3\.9"$', pyproject, re.M)
    assert "Python 3.9 or later" in (ROOT / "README.md").read_text()
