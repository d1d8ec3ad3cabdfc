"""Ready means the pod network works: each node Ready, flannel's pod there running and ready, its public-ip written.

The kubelet calls a node Ready as soon as a CNI configuration exists. flannel's
install-cni init container writes one before flanneld has run at all, so a node whose
flanneld keeps exiting (it cannot reach the API, a wrong interface) turns Ready all the
same; only a node whose flannel image cannot be pulled (an air-gapped site) stays
NotReady, with nothing in its condition that says why. So the wait reads, in one
kubectl call per look, the nodes and flannel's pods, and asks of every node: Ready, its
flannel pod Running with every container ready, and the `public-ip` annotation that
flanneld writes once it has started. A node that is not is named with its pod's state
in the kubelet's words (reason, message, restarts, last exit), one line per node.

A pod that keeps failing (CrashLoopBackOff, ImagePullBackOff, ...) ends the wait after
GRACE seconds instead of at the timeout. The caller may restart pods found failing at
the first look (lifecycle.wait_ready does: an earlier run left them so), so that a cause
fixed since then takes effect at once instead of after the kubelet's back-off (up to 5
minutes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from u7s.errors import WaitTimeout
from u7s.node.cni import FLANNEL, Cni, of
from u7s.node.container import Node
from u7s.node.kube import kubectl, node_is_ready, not_ready_reason
from u7s.run.poll import wait_for

GRACE = 60.0  # seconds a flannel pod may keep failing before the wait gives up on it
IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
# The kubelet's waiting reasons of a container that will not start without a change (kubelet/container, images).
FAILING = (*IMAGE_PULL, "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError")


class PodNetworkFailed(WaitTimeout):
    """Some node's pod network did not come up: each one is named on its own line."""


@dataclass(frozen=True)
class PodState:
    """What a pod's status says, for a person: ok, else its first troubled container in the kubelet's words."""

    name: str
    uid: str
    ok: bool
    text: str
    reason: str | None = None  # a FAILING reason, when the pod is failing rather than starting
    images: tuple[str, ...] = ()
    message: str = ""  # the waiting message, whole (ErrImagePull's is the registry's error)


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    text: str
    pod: PodState | None = None


