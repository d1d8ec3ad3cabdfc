"""Ready means the pod network works: the verdict on each node from recorded `kubectl get nodes,pods -o json`."""

import copy
import io
import json

import pytest

from u7s.node import podnet
from u7s.node.container import Node
from u7s.run.hosts import Result
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import Clock, FakeHost, fixture, make_settings

PUBLIC_IP = "flannel.alpha.coreos.com/public-ip"
CNI_PLUGIN = "ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1"
FLANNEL = "ghcr.io/flannel-io/flannel:v0.27.4"


def recorded(state):
    """A recording of `kubectl get nodes,pods --namespace kube-flannel -o json` (fixtures/README.md)."""
    return json.loads(fixture(f"kubectl-get-nodes-pods-flannel-{state}.json"))


def synced(listing):
    """The recording as u7s's sync-external-ip leaves a node: ExternalIP, overwrite and public-ip at its host-ip."""
    listing = copy.deepcopy(listing)
    for obj in listing["items"]:
        if obj["kind"] == "Node":
            host_ip = obj["metadata"]["labels"]["usernetes/host-ip"]
            obj["status"]["addresses"] = [{"type": "ExternalIP", "address": host_ip}]
            obj["metadata"]["annotations"].update({PUBLIC_IP + "-overwrite": host_ip})
            if PUBLIC_IP in obj["metadata"]["annotations"]:
                obj["metadata"]["annotations"][PUBLIC_IP] = host_ip
            obj["spec"]["taints"] = [t for t in obj["spec"]["taints"] if "uninitialized" not in t["key"]]
    return listing


def split(listing):
    items = listing["items"]
    return [i for i in items if i["kind"] == "Node"], [i for i in items if i["kind"] == "Pod"]


def the_pod(state):
    return split(recorded(state))[1][0]


# -- one pod -------------------------------------------------------------------------------
def test_a_running_flannel_pod_with_every_container_ready_is_ok():
    state = podnet.pod_state(the_pod("running"))
    assert (state.ok, state.reason, state.text) == (True, None, "Running")


def test_a_crash_looping_flanneld_is_told_in_the_kubelets_words():
    pod = the_pod("crashloopbackoff")
    state = podnet.pod_state(pod)
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    assert not state.ok and state.reason == "CrashLoopBackOff"
    assert state.text == (f"Running, container kube-flannel waiting: CrashLoopBackOff (back-off 10s restarting failed "
                          f"container=kube-flannel pod={name}_kube-flannel({uid})), 1 restart, last exit code 1 (Error)")


def test_between_two_crashes_the_running_container_still_counts_as_a_crash_loop():
    pod = copy.deepcopy(the_pod("crashloopbackoff"))
    main = pod["status"]["containerStatuses"][0]
    main["state"] = {"running": {"startedAt": "2026-12-05T07:14:46Z"}}
    main["restartCount"] = 2
    state = podnet.pod_state(pod)
    assert state.reason == "CrashLoopBackOff"
    assert state.text == ("Running, container kube-flannel (CrashLoopBackOff) running, not ready, 2 restarts, "
                          "last exit code 1 (Error)")


@pytest.mark.parametrize("state, reason, message", [
    ("errimagepull", "ErrImagePull", f'rpc error: code = Unknown desc = failed to pull and unpack image "{CNI_PLUGIN}"'),
    ("imagepullbackoff", "ImagePullBackOff", f'Back-off pulling image "{CNI_PLUGIN}"'),
])
def test_an_image_that_cannot_be_pulled_names_the_init_container_and_the_image(state, reason, message):
    got = podnet.pod_state(the_pod(state))
    assert not got.ok and got.reason == reason
    assert got.text.startswith(f"Pending, init container install-cni-plugin waiting: {reason} ({message}")
    assert got.images == (CNI_PLUGIN, FLANNEL)  # from the pod spec, init containers first, each once
    if reason == "ErrImagePull":
        assert got.text.endswith("dial tcp: lookup ghcr.io on 127.0.0.11:53: no such host)")


def test_a_pod_not_started_yet_is_starting_not_failing():
    pod = copy.deepcopy(the_pod("running"))
    pod["status"] = {"phase": "Pending"}
    state = podnet.pod_state(pod)
    assert (state.ok, state.reason, state.text) == (False, None, "Pending, no container started yet")


# -- every node ----------------------------------------------------------------------------
def test_a_ready_node_whose_flanneld_crash_loops_is_not_done():
    nodes, pods = split(recorded("crashloopbackoff"))
    assert nodes[0]["status"]["conditions"][-1]["status"] == "True"  # the kubelet says Ready: install-cni ran
    waiting = podnet.verdicts(nodes, pods, ["u7s-cp"])
    assert list(waiting) == ["u7s-cp"]
    assert waiting["u7s-cp"].text.startswith(f"flannel pod {pods[0]['metadata']['name']}: Running, container "
                                             "kube-flannel waiting: CrashLoopBackOff (back-off 10s")


