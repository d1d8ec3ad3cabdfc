"""The network check: TCP and VXLAN between every pair of hosts, from inside the nodes, before any join."""
