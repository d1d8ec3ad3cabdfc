"""Run flannel's pod on one node as the kubelet does: the u7s TEST STAND-IN (lab only; runs no containers).

The kubelet stand-in calls `FlannelPod.sync` about once a second for each flannel pod
bound to its node. The pod goes the way the kubelet takes it, and its status says so
in the kubelet's words (pkg/kubelet/images, kuberuntime's doBackOff, status_manager):

  - the images are pulled, init container by init container, then the main one;
    switch `flannel-image-pull`: the first pull fails (waiting reason `ErrImagePull`,
    the runtime's message naming the image of the pod spec), then `ImagePullBackOff`
    (`Back-off pulling image "IMAGE"`) until the next try: 10 s, doubling to 5 minutes.
    Nothing is installed: no CNI configuration, the node stays NotReady;
  - the init containers run: install-cni writes the CNI configuration (the node turns Ready);
  - flanneld starts (u7s_standin_flannel.start: annotations, subnet.env, Running);
    switch `flannel-crashloop`: flanneld exits 1 about a second after each start, before it
    writes anything (a running one exits too); the kubelet restarts it at once the first
    time, then after a back-off of 10 s, doubling to 5 minutes, meanwhile waiting with
    reason `CrashLoopBackOff` (`back-off 10s restarting failed container=...`), the exit in
    lastState.terminated and restartCount rising. Once the switch is off, the next restart
    starts it for good.
"""

import hashlib
import time

import u7s_standin_flannel as flannel
import u7s_standin_images as images
from u7s_standin_client import path_of
from u7s_standin_common import now_iso, switch

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0  # kubelet: flowcontrol back-off of containers and image pulls
ERR_IMAGE_PULL_SHOWN = 2.0  # seconds until the kubelet's next sync turns ErrImagePull into ImagePullBackOff
RUN_BEFORE_EXIT = 1.0  # how long a crash-looping flanneld runs


def pull_error(image):
    """containerd's error for an image whose registry cannot be resolved (an air-gapped node)."""
    first, _, rest = image.partition("/")
    registry, repo = (first, rest) if rest and ("." in first or ":" in first) else ("registry-1.docker.io", image)
    repo, _, tag = repo.partition(":")
    return (f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to resolve reference '
            f'"{image}": failed to do request: Head "https://{registry}/v2/{repo}/manifests/{tag or "latest"}": '
            f"dial tcp: lookup {registry} on 127.0.0.11:53: no such host")


def container_id(pod_uid, name, n):
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{n}".encode()).hexdigest()


