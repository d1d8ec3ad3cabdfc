#!/usr/bin/env bash
# The one test command (README "Tests"): as root on a Debian 12 or 13 machine, install
# what the tests need, then run the whole suite (unit tests, the lab, real
# rootless engines over real SSH). Extra arguments go to pytest. The interpreter is
# PYTHON, else python3, else (the system's, which pip refuses) a venv that
# tests/setup-machine.sh makes: it prints the one it chose.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
python=$(bash tests/setup-machine.sh --print-python)
"$python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

# In CI a missing prerequisite (root, engine, SSH) fails the run instead of skipping.
if [ "${CI:-}" = "true" ]; then
	export U7S_LAB=required
fi

# Paths among the arguments: run just those, in one pytest session.
for arg in "$@"; do
	if [ -e "$arg" ] || [ -e "${arg%%::*}" ]; then
		status=0
		"$python" -m pytest -p no:cacheprovider "$@" || status=$?
		echo "tests/run.sh: finished in $(($(date +%s) - started))s with status $status" >&2
		exit "$status"
	fi
done

# The whole suite. The lab comes up (node image built, engines loaded) while the unit
# tests run; the integration tests then adopt it and take it down at the end. If it
# fails here, they try again themselves and report why.
lab_pid=""
lab_log=$(mktemp)
if [ "$(id -u)" = 0 ] && [ -z "${U7S_LAB_REUSE:-}" ]; then
	mkdir -p /run/lock
	flock /run/lock/u7s-lab.lock "$python" -m tests.lab up >/dev/null 2>"$lab_log" &
	lab_pid=$!
	export U7S_LAB_REUSE=adopt
fi

status=0
part() {  # one pytest session; "no test selected" (5) in one part is not a failure
	local code=0
	"$python" -m pytest -p no:cacheprovider "$@" || code=$?
	if [ "$code" != 0 ] && [ "$code" != 5 ]; then status=$code; fi
}
part "$@" tests/unit
if [ -n "$lab_pid" ] && ! wait "$lab_pid"; then
	echo "tests/run.sh: bringing the lab up beforehand failed; the integration tests try again:" >&2
	tail -n 20 "$lab_log" >&2
fi
rm -f "$lab_log"
part "$@" tests/integration
echo "tests/run.sh: finished in $(($(date +%s) - started))s with status $status" >&2
exit "$status"
