#!/bin/sh
# detect-engine.sh: name the container engine to use when CONTAINER_ENGINE is not set.
#
# Usage: detect-engine.sh [DIR...]
#
# Prints one line, ENGINE<tab>WHY[<tab>ADDRESS] (ENGINE: docker, nerdctl or podman; WHY: what was
# found; ADDRESS: for a running rootless Docker found by its socket alone, unix://SOCKET, which the
# docker CLI does not find by itself: without DOCKER_HOST or a CLI context it asks /var/run/docker.sock),
# and exits 0; exits 1 without output when nothing is found. u7s runs this same file on each host
# (`u7s settings` shows WHY), and init-host/common.sh runs it too, so the two never disagree.
#
# Order, first match wins:
#   1. a running rootless engine: DOCKER_HOST or $XDG_RUNTIME_DIR/docker.sock (docker),
#      $XDG_RUNTIME_DIR/containerd-rootless/api.sock (nerdctl: rootlesskit's socket of
#      containerd-rootless.sh), CONTAINER_HOST or $XDG_RUNTIME_DIR/podman/podman.sock (podman).
#      Only unix sockets that exist count; XDG_RUNTIME_DIR defaults to /run/user/$(id -u), as over ssh
#      it is often unset.
#   2. the setup tools, in the reference's order: dockerd-rootless.sh (docker),
#      containerd-rootless.sh (nerdctl), podman; each on PATH, then in the DIRs: the places
#      distributions install them off PATH (default: Debian/Ubuntu docker.io's
#      /usr/share/docker.io/contrib, nerdctl-full's /usr/local/bin, get.docker.com's rootless ~/bin).
set -u

runtime_dir="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
if [ "$#" = 0 ]; then
	set -- /usr/share/docker.io/contrib /usr/local/bin "${HOME:-/nonexistent}/bin"
fi

found() {  # found ENGINE WHY [ADDRESS]
	if [ -n "${3:-}" ]; then
		printf '%s\t%s\t%s\n' "$1" "$2" "$3"
	else
		printf '%s\t%s\n' "$1" "$2"
	fi
	exit 0
}

# running ENGINE VARIABLE_NAME VARIABLE_VALUE SOCKET [ADDRESS]: report ENGINE when the variable names a
# unix socket that exists (its CLI follows the variable), else when SOCKET exists (with ADDRESS, if
# given: how its CLI must be pointed at it).
running() {
	case "$3" in
	unix://*)
		if [ -S "${3#unix://}" ]; then
			found "$1" "running rootless $1 ($2=$3)"
		fi
		;;
	esac
	if [ -S "$4" ]; then
		found "$1" "running rootless $1 ($4)" "${5:-}"
	fi
}

# Docker's CLI asks /var/run/docker.sock unless DOCKER_HOST or a CLI context says otherwise; a context
# cannot be seen from here, so the socket travels with the answer whenever DOCKER_HOST is unset.
docker_address=""
[ -n "${DOCKER_HOST:-}" ] || docker_address="unix://$runtime_dir/docker.sock"
running docker DOCKER_HOST "${DOCKER_HOST:-}" "$runtime_dir/docker.sock" "$docker_address"
running nerdctl CONTAINERD_ADDRESS "" "$runtime_dir/containerd-rootless/api.sock"
running podman CONTAINER_HOST "${CONTAINER_HOST:-}" "$runtime_dir/podman/podman.sock"

# installed ENGINE TOOL DIR...: report ENGINE when TOOL is on PATH or is an executable in a DIR.
installed() {
	engine="$1" tool="$2"
	shift 2
	if where="$(command -v "$tool" 2>/dev/null)"; then
		found "$engine" "$where"
	fi
	for dir in "$@"; do
		if [ -x "$dir/$tool" ] && [ ! -d "$dir/$tool" ]; then
			found "$engine" "$dir/$tool"
		fi
	done
}

installed docker dockerd-rootless.sh "$@"
installed nerdctl containerd-rootless.sh "$@"
installed podman podman "$@"
exit 1