def test_a_node_whose_image_cannot_be_pulled_is_named_with_its_not_ready_condition_and_its_pod():
    nodes, pods = split(recorded("imagepullbackoff"))
    text = podnet.verdicts(nodes, pods, ["u7s-cp"])["u7s-cp"].text
    assert text.startswith("Ready=False (KubeletNotReady: container runtime network not ready")
    assert f"; flannel pod {pods[0]['metadata']['name']}: Pending, init container install-cni-plugin waiting: " \
           f'ImagePullBackOff (Back-off pulling image "{CNI_PLUGIN}")' in text


def test_only_a_ready_node_with_flannel_running_and_its_public_ip_written_is_done():
    nodes, pods = split(recorded("running"))
    assert podnet.verdicts(nodes, pods, ["u7s-cp"]) == {}
    assert podnet.verdicts(nodes, pods, ["u7s-cp", "u7s-w1"])["u7s-w1"].text == "not registered"
    del nodes[0]["metadata"]["annotations"][PUBLIC_IP]
    assert podnet.verdicts(nodes, pods, ["u7s-cp"])["u7s-cp"].text == (
        f"flannel pod {pods[0]['metadata']['name']} is ready but {PUBLIC_IP} is not written yet")
    assert podnet.verdicts(nodes, [], ["u7s-cp"])["u7s-cp"].text == "no flannel pod on it yet"


def test_a_pod_being_replaced_gives_way_to_its_successor():
    nodes, pods = split(recorded("running"))
    old = copy.deepcopy(split(recorded("crashloopbackoff"))[1][0])
    old["metadata"]["deletionTimestamp"] = "2026-12-05T07:20:00Z"
    assert podnet.verdicts(nodes, [old, *pods], ["u7s-cp"]) == {}


# -- the message ---------------------------------------------------------------------------
def test_an_image_pull_failure_says_how_an_air_gapped_site_provides_the_images():
    nodes, pods = split(recorded("errimagepull"))
    text = podnet.failure("head:", podnet.verdicts(nodes, pods, ["u7s-cp"]))
    head, node_line, fix = text.splitlines()
    assert head == "head:" and node_line.startswith("u7s-cp: Ready=False (KubeletNotReady")
    assert fix.startswith(f"fix: the node cannot pull {CNI_PLUGIN}, {FLANNEL}: on an air-gapped site load them")
    assert "`u7s cluster.load-image --archive FILE`" in fix and "NODE_IMAGE" in fix


def test_a_crash_loop_says_where_flanneld_says_why():
    nodes, pods = split(recorded("crashloopbackoff"))
    fix = podnet.failure("head:", podnet.verdicts(nodes, pods, ["u7s-cp"])).splitlines()[-1]
    assert fix.startswith(f"fix: flanneld keeps exiting; `kubectl -n kube-flannel logs --previous "
                          f"{pods[0]['metadata']['name']}` says why")


def test_a_pod_counts_as_failing_too_long_only_after_the_grace_and_a_new_pod_starts_afresh():
    nodes, pods = split(recorded("crashloopbackoff"))
    failing = podnet.verdicts(nodes, pods, ["u7s-cp"])
    clock = Clock()
    watch = podnet.Watch(60, clock)
    assert not watch.failing_too_long(failing)
    clock.now = 59
    assert not watch.failing_too_long(failing)
    clock.now = 60
    assert watch.failing_too_long(failing)
    replaced = copy.deepcopy(pods)
    replaced[0]["metadata"]["uid"] = "another"
    assert not watch.failing_too_long(podnet.verdicts(nodes, replaced, ["u7s-cp"]))
    assert not watch.failing_too_long({})  # ok now: forgotten


