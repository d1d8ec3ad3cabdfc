"""What `cluster.status` shows: one row per host, from one batch of commands per host."""

from __future__ import annotations

import json

from u7s.render import engine
from u7s.node import kube
from u7s.node.container import parse_state
from u7s.run.parallel import run_parallel
from u7s.session import Member, Run
from u7s.config import leases


def node_list_probe(m: Member) -> list[str]:
    """The control plane's Node list with admin.conf: it answers only where the API does, with that CA."""
    argv = ["kubectl", "--kubeconfig", kube.ADMIN_CONF, "--request-timeout=5s", "get", "nodes", "-o", "json"]
    return engine.node_exec(m.settings, argv, env=False, stdin=False)


def parse_node_list(text: str) -> dict[str, bool]:
    """Pure: node name -> Ready, from `kubectl get nodes -o json`; {} for other output."""
    try:
        items = json.loads(text).get("items", [])
    except (ValueError, AttributeError):
        return {}
    return {obj["metadata"]["name"]: kube.node_is_ready(obj) for obj in items
            if isinstance(obj, dict) and "name" in obj.get("metadata", {})}


def certs_probe(m: Member) -> list[str]:
    """kubeadm's certificate expiry table (u7s/node/certs.py), for the 30-day warning."""
    from u7s.node.certs import CHECK

    return engine.node_exec(m.settings, CHECK, env=False, stdin=False)


def cert_warning(answer, where: str) -> str | None:
    """Pure but for the clock: status's warning when a certificate expires within 30 days; None if not, or unread."""
    from u7s.node import certs

    if answer is None or not answer.ok:
        return None
    try:
        found = certs.parse_expiration(answer.stdout)
    except ValueError:
        return None
    return certs.warning(found, certs.now_utc(), where, "u7s cluster.certs")


def status_rows(run: Run) -> list[dict]:
    """Per host: reachable, engine, rootless, node container state, Kubernetes node Ready.

    Each host is asked once (engine info and node state, and on the control plane its
    Node list too), all hosts at the same time.
    """
    from u7s.facts.engine import parse_engine_info

    answers: dict[str, list] = {}

    def ask(m: Member) -> str:
        probes = [engine.engine_info(m.settings), engine.inspect_state(m.settings)]
        if m.spec.is_control_plane:
            probes += [node_list_probe(m), certs_probe(m)]
        answers[m.name] = m.host.run_many(probes)
        return ""

    run_parallel(run.healthy, ask)  # a host that fails here is marked failed: its row says why
    cp = run.control_plane
    cp_answers = answers.get(cp.name, [])
    ready = parse_node_list(cp_answers[2].stdout) if len(cp_answers) > 2 and cp_answers[2].ok else {}

    def row(m: Member) -> dict:
        out = {"host": m.name, "role": m.spec.role, "reachable": not m.failed, "engine": None,
               "rootless": None, "node": None, "node_name": None, "ready": None, "error": m.failed}
        if m.failed:
            return out
        s = m.settings
        out["engine"], out["node_name"] = s.container_engine, s.node_name
        out["cni"] = s.cni  # the pod network it runs (CNI): the same on every host, refused otherwise
        out["ports"] = leases.ports_text(s)  # with where they came from: a lease, the settings, the defaults
        if m.lease_problem:
            out["lease_problem"] = f"{m.name}: {m.lease_problem}"
        info, state = answers[m.name][:2]
        if info.ok:
            try:
                out["rootless"] = parse_engine_info(s.engine_type, info.stdout).rootless
            except ValueError:
                pass
        out["node"] = (parse_state(state) or {}).get("Status", "absent")
        out["ready"] = ready.get(s.node_name)
        if m is cp:
            out["cert_warning"] = cert_warning(cp_answers[3] if len(cp_answers) > 3 else None, m.name)
        return out

    return [row(m) for m in run.members]


def status_problems(rows: list[dict]) -> list[str]:
    """Pure: per reachable host whose node is not running or not Ready, what it is (`h2: node absent`)."""
    out = []
    for r in rows:
        if r.get("error"):
            continue
        if r.get("node") != "running":
            out.append(f"{r['host']}: node {r.get('node') or 'absent'}")
        elif r.get("ready") is not True:
            out.append(f"{r['host']}: {'not Ready' if r.get('ready') is False else 'not registered or API not answering'}")
    return out
