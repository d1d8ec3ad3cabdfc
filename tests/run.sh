#!/usr/bin/env bash
# The one test command (README "Tests"): as root on a Debian 12 or 13 machine, install
# what the tests need, then run the whole suite (unit tests, the lab, real
# rootless engines over real SSH). Extra arguments go to pytest. The interpreter is
# PYTHON, else python3, else (the system's, which pip refuses) a venv that
# tests/setup-machine.sh makes: it prints the one it chose.
set -euo pipefail
cd "$(dirname "$0")/.."

# --extended (first argument): also the slow lab tests marked `extended`, which the
# default run (and so CI) leaves out to stay within its time budget.
integration_marks=(-m "not extended")
if [ "${1:-}" = "--extended" ]; then
	integration_marks=()
	shift
fi

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
	"${python}" -m pytest -p no:cacheprovider "$@" || code=$?
	if [ "$code" != 0 ] && [ "$code" != 5 ]; then status=$code; fi
}
part "$@" tests/unit

# Python 3.9, the oldest u7s supports (RHEL/Rocky 9's): the unit tests once more with it, in a
# venv of its own, when the machine has one (PYTHON39, python3.9 on PATH, or pyenv's).
python39=${PYTHON39:-}
# pyenv puts a python3.9 shim on PATH that fails unless 3.9 is selected: take it only if it runs.
if [ -z "$python39" ] && python3.9 -c "" 2>/dev/null; then python39=$(command -v python3.9); fi
if [ -z "$python39" ]; then
	for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9; do
		if [ -x "$candidate" ]; then python39=$candidate; fi  # the last, the newest 3.9
	done
fi
if [ -n "$python39" ]; then
	venv39=/opt/u7s-test-venv-3.9
	if [ ! -x "$venv39/bin/python" ]; then
		"$python39" -m venv "$venv39"
	fi
	PYTHON=$venv39/bin/python bash tests/setup-machine.sh >/dev/null
	"$venv39/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
	echo "tests/run.sh: the unit tests again with $("$venv39/bin/python" -V)" >&2
	python=$venv39/bin/python part "$@" tests/unit
else
	echo "tests/run.sh: no Python 3.9 on this machine (PYTHON39, python3.9, pyenv): the unit tests ran with $("$python" -V) only" >&2
fi
if [ -n "$lab_pid" ] && ! wait "$lab_pid"; then
	echo "tests/run.sh: bringing the lab up beforehand failed; the integration tests try again:" >&2
	tail -n 20 "$lab_log" >&2
fi
rm -f "$lab_log"
part "${integration_marks[@]}" "$@" tests/integration
echo "tests/run.sh: finished in $(($(date +%s) - started))s with status $status" >&2
exit "$status"