def _clip(text: str, n: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _container_problem(status: dict, init: bool) -> tuple[str | None, str | None]:
    """Pure: (what is wrong with one container, its failing reason), or (None, None) when it is done or ready."""
    if _done(status, init):
        return None, None
    state = status.get("state") or {}
    what = f"{'init container' if init else 'container'} {status.get('name', '?')}"
    reason = None
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = waiting.get("reason") or "waiting"
        text = f"{what} waiting: {reason}" + (f" ({_clip(waiting['message'])})" if waiting.get("message") else "")
    elif "terminated" in state:
        done = state["terminated"] or {}
        text = f"{what} terminated: {done.get('reason') or 'exited'} (exit code {done.get('exitCode')})"
    elif "running" in state:
        text = f"{what} running, not ready"
    else:
        text = f"{what} not started"
    restarts = status.get("restartCount") or 0
    last = (status.get("lastState") or {}).get("terminated")
    if restarts:
        text += f", {restarts} restart{'s' if restarts > 1 else ''}"
    if last:
        text += f", last exit code {last.get('exitCode')} ({last.get('reason') or 'no reason'})"
    if reason not in FAILING:
        # Between two crashes the kubelet shows the container running (or just exited): still a crash loop.
        reason = "CrashLoopBackOff" if restarts and last and last.get("exitCode") not in (0, None) else None
        if reason:
            text = text.replace(f"{what} ", f"{what} (CrashLoopBackOff) ", 1)
    return text, reason


def _done(status: dict, init: bool) -> bool:
    state = status.get("state") or {}
    return bool((init and (state.get("terminated") or {}).get("exitCode") == 0) or (not init and status.get("ready")))


def pod_images(pod: dict) -> tuple[str, ...]:
    """Pure: the images of a pod's spec, init containers first, each once."""
    spec = pod.get("spec") or {}
    images = [c.get("image") for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    return tuple(dict.fromkeys(i for i in images if i))


def pod_state(pod: dict) -> PodState:
    """Pure: a pod is ok when Running with every container ready; else its phase and first troubled container."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    name, uid, images = meta.get("name", "?"), meta.get("uid", ""), pod_images(pod)
    phase = status.get("phase") or "Pending"
    statuses = [(s, True) for s in status.get("initContainerStatuses") or []] + \
               [(s, False) for s in status.get("containerStatuses") or []]
    if meta.get("deletionTimestamp"):
        return PodState(name, uid, False, f"{phase}, being deleted", None, images)
    for s, init in statuses:
        text, reason = _container_problem(s, init)
        if text:
            message = ((s.get("state") or {}).get("waiting") or {}).get("message") or ""
            return PodState(name, uid, False, f"{phase}, {text}", reason, images, message)
    if phase == "Running" and status.get("containerStatuses"):
        return PodState(name, uid, True, "Running", None, images)
    why = status.get("reason") or ("no container started yet" if phase == "Pending" else "")
    text = phase + (f", {why}" if why else "") + (f": {_clip(status['message'])}" if status.get("message") else "")
    return PodState(name, uid, False, text, None, images)


def flannel_pod_of(pods: list[dict], node_name: str, cni: Cni = FLANNEL) -> dict | None:
    """Pure: the CNI's pod on a node (flannel's by default): the newest one not being deleted, else the newest."""
    mine = [p for p in pods if (p.get("spec") or {}).get("nodeName") == node_name and cni.owns(p)]
    mine.sort(key=lambda p: (not (p.get("metadata") or {}).get("deletionTimestamp"),
                             (p.get("metadata") or {}).get("creationTimestamp") or ""))
    return mine[-1] if mine else None


def verdicts(nodes: list[dict], pods: list[dict], expected: list[str], cni: Cni = FLANNEL) -> dict[str, NodeVerdict]:
    """Pure: every node (each of `expected`, and any other listed) whose pod network is not up yet, and why."""
    by_name = {(n.get("metadata") or {}).get("name"): n for n in nodes}
    out = {name: NodeVerdict(name, "not registered") for name in expected if name not in by_name}
    for name, obj in by_name.items():
        parts = [] if node_is_ready(obj) else [not_ready_reason(obj)]
        pod = flannel_pod_of(pods, name, cni)
        state = pod_state(pod) if pod else None
        if state is None:
            parts.append(f"no {cni.name} pod on it yet")
        elif not state.ok:
            parts.append(f"{cni.name} pod {state.name}: {state.text}")
        elif not ((obj.get("metadata") or {}).get("annotations") or {}).get(cni.started):
            parts.append(f"{cni.name} pod {state.name} is ready but {cni.started} is not written yet")
        if parts:
            out[name] = NodeVerdict(name, "; ".join(parts), state)
    return dict(sorted(out.items()))


def summary(waiting: dict[str, NodeVerdict]) -> str:
    return "; ".join(f"{name}: {v.text}" for name, v in waiting.items()) or "all Ready"


def failure(head: str, waiting: dict[str, NodeVerdict], seen: dict[str, dict[str, str]] | None = None,
            cni: Cni = FLANNEL) -> str:
    """Pure: the message of a wait that failed: its head, a line per node, then what to do about each kind.

    `seen`: per pod (uid), the last message of each failing reason seen while waiting (Watch.seen). The
    last look may have caught a pod between two states: ImagePullBackOff names the image only (the
    registry's error came with the ErrImagePull before it), a crash-looping container may be running again.
    """
    seen = seen or {}

    def line(name: str, v: NodeVerdict) -> str:
        pod, text = v.pod, f"{name}: {v.text}"
        earlier = seen.get(pod.uid, {}) if pod is not None else {}
        if pod is not None and pod.reason == "ImagePullBackOff" and earlier.get("ErrImagePull"):
            return f"{text}; the last pull failed: {_clip(earlier['ErrImagePull'])}"
        if pod is not None and pod.reason == "CrashLoopBackOff" and not pod.message and earlier.get(pod.reason):
            return f"{text}; before: CrashLoopBackOff ({_clip(earlier[pod.reason])})"
        return text

    lines = [head, *(line(name, v) for name, v in waiting.items())]
    states = [v.pod for v in waiting.values() if v.pod is not None]
    pulls = [s for s in states if s.reason in IMAGE_PULL]
    if pulls:
        images = ", ".join(dict.fromkeys(i for s in pulls for i in s.images))
        lines.append(f"fix: the node cannot pull {images}: on an air-gapped site load them into every node "
                     "(`docker save` them where they can be pulled, then `u7s cluster.load-image --archive FILE`, "
                     "or `u7s load-image --archive FILE` on one host), or use a NODE_IMAGE that has them preloaded; "
                     "then run create again")
    crashing = [s.name for s in states if s.reason == "CrashLoopBackOff"]
    if crashing:
        lines.append(f"fix: {cni.agent} keeps exiting; `kubectl -n {cni.namespace} logs --previous {crashing[0]}` "
                     "says why (often it cannot reach the API service: `u7s cluster.check-network`); once fixed, "
                     f"run create again (it restarts {cni.name}'s failing pods)")
    return "\n".join(lines)


@dataclass
class Watch:
    """Since when each flannel pod (by uid) has been failing; a pod that turns ok, or goes, starts afresh."""

    grace: float = GRACE
    clock: Callable[[], float] = time.monotonic
    since: dict[str, float] = field(default_factory=dict)
    seen: dict[str, dict[str, str]] = field(default_factory=dict)  # uid -> failing reason -> its last message

    def failing_too_long(self, waiting: dict[str, NodeVerdict]) -> bool:
        now = self.clock()
        pods = [v.pod for v in waiting.values() if v.pod is not None and v.pod.reason]
        self.seen = {p.uid: {**self.seen.get(p.uid, {}), **({p.reason: p.message} if p.message else {})}
                     for p in pods}
        failing = {p.uid for p in pods}
        self.since = {uid: self.since.get(uid, now) for uid in failing}
        return any(now - start >= self.grace for start in self.since.values())


def failing_pods(pods: list[dict], cni: Cni = FLANNEL) -> list[str]:
    """Pure: the CNI's pods (flannel's by default) whose containers are failing (not merely starting)."""
    return [pod_state(p).name for p in pods if cni.owns(p) and pod_state(p).reason]


def nodes_and_pods(s) -> tuple[str, ...]:
    """kubectl's arguments for the nodes and the pods of the settings' CNI (create's look asks the same)."""
    return ("get", "nodes,pods", "--namespace", of(s).namespace, "-o", "json")


def read(node: Node) -> tuple[list[dict], list[dict]] | str:
    """The nodes and the CNI's pods in one kubectl call; what kubectl said when the API did not answer."""
    r = kubectl(node, *nodes_and_pods(node.s), check=False)
    if not r.ok:
        return f"the API did not answer: {r.stderr.strip()[-200:]}"
    items = json.loads(r.stdout).get("items", [])
    return [i for i in items if i.get("kind") == "Node"], [i for i in items if i.get("kind") == "Pod"]


def wait_all_ready(node: Node, expected: list[str], on_poll=None, grace: float = GRACE,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Wait until every node (each of `expected` included) is Ready with a working pod network.

    `on_poll(nodes, pods, first)` may repair things between looks. Returns how many looks it took (1: all
    were up at once). Raises PodNetworkFailed naming each node that is not, at the timeout or once a flannel
    pod has kept failing for `grace` seconds.
    """
    looks, cni = 0, of(node.s)
    waiting: dict[str, NodeVerdict] = {}
    watch = Watch(grace, clock)

    def ready() -> tuple[bool, str]:
        nonlocal looks, waiting
        looks += 1
        seen = read(node)
        if isinstance(seen, str):
            return False, seen
        nodes, pods = seen
        if on_poll is not None:
            on_poll(nodes, pods, looks == 1)
        waiting = verdicts(nodes, pods, expected, cni)
        if watch.failing_too_long(waiting):
            raise PodNetworkFailed(failure(f"the pod network is failing on {len(waiting)} node(s) ({cni.name}'s pod "
                                           f"kept failing for {grace:g}s):", waiting, watch.seen, cni))
        return not waiting, summary(waiting)

    timeout = node.s.timeout
    try:
        wait_for(ready, what="every node to be Ready", timeout=timeout, clock=clock, sleep=sleep)
    except PodNetworkFailed:
        raise
    except WaitTimeout:
        if not waiting:  # the API never answered: wait_for's message has what kubectl said
            raise
        raise PodNetworkFailed(failure(f"timed out after {timeout:g}s waiting for every node to be Ready with a "
                                       "working pod network (raise U7S_TIMEOUT if the host is slow):", waiting,
                                       watch.seen, cni)) from None
    return looks
