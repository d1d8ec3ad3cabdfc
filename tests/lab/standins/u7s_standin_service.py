"""Start, wait for and stop the API stand-in (part of the u7s TEST STAND-INS, never ships).

In the node, systemd is PID 1: the API stand-in becomes the unit
`u7s-standin-apiserver.service`, enabled by a symlink in multi-user.target.wants so
it comes back when the node boots again (/etc is a persistent volume there).
Elsewhere (unit tests) it runs as a detached background process whose pid is kept in
/var/lib/u7s-standin/apiserver.pid.

U7S_STANDIN_APISERVER_MODE = systemd | background | skip overrides the choice;
U7S_STANDIN_APISERVER_ADDRESS sets the listen address (default 0.0.0.0);
U7S_STANDIN_WAIT_SECONDS bounds the readiness wait (default 30).
"""

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import time

from u7s_standin_common import StandinError, host_path, state_path, under_test

UNIT_NAME = "u7s-standin-apiserver.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
WANTS_LINK = f"/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"
INSTALLED_BINARY = "/usr/local/bin/u7s-standin-apiserver"
MODE_ENV = "U7S_STANDIN_APISERVER_MODE"

UNIT_TEXT = """\
[Unit]
Description=u7s TEST STAND-IN for kube-apiserver (lab only, never ships)
After=network.target

[Service]
ExecStart={binary} --port {port} --address {address}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""


def mode():
    """Choose how to run the API stand-in: systemd in a booted node, background otherwise."""
    chosen = os.environ.get(MODE_ENV)
    if chosen:
        if chosen not in ("systemd", "background", "skip"):
            raise StandinError(f"{MODE_ENV}={chosen!r}: want systemd, background or skip")
        return chosen
    if not under_test() and os.path.isdir("/run/systemd/system"):
        return "systemd"
    return "background"


def _binary():
    sibling = os.path.join(os.path.dirname(os.path.realpath(__file__)), "u7s-standin-apiserver")
    if os.access(sibling, os.X_OK):
        return sibling
    return shutil.which("u7s-standin-apiserver") or INSTALLED_BINARY


def _address():
    return os.environ.get("U7S_STANDIN_APISERVER_ADDRESS", "0.0.0.0")


def _systemctl(*args):
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StandinError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")


def start(port):
    """Start the API stand-in on PORT and return once it answers /readyz."""
    how = mode()
    if how == "skip":
        return
    if how == "systemd":
        unit = host_path(UNIT_PATH)
        os.makedirs(os.path.dirname(unit), exist_ok=True)
        with open(unit, "w", encoding="utf-8") as f:
            f.write(UNIT_TEXT.format(binary=_binary(), port=port, address=_address()))
        link = host_path(WANTS_LINK)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(UNIT_PATH, link)
        _systemctl("daemon-reload")
        _systemctl("restart", UNIT_NAME)
        _wait(port, None)
        return
    log = open(state_path("apiserver.log"), "ab")
    proc = subprocess.Popen([_binary(), "--port", str(port), "--address", _address()],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    with open(state_path("apiserver.pid"), "w", encoding="utf-8") as f:
        f.write(f"{proc.pid}\n")
    _wait(port, proc)


def _wait(port, proc):
    """Poll /readyz until it answers 200, the process dies, or the deadline passes."""
    deadline = time.monotonic() + float(os.environ.get("U7S_STANDIN_WAIT_SECONDS", "30"))
    host = "127.0.0.1" if _address() in ("0.0.0.0", "") else _address()
    delay = 0.05
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StandinError(f"the API stand-in exited with {proc.returncode}; "
                               f"see {state_path('apiserver.log')}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError as e:
            last = str(e)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise StandinError(f"the API stand-in did not answer on {host}:{port}/readyz in time ({last})")


def stop():
    """Stop and disable the API stand-in however it was started; do nothing if it is not there."""
    unit = host_path(UNIT_PATH)
    if os.path.exists(unit) or os.path.islink(host_path(WANTS_LINK)):
        if mode() == "systemd":
            subprocess.run(["systemctl", "stop", UNIT_NAME], capture_output=True, check=False)
        for path in (host_path(WANTS_LINK), unit):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if mode() == "systemd":
            subprocess.run(["systemctl", "daemon-reload"], capture_output=True, check=False)
    pid_file = state_path("apiserver.pid")
    try:
        with open(pid_file, encoding="utf-8") as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return
    if _is_apiserver(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _is_apiserver(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)


def _is_apiserver(pid):
    """Tell whether PID is still our API stand-in (guards against a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return b"u7s-standin-apiserver" in cmdline and state != "Z"
