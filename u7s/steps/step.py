"""One Step type for every workflow, and the one runner of steps: `execute(run, steps)`.

A step has a title, the hosts it is for, an action, and `would`: the lines that
--dry-run prints instead of running the action, written beside it. Steps run in
sequence; within a step, hosts run in parallel, and a host that fails is left out of
later steps (steps that need the control plane stop when it failed), with one error
naming every failed host at the end. A step marked `one_by_one` goes host by host
instead (the control plane first, then the workers in inventory order): consecutive
such steps are one stretch that each host goes through before the next host starts,
and the first failure stops the run (StepFailed, which the workflow words). A run of
one host on its own (the single-host tasks, u7s/session.py: one_host) goes the same
way, its errors reaching the task as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from u7s.errors import U7sError
from u7s.run.parallel import run_parallel
from u7s.session import Member, Run


HOSTS = ("all", "control-plane", "workers")  # what a step's `hosts` may say


@dataclass(frozen=True)
class Step:
    title: str
    # (run, member, **params) -> a short message, an Outcome (changed, already done, skipped) where it can tell.
    action: Callable[..., str] | None
    # (member, **params) -> what --dry-run prints, one line a change; None: the action itself honours
    # run.dry_run (it then only reads, as init-host's scripts do with their own --dry-run).
    would: Callable[..., list[str]] | None
    hosts: str = "all"  # one of HOSTS
    limit: Callable[[Run], int | None] = lambda run: None
    # A step about the hosts together (not each on its own): returns {host: reason} for failures.
    together: Callable[[Run, list[Member]], dict[str, str]] | None = None
    task: str = ""  # the single-host task that runs it alone, where its name differs from the title
    one_by_one: bool = False  # hosts one at a time, in order; the first failure stops the run

    def __post_init__(self):
        # A misspelt selector ("worker") would otherwise send the step to the control plane.
        if self.hosts not in HOSTS:
            raise ValueError(f"step {self.title}: hosts={self.hosts!r}; expected one of {', '.join(HOSTS)}")

    @property
    def task_name(self) -> str:
        return self.task or self.title


class StepFailed(U7sError):
    """A step going host by host failed on `member`: the run stopped there (the steps before it are done)."""

    def __init__(self, step: Step, member: Member, cause: U7sError):
        super().__init__(f"{step.title} failed on {member.name}: {cause}")
        self.step, self.member, self.cause = step, member, cause


def _select(run: Run, which: str) -> list[Member]:
    if which == "all":
        return run.healthy
    if which == "workers":
        return run.workers
    cp = run.control_plane
    return [] if cp.failed else [cp]


def execute(run: Run, steps: Sequence[Step], titled: bool = False, quiet: bool = False, **params) -> None:
    """Run the steps in order on the run's hosts; raise one error naming every failed host at the end.

    `params` reach every action and `would`; each host's message is kept in run.outcomes. `titled`:
    each message follows its step's name (one host's `create`); `quiet`: one host's messages are left to
    the task, which says what was done its own way (kubeconfig, kubectl, join-command).
    """
    i = 0
    while i < len(steps):
        if run.alone or steps[i].one_by_one:
            j = i + 1
            while j < len(steps) and (run.alone or steps[j].one_by_one):
                j += 1
            _host_by_host(run, steps[i:j], None if quiet else titled, params)
            i = j
        else:
            _at_once(run, steps[i], params)
            i += 1
    raise_failures(run)


def _host_by_host(run: Run, stretch: Sequence[Step], titled: bool | None, params: dict) -> None:
    """Each host in turn, control plane first, through every step of the stretch that is for it."""
    cp = [] if run.control_plane.failed else [run.control_plane]
    for m in cp + run.workers:
        for step in stretch:
            if m.name in {x.name for x in _select(run, step.hosts)}:
                _on_one(run, step, m, titled if titled is None else titled or step.one_by_one, params)


def _on_one(run: Run, step: Step, m: Member, titled: bool | None, params: dict) -> None:
    """The step on one host; its message printed after the step's name (titled), alone, or not (None)."""
    if run.dry_run and step.would is not None:
        for line in step.would(m, **params):
            m.report.info(f"would {line}")
        return
    try:
        said = step.action(run, m, **params)
    except U7sError as exc:
        if step.one_by_one:
            raise StepFailed(step, m, exc) from None
        raise  # one host on its own: the error as it is, its advice included
    run.outcomes.setdefault(step.title, {})[m.name] = said
    if said and titled is not None:
        m.report.done(f"{step.task_name}: {said}" if titled else said)


def _at_once(run: Run, step: Step, params: dict) -> None:
    """One step on its hosts in parallel; the hosts that fail are noted in run.failures."""
    chosen = _select(run, step.hosts)
    if step.hosts == "control-plane" and not chosen:
        run.report.warn(f"{step.title}: skipped, the control plane failed earlier")
        return
    if not chosen:
        return
    run.report.info(f"== {step.title} ({', '.join(m.name for m in chosen)})")
    if run.dry_run and step.would is not None:
        for m in chosen:
            _on_one(run, step, m, False, params)
        return
    if step.together is not None:
        failed = step.together(run, chosen)
        for m in chosen:
            if m.name in failed:
                m.failed = failed[m.name]
    else:
        result = run_parallel(chosen, lambda m: step.action(run, m, **params), limit=step.limit(run))
        run.outcomes[step.title] = result.ok
        failed = result.failed
    if failed:
        run.failures[step.title] = failed


def raise_failures(run: Run) -> None:
    """One error listing every host that failed so far, by step; nothing when none did."""
    if run.failures:
        lines = [f"{title}: {host}: {reason}" for title, failed in run.failures.items()
                 for host, reason in failed.items()]
        raise U7sError("failed on " + f"{sum(len(f) for f in run.failures.values())} host(s):\n" + "\n".join(lines))
