"""One Step type for every workflow, and the two ways to run steps: on this host, or on many.

A step has a title, the hosts it is for, an action, and `would`: the lines that
--dry-run prints instead of running the action, written beside it. On one host a
step runs directly and its errors reach the task as they are; on many hosts steps
run in sequence, hosts in parallel within a step, and a host that fails is left out
of later steps (steps that need the control plane stop when it failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from u7s.errors import U7sError
from u7s.run.parallel import run_parallel
from u7s.session import Member, Run


HOSTS = ("all", "control-plane", "workers")  # what a step's `hosts` may say


@dataclass(frozen=True)
class Step:
    title: str
    # (run, member, **params) -> a short message, an Outcome (changed, already done, skipped) where it can
    # tell; run is None when one host runs alone.
    action: Callable[..., str] | None
    would: Callable[..., list[str]]  # (member, **params) -> what --dry-run prints, one line a change
    hosts: str = "all"  # one of HOSTS
    limit: Callable[[Run], int | None] = lambda run: None
    # A step about the hosts together (not each on its own): returns {host: reason} for failures.
    together: Callable[[Run, list[Member]], dict[str, str]] | None = None
    task: str = ""  # the single-host task that runs it alone, where its name differs from the title

    def __post_init__(self):
        # A misspelt selector ("worker") would otherwise send the step to the control plane.
        if self.hosts not in HOSTS:
            raise ValueError(f"step {self.title}: hosts={self.hosts!r}; expected one of {', '.join(HOSTS)}")

    @property
    def task_name(self) -> str:
        return self.task or self.title


def run_one(step: Step, member: Member, dry_run: bool = False, **params) -> str | None:
    """Run a step on this host alone; under dry_run print what it would do and return None."""
    if dry_run:
        for line in step.would(member, **params):
            member.report.info(f"would {line}")
        return None
    return step.action(None, member, **params)


def _select(run: Run, which: str) -> list[Member]:
    if which == "all":
        return run.healthy
    if which == "workers":
        return run.workers
    cp = run.control_plane
    return [] if cp.failed else [cp]


def execute(run: Run, steps: list[Step]) -> None:
    """Run the steps in order on the run's hosts; raise one error naming every failed host at the end."""
    for step in steps:
        chosen = _select(run, step.hosts)
        if step.hosts == "control-plane" and not chosen:
            run.report.warn(f"{step.title}: skipped, the control plane failed earlier")
            continue
        if not chosen:
            continue
        run.report.info(f"== {step.title} ({', '.join(m.name for m in chosen)})")
        if run.dry_run:
            for m in chosen:
                run_one(step, m, dry_run=True)
            continue
        if step.together is not None:
            failed = step.together(run, chosen)
            for m in chosen:
                if m.name in failed:
                    m.failed = failed[m.name]
            if failed:
                run.failures[step.title] = failed
            continue
        result = run_parallel(chosen, lambda m: step.action(run, m), limit=step.limit(run))
        run.outcomes[step.title] = result.ok
        if result.failed:
            run.failures[step.title] = result.failed
    raise_failures(run)


def raise_failures(run: Run) -> None:
    """One error listing every host that failed so far, by step; nothing when none did."""
    if run.failures:
        lines = [f"{title}: {host}: {reason}" for title, failed in run.failures.items()
                 for host, reason in failed.items()]
        raise U7sError("failed on " + f"{sum(len(f) for f in run.failures.values())} host(s):\n" + "\n".join(lines))
