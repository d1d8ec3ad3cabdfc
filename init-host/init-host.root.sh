#!/bin/bash
# init-host.root.sh: the root part of preparing a host for a rootless u7s node.
#
# Usage: init-host.root.sh [--engine docker|podman|nerdctl] [--user NAME] [--dry-run] [--help]
#
# Run it as root (sudo) once per host, then run init-host.rootless.sh as the user. u7s runs
# both for you with `u7s cluster.init-host`; both are also meant to be read and run by hand.
#
# Every step looks at the host first and prints one line on stdout:
#   ok: <thing> already <state>       nothing to do
#   changed: <thing>                  done now
#   would change: <thing>             --dry-run: this would be done
#   skipped: <thing> (<reason>)       not done; the reason says what to do instead
#   failed: <thing> (<reason>)        tried and failed; the run goes on, and exits 1 at the end
# and ends with `init-host.root: N changed, M ok, K skipped` (`, F failed` when some failed).
# Output of the tools it runs (apt-get, dnf, sysctl, ...) goes to stderr.
#
# Steps (why, in short; the reference behaviour of Usernetes Gen2's host initialisation):
#   - cgroup v2, first: read from the mount at /sys/fs/cgroup. On a cgroup v1 (or hybrid) host it
#     fails with how to boot with v2, and the cgroup delegation below is skipped (it needs v2).
#   - /etc/systemd/system/user@.service.d/delegate.conf: let the user's systemd hand the cpu,
#     cpuset, io, memory and pids cgroup controllers to the rootless engine (kubelet needs them);
#     then `systemctl daemon-reload`.
#   - kernel modules Kubernetes networking and flannel's VXLAN need (init-host/kernel-modules.sh
#     says which the kernel has, loaded or built in): the ones that are not built into the kernel
#     go to /etc/modules-load.d/usernetes.conf, loaded at every boot, and those not loaded now are
#     loaded with `modprobe -a`. A kernel that has them all built in needs neither.
#   - /etc/sysctl.d/99-usernetes.conf: net.ipv4.conf.default.rp_filter = 2, because strict reverse
#     path filtering drops VXLAN traffic in the engine's network namespace; then that file alone
#     is applied (`sysctl -p FILE`, which prints its one value) unless the running value already is 2.
#   - packages: uidmap, jq, git (and on apt hosts dbus-user-session, which `systemctl --user`
#     needs there, and python3-venv, for a virtual environment to install u7s into), and the
#     engine when it is missing (apt: docker.io rootlesskit slirp4netns, and docker-cli where
#     docker.io only recommends it (Debian 13) | podman podman-compose slirp4netns, and nftables
#     where netavark only recommends it (Debian 13); dnf: podman podman-compose slirp4netns, with
#     EPEL for podman-compose on RHEL-likes). Docker on dnf hosts and nerdctl anywhere must be
#     installed by hand: this script downloads nothing. After installing docker.io, the rootful
#     daemon it starts is disabled: the cluster runs under the user's rootless daemon.
#   - docker and nerdctl where AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and
#     later): a profile that lets the installed rootlesskit create them, unless one names it already.
#   - `loginctl enable-linger USER`: the user's systemd (and so the engine and the node) keeps
#     running without a login session and starts at boot.
#   - /run/user/UID, the user's runtime directory (the engine's socket goes there), owned by USER,
#     mode 0700: made here where systemd-logind does not make it at login (hosts without systemd).
#     /run is emptied at boot: re-run this script after a reboot there.
#   - /etc/subuid and /etc/subgid: a range of 65536 subordinate IDs for USER (the node's user
#     namespace needs them), added with usermod after every range already in the file.
# Steps that need a running systemd say `skipped: ... (systemd is not running: ...)` without it;
# what they would do is then up to the user (init-host.rootless.sh --start-engine starts the engine).
#
# Options and environment (an option wins over the environment):
#   --engine ENGINE    docker, podman or nerdctl. Default: $CONTAINER_ENGINE (read as the reference
#                      does: a name containing podman/nerdctl/docker), else what detect-engine.sh
#                      finds (as u7s and init-host.rootless.sh do): the user's running rootless
#                      engine (its socket in /run/user/UID), else the first found of
#                      dockerd-rootless.sh (docker), containerd-rootless.sh (nerdctl), podman, on PATH
#                      or where distributions put them; else docker.
#   --user NAME        the user who will run the cluster. Default: $U7S_USER, else $SUDO_USER.
#   --dry-run          print what would change; change nothing.
# For tests (and for hosts whose packages are managed another way):
#   U7S_INIT_HOST_NO_PACKAGES=1  install no packages (missing ones are reported as skipped).
# For tests only:
#   U7S_INIT_HOST_ROOT=DIR       write every file under DIR instead of /, edit DIR/etc/subuid and
#                                DIR/etc/subgid directly instead of running usermod, read the kernel's
#                                module lists under DIR (kernel-modules.sh), and run no systemctl,
#                                loginctl, modprobe or sysctl against the running system.
#
# Exit status: 0 every step is ok, changed or skipped; 1 a step failed (see its `failed:` line);
# 2 the command line or the situation is wrong (not root, unknown user, unknown engine).
set -eu

