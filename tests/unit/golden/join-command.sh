#!/bin/bash
# u7s join script for u7s-host1: run inside a worker's node container
# (`u7s kubeadm-join`). It holds a bootstrap token: it is a secret, keep it 0600.
set -eu -o pipefail
# Workers reach the control plane by its node name through its host's address
# and published port; the node entrypoint re-applies this file at every boot.
printf '%s  %s\n' 192.0.2.10 u7s-host1 >/etc/hosts.u7s
cat /etc/hosts.u7s >>/etc/hosts
exec kubeadm join u7s-host1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:0000000000000000000000000000000000000000000000000000000000000000
