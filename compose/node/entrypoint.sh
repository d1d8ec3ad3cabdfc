#!/bin/sh
# u7s node entrypoint: runs before the base image's entrypoint and init.
#  - kubelet gets --cloud-provider=external (u7s's sync-external-ip sets the
#    node addresses) and the label usernetes/host-ip=$HOST_IP;
#  - /etc/hosts.u7s (written by a join script: the control plane's name and
#    host address) is appended to /etc/hosts again at every boot;
#  - /etc and /opt are volumes that keep what the first image put there: when
#    the image changed (an upgrade), its own /etc and /opt files (containerd's
#    configuration, kubelet drop-ins, CNI binaries), saved at build time by
#    `u7s-entrypoint --save-pristine`, are copied over them. Cluster state
#    (/etc/kubernetes) and what the engine mounts (hosts, hostname, resolv.conf)
#    are left alone; files the old image had and the new one lacks stay.
set -eu

pristine=/usr/local/share/u7s/pristine
if [ "${1:-}" = "--save-pristine" ]; then
	rm -rf "$pristine"
	mkdir -p "$pristine/etc" "$pristine/opt"
	cp -a /etc/. "$pristine/etc/"
	cp -a /opt/. "$pristine/opt/"
	cat /proc/sys/kernel/random/uuid >"$pristine/id"
	exit 0
fi
if [ -f "$pristine/id" ] && ! cmp -s "$pristine/id" /etc/u7s-pristine-id; then
	cp -a "$pristine/opt/." /opt/
	tar -C "$pristine/etc" --exclude=./kubernetes --exclude=./hosts --exclude=./hostname \
		--exclude=./resolv.conf --exclude=./machine-id --exclude=./mtab -cf - . | tar -C /etc -xf -
	cp "$pristine/id" /etc/u7s-pristine-id
fi

: "${HOST_IP:?HOST_IP is not set: the node service must pass it}"
defaults=/etc/default/kubelet
flags="--cloud-provider=external --node-labels=usernetes/host-ip=${HOST_IP}"

touch "$defaults"
# Keep the other kubelet flags; drop what an earlier boot added (HOST_IP may
# have changed since), then add ours again.
current=$(sed -n 's/^KUBELET_EXTRA_ARGS=//p' "$defaults" | tail -n 1 | tr -d '"')
kept=""
set -f
for word in $current; do
	case "$word" in
	--cloud-provider=external | --node-labels=usernetes/host-ip=*) ;;
	*) kept="$kept $word" ;;
	esac
done
set +f
grep -v '^KUBELET_EXTRA_ARGS=' "$defaults" >"$defaults.u7s-new" || true
echo "KUBELET_EXTRA_ARGS=\"${kept# }${kept:+ }${flags}\"" >>"$defaults.u7s-new"
mv "$defaults.u7s-new" "$defaults"

if [ -f /etc/hosts.u7s ]; then
	cat /etc/hosts.u7s >>/etc/hosts
fi

exec "$@"