# Reporting lines and engine names, shared with the other init-host script.
# shellcheck source=init-host/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
# Files and directories it makes are world-readable like the rest of /etc, whatever umask sudo had.
umask 022

prog=init-host.root.sh
# Debian's docker.io ships dockerd-rootless.sh outside PATH; sudo's secure_path may lack /usr/local.
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/share/docker.io/contrib"

# ---- the command line -------------------------------------------------------------------------

engine=""
user="${U7S_USER:-${SUDO_USER:-}}"
dry_run=0
while [ "$#" -gt 0 ]; do
	case "$1" in
	--engine) [ "$#" -ge 2 ] || die_usage "--engine needs a value: docker, podman or nerdctl"; engine="$2"; shift 2 ;;
	--engine=*) engine="${1#--engine=}"; shift ;;
	--user) [ "$#" -ge 2 ] || die_usage "--user needs a user name"; user="$2"; shift 2 ;;
	--user=*) user="${1#--user=}"; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die_usage "unknown argument '$1' (see --help)" ;;
	esac
done

root="${U7S_INIT_HOST_ROOT:-}"
root="${root%/}"
no_packages="${U7S_INIT_HOST_NO_PACKAGES:-}"

# ---- files --------------------------------------------------------------------------------------

# ensure_file PATH CONTENT: PATH (under the test prefix) holds CONTENT. Returns 0 when it was
# written (or would be, under --dry-run), 1 when it was already right or could not be written.
ensure_file() {
	local path="$root$1" content="$2" dir temporary
	if [ -f "$path" ] &&
		[ "$(meaningful_lines "$path")" = "$(printf '%s\n' "$content" | meaningful_lines -)" ]; then
		ok "$path" "up to date"
		return 1
	fi
	if [ "$dry_run" = 1 ]; then
		changed "$path (would be written)"
		return 0
	fi
	# Write a temporary file in the same directory and rename it: a reader never sees half a
	# file, and on SELinux hosts the file gets the directory's label, not /tmp's.
	dir="$(dirname "$path")"
	if mkdir -p "$dir" && temporary="$(mktemp "$dir/.u7s-init-host.XXXXXX")"; then
		if printf '%s\n' "$content" >"$temporary" && chmod 0644 "$temporary" && mv -f "$temporary" "$path"; then
			changed "$path (written)"
			return 0
		fi
		rm -f "$temporary"
	fi
	failed "$path" "could not write it"
	return 1
}

# ---- the user and the engine ---------------------------------------------------------------------

if [ "$(id -u)" != 0 ] && [ "$dry_run" != 1 ]; then
	die_usage "must be run as root (try: sudo $0 ...); --dry-run works without root"
