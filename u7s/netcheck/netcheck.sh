# The network check's program inside a node: one run per phase, all of a host's work in that run.
#
#   bash -c "$THIS" u7s-netcheck PHASE DEVICE BANNER OVERLAY_PORT ARGS...
#
# Everything that varies arrives as an argument and is checked before use; nothing is spliced into
# shell text. It needs only what kindest/node has: bash, iproute2 (ip, bridge, ss), socat, ethtool,
# coreutils, and ping if present (the node has no python).
#
# prepare MAC OVERLAY_IP VNI FLANNEL_PORT OVERHEAD TCP_PORT... -- [PEER_OVERLAY_IP MAC HOST_IP FLANNEL_PORT]...
#   Remove what an interrupted check left, answer with the banner on each TCP port nobody listens on,
#   set up the VXLAN device as flannel does (static neighbour and forwarding entries for every peer,
#   checksum offload off) but with its own VNI: where flannel runs, its flannel.1 holds the UDP port, and
#   the kernel lets a device of another VNI share that socket. A banner listener on its overlay address.
#   Prints key=value facts: mtu=, ping=yes|no, busy=PORT or ours=PORT per TCP port, flannel=yes|no,
#   vxlan=ok or vxlan=<why not>.
# probe JOBS NPORTS [INDEX HOST_IP OVERLAY_IP|- PING_SIZE PORT*NPORTS]...
#   Probe every peer at once (at most JOBS peers at a time): TCP to its ports, TCP across the overlay,
#   a small ping and one of PING_SIZE bytes. Prints one tab-separated line per probe:
#   INDEX KIND PORT|- EXIT_STATUS BANNER_SEEN(1|0|-) LAST_ERROR_LINE
# cleanup
#   Stop the listeners, delete the device. prepare and probe clean up themselves when they fail.
set -u

fail() {
	echo "u7s-netcheck: $*" >&2
	cleanup
	exit 1
}

need() {  # need PATTERN WHAT VALUE...: refuse any value that does not match
	local pattern=$1 what=$2 value
	shift 2
	for value; do
		[[ $value =~ $pattern ]] || { echo "u7s-netcheck: bad $what: $value" >&2; exit 2; }
	done
}

