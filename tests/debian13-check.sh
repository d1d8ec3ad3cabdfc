#!/usr/bin/env bash
# Check tests/setup-machine.sh, the unit tests and (with --lab) some lab tests on Debian 13
# (trixie) from a Debian 12 machine: a debootstrapped trixie root, entered with pivot_root.
# Not part of the suite; run as root from the repository root. Takes the lab lock only
# for the lab part. Afterwards the root stays in /var/tmp/u7s-trixie for another run
# (`tests/debian13-check.sh --clean` removes it).
#
#   tests/debian13-check.sh [--lab] [--clean]
#
# Why pivot_root and not chroot: the kernel refuses new user namespaces to a chrooted
# process (EPERM), and rootless Docker and Podman need them. Why the mounts: /proc, /sys
# (cgroups), /dev and /run (the lab lock, netns) are the machine's; the lab's caches are
# shared, so the node image's bookworm tarball is not made again. With --lab, take the
# machine's own lab down first (`flock /run/lock/u7s-lab.lock python3 -m tests.lab down`):
# the trixie root's teardown ends another root's lab processes but cannot remove its users.
set -euo pipefail
cd "$(dirname "$0")/.."

root=/var/tmp/u7s-trixie
lab=0
for arg in "$@"; do
	case "$arg" in
	--lab) lab=1 ;;
	--clean)
		if mountpoint -q "$root"; then umount -R "$root"; fi
		rm -rf --one-file-system "$root"
		exit 0 ;;
	*) echo "debian13-check.sh: unknown argument $arg (want --lab or --clean)" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "debian13-check.sh: run as root" >&2
	exit 1
fi

if [ ! -x "$root/usr/bin/apt-get" ]; then
	debootstrap --variant=minbase trixie "$root" http://deb.debian.org/debian
	printf '#!/bin/sh\n# no service starts in this root\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
fi
# The machine's DNS and extra CAs (a proxy's, if any), so apt and pip reach their mirrors as here.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true

if ! mountpoint -q "$root"; then
	mount --bind "$root" "$root"  # pivot_root wants a mount point
	mount --make-rslave "$root"
	for dir in proc sys dev run; do
		mount --rbind "/$dir" "$root/$dir"
		mount --make-rslave "$root/$dir"  # unmounting it later must not reach the machine's
	done
	mkdir -p /var/cache/u7s-lab "$root/var/cache/u7s-lab"
	mount --bind /var/cache/u7s-lab "$root/var/cache/u7s-lab"
fi
trap 'umount -R "$root"' EXIT  # the root stays for the next run; the machine's mount table is left as it was
# The checkout, where lab users and `nobody` can read it (root's home is 0700).
rm -rf "$root/srv/u7s"
mkdir -p "$root/srv/u7s"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -C "$root/srv/u7s" -x

trixie() {  # run a command as root in the trixie root, with a clean environment
	# shellcheck disable=SC2016 # the inner script's $0 and $@ are its own
	unshare --mount --propagation slave -- /bin/sh -c '
		mount --make-private / && cd "$0" && mkdir -p .u7s-oldroot && pivot_root . .u7s-oldroot &&
		umount -l /.u7s-oldroot && cd /srv/u7s &&
		exec /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' "$root" "$@"
}

trixie update-ca-certificates >/dev/null
echo "debian13-check.sh: Debian $(cat "$root/etc/debian_version"); setup-machine.sh with the system python3:" >&2
python=$(trixie bash tests/setup-machine.sh --print-python)
echo "debian13-check.sh: the tests' python: $python; again, with everything there:" >&2
time trixie bash tests/setup-machine.sh
trixie dpkg-query -W docker.io rootlesskit slirp4netns podman openssh-server python3 containerd runc iproute2
trixie "$python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
trixie "$python" -m pytest -p no:cacheprovider -q tests/unit
if [ "$lab" = 1 ]; then
	# As tests/run.sh: the lab comes up under the lock, the tests adopt it and take it down. One
	# trixie() call for both: the lab's netns mounts live in that call's mount namespace.
	trixie sh -c "flock /run/lock/u7s-lab.lock $python -m tests.lab up >/dev/null &&
		U7S_LAB=required U7S_LAB_REUSE=adopt $python -m pytest -p no:cacheprovider -q -ra \
		tests/integration/test_lab.py tests/integration/test_single_host.py tests/integration/test_podman.py \
		tests/integration/test_cluster.py::test_create_brings_up_a_joined_cluster_and_a_second_run_changes_nothing"
fi
