"""Bootstrap tokens for `cluster.join`: a fresh one for each join, deleted once that join is over.

Why one per join, not one per run: workers join `cluster.join_concurrency` at a time, so a run with
hundreds of workers and slow joins lasts longer than any token made at its start; and a join handed an
expired token does not fail at once: kubeadm's discovery polls for the token's signature until its
timeout (5 minutes), then fails with "could not find a JWS signature ...". A token made right before its
join has to outlive that one join only, however long the run, and nothing compares the controller's clock
with the control plane's (kubeadm sets the expiry there, from TTL). The cost is one `kubeadm token create`
and one `kubeadm token delete` in the control-plane node per worker, small beside a join. At most
join_concurrency u7s tokens exist at a time; each is deleted when its join ends, however it ends, and the
TTL bounds one that a killed run could not delete.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from u7s.node import kube
from u7s.node.container import Node
from u7s.run.parallel import HOST_ERRORS

# While kubeadm join uses the token: discovery (at most 5 min, its default timeouts.discovery), then the
# kubelet's start (4 min) and TLS bootstrap (5 min). 20 minutes outlast that with room for the rest.
TTL = "20m"
# What `kubeadm token list` shows for them, so that they are told from tokens others made.
DESCRIPTION = "made by u7s for one join; deleted when it is over"


class JoinTokens:
    """The join tokens of one run, made and deleted in the control-plane node one kubeadm call at a time."""

    def __init__(self, node: Node, ttl: str = TTL):
        self.node, self.ttl = node, ttl
        self.lock = threading.Lock()  # joins run in parallel; the control plane's commands go one by one

    @contextmanager
    def join_command(self) -> Iterator[list[str]]:
        """A join command (argv) with a token made now; the token is deleted when the block ends."""
        with self.lock:
            argv = kube.create_join_command(self.node, self.ttl, DESCRIPTION)
        try:
            yield argv
        finally:
            self._delete(kube.token_id(argv))

    def _delete(self, token_id: str) -> None:
        try:
            with self.lock:
                kube.delete_token(self.node, token_id)
        except HOST_ERRORS as exc:  # the join's own outcome stands: this token expires by itself
            self.node.report.warn(f"{str(exc).removeprefix(self.node.host.name + ': ')} "
                                  f"(the token expires by itself within {self.ttl})")
