"""Read rp_filter where flannel's VXLAN packets arrive: the engine's network namespace.

One fact (the probes plus a pure parser and verdict) for preflight and the
network check. The reference's preflight runs a throw-away container with host
networking; cheaper, and needing no image, is to enter the namespace as the user:
rootlesskit's child (rootless Docker, containerd) with nsenter, Podman's rootless
network namespace with `podman unshare --rootless-netns`. The throw-away container
remains the fallback when an image is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from u7s.render import engine
from u7s.run.hosts import Host
from u7s.config.settings import Settings

PATHS = ("/proc/sys/net/ipv4/conf/all/rp_filter", "/proc/sys/net/ipv4/conf/default/rp_filter")
KEYS = ("all", "default")
FIX = "set net.ipv4.conf.default.rp_filter = 2 (init-host/init-host.root.sh), then restart the engine"
NOT_ENTERED = 3  # the namespace probe's exit status when it has no way in

# $1 engine type, $2 the engine's command, then the files. Docker 23+ and containerd-rootless.sh keep
# rootlesskit's state (child_pid) in XDG_RUNTIME_DIR; Docker 20.10 does not, but dockerd's own pid
# file (docker.pid) names a process in the same namespaces. A remote Podman client (CONTAINER_HOST)
# cannot unshare; the local client joins the same user's rootless network namespace.
NAMESPACE_SCRIPT = r"""
runtime="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
kind="$1" cli="$2"
shift 2
case "$kind" in
docker) pid_files="$runtime/dockerd-rootless/child_pid $runtime/docker.pid" ;;
nerdctl) pid_files="$runtime/containerd-rootless/child_pid" ;;
podman) env -u CONTAINER_HOST -u CONTAINER_CONNECTION "$cli" unshare --rootless-netns cat "$@" 2>/dev/null && exit 0
	exit 3 ;;
*) exit 3 ;;
esac
for file in $pid_files; do
	pid="$(cat "$file" 2>/dev/null)" || continue
	nsenter -U --preserve-credentials -n -t "$pid" cat "$@" 2>/dev/null && exit 0
done
exit 3
"""


@dataclass(frozen=True)
class Reading:
    """rp_filter values by key (all, default), how they were read, or why they could not be."""

    values: dict[str, str] = field(default_factory=dict)
    how: str = ""
    why_not: str = ""

    @property
    def strict(self) -> list[str]:
        """The keys set to 1 (strict): the kernel drops VXLAN packets whose source it would not route back."""
        return [key for key in KEYS if self.values.get(key) == "1"]

    def shown(self) -> str:
        return ", ".join(f"net.ipv4.conf.{k}.rp_filter = {v}" for k, v in self.values.items())


def namespace_probe(s: Settings) -> list[str]:
    return ["sh", "-c", NAMESPACE_SCRIPT, "rp_filter", s.engine_type, s.container_engine, *PATHS]


def parse(text: str) -> dict[str, str] | None:
    """{'all': .., 'default': ..} from `cat` of PATHS; None for any other output."""
    values = text.split()
    if len(values) != len(KEYS) or not all(v.isdigit() for v in values):
        return None
    return dict(zip(KEYS, values))


def read(host: Host, s: Settings, image: str = "", containers: bool = True) -> Reading:
    """Enter the engine's namespace; else, with `containers` and an image, run a throw-away container."""
    r = host.run(namespace_probe(s), check=False)
    values = parse(r.stdout) if r.ok else None
    if values is not None:
        how = "podman unshare --rootless-netns" if s.engine_type == "podman" else "nsenter into rootlesskit's namespace"
        return Reading(values, how)
    entered = "could not enter the engine's network namespace"
    if not containers:
        return Reading(why_not=f"{entered}; the full check-preflight runs a throw-away container")
    if not image:
        return Reading(why_not=f"{entered}, and no image for a throw-away container: checked once NODE_IMAGE "
                               "is set or the node image is built")
    r = host.run(engine.read_in_engine_netns(s, image, *PATHS), check=False)
    values = parse(r.stdout) if r.ok else None
    if values is None:
        return Reading(why_not=f"{entered}, and a throw-away container of {image} could not read it")
    return Reading(values, f"a throw-away --net=host container of {image}")
