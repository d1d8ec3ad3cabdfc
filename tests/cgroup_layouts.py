"""Run a command in a mount namespace of its own whose /sys/fs/cgroup has the layout a test needs.

The test machines boot cgroup v1 (hybrid: a tmpfs of v1 hierarchies, cgroup2 at
/sys/fs/cgroup/unified); other machines boot cgroup v2. Either way a private mount
namespace (root only) can present either layout, so the scripts that read it are
tested against both on any machine. Nothing outside the namespace changes.
"""

from __future__ import annotations

# cgroup2 at /sys/fs/cgroup, as on a cgroup v2 host.
V2 = ('if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then '
      'umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup; fi')
# A tmpfs with a v1 hierarchy (a named one: it binds no controller, so it can be mounted on a v2
# host too) and cgroup2 beneath at unified, as on a hybrid host.
HYBRID = ('if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then '
          'mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup && mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified && '
          'mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd && '
          'mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified; fi')
LAYOUTS = {"v2": V2, "hybrid": HYBRID}


def setup(layout: str) -> str:
    """Shell commands (run as root in the new mount namespace) that make the layout."""
    return LAYOUTS[layout]


def wrap(argv: list[str], layout: str, more: str = "") -> list[str]:
    """argv run in a new (private) mount namespace with `layout` at /sys/fs/cgroup, after `more` commands."""
    script = " && ".join(part for part in (setup(layout), more) if part) + ' && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]