# -- the wait, against a scripted node -----------------------------------------------------
class Sequenced(FakeHost):
    """`kubectl get nodes,pods` answers from a list of recordings, one per call (the last one repeats)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)

    def _run(self, command, *, stdin, timeout):
        if "kubectl" in command and "get nodes,pods" in command:
            self.calls.append(command)
            listing = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            return Result(0, json.dumps(listing), "")
        return super()._run(command, stdin=stdin, timeout=timeout)


def scripted(answers, timeout=300):
    host = Sequenced(answers)
    host.on("docker", "exec", contains="kubectl", stdout="")  # annotate/delete/get pods of the sync: answered
    host.on("docker", "exec", contains="kubectl", stdout=json.dumps({"items": []}))
    return host, Node(host, make_settings(U7S_TIMEOUT=timeout), Reporter(stream=io.StringIO()))


def test_the_wait_gives_up_early_on_a_pod_that_keeps_failing_naming_node_pod_and_state():
    _, node = scripted([recorded("crashloopbackoff")])
    clock = Clock()
    with pytest.raises(podnet.PodNetworkFailed) as raised:
        podnet.wait_all_ready(node, ["u7s-cp"], clock=clock, sleep=clock.sleep)
    lines = str(raised.value).splitlines()
    assert lines[0] == "the pod network is failing on 1 node(s) (flannel's pod kept failing for 60s):"
    assert lines[1].startswith("u7s-cp: flannel pod kube-flannel-ds-")
    assert "CrashLoopBackOff (back-off 10s restarting failed container=kube-flannel" in lines[1]
    assert 60 <= clock.now < 70


def test_the_wait_times_out_naming_each_node_on_its_own_line():
    _, node = scripted([recorded("errimagepull"), recorded("imagepullbackoff")], timeout=20)
    clock = Clock()
    with pytest.raises(podnet.PodNetworkFailed) as raised:
        podnet.wait_all_ready(node, ["u7s-cp", "u7s-w1"], clock=clock, sleep=clock.sleep)
    lines = str(raised.value).splitlines()
    assert lines[0] == ("timed out after 20s waiting for every node to be Ready with a working pod network "
                        "(raise U7S_TIMEOUT if the host is slow):")
    assert lines[1].startswith("u7s-cp: Ready=False (KubeletNotReady") and "ImagePullBackOff" in lines[1]
    # ImagePullBackOff names the image; the registry's error came with the ErrImagePull before it.
    assert lines[1].endswith(f'; the last pull failed: rpc error: code = Unknown desc = failed to pull and unpack '
                             f'image "{CNI_PLUGIN}": failed to resolve reference "{CNI_PLUGIN}": failed to do request: '
                             f'Head "https://ghcr.io/v2/flannel-io/flannel-cni-plugin/manifests/v1.8.0-flannel1": '
                             'dial tcp: lookup ghcr.io on 127.0.0.11:53: no such host')
    assert lines[2] == "u7s-w1: not registered"
    assert lines[3].startswith("fix: the node cannot pull")


def test_a_timeout_between_two_crashes_still_quotes_the_back_off():
    between = copy.deepcopy(recorded("crashloopbackoff"))
    main = next(i for i in between["items"] if i["kind"] == "Pod")["status"]["containerStatuses"][0]
    main.update(state={"running": {"startedAt": "2026-12-05T07:14:56Z"}}, restartCount=2)
    _, node = scripted([recorded("crashloopbackoff"), between], timeout=20)
    clock = Clock()
    with pytest.raises(podnet.PodNetworkFailed) as raised:
        podnet.wait_all_ready(node, ["u7s-cp"], clock=clock, sleep=clock.sleep)
    line = str(raised.value).splitlines()[1]
    assert line.startswith("u7s-cp: flannel pod kube-flannel-ds-kmn55: Running, container kube-flannel "
                           "(CrashLoopBackOff) running, not ready, 2 restarts, last exit code 1 (Error); before: "
                           "CrashLoopBackOff (back-off 10s restarting failed container=kube-flannel pod=kube-flannel-ds-")


def test_the_wait_reads_nodes_and_pods_in_one_kubectl_call_per_look():
    host, node = scripted([recorded("imagepullbackoff"), recorded("running")])
    assert podnet.wait_all_ready(node, ["u7s-cp"]) == 2
    looks = [c for c in host.calls if isinstance(c, str)]
    assert len(looks) == 2 and all("get nodes,pods --namespace kube-flannel -o json" in c for c in looks)


@pytest.mark.parametrize("answers, said", [
    (["running"], "every node is Ready (u7s-cp)"),
    (["errimagepull", "running"], "every node became Ready (u7s-cp)"),
])
def test_wait_ready_says_is_only_when_the_first_look_found_every_node_ready(answers, said):
    # `create` says "nothing to do" only after "is Ready": nodes that became Ready while it waited were work done.
    from u7s.steps import lifecycle

    _, node = scripted([synced(recorded(a)) for a in answers])
    assert lifecycle.wait_ready(node, ["u7s-cp"]) == said


def test_flannel_pods_an_earlier_run_left_failing_are_restarted_once_at_the_first_look():
    from u7s.steps import lifecycle

    host, node = scripted([synced(recorded(s)) for s in ("crashloopbackoff", "crashloopbackoff", "running")])
    assert lifecycle.wait_ready(node, ["u7s-cp"]) == "every node became Ready (u7s-cp)"
    name = split(recorded("crashloopbackoff"))[1][0]["metadata"]["name"]
    deletes = [c for c in host.calls if isinstance(c, list) and "delete" in c]
    assert len(deletes) == 1 and deletes[0][-1] == name and "--wait=false" in deletes[0]