class FlannelPod:
    """One flannel pod's life on this node, advanced by `sync`."""

    def __init__(self, pod):
        self.uid = pod["metadata"]["uid"]
        self.pull_backoff = 0.0
        self.pull_failed_at = None
        self.next_pull = 0.0
        self.pulled = False
        self.init_done_at = None
        self.restarts = -1  # the first start is not a restart
        self.backoff = 0.0
        self.phase = "start"  # start -> running | crashing -> backoff -> start ...
        self.exit_at = self.restart_at = 0.0
        self.started_at = None
        self.last = None  # lastState.terminated of the main container
        self.waiting = None  # (reason, message) of the main container
        self.patched = None
        self.address = None

    # ------------------------------------------------------------ the agent (calico's pod runner overrides them)
    def install_cni(self, client, pod, node_name):
        flannel.install_cni()

    def start_agent(self, client, node_name, pod, log):
        return flannel.start(client, node_name, pod, log)

    # ------------------------------------------------------------ the kubelet's loop
    def sync(self, client, node_name, pod, log, now=None):
        now = time.monotonic() if now is None else now
        if not self.pulled and not self._pull(pod, log, now, node_name):
            self._report(client, pod)
            return
        if self.init_done_at is None:
            self.install_cni(client, pod, node_name)  # the init containers: install-cni-plugin, then install-cni
            self.init_done_at = now_iso()
        crash = switch("flannel-crashloop") is not None
        if self.phase == "backoff" and now >= self.restart_at:
            self.phase = "start"
        if self.phase == "start":
            self.restarts += 1
            self.started_at, self.waiting = now_iso(), None
            if crash:
                self.phase, self.exit_at = "crashing", now + RUN_BEFORE_EXIT
            else:
                self.address = self.start_agent(client, node_name, pod, log)
                if self.address is not None:
                    self.phase = "running"
                    self._report(client, pod)
                    return
                self.phase, self.exit_at = "crashing", now  # flanneld exited: it could not make flannel.1
        elif self.phase == "running" and crash:
            self.exit_at, self.phase = now, "crashing"
        if self.phase == "crashing" and now >= self.exit_at:
            self._exited(pod, log, now)
        self._report(client, pod)

    def _pull(self, pod, log, now, node_name):
        """Pull the pod's images the node lacks (True when done); the switch makes every pull fail as with no
        registry, images the node's containerd holds need none (imagePullPolicy IfNotPresent)."""
        if self.pull_failed_at is not None and now < self.next_pull:
            if now - self.pull_failed_at >= ERR_IMAGE_PULL_SHOWN:
                self.waiting = ("ImagePullBackOff", f'Back-off pulling image "{self.first_image(pod)}"')
            return False
        if not images.pull_absent(pod, node_name) or switch("flannel-image-pull") is None:
            self.pulled, self.waiting = True, None
            return True
        image = self.first_image(pod)
        self.pull_backoff = BACKOFF_START if not self.pull_backoff else min(self.pull_backoff * 2, BACKOFF_MAX)
        self.pull_failed_at, self.next_pull = now, now + self.pull_backoff
        self.waiting = ("ErrImagePull", pull_error(image))
        log(f"flannel {pod['metadata']['name']}: pulling {image} failed (switch flannel-image-pull)")
        return False

    def _exited(self, pod, log, now):
        self.last = {"exitCode": 1, "reason": "Error", "startedAt": self.started_at, "finishedAt": now_iso(),
                     "containerID": container_id(self.uid, "kube-flannel", self.restarts)}
        delay, self.backoff = self.backoff, (BACKOFF_START if not self.backoff else min(self.backoff * 2, BACKOFF_MAX))
        self.phase, self.restart_at = "backoff", now + delay
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        if delay:
            self.waiting = ("CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container="
                            f"{self.main(pod)['name']} pod={name}_{ns}({self.uid})")
        log(f"flannel {name}: flanneld exited 1; restart in {delay:g}s")

    # ------------------------------------------------------------ the pod's status
    @staticmethod
    def first_image(pod):
        """The image the kubelet pulls first: the first init container's, else the first container's."""
        spec = pod.get("spec", {})
        return (spec.get("initContainers") or spec.get("containers"))[0]["image"]

    @staticmethod
    def main(pod):
        return pod["spec"]["containers"][0]

    def status(self, pod):
        """The pod's status as the kubelet reports it, for what has happened so far."""
        running = self.phase == "running"
        spec = pod.get("spec", {})
        inits, mains = spec.get("initContainers") or [], spec.get("containers") or []
        initializing = {"waiting": {"reason": "PodInitializing"}}
        init_statuses, pending = [], not self.pulled
        for i, c in enumerate(inits):
            if self.init_done_at:
                state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": self.init_done_at,
                                        "finishedAt": self.init_done_at,
                                        "containerID": container_id(self.uid, c["name"], 0)}}
            elif i == 0 and self.waiting:
                state = {"waiting": dict(zip(("reason", "message"), self.waiting))}
            else:
                state = initializing
            init_statuses.append({"name": c["name"], "image": c["image"], "imageID": "", "ready": bool(self.init_done_at),
                                  "restartCount": 0, "started": False, "state": state})
        statuses = []
        for c in mains:
            entry = {"name": c["name"], "image": c["image"], "imageID": "", "ready": running,
                     "restartCount": max(self.restarts, 0), "started": self.phase in ("running", "crashing")}
            if self.phase in ("running", "crashing") and self.init_done_at:
                entry["state"] = {"running": {"startedAt": self.started_at}}
                entry["containerID"] = container_id(self.uid, c["name"], self.restarts)
            elif self.waiting and (self.init_done_at or not inits):
                entry["state"] = {"waiting": dict(zip(("reason", "message"), self.waiting))}
            elif self.phase == "backoff" and self.last:  # exited, restarted at the next sync
                entry["state"] = {"terminated": self.last}
            else:
                entry["state"] = initializing
            entry["lastState"] = {"terminated": self.last} if self.last else {}
            statuses.append(entry)
        names = [c["name"] for c in mains]
        unready = [] if running else names
        now = now_iso()
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True" if self.init_done_at else "False", "lastTransitionTime": now,
             **({} if self.init_done_at else {"reason": "ContainersNotInitialized", "message":
                 f"containers with incomplete status: [{' '.join(c['name'] for c in inits)}]"})},
            *({"type": t, "status": "False" if unready else "True", "lastTransitionTime": now,
               **({"reason": "ContainersNotReady", "message": f"containers with unready status: [{' '.join(unready)}]"}
                  if unready else {})} for t in ("Ready", "ContainersReady")),
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]
        out = {"phase": "Pending" if pending or not self.init_done_at else "Running", "conditions": conditions,
               "containerStatuses": statuses, "startTime": pod.get("status", {}).get("startTime") or now}
        if inits:
            out["initContainerStatuses"] = init_statuses
        if self.address:
            out["hostIP"] = out["podIP"] = self.address
        return out

    def _report(self, client, pod):
        status = self.status(pod)
        # Timestamps aside, only a change is sent (the kubelet's status manager does the same).
        key = repr(_without_times(status))
        if key == self.patched:
            return
        client.patch(path_of(pod["metadata"]["name"], pod["metadata"]["namespace"], "pods") + "/status",
                     {"status": status})
        self.patched = key


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value
