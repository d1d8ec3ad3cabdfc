"""The wheel as pip installs it: LICENSE and the metadata in it, compose/ and init-host/ found from the installed package.

Builds the wheel from this checkout (pip fetches hatchling from PyPI, as `pip install .`
does) and installs it on its own into a folder, run from elsewhere than the checkout.
"""

import email
import subprocess
import sys
import zipfile

import pytest

from tests.unit.tasks.test_tasks_cli import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "-w", str(out), str(ROOT)], check=True, timeout=600, capture_output=True)
    (path,) = out.glob("u7s-*.whl")
    return path


def test_the_wheel_carries_license_scripts_templates_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(z.read(metadata))
        license_text = z.read(next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))).decode()
    for name in ("init-host.root.sh", "init-host.rootless.sh", "common.sh", "detect-engine.sh"):
        assert f"u7s/_files/init-host/{name}" in names
    assert "u7s/_files/compose/docker-compose.yaml.j2" in names and "u7s/_files/compose/node/Dockerfile" in names
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.9"
    assert [d for d in meta.get_all("Requires-Dist") if d.startswith("tomli")] == ["tomli>=1.1; python_version < '3.11'"]


def test_an_installed_u7s_finds_its_init_host_scripts_and_templates(wheel, tmp_path):
    # Installed alone into a folder first on PYTHONPATH: its dependencies are this interpreter's.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-index", "--target", str(target), str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"HOME": str(elsewhere), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}

    def u7s(*args):
        return subprocess.run([sys.executable, "-m", "u7s", *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=60)

    r = u7s("init-host", "--print-dir")
    assert r.returncode == 0, r.stderr
    folder = r.stdout.strip()
    assert folder == str(target / "u7s" / "_files" / "init-host")
    help_text = subprocess.run(["bash", f"{folder}/init-host.root.sh", "--help"], capture_output=True, text=True,
                               timeout=60)
    assert help_text.returncode == 0 and "Usage: init-host.root.sh" in help_text.stdout
    rendered = u7s("render", "--set", "CONTAINER_ENGINE=docker", "--set", "HOSTNAME=h1", "--set", "HOST_IP=192.0.2.10")
    assert rendered.returncode == 0, rendered.stderr
    assert 'HOST_IP: "192.0.2.10"' in rendered.stdout
