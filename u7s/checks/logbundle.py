"""Gather what a bug report needs from each host into one .tar.gz on the controller, secrets redacted.

Per host (a folder named after it): the node's journal (the whole boot, and the
kubelet's and containerd's units on their own), the engine's and compose's view
(`ps`, `inspect`, the rendered compose file), the kubeadm configuration, preflight
and status as JSON, the versions of u7s, the engine, compose and Kubernetes.
Everything read is passed through `redact` before it is written: bootstrap tokens,
private keys, kubeconfig key data and tokens, and any password u7s was given.
What cannot be read is noted in the host's `errors.txt`; it never stops the rest.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from typing import Callable

from u7s.render import engine, workdir
from u7s.config.settings import Settings
from u7s.run.hosts import Host

REDACTED = "<redacted by u7s>"
# Secrets by their shape, wherever they appear: a kubeadm bootstrap token (abcdef.0123456789abcdef),
# PEM private keys, kubeconfig fields holding a key or a token, the CA pin of a join command.
PATTERNS = [
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S),
     "-----BEGIN \\1PRIVATE KEY-----" + REDACTED + "-----END \\1PRIVATE KEY-----"),
    (re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"), REDACTED),
    (re.compile(r"((?:client-key-data|token|password|id-token|refresh-token)\"?\s*[:=]\s*\"?)[^\s\",}]+",
                re.I), "\\1" + REDACTED),
    (re.compile(r"(--(?:token|discovery-token|tls-bootstrap-token|certificate-key)[ =])\S+"), "\\1" + REDACTED),
    (re.compile(r"(--discovery-token-ca-cert-hash[ =])\S+"), "\\1" + REDACTED),
]


def redact(text: str, extra: list[str] | None = None) -> str:
    """Pure: the text with every secret u7s knows the shape of, and each string of `extra`, replaced."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in extra or []:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _node_cmd(s: Settings, argv: list[str]) -> list[str]:
    return engine.node_exec(s, argv, env=False, stdin=False)


def commands(s: Settings) -> dict[str, list[str]]:
    """The files of a host's part that come from a command: name -> argv (run on that host)."""
    return {
        "journal-boot.txt": _node_cmd(s, ["journalctl", "--no-pager", "--boot"]),
        "journal-kubelet.txt": _node_cmd(s, ["journalctl", "--no-pager", "--boot", "--unit", "kubelet"]),
        "journal-containerd.txt": _node_cmd(s, ["journalctl", "--no-pager", "--boot", "--unit", "containerd"]),
        "engine-ps.txt": engine.engine_cmd(s, "ps", "--all"),
        "engine-inspect.json": engine.engine_cmd(s, "inspect", engine.container_name(s)),
        "engine-version.txt": engine.engine_cmd(s, "version"),
        "compose-ps.txt": engine.compose(s, "ps", "--all"),
        "compose-version.txt": engine.compose_cmd(s, "version"),
        "kubeadm-version.txt": _node_cmd(s, ["kubeadm", "version", "-o", "short"]),
        "kubectl-version.txt": _node_cmd(s, ["kubectl", "version", "--client"]),
        "ctr-images.txt": _node_cmd(s, ["ctr", "--namespace", "k8s.io", "images", "ls"]),
    }


def collect(host: Host, s: Settings, secrets: list[str] | None = None) -> dict[str, bytes]:
    """One host's part: file name -> redacted content; failures noted in errors.txt."""
    from u7s import __version__
    from u7s.node.container import Node
    from u7s.checks import preflight
    from u7s.ui import tables

    files: dict[str, str] = {}
    errors: list[str] = []
    for name, argv in commands(s).items():
        r = host.run(argv, check=False, timeout=120)
        files[name] = r.stdout + (f"\n--- stderr ---\n{r.stderr}" if r.stderr.strip() else "")
        if not r.ok:
            errors.append(f"{name}: `{' '.join(argv[:4])} ...` exited {r.exited}")
    for name, rel in (("compose.yaml", engine.COMPOSE_FILE), ("kubeadm-config.yaml", workdir.KUBEADM_CONFIG)):
        text = host.read_text(s.path(rel))
        if text is None:
            errors.append(f"{name}: {s.path(rel)} does not exist")
        else:
            files[name] = text
    try:
        files["preflight.json"] = tables.as_json(preflight.Preflight(host, s, quick=True).run())
    except Exception as exc:  # a report is still worth having without it
        errors.append(f"preflight.json: {exc}")
    files["status.json"] = json.dumps({"host": host.name, "node_container": Node(host, s).state(),
                                       "settings": s.as_table(), "u7s": __version__}, indent=2, default=str)
    files["versions.txt"] = f"u7s {__version__}\n"
    files["errors.txt"] = "\n".join(errors) + ("\n" if errors else "")
    return {name: redact(text, secrets).encode() for name, text in files.items()}


def write_bundle(path: str, parts: dict[str, dict[str, bytes]]) -> None:
    """Write one .tar.gz with a folder per host (0600: logs may still hold what no pattern knows)."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        now = int(time.time())
        for host, files in sorted(parts.items()):
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"{host}/{name}")
                info.size, info.mode, info.mtime = len(data), 0o600, now
                tar.addfile(info, io.BytesIO(data))


def default_output() -> str:
    return time.strftime("u7s-logs-%Y%m%d-%H%M%S.tar.gz")


def known_secrets(config) -> list[str]:
    """Passwords u7s may hold for this run (the sudo password), to be cut out wherever they appear."""
    import os

    found = [os.environ.get("U7S_SUDO_PASSWORD") or ""]
    try:
        found.append((config.get("sudo") or {}).get("password") or "")
    except AttributeError:
        pass
    return [s for s in found if s]


def collect_all(members, secrets: list[str], collect_one: Callable = collect) -> dict[str, dict[str, bytes]]:
    """Every reachable host in parallel; an unreachable one gets a part saying why."""
    from u7s.run.parallel import run_parallel

    parts: dict[str, dict[str, bytes]] = {}
    healthy = [m for m in members if not m.failed]
    run_parallel(healthy, lambda m: parts.__setitem__(m.name, collect_one(m.host, m.settings, secrets)) or
                 f"collected {len(parts[m.name])} files")
    for m in members:
        if m.name not in parts:
            parts[m.name] = {"errors.txt": redact(f"not collected: {m.failed}\n", secrets).encode()}
    return parts
