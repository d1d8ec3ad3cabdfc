#!/usr/bin/env bash
# The one test command (README "Tests"): as root on a Debian 12 machine, install
# what the tests need, then run the whole suite (unit tests, the lab, real
# rootless engines over real SSH). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
bash tests/setup-machine.sh
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# In CI a missing prerequisite (root, engine, SSH) fails the run instead of skipping.
if [ "${CI:-}" = "true" ]; then
	export U7S_LAB=required
fi
status=0
python3 -m pytest -p no:cacheprovider "$@" tests || status=$?
echo "tests/run.sh: finished in $(($(date +%s) - started))s with status $status" >&2
exit "$status"
