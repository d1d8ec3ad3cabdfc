"""Podman's rootless network: slirp4netns, or pasta configured the way Usernetes configures it.

Plain pasta copies the host's address into the rootless network namespace, so
HOST_IP no longer reaches the host: flannel in the node then cannot reach the
API service (10.96.0.1:443 times out). Podman 5 defaults to pasta and Podman 6
has no slirp4netns at all. Upstream Usernetes (init-host/init-host.rootless.sh
and its README, on main) keeps slirp4netns for Podman 5 and, for Podman 6,
writes a containers.conf drop-in: pasta as the network command and the port
forwarder, with a dedicated address, prefix and gateway (slirp4netns' defaults).
Preflight and the network check accept pasta only when configured like that.

`podman info` does not show those options, so they are read from the user's
containers.conf files (one command prints them all) and merged here.
"""

from __future__ import annotations

try:
    import tomllib  # novermin (the fallback below is for 3.9 and 3.10)
except ModuleNotFoundError:  # Python 3.9 and 3.10: the same parser, as the tomli package (a dependency there)
    import tomli as tomllib

# Upstream Usernetes' values, exactly as its init-host writes them.
PASTA_OPTIONS = ("-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2")
PASTA_CONF = (
    "[network]\n"
    'default_rootless_network_cmd="pasta"\n'
    'rootless_port_forwarder="pasta"\n'
    'pasta_options=["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"]\n'
)
DROP_IN_DIR = "~/.config/containers/containers.conf.d"
MARK = "#u7s-containers-conf "

# containers.conf(5): the files Podman reads for a rootless user, in the order later ones win;
# CONTAINERS_CONF replaces them all, CONTAINERS_CONF_OVERRIDE comes last.
CONF_SCRIPT = r"""
show() {
	for f in "$@"; do
		if [ -f "$f" ] && [ -r "$f" ]; then printf '\n#u7s-containers-conf %s\n' "$f"; cat "$f"; fi
	done
}
uid="$(id -u)" user_dir="${XDG_CONFIG_HOME:-$HOME/.config}/containers"
if [ -n "${CONTAINERS_CONF:-}" ]; then
	show "$CONTAINERS_CONF"
else
	show /usr/share/containers/containers.conf /usr/share/containers/containers.conf.d/*.conf
	show /etc/containers/containers.conf /etc/containers/containers.conf.d/*.conf
	if [ "$uid" != 0 ]; then
		for d in /usr/share/containers /etc/containers; do
			show "$d/containers.rootless.conf.d"/*.conf "$d/containers.rootless.conf.d/$uid"/*.conf
		done
	fi
	show "$user_dir/containers.conf" "$user_dir/containers.conf.d"/*.conf
fi
if [ -n "${CONTAINERS_CONF_OVERRIDE:-}" ]; then show "$CONTAINERS_CONF_OVERRIDE"; fi
exit 0
"""

_LONG = {"--address": "-a", "--netmask": "-n", "--gateway": "-g"}


def conf_probe() -> list[str]:
    return ["sh", "-c", CONF_SCRIPT, "containers-conf"]


def parse_network_conf(text: str) -> dict:
    """The [network] table of the files CONF_SCRIPT printed, merged (a later file's keys win).

    A file that is not valid TOML is passed over: Podman itself refuses to start with it.
    """
    merged: dict = {}
    for chunk in text.split("\n" + MARK)[1:]:
        _, _, body = chunk.partition("\n")
        try:
            network = tomllib.loads(body).get("network", {})
        except tomllib.TOMLDecodeError:
            continue
        if isinstance(network, dict):
            merged.update(network)
    return merged


def pasta_settings(options: list) -> dict[str, str]:
    """{'-a': address, '-n': prefix or netmask, '-g': gateway} from pasta options, in any spelling."""
    found: dict[str, str] = {}
    words = [str(w) for w in options]
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        name = _LONG.get(name, name)
        if name in ("-a", "-n", "-g"):
            if not eq:
                value = words[i + 1] if i + 1 < len(words) else ""
                i += 1
            found[name] = value
        elif word[:2] in ("-a", "-n", "-g") and len(word) > 2:  # -a10.0.2.100
            found[word[:2]] = word[2:]
        i += 1
    if found.get("-n") == "255.255.255.0":
        found["-n"] = "24"
    return found


def pasta_problems(conf: dict) -> list[str]:
    """What differs from Usernetes' pasta configuration; empty when it is configured that way."""
    problems = []
    want = pasta_settings(list(PASTA_OPTIONS))
    options = conf.get("pasta_options") or []
    have = pasta_settings(options if isinstance(options, list) else [])
    for flag, what in (("-a", "address"), ("-n", "prefix"), ("-g", "gateway")):
        if have.get(flag) != want[flag]:
            problems.append(f"pasta_options has no {what} {want[flag]}")
    if conf.get("rootless_port_forwarder") != "pasta":
        problems.append('rootless_port_forwarder is not "pasta"')
    return problems


def major(version: str) -> int | None:
    head = version.strip().lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def verdict(network_cmd: str, conf: dict, version: str = "") -> tuple[bool, str, str]:
    """(ok, detail, fix) for Podman's rootless network command and its containers.conf [network] table."""
    if network_cmd != "pasta":
        return True, network_cmd or "slirp4netns (Podman 4 default)", ""
    problems = pasta_problems(conf)
    if not problems:
        return True, ("pasta, configured as Usernetes does (address 10.0.2.100/24, gateway 10.0.2.2, "
                      "pasta port forwarder)"), ""
    pasta_fix = (f"write {DROP_IN_DIR}/u7s-pasta.conf with " + " ".join(PASTA_CONF.split("\n")[1:]).strip()
                 + " (init-host/init-host.rootless.sh does it for Podman 6)")
    slirp_fix = (f'set default_rootless_network_cmd="slirp4netns" in {DROP_IN_DIR}/u7s-slirp4netns.conf '
                 "(init-host/init-host.rootless.sh does it for Podman 5)")
    n = major(version)
    fix = pasta_fix if n is not None and n >= 6 else f"{slirp_fix}, or {pasta_fix}"
    detail = ("rootless network command is pasta without Usernetes' options (" + "; ".join(problems)
              + "): flannel cannot reach the API service (10.96.0.1:443 times out)")
    return False, detail, fix


def read(host, info) -> tuple[bool, str, str]:
    """(ok, detail, fix) on `host`, whose engine reported `info` (u7s/facts/engine.py)."""
    conf: dict = {}
    if info.network_cmd == "pasta":  # the options matter only for pasta
        r = host.run(conf_probe(), check=False)
        conf = parse_network_conf(r.stdout) if r.ok else {}
    return verdict(info.network_cmd, conf, info.version)
