"""Describe the machine a benchmark ran on: CPU, cores, memory, kernel, Debian version, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model(cpuinfo: str) -> str:
    """Return the first `model name` of /proc/cpuinfo's text ('unknown' when there is none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown"


def memory_gib(meminfo: str) -> float | None:
    """Return MemTotal of /proc/meminfo's text in GiB, to one decimal (None when missing)."""
    for line in meminfo.splitlines():
        fields = line.split()
        if fields[:1] == ["MemTotal:"] and len(fields) >= 2 and fields[1].isdigit():
            return round(int(fields[1]) / 1024 / 1024, 1)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _commit(repo: Path) -> str:
    """The checkout's commit, with `+dirty` when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def describe(repo: Path) -> dict:
    """Return the facts about this machine that a reader needs to compare timings."""
    return {
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(_read("/proc/meminfo")),
        "kernel": platform.release(),
        "debian": _read("/etc/debian_version").strip() or "unknown",
        "python": platform.python_version(),
        "commit": _commit(repo),
    }
