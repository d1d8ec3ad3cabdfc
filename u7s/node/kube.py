"""Kubernetes steps inside a node: kubeadm, kubectl and helm, as the reference runs them.

Reading (`is_*`, `get_*`) is kept apart from acting; every action checks first
and returns what it did, so each step can be re-run. Parsers are pure functions.
"""

from __future__ import annotations

import json
import re
import shlex

from u7s.render import workdir
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.run.poll import wait_for

ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
CA_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
ENDPOINT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")


# -- kubeadm init / reset ------------------------------------------------------------------
def admin_conf_exists(node: Node) -> bool:
    """kubeadm writes admin.conf before it waits for the control plane: this alone proves nothing."""
    return node.exists(ADMIN_CONF)


def readyz(kubeconfig: str = ADMIN_CONF) -> list[str]:
    return ["kubectl", "--kubeconfig", kubeconfig, "--request-timeout=5s", "get", "--raw", "/readyz"]


def api_answers(node: Node, kubeconfig: str = ADMIN_CONF) -> tuple[bool, str]:
    """Whether the API answers /readyz over TLS verified with the kubeconfig's CA (so: this cluster's API)."""
    r = node.exec(readyz(kubeconfig), check=False)
    return r.ok and r.stdout.strip() == "ok", (r.stdout or r.stderr).strip()[-200:] or "no answer"




def kubeadm_init(node: Node) -> bool:
    """Run `kubeadm init` with the staged configuration; False when admin.conf is there already."""
    if admin_conf_exists(node):
        return False
    config = workdir.in_node(workdir.KUBEADM_CONFIG)
    with node.report.step("kubeadm init"):
        result = node.exec(["kubeadm", "init", "--config", config, "--skip-token-print"], check=False)
        if not result.ok:
            raise U7sError(f"{node.host.name}: kubeadm init failed: {kubeadm_error(result)}; it may have left "
                           f"{ADMIN_CONF} behind: {RECOVER_INIT}")
    return True


# kubeadm prints its verdict on stderr (cmd/kubeadm/app/util/errors.go, phases/workflow/runner.go): the
# "error execution phase NAME: ..." line, preflight's "\t[ERROR Check]: ..." lines under it, the upgrade
# policy's "FATAL" with "\t- ..." lines, or cobra's "error: ...". After them come hints that say nothing
# about this failure, the last of them always "To see the stack trace of this error execute with --v=5 ...".
_VERDICT = re.compile(r"^(error execution phase |\[ERROR |error: |\[[a-z/-]+\] FATAL)")
_HINTS = ("To see the stack trace of this error", "[preflight] If you know what you are doing")


def kubeadm_error(result) -> str:
    """Pure: kubeadm's own error lines, joined into one ("error execution phase ...: [ERROR ...]: ..."), else
    the last line that is not a hint, else the exit status."""
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()]
    verdict: list[str] = []
    for line in lines:
        # "- reason" lines belong to a FATAL line just above them (the upgrade version policy).
        if _VERDICT.match(line) or (line.startswith("- ") and verdict and "FATAL" in verdict[-1]) or (
                line.startswith("- ") and verdict and verdict[-1].startswith("- ")):
            verdict.append(line[:300])
    if verdict:
        return " ".join(dict.fromkeys(verdict))[:900]
    lines = [line for line in lines if not line.startswith(_HINTS)]
    return lines[-1][:300] if lines else f"exit {result.exited}"


def kubeadm(node: Node, *args: str, what: str | None = None) -> str:
    """Run kubeadm in the node; a failure names the host and quotes kubeadm's own error lines. Returns stdout."""
    result = node.exec(["kubeadm", *args], check=False)
    if not result.ok:
        raise U7sError(f"{node.host.name}: {what or 'kubeadm ' + ' '.join(args[:2])} failed: {kubeadm_error(result)}")
    return result.stdout


RECOVER_INIT = "run `u7s kubeadm-reset`, then `u7s kubeadm-init` again (`cluster.create` does this by itself " \
               "while no worker has joined)"


def wait_api(node: Node) -> None:
    wait_for(lambda: api_answers(node), what="the API server to answer /readyz", timeout=node.s.timeout)


class HalfInitialised(U7sError):
    """admin.conf exists, but the API never answered: an earlier `kubeadm init` failed half-way."""

    def __init__(self, node: Node):
        super().__init__(f"{node.host.name}: {ADMIN_CONF} exists but the API server did not answer within "
                         f"{node.s.timeout}s: an earlier `kubeadm init` probably failed half-way; {RECOVER_INIT}")


def kubeadm_reset(node: Node) -> None:
    kubeadm(node, "reset", "--force")


# -- kubectl helpers -----------------------------------------------------------------------
def kubectl(node: Node, *args: str, check: bool = True):
    """Run kubectl in the node. With `check`, an API outage (refused, 5xx) is ridden out for a while
    (u7s/node/apiretry.py) before the call counts as failed; callers with check=False poll themselves."""
    if not check:
        return node.exec(["kubectl", *args], check=False)
    from u7s.errors import CommandFailed
    from u7s.node import apiretry

    r = apiretry.retrying(lambda: node.exec(["kubectl", *args], check=False), what=f"kubectl {' '.join(args[:2])}",
                          where=node.host.name, timeout=apiretry.window(node.s.timeout))
    if not r.ok:
        raise CommandFailed(node.host.name, ["kubectl", *args], r.exited, r.stderr)
    return r


