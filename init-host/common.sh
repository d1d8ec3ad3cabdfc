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
