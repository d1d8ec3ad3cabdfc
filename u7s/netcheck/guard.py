"""The network check as `create` runs it: before the joins, on the hosts that may still join.

The step itself (NETWORK, its dry-run text) is in u7s/steps/workflows.py; this is what it does.
"""

from __future__ import annotations

from u7s.netcheck import check as netcheck
from u7s.node import joinstate
from u7s.render import engine
from u7s.run.parallel import run_parallel
from u7s.session import Member, Run


def joined_workers(run: Run) -> tuple[set[str], dict[str, str]]:
    """The workers whose node runs and has joined (its kubelet's credentials read its Node), and the ones that
    could not be asked.

    One batch per worker, all at once.
    """
    from u7s.node.container import parse_state

    found: set[str] = set()

    def ask(m: Member) -> str:
        state, conf, ca, read = m.host.run_many([engine.inspect_state(m.settings), *(engine.node_exec(
            m.settings, argv, env=False, stdin=False) for argv in joinstate.probes(m.settings.node_name))])
        if (parse_state(state) or {}).get("Running") and conf.ok and joinstate.classify(
                conf.ok, ca.ok, read, m.settings.node_name)[0] == joinstate.JOINED:
            with run.lock:
                found.add(m.name)
        return ""

    return found, run_parallel(run.workers, ask).failed


def check_before_joins(run: Run, members: list[Member]) -> dict[str, str]:
    """The data-path check; every host in a failing pair is reported with the likely cause.

    It guards joins: when every worker has joined already, there is nothing for it to guard.
    """
    if len(members) < 2:
        return {}
    run.joined, lost = joined_workers(run)
    if all(w.name in run.joined for w in run.workers):
        run.report.info("network check: not needed, no host joins")
        return lost
    check = netcheck.NetworkCheck([m for m in members if not m.failed])
    probes = check.run()
    failed: dict[str, str] = {**lost, **check.unreachable}
    for p in netcheck.failures(probes):
        for name in {p.source, p.target}:
            failed.setdefault(name, f"network check {p.source} -> {p.target} {p.check}: {p.cause}; fix: {p.fix}")
    run.report.info(f"network check: {netcheck.summary(probes)}")
    return failed
