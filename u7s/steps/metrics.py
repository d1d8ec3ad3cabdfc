"""The metrics-server step (u7s/node/metricsserver.py): part of `create` when METRICS_SERVER is on, and its task.

In `create` the step is there on every run: with METRICS_SERVER off it does nothing, touches no
host, and counts as done (an idle `create` still says "nothing to do"). Turning the setting off
later does not remove metrics-server (README: metrics-server). The task `install-metrics-server`
installs it whatever the setting says: asking for the task is asking for metrics-server.
"""

from __future__ import annotations

from u7s.node import metricsserver
from u7s.steps.outcome import Outcome, already, changed
from u7s.steps.step import Step

TITLE = "install-metrics-server"
OFF = "metrics-server not asked for (METRICS_SERVER=true installs it)"


def install(node) -> Outcome:
    said, fresh = metricsserver.install(node)
    return changed(said) if fresh else already(said)


def _if_asked(run, m) -> Outcome:
    if not m.settings.metrics_server:
        return already(OFF, why="METRICS_SERVER is off")
    return install(m.node)


def _would(m, asked: bool) -> list[str]:
    if not asked:
        return [f"leave metrics-server alone ({OFF})"]
    return [f"render {m.settings.path(metricsserver.MANIFEST)} and kubectl apply it in {m.settings.node_name}: "
            f"metrics-server {metricsserver.VERSION} in {metricsserver.NAMESPACE} and its APIService "
            f"v1beta1.{metricsserver.GROUP} (kubectl top)"]


# In create: only when METRICS_SERVER is on.
STEP = Step(TITLE, _if_asked, lambda m: _would(m, m.settings.metrics_server), hosts="control-plane")
# The task: always.
INSTALL = Step(TITLE, lambda run, m: install(m.node), lambda m: _would(m, True), hosts="control-plane")
