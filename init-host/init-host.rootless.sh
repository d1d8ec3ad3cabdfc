#!/bin/bash
# init-host.rootless.sh: the user's part of preparing a host for a rootless u7s node.
#
# Usage: init-host.rootless.sh [--engine docker|podman|nerdctl] [--start-engine] [--dry-run] [--help]
#
# Run it as the user who will run the cluster (never as root), after init-host.root.sh.
# u7s runs it for you with `u7s cluster.init-host`; it is also meant to be read and run by hand.
#
# Every step looks first and prints one line on stdout, in the same words as init-host.root.sh:
#   ok: <thing> already <state> | changed: <thing> | would change: <thing> (--dry-run)
#   skipped: <thing> (<reason>) | failed: <thing> (<reason>)
# then `info: ...` lines from `<engine> info`, and `init-host.rootless: N changed, M ok, K skipped`
# (`, F failed` when some failed). Output of the setup tools it runs goes to stderr.
#
# First, cgroup v2 (read from the mount at /sys/fs/cgroup, as init-host.root.sh does): a cgroup v1
# host fails here, before any engine step, with how to boot with v2.
# Steps, by engine (the reference behaviour of Usernetes Gen2's host initialisation):
#   docker   `dockerd-rootless-setuptool.sh install` (a systemd user unit for the rootless daemon),
#            unless `docker info` already reports a rootless daemon or docker.service is running.
#            Without a systemd user instance (no systemd, or no login session of it) nothing starts
#            the daemon: this fails with the command line that starts it on this host, unless
#            --start-engine is given. Once the daemon answers at $XDG_RUNTIME_DIR/docker.sock, the
#            docker CLI context `rootless` names it and is the current one, as the setup tool leaves
#            it (Debian 12's fails to make it), so later shells and u7s reach it without DOCKER_HOST.
#   nerdctl  `containerd-rootless-setuptool.sh install`, `install-buildkit-containerd` and
#            `install-bypass4netnsd` (optional: only when bypass4netnsd is installed), each unless
#            its systemd user unit is already running.
#   podman   a containers.conf drop-in in ~/.config/containers/containers.conf.d/, as upstream
#            Usernetes does: Podman 4 and 5, u7s-slirp4netns.conf choosing slirp4netns (Podman 5
#            defaults to plain pasta, with which flannel cannot reach the Kubernetes API service);
#            Podman 6 (no slirp4netns), u7s-pasta.conf: pasta as network command and port forwarder
#            with pasta_options ["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"]. The other drop-in
#            of ours is removed. Then `systemctl --user enable --now podman-restart`, which starts
#            containers with `restart: always` (the node) at boot.
# The setup tools need a systemd user instance; without one, Docker is started by hand (see
# --start-engine), nerdctl's daemons must be, and Podman (no daemon) needs none.
#
# Options and environment (an option wins over the environment):
#   --engine ENGINE   docker, podman or nerdctl. Default: $CONTAINER_ENGINE (read as the reference
#                     does: a name containing podman/nerdctl/docker), else what detect-engine.sh
#                     finds, as u7s does: a running rootless engine (its socket in $XDG_RUNTIME_DIR,
#                     or DOCKER_HOST/CONTAINER_HOST), then the first found of dockerd-rootless.sh
#                     (docker), containerd-rootless.sh (nerdctl), podman, on PATH or where
#                     distributions put them (Debian's docker.io: /usr/share/docker.io/contrib).
#   --start-engine    docker without a systemd user instance: start dockerd-rootless.sh (found on
#                     PATH or in /usr/share/docker.io/contrib) as a process of its own session, so it
#                     outlives this script and the login, with XDG_RUNTIME_DIR=/run/user/UID (which
#                     init-host.root.sh makes where no systemd-logind does), its output appended to
#                     ${XDG_STATE_HOME:-~/.local/state}/u7s/dockerd-rootless.log and its pid written to
#                     $XDG_RUNTIME_DIR/u7s-dockerd-rootless.pid (`kill` it to stop the daemon); then wait
#                     until it answers. Nothing restarts it after a reboot: run this again.
#   --dry-run         print what would change; change nothing.
#
# Exit status: 0 every step is ok, changed or skipped, and the engine answers (Docker and nerdctl:
# their daemon; not checked in a dry run that would change something); 1 a step failed (see its
# `failed:` line; an engine left not running is one); 2 the command line or the situation is wrong
# (run as root, unknown or no engine).
set -eu

