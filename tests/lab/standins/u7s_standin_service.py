"""Start and stop the long-running u7s TEST STAND-INS: the API server and the kubelet (never ships).

In the node, systemd is PID 1: each becomes a unit (`u7s-standin-apiserver.service`,
and `kubelet.service` as in kind's image), enabled by a symlink in
multi-user.target.wants so that it comes back when the node boots again (/etc is a
persistent volume there). Elsewhere (unit tests) each runs as a detached background
process whose pid is kept in /var/lib/u7s-standin/NAME.pid.

U7S_STANDIN_SERVICE_MODE = systemd | background overrides the choice.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

from u7s_standin_common import StandinError, host_path, state_path, under_test

MODE_ENV = "U7S_STANDIN_SERVICE_MODE"
UNITS = {
    "apiserver": ("u7s-standin-apiserver.service", "u7s-standin-apiserver",
                  "u7s TEST STAND-IN for kube-apiserver (lab only, never ships)"),
    "kubelet": ("kubelet.service", "u7s-standin-kubelet",
                "u7s TEST STAND-IN for the kubelet (lab only, never ships)"),
}

UNIT_TEXT = """\
[Unit]
Description={description}
After=network.target

[Service]
ExecStart={command}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""


def mode():
    """Choose how to run services: systemd in a booted node, background processes otherwise."""
    chosen = os.environ.get(MODE_ENV)
    if chosen:
        if chosen not in ("systemd", "background"):
            raise StandinError(f"{MODE_ENV}={chosen!r}: want systemd or background")
        return chosen
    if not under_test() and os.path.isdir("/run/systemd/system"):
        return "systemd"
    return "background"


def _binary(program):
    sibling = os.path.join(os.path.dirname(os.path.realpath(__file__)), program)
    if os.access(sibling, os.X_OK):
        return sibling
    return shutil.which(program) or f"/usr/local/bin/{program}"


def _systemctl(*args):
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StandinError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")


def _paths(unit):
    return f"/etc/systemd/system/{unit}", f"/etc/systemd/system/multi-user.target.wants/{unit}"


def start(name, args=()):
    """Install, enable and (re)start service NAME with ARGS."""
    unit, program, description = UNITS[name]
    argv = [_binary(program), *map(str, args)]
    if mode() == "systemd":
        unit_path, link = _paths(unit)
        os.makedirs(os.path.dirname(host_path(unit_path)), exist_ok=True)
        with open(host_path(unit_path), "w", encoding="utf-8") as f:
            f.write(UNIT_TEXT.format(description=description, command=" ".join(argv)))
        os.makedirs(os.path.dirname(host_path(link)), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(host_path(link))
        os.symlink(unit_path, host_path(link))
        _systemctl("daemon-reload")
        _systemctl("restart", unit)
        return
    stop(name)
    os.makedirs(os.path.dirname(state_path(f"{name}.log")), exist_ok=True)
    log = open(state_path(f"{name}.log"), "ab")
    env = dict(os.environ)
    # With this interpreter, not the shebang's `python3` from PATH: the tests' Python (a venv, say)
    # need not be first on PATH, and Debian 13's own python3 has no yaml or cryptography.
    proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, env=env)
    log.close()
    with open(state_path(f"{name}.pid"), "w", encoding="utf-8") as f:
        f.write(f"{proc.pid}\n")


def stop(name):
    """Stop and disable service NAME however it was started; do nothing if it is not there."""
    unit, program, _ = UNITS[name]
    unit_path, link = _paths(unit)
    if os.path.exists(host_path(unit_path)) or os.path.islink(host_path(link)):
        if mode() == "systemd":
            subprocess.run(["systemctl", "stop", unit], capture_output=True, check=False)
        for path in (link, unit_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(host_path(path))
        if mode() == "systemd":
            subprocess.run(["systemctl", "daemon-reload"], capture_output=True, check=False)
    pid_file = state_path(f"{name}.pid")
    try:
        with open(pid_file, encoding="utf-8") as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return
    if _is_running(pid, program):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _is_running(pid, program) and time.monotonic() < deadline:
            time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)


def _is_running(pid, program):
    """Tell whether PID is still our PROGRAM (guards against a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return program.encode() in cmdline and state != "Z"


def active(name):
    """Tell whether service NAME runs (systemd's word in a booted node, else its pid file's process)."""
    unit, program, _ = UNITS[name]
    if mode() == "systemd":
        return subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False).returncode == 0
    try:
        with open(state_path(f"{name}.pid"), encoding="utf-8") as f:
            return _is_running(int(f.read().strip()), program)
    except (FileNotFoundError, ValueError):
        return False
