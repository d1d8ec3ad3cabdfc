#!/bin/sh
# u7s node entrypoint: runs before the base image's entrypoint and init.
#  - kubelet gets --cloud-provider=external (u7s's sync-external-ip sets the
#    node addresses) and the label usernetes/host-ip=$HOST_IP;
#  - /etc/hosts.u7s (written by a join script: the control plane's name and
#    host address) is appended to /etc/hosts again at every boot.
set -eu

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