# Reporting lines and engine names, shared with the other init-host script.
# shellcheck source=init-host/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

prog=init-host.rootless.sh
# Debian's docker.io ships the rootless scripts outside PATH; nerdctl-full goes to /usr/local/bin.
PATH="$PATH:/usr/local/bin:/usr/share/docker.io/contrib"

engine=""
dry_run=0
start_engine=0
while [ "$#" -gt 0 ]; do
	case "$1" in
	--engine) [ "$#" -ge 2 ] || die_usage "--engine needs a value: docker, podman or nerdctl"; engine="$2"; shift 2 ;;
	--engine=*) engine="${1#--engine=}"; shift ;;
	--dry-run) dry_run=1; shift ;;
	--start-engine) start_engine=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die_usage "unknown argument '$1' (see --help)" ;;
	esac
done

if [ "$(id -u)" = 0 ]; then
	die_usage "must not be run as root: run it as the user who will run the cluster (the root part is init-host.root.sh)"
fi

# ---- facts ---------------------------------------------------------------------------------------

user_name="$(id -un)"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
runtime_dir="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
state_dir="${XDG_STATE_HOME:-$HOME/.local/state}/u7s"

# The setup tools manage systemd user units, which needs the user's systemd to be reachable.
if systemctl --user show-environment >/dev/null 2>&1; then
	user_systemd=1
else
	user_systemd=0
fi
# Advice about lingering only where systemd runs: elsewhere there is nothing to enable.
if systemd_running; then
	no_user_systemd="no systemd user instance: enable lingering (init-host.root.sh) and log in again, e.g. over ssh, then re-run"
else
	no_user_systemd="systemd is not running on this host, so there are no user services"
fi

# Cleared when the daemon's own step is skipped or fails: `<engine> info` is then not expected to work.
daemon_set_up=1

# unit_running UNIT: the user's systemd has UNIT active.
unit_running() {
	[ "$user_systemd" = 1 ] && systemctl --user is-active --quiet "$1"
}

# ---- the engine ------------------------------------------------------------------------------------

choose_engine || die_usage "no container engine found (looked for a running rootless engine's socket in $runtime_dir, then dockerd-rootless.sh, containerd-rootless.sh, podman on PATH and in /usr/share/docker.io/contrib): run init-host.root.sh first, or pass --engine"

mode=""
[ "$dry_run" = 1 ] && mode=", dry run: nothing is changed"
printf '%s: user %s, engine %s (%s)%s\n' "$prog" "$user_name" "$engine" "$engine_source" "$mode"

# ---- cgroup v2, before any engine step ---------------------------------------------------------------

check_cgroup_v2 || true # counted as failed: the exit status says so at the end

# ---- what every engine needs -------------------------------------------------------------------------

# init-host.root.sh adds these; rootless engines cannot map the node's users without them.
# A range is named by user name or by uid (compared exactly: names may hold regex characters).
for file in /etc/subuid /etc/subgid; do
	if awk -F: -v n="$user_name" -v u="$(id -u)" '$1 == n || $1 == u { found = 1 } END { exit !found }' "$file" 2>/dev/null; then
		ok "$file range for $user_name" present
	else
		failed "$file range for $user_name" "missing: run init-host.root.sh as root first"
	fi
done

# ---- docker ----------------------------------------------------------------------------------------