fi
[ -n "$user" ] || die_usage "which user will run the cluster? Pass --user NAME (or run it with sudo from that user)"
passwd_line="$(getent passwd "$user" 2>/dev/null)" || die_usage "no such user: '$user'"
user_uid="$(printf '%s\n' "$passwd_line" | cut -d: -f3)"
user_name="$(printf '%s\n' "$passwd_line" | cut -d: -f1)"
user_gid="$(printf '%s\n' "$passwd_line" | cut -d: -f4)"
[ "$user_uid" != 0 ] || die_usage "the cluster runs rootless: pass --user with a user other than root"

# The user's engine, not root's: its sockets are in the user's runtime folder.
XDG_RUNTIME_DIR="/run/user/$user_uid" choose_engine || engine=docker # the reference's recommended engine, installed below

mode=""
[ "$dry_run" = 1 ] && mode=", dry run: nothing is changed"
printf '%s: user %s (uid %s), engine %s%s%s\n' "$prog" "$user_name" "$user_uid" "$engine" "${root:+, files under $root}" "$mode"

# ---- cgroup v2, then cgroup delegation ----------------------------------------------------------

# Before anything else: on cgroup v1 nothing below makes a node work until the host boots with v2.
cgroup_v2=1
check_cgroup_v2 || cgroup_v2=0

delegation_changed=0
delegate_conf=/etc/systemd/system/user@.service.d/delegate.conf
if [ "$cgroup_v2" = 0 ]; then
	# The drop-in only delegates cgroup v2 controllers: on this host it would change nothing.
	skipped "$root$delegate_conf" "cgroup delegation needs cgroup v2, which this host does not run: re-run once it boots with cgroup v2"
elif ensure_file "$delegate_conf" "# Written by u7s init-host.root.sh: give each user's systemd (and so the rootless
# engine and the kubelet inside it) the cgroup controllers Kubernetes needs.
[Service]
Delegate=cpu cpuset io memory pids"; then
	delegation_changed=1
	if ! systemd_running; then
		skipped "systemctl daemon-reload" "systemd is not running: systemd reads the drop-in when it next starts"
	elif [ -n "$root" ]; then
		skipped "systemctl daemon-reload" "U7S_INIT_HOST_ROOT is set: the running systemd is left alone"
	else
		act "systemd reloaded (systemctl daemon-reload)" systemctl daemon-reload || true
	fi
fi

# ---- kernel modules ------------------------------------------------------------------------------

modules="tun tap bridge br_netfilter veth ip_tables ip6_tables iptable_nat ip6table_nat iptable_filter
ip6table_filter nf_tables x_tables xt_MASQUERADE xt_addrtype xt_comment xt_conntrack xt_mark
xt_multiport xt_nat xt_tcpudp vxlan"
modules_conf=/etc/modules-load.d/usernetes.conf
# What the kernel has (loaded, built in, missing, unknown), by the same script u7s's preflight runs.
# shellcheck disable=SC2086 # one argument per module
module_states="$(sh "$init_host_dir/kernel-modules.sh" $modules)" || module_states=""
modules_of() { # modules_of STATE...: the modules in any of these states, space-separated
	printf '%s\n' "$module_states" | awk -F '\t' -v want=" $* " 'index(want, " " $2 " ") { printf "%s ", $1 }' |
		sed 's/ $//'
}
built_in="$(modules_of builtin)"
at_boot="$(modules_of loaded missing unknown)" # modules that are not part of the kernel image
to_load="$(modules_of missing unknown)"

if [ -z "$module_states" ]; then
	failed "kernel modules" "$init_host_dir/kernel-modules.sh did not say which the kernel has: it belongs beside this script"
elif [ -z "$at_boot" ]; then
	ok "kernel modules" "built into the kernel (all $(modules_of builtin | wc -w) of them: nothing to load, no $modules_conf needed)"
