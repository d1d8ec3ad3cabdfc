#!/bin/sh
# kernel-modules.sh: say, for each kernel module named, whether the running kernel has it.
#
# Usage: kernel-modules.sh MODULE...
#
# Prints one line per module, MODULE<tab>STATE<tab>WHY, and exits 0. STATE is
#   loaded   listed in /proc/modules (it must be loaded again at every boot);
#   builtin  built into the kernel: nothing to load, ever;
#   missing  neither (modprobe loads it if the kernel has it as a module);
#   unknown  not loaded, and nothing on this host says whether it is built in.
# A module built into the kernel never appears in /proc/modules (a kernel built without module
# support has no /proc/modules at all). Some built-in ones have a /sys/module entry; for the others,
# what says so is the kernel's /lib/modules/$(uname -r)/modules.builtin, else its configuration
# (/proc/config.gz, else /boot/config-$(uname -r)) with the module's option set to `y`.
# init-host.root.sh and u7s's preflight both run this file, so the two never disagree.
#
# For tests only: U7S_INIT_HOST_ROOT=DIR reads every file under DIR instead of /.
set -u

root="${U7S_INIT_HOST_ROOT:-}"
root="${root%/}"
release="$(uname -r)"
tab="$(printf '\t')"

# The kernel configuration option that builds each module (from the kernel's Makefiles: e.g.
# net/bridge/Makefile has `obj-$(CONFIG_BRIDGE_NETFILTER) += br_netfilter.o`).
config_option() {
	case "$1" in
	tun) echo CONFIG_TUN ;;
	tap) echo CONFIG_TAP ;;
	bridge) echo CONFIG_BRIDGE ;;
	br_netfilter) echo CONFIG_BRIDGE_NETFILTER ;;
	veth) echo CONFIG_VETH ;;
	vxlan) echo CONFIG_VXLAN ;;
	ip_tables) echo CONFIG_IP_NF_IPTABLES ;;
	ip6_tables) echo CONFIG_IP6_NF_IPTABLES ;;
	iptable_nat) echo CONFIG_IP_NF_NAT ;;
	ip6table_nat) echo CONFIG_IP6_NF_NAT ;;
	iptable_filter) echo CONFIG_IP_NF_FILTER ;;
	ip6table_filter) echo CONFIG_IP6_NF_FILTER ;;
	nf_tables) echo CONFIG_NF_TABLES ;;
	x_tables | xt_tcpudp) echo CONFIG_NETFILTER_XTABLES ;;
	xt_MASQUERADE) echo CONFIG_NETFILTER_XT_TARGET_MASQUERADE ;;
	xt_addrtype) echo CONFIG_NETFILTER_XT_MATCH_ADDRTYPE ;;
	xt_comment) echo CONFIG_NETFILTER_XT_MATCH_COMMENT ;;
	xt_conntrack) echo CONFIG_NETFILTER_XT_MATCH_CONNTRACK ;;
	xt_mark) echo CONFIG_NETFILTER_XT_MARK ;;
	xt_multiport) echo CONFIG_NETFILTER_XT_MATCH_MULTIPORT ;;
	xt_nat) echo CONFIG_NETFILTER_XT_NAT ;;
	*) return 1 ;;
	esac
}

# Each source is read once. Module names compare with `-` as `_`, as the kernel does.
loaded="$(cut -d ' ' -f 1 "$root/proc/modules" 2>/dev/null | tr - _)"
builtin_file="/lib/modules/$release/modules.builtin"
builtin_readable=0
builtin=""
if [ -r "$root$builtin_file" ]; then
	builtin_readable=1
	builtin="$(sed -e 's|.*/||' -e 's|\.ko$||' "$root$builtin_file" | tr - _)"
fi
config_file=""
config=""
if [ -r "$root/proc/config.gz" ] && config="$(gzip -dc "$root/proc/config.gz" 2>/dev/null)" && [ -n "$config" ]; then
	config_file=/proc/config.gz
elif [ -r "$root/boot/config-$release" ]; then
	config_file="/boot/config-$release"
	config="$(cat "$root$config_file")"
fi

has_line() { # has_line TEXT LINE
	printf '%s\n' "$1" | grep -Fqx -e "$2"
}

for module in "$@"; do
	name="$(printf '%s' "$module" | tr - _)"
	option="$(config_option "$name")" || option=""
	if has_line "$loaded" "$name"; then
		state=loaded why="loaded (/proc/modules)"
	elif [ -d "$root/sys/module/$name" ]; then
		# In sysfs but not among the loaded modules: part of the kernel image.
		state=builtin why="built in (/sys/module/$name, not in /proc/modules)"
	elif has_line "$builtin" "$name"; then
		state=builtin why="built in ($builtin_file)"
	elif [ -n "$option" ] && has_line "$config" "$option=y"; then
		state=builtin why="built in ($config_file: $option=y)"
	elif [ -n "$option" ] && has_line "$config" "$option=m"; then
		state=missing why="not loaded ($config_file: $option=m, a loadable module)"
	elif [ -n "$option" ] && [ -n "$config_file" ]; then
		state=missing why="not in this kernel ($config_file: $option is not set)"
	elif [ "$builtin_readable" = 1 ]; then
		state=missing why="neither loaded nor listed in $builtin_file"
	else
		state=unknown why="not loaded, and no modules.builtin or kernel configuration says whether it is built in"
	fi
	printf '%s%s%s%s%s\n' "$module" "$tab" "$state" "$tab" "$why"
done
exit 0