# docker_rootless [ENV...]: the docker CLI, with ENV, reaches a daemon that says it is rootless.
docker_rootless() {
	env "$@" timeout 60 docker info --format '{{range .SecurityOptions}}{{println .}}{{end}}' 2>/dev/null |
		grep -q '^name=rootless$'
}

setup_docker() {
	local socket="$runtime_dir/docker.sock" thing="rootless Docker: dockerd-rootless-setuptool.sh install"
	if docker_rootless; then
		ok "rootless Docker" "running (docker info reports rootless)"
	# The CLI may still point at a rootful daemon (or at none) while the user's daemon runs.
	elif [ -z "${DOCKER_HOST:-}" ] && [ -S "$socket" ] && docker_rootless DOCKER_HOST="unix://$socket"; then
		ok "rootless Docker" "running at unix://$socket"
	else
		daemon_set_up=0
		if ! have dockerd-rootless-setuptool.sh; then
			failed "rootless Docker" "dockerd-rootless-setuptool.sh not found: install Docker's rootless extras (the docker.io package on Debian/Ubuntu, docker-ce-rootless-extras with docker-ce); init-host.root.sh installs docker.io"
		elif [ "$user_systemd" = 0 ]; then
			start_docker_by_hand
		elif unit_running docker.service; then
			ok "rootless Docker" "installed (docker.service is running)"
			daemon_set_up=1
		else
			# With the unit file already there the tool only starts and enables it.
			act "$thing" dockerd-rootless-setuptool.sh install && daemon_set_up=1
		fi
	fi
	# Later shells and u7s reach the user's daemon through the CLI context, as the setup tool
	# means them to (Debian 12's fails to make it: it looks for docker beside dockerd-rootless.sh).
	if [ "$dry_run" = 1 ] && [ "$daemon_set_up" = 1 ] && [ ! -S "$socket" ]; then
		use_cli_context "$socket" # would be started: say what would follow
	elif [ -S "$socket" ] && docker_rootless DOCKER_HOST="unix://$socket"; then
		use_cli_context "$socket"
	fi
	if [ -z "${DOCKER_HOST:-}" ] && [ -S "$socket" ]; then
		export DOCKER_HOST="unix://$socket"
	fi
}

# use_cli_context SOCKET: the docker CLI context `rootless` names the daemon at SOCKET and is the
# current one, as dockerd-rootless-setuptool.sh install leaves it. A DOCKER_HOST naming another
# daemon is left alone: it is the user's choice, and it wins over any context.
use_cli_context() {
	local host="unix://$1" endpoint current
	if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$host" ]; then
		return 0
	fi
	endpoint="$(env -u DOCKER_HOST docker context inspect --format '{{.Endpoints.docker.Host}}' rootless 2>/dev/null || true)"
	current="$(env -u DOCKER_HOST docker context inspect --format '{{.Name}}' 2>/dev/null || true)"
	if [ "$endpoint" = "$host" ] && [ "$current" = rootless ]; then
		ok "docker CLI context rootless" "in use ($host)"
	elif [ "$endpoint" = "$host" ]; then
		act "docker CLI context rootless in use (docker context use rootless)" env -u DOCKER_HOST docker context use rootless || true
	elif [ -n "$endpoint" ]; then
		failed "docker CLI context rootless" "it names $endpoint, not $host: docker context rm rootless, then re-run"
	else
		# shellcheck disable=SC2016 # $1 is expanded by that sh: the host travels as an argument
		act "docker CLI context rootless made and in use ($host)" env -u DOCKER_HOST \
			sh -c 'docker context create rootless --description "Rootless mode" --docker "host=$1" && docker context use rootless' \
			sh "$host" || true
	fi
}