else
	# A file that already names every module to load is left as it is (the reference's lists all of them).
	listed="$(meaningful_lines "$root$modules_conf" 2>/dev/null || true)"
	missing_from_file=""
	for module in $at_boot; do
		printf '%s\n' "$listed" | grep -Fqx -e "$module" || missing_from_file="$missing_from_file $module"
	done
	if [ -z "$missing_from_file" ]; then
		ok "$root$modules_conf" "up to date"
	else
		# shellcheck disable=SC2086 # one module a line
		ensure_file "$modules_conf" "# Written by u7s init-host.root.sh: modules for Kubernetes networking and flannel's VXLAN,
# loaded at boot by systemd-modules-load.${built_in:+ Built into this kernel, so not listed: $built_in.}
$(printf '%s\n' $at_boot)" || true
	fi
	if [ -z "$to_load" ]; then
		ok "kernel modules" "loaded (${at_boot// /, })${built_in:+; the others are built in}"
	elif [ -n "$root" ]; then
		skipped "load kernel modules (${to_load// /, })" "U7S_INIT_HOST_ROOT is set: the running kernel is left alone"
	elif ! have modprobe; then
		failed "load kernel modules (${to_load// /, })" "modprobe not found: install kmod, then re-run"
	else
		# shellcheck disable=SC2086 # one argument per module
		act "kernel modules loaded (modprobe -a ${to_load})" modprobe -a $to_load || true
	fi
fi

# ---- sysctl --------------------------------------------------------------------------------------

rp_key=net.ipv4.conf.default.rp_filter
sysctl_conf=/etc/sysctl.d/99-usernetes.conf
ensure_file "$sysctl_conf" "# Written by u7s init-host.root.sh: loose reverse path filtering, because the strict mode (1)
# drops flannel's VXLAN traffic in the rootless engine's network namespace.
$rp_key = 2" || true
# The running value is checked on its own: the file may be right but never applied.
rp_now="$(sysctl -n "$rp_key" 2>/dev/null || echo unknown)"
if [ "$rp_now" = 2 ]; then
	ok "$rp_key" "2 in the running kernel"
elif [ -n "$root" ]; then
	skipped "$rp_key = 2 in the running kernel, now $rp_now" "U7S_INIT_HOST_ROOT is set: the running kernel is left alone"
elif [ "$dry_run" = 1 ]; then
	changed "$rp_key = 2 in the running kernel (now $rp_now; sysctl -p $sysctl_conf)"
else
	# Only this file: `sysctl --system` would re-apply every file on the host, reverting settings
	# changed since boot, and print them all.
	sysctl -p "$sysctl_conf" >&2 || true # what matters is checked next
	rp_now="$(sysctl -n "$rp_key" 2>/dev/null || echo unknown)"
	if [ "$rp_now" = 2 ]; then
		changed "$rp_key = 2 in the running kernel (sysctl -p $sysctl_conf)"
	else
		failed "$rp_key = 2 in the running kernel" "still $rp_now after sysctl -p $sysctl_conf; its output is above"
	fi
fi

# ---- packages --------------------------------------------------------------------------------------

if have apt-get; then
	pm=apt
elif have dnf; then
	pm=dnf
else
	pm=""
fi

os_id=""
if [ -r /etc/os-release ]; then
	# shellcheck source=/dev/null # the distribution's file, read in a subshell
	os_id="$(. /etc/os-release && echo "${ID:-}")"
fi

