"""What a local-path provisioner's helper pod does on its node, for the u7s TEST STAND-IN kubelet (lab only).

The real helper pod runs the ConfigMap's `setup` (`mkdir -m 0777 -p "$VOL_DIR"`)
or `teardown` (`rm -rf "$VOL_DIR"`) script in a busybox container with the
node's directory mounted at the same path; the kubelet stand-in does that work
itself, in the node, and reports the pod as a finished container does.
"""

import os
import shutil

import u7s_standin_common as common


def _command(pod):
    containers = pod.get("spec", {}).get("containers") or [{}]
    return containers[0].get("command") or []


def is_helper(pod):
    return pod["metadata"]["name"].startswith("helper-pod-") and _command(pod)[-1:] in (
        ["/script/setup"], ["/script/teardown"])


def run(pod, log):
    """Do the helper pod's work; return its final status (Succeeded, or Failed with exit code 1)."""
    env = {e.get("name"): e.get("value") for e in pod["spec"]["containers"][0].get("env") or []}
    vol_dir, script = env.get("VOL_DIR", ""), _command(pod)[-1].rsplit("/", 1)[-1]
    try:
        if not os.path.isabs(vol_dir) or os.path.normpath(vol_dir) != vol_dir or vol_dir == "/":
            raise OSError(f"VOL_DIR {vol_dir!r} is not a directory path")
        where = common.host_path(vol_dir)
        if script == "setup":
            os.makedirs(where, exist_ok=True)
            os.chmod(where, 0o777)  # mkdir -m 0777: any pod user may write there
        else:
            shutil.rmtree(where, ignore_errors=False) if os.path.isdir(where) else None
        code, reason = 0, "Completed"
        log(f"helper pod {pod['metadata']['name']}: {script} {vol_dir}")
    except OSError as e:
        code, reason = 1, "Error"
        log(f"helper pod {pod['metadata']['name']}: {script} {vol_dir} failed: {e}")
    now = common.now_iso()
    return {"phase": "Succeeded" if code == 0 else "Failed", "startTime": now,
            "containerStatuses": [{"name": "helper-pod", "ready": False, "restartCount": 0,
                                   "image": pod["spec"]["containers"][0].get("image", ""),
                                   "state": {"terminated": {"exitCode": code, "reason": reason,
                                                            "startedAt": now, "finishedAt": now}}}]}