# start_docker_by_hand: without a systemd user instance nothing runs the daemon for the user. With
# --start-engine it is started here, detached; otherwise this fails with the line that starts it.
start_docker_by_hand() {
	local daemon socket="$runtime_dir/docker.sock" log="$state_dir/dockerd-rootless.log"
	local pid_file="$runtime_dir/u7s-dockerd-rootless.pid" line pid deadline
	daemon="$(command -v dockerd-rootless.sh || true)"
	if [ -z "$daemon" ]; then
		failed "rootless Docker" "dockerd-rootless.sh not found beside dockerd-rootless-setuptool.sh: reinstall Docker's rootless extras"
		return 0
	fi
	if [ ! -d "$runtime_dir" ] || [ ! -w "$runtime_dir" ]; then
		failed "rootless Docker" "not running, and its runtime directory $runtime_dir does not exist or is not writable: run init-host.root.sh as root first (it makes /run/user/$(id -u) where no systemd-logind does), then re-run"
		return 0
	fi
	# dockerd-rootless.sh runs rootlesskit and dockerd, which Debian keeps in /usr/sbin, off a user's PATH.
	# shellcheck disable=SC2016 # "$PATH" is for the shell the line is pasted into
	line="$(printf 'mkdir -p %q && XDG_RUNTIME_DIR=%q PATH=%q:/usr/sbin:/sbin:"$PATH" setsid -f %q >>%q 2>&1 </dev/null' \
		"$state_dir" "$runtime_dir" "$(dirname "$daemon")" "$daemon" "$log")"
	if [ "$start_engine" = 1 ]; then
		:
	elif systemd_running; then
		failed "rootless Docker" "not running, and there is no systemd user instance to start it: enable lingering (sudo loginctl enable-linger $user_name) and log in again, then re-run; or re-run with --start-engine, or start it yourself: $line"
		return 0
	else
		failed "rootless Docker" "not running, and systemd is not running on this host to start it: re-run with --start-engine, or start it yourself: $line"
		return 0
	fi
	if [ "$dry_run" = 1 ]; then
		changed "rootless Docker started ($line)"
		daemon_set_up=1
		return 0
	fi
	if ! mkdir -p "$state_dir"; then
		failed "rootless Docker" "could not make $state_dir for its log"
		return 0
	fi
	# This shell has no job control, so the background job is no process group leader and setsid
	# makes it a session of its own without forking again: $! is the daemon's pid.
	XDG_RUNTIME_DIR="$runtime_dir" PATH="$(dirname "$daemon"):/usr/sbin:/sbin:$PATH" \
		setsid "$daemon" >>"$log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$pid_file"
	deadline=$((SECONDS + 120))
	until docker_rootless DOCKER_HOST="unix://$socket"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			failed "rootless Docker: $daemon" "it exited: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1) (log: $log)"
			return 0
		elif [ "$SECONDS" -ge "$deadline" ]; then
			failed "rootless Docker: $daemon" "no answer at unix://$socket within 120 s; it still runs as pid $pid (log: $log)"
			return 0
		fi
		sleep 0.2
	done
	changed "rootless Docker started: $daemon, pid $pid ($pid_file), log $log"
	daemon_set_up=1
}

# ---- nerdctl --------------------------------------------------------------------------------------

# setup_nerdctl_unit UNIT SUBCOMMAND: run `containerd-rootless-setuptool.sh SUBCOMMAND` unless UNIT
# is already running (with the unit file already there the tool only starts and enables it).
setup_nerdctl_unit() {
	local unit="$1" subcommand="$2"
	local thing="$unit: containerd-rootless-setuptool.sh $subcommand"
	if [ "$user_systemd" = 0 ]; then
		skipped "$thing" "$no_user_systemd"
		return 1
	elif unit_running "$unit"; then
		ok "$unit" running
	else
		act "$thing" containerd-rootless-setuptool.sh "$subcommand"
	fi
}

