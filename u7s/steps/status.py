"""What `cluster.status` shows: one row per host."""

from __future__ import annotations

from u7s.node import kube
from u7s.run.parallel import run_parallel
from u7s.session import Member, Run


def status_rows(run: Run) -> list[dict]:
    """Per host: reachable, engine, rootless, node container state, Kubernetes node Ready."""
    from u7s.facts.engine import engine_info

    ready: dict[str, bool] = {}
    cp = run.control_plane
    if not cp.failed and cp.node.running() and kube.is_initialized(cp.node):
        for obj in kube.get_nodes(cp.node):
            ready[obj["metadata"]["name"]] = kube.node_is_ready(obj)

    def row(m: Member) -> dict:
        out = {"host": m.name, "role": m.spec.role, "reachable": not m.failed, "engine": None,
               "rootless": None, "node": None, "node_name": None, "ready": None, "error": m.failed}
        if m.failed:
            return out
        s = m.settings
        out["engine"], out["node_name"] = s.container_engine, s.node_name
        info = engine_info(m.host, s)
        if info is not None:
            out["rootless"] = info.rootless
        state = m.node.state()
        out["node"] = (state or {}).get("Status", "absent")
        out["ready"] = ready.get(s.node_name)
        return out

    rows: dict[str, dict] = {}
    run_parallel(run.members, lambda m: rows.__setitem__(m.name, row(m)) or "")
    return [rows.get(m.name) or {"host": m.name, "error": m.failed} for m in run.members]
