# Helpers shared by init-host.root.sh and init-host.rootless.sh (sourced, not run).
# Every step prints one line: "ok: THING already STATE", "changed: THING" ("would change:"
# under --dry-run), "skipped: THING (REASON)" or "failed: THING (REASON)"; the counters feed
# the summary line. The caller sets dry_run before calling changed or act.
# shellcheck shell=bash
# prog and dry_run are set by the script that sources this file.
# shellcheck disable=SC2154

n_changed=0
n_ok=0
n_skipped=0
n_failed=0

usage() {
	sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p;}' "$0"
}

die_usage() {
	printf '%s: %s\n' "$prog" "$1" >&2
	exit 2
}

ok() {
	n_ok=$((n_ok + 1))
	printf 'ok: %s already %s\n' "$1" "$2"
}

changed() {
	n_changed=$((n_changed + 1))
	if [ "$dry_run" = 1 ]; then
		printf 'would change: %s\n' "$1"
	else
		printf 'changed: %s\n' "$1"
	fi
}

skipped() {
	n_skipped=$((n_skipped + 1))
	printf 'skipped: %s (%s)\n' "$1" "$2"
}

failed() {
	n_failed=$((n_failed + 1))
	printf 'failed: %s (%s)\n' "$1" "$2"
}

# act THING COMMAND...: run COMMAND (its output to stderr) and report THING as changed or failed;
# under --dry-run only report it as a change that would be made.
act() {
	local thing="$1" status=0
	shift
	if [ "$dry_run" = 1 ]; then
		changed "$thing"
		return 0
	fi
	"$@" >&2 || status=$?
	if [ "$status" = 0 ]; then
		changed "$thing"
	else
		failed "$thing" "$1 exited with status $status; its output is above"
		return 1
	fi
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# The meaningful lines of a config file (or of stdin, for "-"): comments, blank lines and trailing
# blanks do not count, so a file with the same settings written by hand or by the reference's
# scripts is already right.
meaningful_lines() {
	sed -e 's/[[:space:]]*$//' -e '/^[[:space:]]*[#;]/d' -e '/^$/d' "$1"
}

# The engine type, from a name the way the reference reads CONTAINER_ENGINE (it may be a path).
engine_type_of() {
	case "${1##*/}" in
	*podman*) echo podman ;;
	*nerdctl*) echo nerdctl ;;
	*docker*) echo docker ;;
	*) return 1 ;;
	esac
}

# systemd is running when it is PID 1 and has made /run/systemd/system (what sd_booted checks).
systemd_running() {
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]
}

# cgroup_mode: what is mounted at /sys/fs/cgroup, as the kernel names the file system: v2
# (cgroup2), hybrid (a tmpfs holding v1 hierarchies, cgroup2 only at /sys/fs/cgroup/unified), v1
# (a tmpfs without cgroup2) or none. Asked of the host itself, not of an engine: the engine may not
# run yet, and on a v1 host nothing else matters until it boots with v2.
cgroup_mode() {
	case "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" in
	cgroup2fs) echo v2 ;;
	tmpfs)
		if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
			echo hybrid
		else
			echo v1
		fi ;;
	*) echo none ;;
	esac
}

# check_cgroup_v2: one line, ok or failed, saying whether this host runs cgroup v2 and, if not,
# how to get it; returns 1 when it does not. Kubernetes' rootless mode (the kubelet in the node)
# needs cgroup v2: on v1 the rootless engine cannot hand the node the controllers it needs.
check_cgroup_v2() {
	local mode fix
	mode="$(cgroup_mode)"
	if [ "$mode" = v2 ]; then
		ok "cgroup v2" "mounted at /sys/fs/cgroup"
		return 0
	fi
	if systemd_running; then
		fix="boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (e.g. in GRUB_CMDLINE_LINUX of /etc/default/grub, then update-grub), then reboot"
	else
		fix="have the init system (or the container runtime) mount cgroup2 at /sys/fs/cgroup instead, then start the host again"
	fi
	case "$mode" in
	hybrid) failed "cgroup v2" "this host runs cgroup v1: /sys/fs/cgroup is a tmpfs of v1 hierarchies (hybrid: cgroup2 only at /sys/fs/cgroup/unified), and rootless Kubernetes needs cgroup v2: $fix" ;;
	v1) failed "cgroup v2" "this host runs cgroup v1: /sys/fs/cgroup is a tmpfs of v1 hierarchies, and rootless Kubernetes needs cgroup v2: $fix" ;;
	*) failed "cgroup v2" "no cgroup file system is mounted at /sys/fs/cgroup, and rootless Kubernetes needs cgroup v2 there: $fix" ;;
	esac
	return 1
}

# The folder of these scripts: common.sh is sourced from beside them.
init_host_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# choose_engine: set $engine from --engine, else CONTAINER_ENGINE, else what detect-engine.sh finds
# (a running rootless engine first, then the setup tools; the same file u7s runs on the host), and
# $engine_source to where it came from; return 1 when nothing was asked for and nothing is found.
choose_engine() {
	local detected why
	if [ -n "$engine" ]; then
		case "$engine" in
		docker | podman | nerdctl) ;;
		*) die_usage "--engine must be docker, podman or nerdctl, not '$engine'" ;;
		esac
		engine_source="--engine"
	elif [ -n "${CONTAINER_ENGINE:-}" ]; then
		engine="$(engine_type_of "$CONTAINER_ENGINE")" ||
			die_usage "CONTAINER_ENGINE='$CONTAINER_ENGINE' names none of docker, podman, nerdctl"
		engine_source="CONTAINER_ENGINE"
	elif detected="$(sh "$init_host_dir/detect-engine.sh")"; then
		engine="${detected%%$'\t'*}"
		why="${detected#*$'\t'}"
		engine_source="detected: ${why%%$'\t'*}"  # without the ADDRESS field, when there is one
	else
		return 1
	fi
}