setup_nerdctl() {
	if ! have containerd-rootless-setuptool.sh || ! have nerdctl; then
		failed "rootless containerd" "nerdctl-full is not installed: unpack its release archive into /usr/local by hand (see init-host.root.sh), then re-run"
		daemon_set_up=0
		return 0
	fi
	if [ "$user_systemd" = 0 ] && ! timeout 60 nerdctl version >/dev/null 2>&1; then
		# --start-engine starts Docker only: containerd-rootless.sh and buildkitd are two daemons.
		failed "rootless containerd" "not running, and $no_user_systemd to run containerd-rootless-setuptool.sh's units: start $(command -v containerd-rootless.sh || echo containerd-rootless.sh) (and buildkitd, for builds) yourself, then re-run"
		daemon_set_up=0
		return 0
	fi
	setup_nerdctl_unit containerd.service install || daemon_set_up=0
	# The setup tool names the BuildKit unit after CONTAINERD_NAMESPACE when that is set.
	if have buildkitd; then
		setup_nerdctl_unit "${CONTAINERD_NAMESPACE:+$CONTAINERD_NAMESPACE-}buildkit.service" install-buildkit-containerd || true
	else
		failed "buildkit.service" "buildkitd not found: nerdctl-full ships it; nerdctl needs it to build the node image"
	fi
	# bypass4netns only speeds up connect(2) of pods; u7s turns it on when its socket exists.
	if have bypass4netnsd; then
		setup_nerdctl_unit bypass4netnsd.service install-bypass4netnsd || true
	else
		skipped "bypass4netnsd.service" "bypass4netnsd is not installed: optional, nerdctl-full ships it"
	fi
}

# ---- podman ---------------------------------------------------------------------------------------

# write_drop_in PATH CONTENT: write a containers.conf drop-in unless it already says the same.
write_drop_in() {
	local path="$1" content="$2" dir temporary
	dir="$(dirname "$path")"
	if [ -f "$path" ] && [ "$(meaningful_lines "$path")" = "$(printf '%s\n' "$content" | meaningful_lines -)" ]; then
		ok "$path" "up to date"
	elif [ "$dry_run" = 1 ]; then
		changed "$path (would be written)"
	elif mkdir -p "$dir" && temporary="$(mktemp "$dir/.u7s-init-host.XXXXXX")" &&
		printf '%s\n' "$content" >"$temporary" && chmod 0644 "$temporary" && mv -f "$temporary" "$path"; then
		changed "$path (written)"
	else
		rm -f "${temporary:-}"
		failed "$path" "could not write it"
	fi
}

# remove_drop_in PATH WHY: remove our other drop-in, which would otherwise win (later in name order).
remove_drop_in() {
	if [ ! -e "$1" ]; then
		return 0
	elif [ "$dry_run" = 1 ]; then
		changed "$1 (would be removed: $2)"
	elif rm -f "$1"; then
		changed "$1 (removed: $2)"
	else
		failed "$1" "could not remove it"
	fi
}

setup_podman() {
	local dir="$config_home/containers/containers.conf.d" version major
	# `podman --version` reads no storage (unlike `podman info`), so it is fine in a dry run too.
	version="$(podman --version 2>/dev/null | awk '{ print $NF }')"
	major="${version%%.*}"
	case "$major" in '' | *[!0-9]*) major=0 ;; esac
	if [ "$major" -ge 6 ]; then
		# Podman 6 has no slirp4netns. Upstream Usernetes' pasta settings: plain pasta copies the host's
		# address into the namespace, so HOST_IP (the API server's published port) no longer reaches the
		# host and flannel times out on 10.96.0.1:443; a dedicated address (slirp4netns' 10.0.2.100/24,
		# gateway 10.0.2.2) and pasta as the port forwarder route it out to the host.
		remove_drop_in "$dir/u7s-slirp4netns.conf" "Podman $version uses pasta"
		write_drop_in "$dir/u7s-pasta.conf" '# Written by u7s init-host.rootless.sh (Podman 6 has no slirp4netns), as Usernetes