last_line() {  # last_line FILE: its last non-empty line into $last, tabs and carriage returns made spaces
	local line=""
	last=""
	while IFS= read -r line || [[ -n $line ]]; do [[ -n $line ]] && last=$line; done <"$1"
	last=${last//$'\t'/ }
	last=${last//$'\r'/ }
}

listen() {  # listen ADDRESS: a socat that answers each connection with the banner; its pid is noted for cleanup
	# The banner comes from a file: each connection costs a fork of the listener, no shell.
	# Callers ask for backlog=1024: every peer connects at once, and socat's default queue of 5 drops the
	# rest, whose retries come a second or three later (past the probes' timeout on a large fleet).
	[[ -f $pids.banner ]] || echo "$banner" >"$pids.banner"
	socat -U "$1" "OPEN:$pids.banner,rdonly" </dev/null >/dev/null 2>&1 &
	echo $! >>"$pids"
}

any_alive() {
	local pid
	for pid; do [[ -e /proc/$pid ]] && return 0; done
	return 1
}

cleanup() {
	local pid comm killed=() tries
	if [[ -f $pids ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			# a pid may have been reused since: only a socat is ours
			comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
			[[ $comm == socat ]] && kill "$pid" 2>/dev/null && killed+=("$pid")
		done <"$pids"
		rm -f "$pids"
	fi
	rm -f "$pids.banner"
	# Poll until they are gone, so that whoever looks next finds nothing left (2 s at most).
	for ((tries = 0; tries < 40; tries++)); do
		any_alive "${killed[@]}" || break
		sleep 0.05
	done
	if ip link show "$device" >/dev/null 2>&1; then
		ip link del "$device" || return 1
	fi
	return 0
}

prepare() {
	local mac=$1 address=$2 vni=$3 flannel_port=$4 overhead=$5 ports=() port mtu err
	shift 5
	while (($#)) && [[ $1 != -- ]]; do ports+=("$1"); shift; done
	(($#)) && shift
	need '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' MAC "$mac"
	need '^[0-9.]+$' address "$address"
	need '^[0-9]+$' number "$vni" "$flannel_port" "$overhead" "${ports[@]}"
	(($# % 4 == 0)) || { echo "u7s-netcheck: the peer table needs 4 values a peer" >&2; exit 2; }
	local i
	for ((i = 1; i <= $#; i += 4)); do
		need '^[0-9.]+$' address "${!i}"
		need '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' MAC "${@:i+1:1}"
		need '^[0-9A-Fa-f.:]+$' address "${@:i+2:1}"
		need '^[0-9]+$' port "${@:i+3:1}"
	done
	cleanup || fail "cannot remove the $device device an earlier check left"

	mtu=$(cat /sys/class/net/eth0/mtu 2>/dev/null)
	need '^[0-9]+$' "eth0 MTU" "${mtu:=1500}"
	echo "mtu=$mtu"
	if command -v ping >/dev/null; then echo ping=yes; else echo ping=no; fi
	for port in "${ports[@]}"; do
		if [[ -n $(ss -H -l -n -t "sport = :$port") ]]; then
			echo "busy=$port"
		else
			listen "TCP-LISTEN:$port,reuseaddr,fork,backlog=1024"
			echo "ours=$port"
		fi
	done

	# The CNI's own device (flannel's, or Calico's with CNI=calico) holds the port where it runs.
	local devices
	devices=$(ip -o link show type vxlan)
	if [[ $devices == *flannel.1* || $devices == *vxlan.calico* ]]; then echo flannel=yes; else echo flannel=no; fi
	if ! err=$(ip link add "$device" address "$mac" type vxlan id "$vni" dstport "$flannel_port" dev eth0 nolearning 2>&1); then
		echo "vxlan=cannot create a VXLAN device (VNI $vni, UDP $flannel_port): ${err//$'\n'/ }"
		return 0
	fi
	ip link set "$device" mtu $((mtu - overhead)) || fail "cannot set the MTU of $device"
	ip addr add "$address/24" dev "$device" || fail "cannot give $device its address"
	# Up opens the UDP socket, or shares flannel's; a port held otherwise (another program, or flannel with other
	# receive flags such as GBP) refuses it.
	if ! err=$(ip link set "$device" up 2>&1); then
		ip link del "$device" 2>/dev/null
		echo "vxlan=cannot bring a VXLAN device up on UDP $flannel_port: ${err//$'\n'/ }"
		return 0
	fi
	# As the node image's udev rule does for flannel.1: checksums behind NAT are otherwise wrong.
	ethtool -K "$device" tx-checksum-ip-generic off >/dev/null 2>&1
	listen "TCP-LISTEN:$overlay_port,bind=$address,reuseaddr,fork,backlog=1024"
	# Every peer's entries in one ip and one bridge run (the values were checked above: no spaces, no newlines).
	local neighbours="" entries=""
	while (($#)); do
		neighbours+="neigh replace $1 lladdr $2 dev $device nud permanent"$'\n'
		entries+="fdb append $2 dev $device dst $3 port $4 self permanent"$'\n'
		shift 4
	done
	if [[ -n $neighbours ]]; then
		ip -batch - <<<"$neighbours" || fail "cannot add the peers' neighbour entries"
		bridge -batch - <<<"$entries" || fail "cannot add the peers' forwarding entries"
	fi
	echo vxlan=ok
}

# The probes print their line and leave the outcome in $rc and $seen (no subshells: a node may run hundreds).
connect() {  # connect INDEX PORT_LABEL HOST PORT KIND: one TCP connection that expects the banner
	local out="$work/$1.$5.$2" got=""
	socat -T 3 -u "TCP:$3:$4,connect-timeout=3" STDOUT >"$out.out" 2>"$out.err"
	rc=$? seen=0 last=""
	IFS= read -r got <"$out.out"
	[[ $got == *"$banner"* ]] && seen=1
	((rc == 0 && seen == 1)) || last_line "$out.err"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$5" "$2" "$rc" "$seen" "$last"
}

ping_peer() {  # ping_peer INDEX KIND ADDRESS [ARGS...]
	local index=$1 kind=$2 address=$3
	shift 3
	ping -c 2 -i 0.2 -W 2 "$@" "$address" >/dev/null 2>&1
	rc=$?
	printf '%s\t%s\t-\t%s\t-\t\n' "$index" "$kind" "$rc"
}

overlay() {  # overlay INDEX ADDRESS SIZE: TCP across the overlay, then pings; the large one only if both passed
	local answered
	connect "$1" - "$2" "$overlay_port" vxlan
	answered=$seen
	((has_ping)) || return 0
	ping_peer "$1" ping "$2"
	((answered == 1 && rc == 0)) || return 0
	ping_peer "$1" mtu "$2" -M do -s "$3"
}

peer() {  # peer INDEX HOST_IP OVERLAY_IP|- SIZE PORT...: every probe of one peer, at once, into one file
	local index=$1 host=$2 address=$3 size=$4 port
	shift 4
	{
		for port; do connect "$index" "$port" "$host" "$port" tcp & done
		[[ $address == - ]] || overlay "$index" "$address" "$size" &
		wait
	} >"$work/$index.lines"
}

probe() {
	local jobs=$1 nports=$2 running=0 order=() index i
	shift 2
	need '^[0-9]+$' number "$jobs" "$nports"
	((jobs > 0)) || jobs=1
	(($# % (4 + nports) == 0)) || { echo "u7s-netcheck: the peer table needs $((4 + nports)) values a peer" >&2; exit 2; }
	for ((i = 1; i <= $#; i += 4 + nports)); do
		need '^[0-9]+$' number "${@:i:1}" "${@:i+3:1}" "${@:i+4:nports}"
		need '^[0-9A-Fa-f.:]+$' address "${@:i+1:1}"
		[[ ${@:i+2:1} == - ]] || need '^[0-9.]+$' address "${@:i+2:1}"
	done
	work=$(mktemp -d) || exit 1
	trap 'rm -rf "$work"' EXIT
	has_ping=0
	command -v ping >/dev/null && has_ping=1
	while (($#)); do
		if ((running >= jobs)); then
			wait -n
			running=$((running - 1))
		fi
		peer "${@:1:4+nports}" &
		running=$((running + 1))
		order+=("$1")
		shift $((4 + nports))
	done
	wait
	for index in "${order[@]}"; do cat "$work/$index.lines"; done
}

main() {
	phase=${1:-} device=${2:-} banner=${3:-} overlay_port=${4:-}
	need '^[a-z0-9-]+$' name "$device" "$banner"
	need '^[0-9]+$' port "$overlay_port"
	pids=/run/$device.pids
	shift 4
	case $phase in
	prepare) prepare "$@" || fail "prepare failed" ;;
	probe) probe "$@" ;;
	cleanup) cleanup ;;
	*) echo "u7s-netcheck: unknown phase: $phase" >&2; exit 2 ;;
	esac
}

main "$@"
