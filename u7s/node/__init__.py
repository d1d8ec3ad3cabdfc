"""The node on one host: its container, and kubeadm, kubectl and helm inside it."""