# configures pasta: a dedicated address, so that HOST_IP still reaches the host from the node.
[network]
default_rootless_network_cmd="pasta"
rootless_port_forwarder="pasta"
pasta_options=["-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2"]'
	else
		if ! have slirp4netns; then
			failed "slirp4netns" "not installed: run init-host.root.sh as root first"
		fi
		remove_drop_in "$dir/u7s-pasta.conf" "Podman ${version:-4 or 5} uses slirp4netns"
		write_drop_in "$dir/u7s-slirp4netns.conf" '# Written by u7s init-host.rootless.sh. Podman 5 defaults to pasta, with which flannel in the
# node cannot reach the Kubernetes API service (10.96.0.1:443 times out); slirp4netns works.
[network]
default_rootless_network_cmd="slirp4netns"'
	fi

	local thing="podman-restart.service: systemctl --user enable --now podman-restart.service"
	if [ "$user_systemd" = 0 ] && ! systemd_running; then
		skipped "podman-restart.service" "$no_user_systemd: after a reboot, start the node again with u7s"
	elif [ "$user_systemd" = 0 ]; then
		skipped "$thing" "$no_user_systemd; until then the node does not come back by itself after a reboot"
	elif ! systemctl --user cat podman-restart.service >/dev/null 2>&1; then
		skipped "$thing" "this Podman has no podman-restart.service: after a reboot, start the node again with u7s"
	elif systemctl --user is-enabled --quiet podman-restart.service; then
		ok "podman-restart.service" enabled
	else
		act "$thing" systemctl --user enable --now podman-restart.service || true
	fi
}

# ---- run, then show what the engine says ----------------------------------------------------------

case "$engine" in
docker) setup_docker ;;
nerdctl) setup_nerdctl ;;
podman) setup_podman ;;
esac

# The daemon's version answers only when the CLI reaches it, and its error says why not; podman
# has no daemon, so `podman info` itself is the check.
case "$engine" in
docker | nerdctl)
	reach=(version --format '{{.Server.Version}}')
	info_format='{{.ServerVersion}}, cgroup v{{.CgroupVersion}} ({{.CgroupDriver}}), security options:{{range .SecurityOptions}} {{.}}{{end}}' ;;
podman)
	reach=(info --format '{{.Version.Version}}')
	info_format='{{.Version.Version}}, rootless={{.Host.Security.Rootless}}, cgroup {{.Host.CgroupsVersion}} ({{.Host.CgroupManager}})' ;;
esac
errors="$(mktemp)"
if [ "$dry_run" = 1 ] && { [ "$n_changed" != 0 ] || [ "$engine" = podman ]; }; then
	# `podman info` sets up the user's container storage on its first run: not in a dry run.
	printf 'info: %s info is not run in a dry run that would change something, nor for podman\n' "$engine"
elif timeout 60 "$engine" "${reach[@]}" >/dev/null 2>"$errors" &&
	info="$(timeout 60 "$engine" info --format "$info_format" 2>"$errors")"; then
	printf 'info: %s %s\n' "$engine" "$info"
else
	reason="$(grep -v '^[[:space:]]*$' "$errors" | tail -n 1)"
	if [ "$daemon_set_up" = 1 ]; then
		failed "$engine info" "the engine does not answer although it is set up: ${reason:-no message}"
	elif [ "$n_failed" = 0 ]; then
		# No step said why; an engine left not running is a failure all the same.
		failed "$engine info" "the engine does not answer: ${reason:-no message}"
	else
		# The step above already says why the daemon is not there: no second count.
		printf 'info: %s does not answer: %s\n' "$engine" "${reason:-no message}"
	fi
fi
rm -f "$errors"

verb=changed
[ "$dry_run" = 1 ] && verb="would change"
summary="init-host.rootless: $n_changed $verb, $n_ok ok, $n_skipped skipped"
[ "$n_failed" = 0 ] || summary="$summary, $n_failed failed"
printf '%s\n' "$summary"
[ "$n_failed" = 0 ] || exit 1
exit 0
