"""Where u7s's own files are: the repository's compose/ and init-host/, or their copies in the wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # u7s/ itself: this file is in u7s/render/


def files_root() -> Path:
    """The folder holding compose/ and init-host/ (a checkout's top level, or u7s/_files when installed)."""
    for root in (_PACKAGE / "_files", _PACKAGE.parent):
        if (root / "compose" / "docker-compose.yaml.j2").is_file():
            return root
    raise FileNotFoundError(f"u7s: compose/ not found beside {_PACKAGE}; reinstall u7s")


def compose_dir() -> Path:
    return files_root() / "compose"


def node_image_dir() -> Path:
    return compose_dir() / "node"


def init_host_dir() -> Path:
    return files_root() / "init-host"
