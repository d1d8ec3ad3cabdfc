"""A pod's containers as the kubelet stand-in runs them on a Calico node (lab only; no container runtime).

The pod gets its network from the Calico CNI plugin stand-in (a namespace of its own, an
address), and its containers become one real process in that namespace: it listens on
every `containerPort` (TCP) and answers each connection with the pod's name, so that a
connection from another pod's namespace, and a NetworkPolicy's effect on it, are real.
What the images would run is not run.
"""

import os
import signal
import subprocess
import sys

import u7s_standin_calico as calico
from u7s_standin_common import now_iso, under_test

# The containers' stand-in: listen on each port given, answer with the pod's name; with no port, just live.
LISTENER = r"""
import socket, sys, threading, time
name, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall((name + "\n").encode()); c.close()
for p in ports:
    threading.Thread(target=serve, args=(p,), daemon=True).start()
while True:
    time.sleep(3600)
"""


def tcp_ports(pod):
    return [p["containerPort"] for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []
            if (p.get("protocol") or "TCP") == "TCP" and p.get("containerPort")]


class Workload:
    """One pod's namespace and process, from CNI ADD until the pod goes."""

    def __init__(self, pod, node, taken):
        self.pod, self.started = pod, now_iso()
        self.ip = calico.add_workload(pod, node, taken)
        self.host_ip = (node.get("status", {}).get("addresses") or [{}])[0].get("address", "")
        inside = [] if under_test() else calico.in_netns(pod)  # unit tests: no namespace
        self.proc = subprocess.Popen(
            [*inside, sys.executable, "-c", LISTENER, pod["metadata"]["name"], *map(str, tcp_ports(pod))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def status(self):
        statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "restartCount": 0,
                     "started": True, "state": {"running": {"startedAt": self.started}},
                     "containerID": "containerd://" + os.urandom(32).hex()}
                    for c in self.pod["spec"].get("containers") or []]
        conditions = [{"type": t, "status": "True", "lastTransitionTime": self.started}
                      for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
        return {"phase": "Running", "startTime": self.started, "podIP": self.ip, "podIPs": [{"ip": self.ip}],
                "hostIP": self.host_ip, "conditions": conditions, "containerStatuses": statuses}

    def stop(self):
        """The pod is gone: its process ends (by its own pid), CNI DEL removes its network."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        calico.del_workload(self.pod)
