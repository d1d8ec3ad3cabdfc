"""The smoke test: is the cluster really usable? (Needs images from a registry: run it on real hosts.)

Every node Ready; a headless Service and a 3-replica nginx StatefulSet, each
replica with a claim of the default StorageClass (bound: local-path storage
works on its node); each replica fetched by its DNS name from a throw-away pod
(pod DNS and cross-node pod networking); then everything is removed again.
"""

from __future__ import annotations

import os
import shutil

from u7s.errors import U7sError
from u7s.run.hosts import Host
from u7s.ui.report import Reporter
from u7s.config.settings import Settings

NAME = "dnstest"
REPLICAS = 3
MANIFEST = f"""\
apiVersion: v1
kind: Service
metadata:
  name: {NAME}
spec:
  clusterIP: None
  selector:
    app: {NAME}
  ports:
    - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {NAME}
spec:
  serviceName: {NAME}
  replicas: {REPLICAS}
  selector:
    matchLabels:
      app: {NAME}
  template:
    metadata:
      labels:
        app: {NAME}
    spec:
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    app: {NAME}
      containers:
        - name: nginx
          image: docker.io/library/nginx:alpine
          ports:
            - containerPort: 80
          volumeMounts:
            - name: data
              mountPath: /data
  # A claim per replica, of the default StorageClass (local-path), deleted with the StatefulSet.
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 64Mi
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Delete
    whenScaled: Delete
"""


def replica_urls() -> list[str]:
    return [f"http://{NAME}-{i}.{NAME}.default.svc.cluster.local" for i in range(REPLICAS)]


def claims() -> list[str]:
    """The replicas' claims, named by the StatefulSet controller: TEMPLATE-STATEFULSET-ORDINAL."""
    return [f"pvc/data-{NAME}-{i}" for i in range(REPLICAS)]


def find_kubectl(s: Settings, given: str | None) -> str:
    if given:
        return given
    found = shutil.which("kubectl")
    if found:
        return found
    copied = s.path("kubectl")
    if os.access(copied, os.X_OK):
        return copied
    raise U7sError("kubectl not found: install it, or run `u7s kubectl` to copy one out of the node")


def plan(kubectl: str, kubeconfig: str, timeout: int) -> list[tuple[str, list[str], str | None, str | None]]:
    """Pure: the titled kubectl commands of the smoke test, with their stdin and the page their output must be
    (nginx's, for a fetch; None for the others)."""
    k = [kubectl, "--kubeconfig", kubeconfig]
    wait = f"{timeout}s"
    steps = [
        ("all nodes Ready", [*k, "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={wait}"], None,
         None),
        ("create the test StatefulSet", [*k, "apply", "-f", "-"], MANIFEST, None),
        ("replicas running", [*k, "rollout", "status", f"statefulset/{NAME}", f"--timeout={wait}"], None, None),
        ("volumes bound", [*k, "wait", "--for=jsonpath={.status.phase}=Bound", *claims(), f"--timeout={wait}"],
         None, None),
    ]
    for i, url in enumerate(replica_urls()):
        steps.append((
            f"fetch {NAME}-{i} by DNS",
            [*k, "run", f"{NAME}-probe-{i}", "--rm", "-i", "--restart=Never",
             "--image=docker.io/library/alpine:3", f"--pod-running-timeout={wait}", "--",
             "wget", "-q", "-O", "-", "-T", "10", url],
            None,
            "nginx",
        ))
    return steps


def cleanup(kubectl: str, kubeconfig: str) -> list[str]:
    return [kubectl, "--kubeconfig", kubeconfig, "delete", "--ignore-not-found",
            f"statefulset/{NAME}", f"service/{NAME}", *claims()]


def run(host: Host, s: Settings, report: Reporter, kubeconfig: str | None = None,
        kubectl: str | None = None) -> None:
    kubectl = find_kubectl(s, kubectl)
    kubeconfig = kubeconfig or s.path("kubeconfig")
    if host.read_text(kubeconfig) is None:
        raise U7sError(f"no kubeconfig at {kubeconfig}; run `u7s kubeconfig` (or pass --kubeconfig)")
    try:
        for title, argv, stdin, page in plan(kubectl, kubeconfig, s.timeout):
            with report.step(title):
                result = host.run(argv, check=False, stdin=stdin)
            if not result.ok:
                raise U7sError(f"smoke test failed at '{title}': {(result.stderr or result.stdout).strip()[-300:]}")
            if page and page not in result.stdout.lower():
                raise U7sError(f"smoke test failed at '{title}': the page is not {page}'s")
        report.done("smoke test passed")
    finally:
        host.run(cleanup(kubectl, kubeconfig), check=False)
