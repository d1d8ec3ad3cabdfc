"""fab's entry point: `fab -H h1,h2 TASK` runs a single-host task on each named host, all at once.

Use it from a fabfile.py (`from u7s.fab import ns`) and, for the hosts to run in
parallel, name this module's Executor in fabric.yaml beside it:

    tasks: {executor_class: u7s.fab.Executor}

(the repository's own fabfile.py and fabric.yaml do both). fab hands each task a
Connection per host; u7s's tasks then act on that host, files included
(u7s/tasks/fabhost.py). fab itself runs the hosts one after another and stops at the
first failure; this Executor starts every host's call of a task together, lets each
finish, and then reports every failed host in one line each. `cluster.*` tasks reach
their hosts from an inventory and are refused under -H (u7s/tasks/coreflags.py).
"""

from __future__ import annotations

import concurrent.futures
import itertools

import fabric
from fabric.tasks import ConnectionCall

from u7s.tasks import ns  # noqa: F401  (the collection fab lists and runs)


class Executor(fabric.Executor):
    """fabric's Executor, with the per-host calls of one task run in parallel."""

    def execute(self, *tasks):
        from invoke import Exit

        from u7s.errors import Interrupted, U7sError
        from u7s.run.lock import release_all

        calls = self.dedupe(self.expand_calls(self.normalize(tasks)))
        results = {}
        try:
            # Consecutive calls of one task are its hosts (fab expands `-H a,b TASK` that way).
            for _, group in itertools.groupby(calls, key=lambda call: (id(call.task), call.called_as)):
                group = list(group)
                self._load(group[0])
                if len(group) == 1 or not isinstance(group[0], ConnectionCall):
                    for call in group:
                        results[call.task] = call.task(call.make_context(self.config), *call.args, **call.kwargs)
                    continue
                outcomes = self._parallel(group)
                failed = {host: exc for host, exc in outcomes.items() if isinstance(exc, BaseException)}
                if any(isinstance(exc, KeyboardInterrupt) for exc in failed.values()):
                    raise Interrupted()
                bugs = [exc for exc in failed.values() if not isinstance(exc, Exit)]
                if bugs:  # not a failure u7s knows: with its traceback, after the other hosts finished
                    raise bugs[0]
                if failed:
                    lines = [f"{host}: {_why(host, exc)}" for host, exc in failed.items()]
                    raise U7sError(f"{group[0].called_as or group[0].task.name} failed on {len(failed)} of "
                                   f"{len(group)} hosts:\n" + "\n".join(lines))
                results[group[0].task] = outcomes
        except KeyboardInterrupt as exc:
            raise exc if isinstance(exc, Interrupted) else Interrupted() from None
        finally:
            release_all()  # the hosts' locks, taken in their threads, end with the run
        return results

    def _load(self, call) -> None:
        """The configuration a task is run with (collection and shell levels), as invoke loads it per call."""
        self.config.load_collection(self.collection.configuration(call.called_as))
        self.config.load_shell_env()

    def _parallel(self, group) -> dict:
        """Each host's result, or the exception it ended with; a Ctrl-C lets hosts under way finish."""
        from u7s.tasks.fabhost import label

        contexts = [call.make_context(self.config) for call in group]
        names = [label(c) for c in contexts]
        outcomes: dict = {}
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(group))
        try:
            futures = {pool.submit(call.task, c, *call.args, **call.kwargs): i
                       for i, (call, c) in enumerate(zip(group, contexts))}
            for future in concurrent.futures.as_completed(futures):
                try:
                    outcomes[futures[future]] = future.result()
                except BaseException as exc:  # kept per host, reported when all are done
                    outcomes[futures[future]] = exc
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
        return {names[i]: outcomes[i] for i in sorted(outcomes)}  # in the order of -H


def _why(host: str, exc) -> str:
    """One line for a host's failure: u7s's message, or the exit status of a command passed through."""
    from u7s.errors import U7sError

    text = str(exc) if isinstance(exc, U7sError) else (exc.message or f"exited {exc.code}")
    return " ".join(text.removeprefix(f"{host}: ").split())