# Requirements as "command package" pairs: a package is only installed when its command is missing,
# so an engine installed another way (docker-ce from Docker's repository, nerdctl-full) is left alone.
# A command of "-" means: ask the package manager whether the package is installed.
requirements() {
	if [ "$pm" = apt ]; then
		echo "newuidmap uidmap"
		# systemctl --user needs the user's D-Bus session bus on Debian and Ubuntu.
		echo "- dbus-user-session"
		# Debian's python3 cannot make a virtual environment without it (pip refuses the system one).
		echo "- python3-venv"
	else
		echo "newuidmap shadow-utils"
	fi
	echo "jq jq"
	echo "git git"
	case "$engine/$pm" in
	docker/apt)
		echo "dockerd docker.io"; echo "rootlesskit rootlesskit"; echo "slirp4netns slirp4netns"
		# Debian 13's docker.io has no docker command: docker-cli has it, only recommended there.
		if apt_recommends docker.io docker-cli; then echo "docker docker-cli"; fi ;;
	podman/*)
		echo "podman podman"; echo "podman-compose podman-compose"; echo "slirp4netns slirp4netns"
		# Debian 13's netavark sets up Podman's networks with nft, and only recommends nftables.
		if [ "$pm" = apt ] && apt_recommends netavark nftables; then echo "nft nftables"; fi ;;
	esac
}

# Whether apt's package $1 recommends $2: packages are installed here without recommends,
# so a recommended package the engine cannot work without is asked for by name.
apt_recommends() {
	apt-cache depends "$1" 2>/dev/null | grep -Eq "^ *[|]?Recommends: $2\$"
}

package_installed() {
	case "$pm" in
	apt) dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q ' installed$' ;;
	dnf) rpm -q "$1" >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

missing=""
present=""
while read -r cmd pkg; do
	if { [ "$cmd" = - ] && package_installed "$pkg"; } || { [ "$cmd" != - ] && have "$cmd"; }; then
		present="$present $pkg"
	else
		case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
	fi
done <<EOF
$(requirements)
EOF
missing="${missing# }"
present="${present# }"

docker_installed_now=0
if [ -n "$present" ]; then
	ok "packages ($present)" installed
fi
if [ -z "$missing" ]; then
	:
elif [ -n "$no_packages" ]; then
	skipped "install packages ($missing)" "U7S_INIT_HOST_NO_PACKAGES is set: install them by hand"
elif [ -z "$pm" ]; then
	failed "install packages ($missing)" "neither apt-get nor dnf found: install them by hand"
elif [ "$pm" = apt ]; then
	# shellcheck disable=SC2086 # one argument per package
	if act "apt package lists updated (apt-get update)" apt-get update -q &&
		act "packages installed ($missing)" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $missing; then
		case " $missing " in *" docker.io "*) docker_installed_now=1 ;; esac
	fi
else
	# podman-compose is in EPEL on RHEL-likes (Rocky, Alma, CentOS Stream), in Fedora itself.
	epel_ok=1
	case " $missing " in *" podman-compose "*)
		if [ "$os_id" != fedora ] && ! package_installed epel-release; then
			act "EPEL enabled (dnf install epel-release), for podman-compose" dnf install -y epel-release || epel_ok=0
		fi ;;
	esac
	if [ "$epel_ok" = 1 ]; then
		# shellcheck disable=SC2086 # one argument per package
		act "packages installed ($missing)" dnf install -y $missing || true
	else
		skipped "install packages ($missing)" "EPEL could not be enabled: enable it by hand (on RHEL: the epel-release package from the EPEL project), then re-run"
	fi
fi

# Engines this script does not install: say what to do, and fail unless it is already there.
case "$engine/$pm" in
docker/apt | podman/*) ;;
docker/*)
	if have dockerd; then
		ok "dockerd (Docker Engine)" installed
	else
		failed "Docker Engine" "not packaged by this distribution for this script: install docker-ce and docker-ce-rootless-extras from Docker's package repository by hand (this script downloads nothing), or use --engine podman"
	fi ;;
nerdctl/*)
	if have nerdctl && have containerd-rootless-setuptool.sh; then
		ok "nerdctl (nerdctl-full)" installed
	else
		failed "nerdctl" "nerdctl-full is not installed: download the nerdctl-full release archive for this CPU by hand and unpack it with 'tar -C /usr/local -xzf nerdctl-full-VERSION-linux-ARCH.tar.gz', then re-run (this script downloads nothing)"
	fi ;;
esac

# Installing docker.io starts a rootful daemon; the cluster uses the user's rootless one instead.
# A Docker that was installed before this run is left as its owner set it up.
if [ "$engine" = docker ]; then
	rootful="rootful docker.service and docker.socket"
	installs_docker=0
	case " $missing " in *" docker.io "*) [ -n "$no_packages" ] || installs_docker=1 ;; esac
	if ! systemd_running; then
		skipped "disable $rootful" "systemd is not running: if a rootful dockerd runs, stop it by hand unless you need it"
	elif [ -n "$root" ]; then
		skipped "disable $rootful" "U7S_INIT_HOST_ROOT is set: the running systemd is left alone"
	elif [ "$docker_installed_now" = 1 ] || { [ "$dry_run" = 1 ] && [ "$installs_docker" = 1 ]; }; then
		act "$rootful disabled (systemctl disable --now)" systemctl disable --now docker.service docker.socket || true
	elif ! systemctl is-enabled --quiet docker.service docker.socket 2>/dev/null &&
		! systemctl is-active --quiet docker.service docker.socket 2>/dev/null; then
		ok "$rootful" "disabled (or not installed)"
	else
		skipped "disable $rootful" "Docker was installed before this run, so it is left running: 'systemctl disable --now docker.service docker.socket' unless you need rootful Docker"
	fi
fi

# ---- AppArmor and rootlesskit -------------------------------------------------------------------

# Ubuntu 23.10 and later let a program create user namespaces only when an AppArmor profile allows it.
# The distribution ships one for its own /usr/bin/rootlesskit; nerdctl-full's copy in /usr/local/bin
# (or any other) needs one too, or the rootless engine cannot start.
userns_restricted="$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || echo 0)"
rootlesskit_path="$(command -v rootlesskit 2>/dev/null || true)"
apparmor_thing="AppArmor profile allowing ${rootlesskit_path:-rootlesskit} to create user namespaces"
if [ "$engine" = podman ]; then
	: # podman maps its user namespace through the setuid newuidmap, not rootlesskit
elif [ "$userns_restricted" != 1 ]; then
	ok "$apparmor_thing" "not needed (unprivileged user namespaces are not restricted here)"
elif [ -z "$rootlesskit_path" ]; then
	skipped "$apparmor_thing" "rootlesskit is not installed yet: re-run after installing the engine"
elif grep -qs -e "$rootlesskit_path" "$root"/etc/apparmor.d/*; then
	ok "$apparmor_thing" "present (a profile in /etc/apparmor.d names it)"
else
	profile_name="u7s-rootlesskit"
	profile_file="/etc/apparmor.d/$(printf '%s' "${rootlesskit_path#/}" | tr / .)"
	if ensure_file "$profile_file" "# Written by u7s init-host.root.sh: let rootlesskit (the rootless engine) create user namespaces.
abi <abi/4.0>,
include <tunables/global>

profile $profile_name $rootlesskit_path flags=(unconfined) {
  userns,

  include if exists <local/$profile_name>
}"; then
		if [ -n "$root" ]; then
			skipped "load $profile_file (apparmor_parser -r)" "U7S_INIT_HOST_ROOT is set: the running kernel is left alone"
		else
			act "$profile_file loaded (apparmor_parser -r)" apparmor_parser -r "$profile_file" || true
		fi
	fi
fi

# ---- lingering ------------------------------------------------------------------------------------

# logind keeps lingering users in /var/lib/systemd/linger, one empty file per user name.
linger_file="$root/var/lib/systemd/linger/$user_name"
if [ -e "$linger_file" ]; then
	ok "lingering for $user_name" enabled
elif ! systemd_running; then
	skipped "lingering for $user_name" \
		"systemd is not running: there are no user services to keep; init-host.rootless.sh --start-engine starts the engine as a detached process"
elif [ -n "$root" ]; then
	skipped "loginctl enable-linger $user_name" "U7S_INIT_HOST_ROOT is set: the running logind is left alone"
elif ! systemctl is-active --quiet systemd-logind.service; then
	skipped "loginctl enable-linger $user_name" \
		"systemd-logind is not running: start it (systemctl start systemd-logind), then re-run"
else
	act "lingering for $user_name enabled (loginctl enable-linger)" loginctl enable-linger "$user_name" || true
fi

# ---- the runtime directory -------------------------------------------------------------------------

# The rootless engine puts its socket in $XDG_RUNTIME_DIR, /run/user/UID, and u7s looks there.
# systemd-logind makes it at login; without logind the user cannot make it (/run/user is root's).
runtime_dir="/run/user/$user_uid"
runtime_thing="$root$runtime_dir (owned by $user_name, mode 0700)"
runtime_state="$(stat -c '%u %a' "$root$runtime_dir" 2>/dev/null || true)"
if [ "$runtime_state" = "$user_uid 700" ]; then
	ok "$runtime_thing" present
elif [ -z "$root" ] && systemd_running && systemctl is-active --quiet systemd-logind.service; then
	skipped "$runtime_thing" "systemd-logind makes it when $user_name logs in (or at boot, with lingering)"
elif [ "$dry_run" = 1 ]; then
	changed "$runtime_thing"
elif mkdir -p "$root$runtime_dir" && chown "$user_uid:$user_gid" "$root$runtime_dir" &&
	chmod 0700 "$root$runtime_dir"; then
	changed "$runtime_thing; /run is emptied at boot: re-run this script after a reboot"
else
	failed "$runtime_thing" "could not make it"
fi

# ---- subordinate IDs -------------------------------------------------------------------------------

id_range_size=65536

# ensure_subids FILE USERMOD_FLAG: FILE has at least 65536 IDs for the user (by name or by uid);
# a missing range is added after the highest range in the file, so no two ranges overlap.
ensure_subids() {
	local file="$root$1" flag="$2" have_ids=0 start=100000 end thing
	if [ -f "$file" ]; then
		have_ids="$(awk -F: -v n="$user_name" -v u="$user_uid" '$1 == n || $1 == u { s += $3 } END { print s + 0 }' "$file")"
		# 100000 is where useradd starts handing out ranges (SUB_UID_MIN in login.defs).
		start="$(awk -F: 'NF >= 3 && $2 + $3 > m { m = $2 + $3 } END { print (m > 100000 ? m : 100000) }' "$file")"
	fi
	if [ "$have_ids" -ge "$id_range_size" ]; then
		ok "$file range for $user_name" "present ($have_ids IDs)"
		return 0
	fi
	if [ "$have_ids" -gt 0 ]; then
		failed "$file range for $user_name" "only $have_ids IDs; $id_range_size are needed: fix $file by hand"
		return 0
	fi
	end=$((start + id_range_size - 1))
	thing="$file range $start-$end for $user_name"
	if [ "$dry_run" = 1 ]; then
		changed "$thing"
	elif [ -n "$root" ]; then
		if mkdir -p "$(dirname "$file")" && printf '%s:%s:%s\n' "$user_name" "$start" "$id_range_size" >>"$file"; then
			changed "$thing"
		else
			failed "$thing" "could not append to $file"
		fi
	else
		act "$thing (usermod $flag)" usermod "$flag" "$start-$end" "$user_name" || true
	fi
}
ensure_subids /etc/subuid --add-subuids
ensure_subids /etc/subgid --add-subgids

# ---- summary -----------------------------------------------------------------------------------------

verb=changed
[ "$dry_run" = 1 ] && verb="would change"
summary="init-host.root: $n_changed $verb, $n_ok ok, $n_skipped skipped"
[ "$n_failed" = 0 ] || summary="$summary, $n_failed failed"
printf '%s\n' "$summary"
if [ "$delegation_changed" = 1 ] && systemd_running; then
	printf 'note: cgroup delegation %s: %s must log out and in again (or the host must reboot) for it to take effect\n' "$verb" "$user_name"
fi
[ "$n_failed" = 0 ] || exit 1
exit 0