GET_NODES = ("get", "nodes", "-o", "json")  # kubectl's arguments


def get_nodes(node: Node) -> list[dict]:
    return json.loads(kubectl(node, *GET_NODES).stdout).get("items", [])


def node_is_ready(obj: dict) -> bool:
    return ready_condition(obj).get("status") == "True"


def ready_condition(obj: dict) -> dict:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return cond
    return {}


def not_ready_reason(obj: dict) -> str:
    """Pure: why a node is not Ready, from its Ready condition (reason: message)."""
    cond = ready_condition(obj)
    if not cond:
        return "no Ready condition yet"
    text = f"Ready={cond.get('status', '?')}"
    if cond.get("reason"):
        text += f" ({cond['reason']}"
        text += f": {cond['message'][:160]})" if cond.get("message") else ")"
    return text


def wait_registered(node: Node, name: str, kubeconfig: str = ADMIN_CONF) -> None:
    """Wait until the kubelet has registered Node `name`: it does so on its own, after kubeadm returns."""

    def registered() -> tuple[bool, str]:
        r = node.exec(["kubectl", "--kubeconfig", kubeconfig, "get", "node", name, "-o", "name"], check=False)
        return r.ok, "registered" if r.ok else (r.stderr.strip()[-200:] or "not registered")

    wait_for(registered, what=f"the kubelet to register node {name}", timeout=node.s.timeout)


# -- joining -------------------------------------------------------------------------------
def parse_join_command(text: str) -> list[str]:
    """Pure: the argv of `kubeadm token create --print-join-command`, validated.

    The output is data from a host, so it is split into words and checked here,
    then quoted once into the join script; it is never run as shell text.
    """
    try:
        words = shlex.split(text.replace("\r", " "))
    except ValueError:
        raise U7sError("kubeadm printed an unexpected join command (unbalanced quotes)") from None
    if words[:2] != ["kubeadm", "join"] or len(words) < 3 or not ENDPOINT.match(words[2]):
        raise U7sError("kubeadm printed an unexpected join command (expected `kubeadm join HOST:PORT ...`)")
    options = _options(words[3:])
    if not TOKEN.match(options.get("--token", "")):
        raise U7sError("kubeadm's join command has no valid --token")
    if not CA_HASH.match(options.get("--discovery-token-ca-cert-hash", "")):
        raise U7sError("kubeadm's join command has no valid --discovery-token-ca-cert-hash")
    return words


def _options(words: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            # The word is not shown: a misplaced one may be the token itself.
            raise U7sError(f"kubeadm's join command has an unexpected word at position {i + 4}")
        name, eq, value = word.partition("=")
        if not eq and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value = words[i + 1]
            i += 1
        options[name] = value
        i += 1
    return options


def create_join_command(node: Node, ttl: str | None = None, description: str | None = None) -> list[str]:
    argv = ["kubeadm", "token", "create", "--print-join-command"]
    if ttl:
        argv += ["--ttl", ttl]
    if description:
        argv += ["--description", description]
    return parse_join_command(kubeadm(node, *argv[1:], what="kubeadm token create"))


def token_id(join_argv: list[str]) -> str:
    """Pure: the ID half of a validated join command's token (kubeadm names tokens by it; it is no secret)."""
    return _options(join_argv[3:])["--token"].partition(".")[0]


def delete_token(node: Node, token_id: str) -> bool:
    """`kubeadm token delete ID`; False when it was gone (kube-controller-manager's cleaner removes expired ones)."""
    result = node.exec(["kubeadm", "token", "delete", token_id], check=False)
    if result.ok:
        return True
    if f'secrets "bootstrap-token-{token_id}" not found' in result.stderr:
        return False
    raise U7sError(f"{node.host.name}: kubeadm token delete {token_id} failed: {kubeadm_error(result)}")


def is_joined(node: Node) -> bool:
    return node.exists(KUBELET_CONF)


def kubeadm_join(node: Node, script_rel: str = workdir.JOIN_COMMAND) -> None:
    """Run the join script (already in the working directory) in the node (the caller saw it not joined)."""
    with node.report.step("kubeadm join"):
        # The script (hosts entry, then kubeadm join) is run by bash: its failure is kubeadm's, or the hosts line's.
        result = node.exec(["bash", workdir.in_node(script_rel)], check=False)
        if not result.ok:
            raise U7sError(f"{node.host.name}: kubeadm join failed: {kubeadm_error(result)}")


# -- kubeconfig ----------------------------------------------------------------------------
def admin_kubeconfig(node: Node, server_host: str) -> str:
    """The node's admin.conf with the API server at server_host:PORT_KUBE_APISERVER."""
    import yaml

    config = yaml.safe_load(node.read(ADMIN_CONF))
    return rewrite_server(config, f"https://{server_host}:{node.s.port_kube_apiserver}")


def rewrite_server(config: dict, server: str) -> str:
    """Pure: point every cluster of a kubeconfig at `server`."""
    import yaml

    for cluster in config.get("clusters") or []:
        cluster.setdefault("cluster", {})["server"] = server
    return yaml.safe_dump(config, sort_keys=False)
