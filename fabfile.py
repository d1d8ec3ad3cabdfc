"""`fab -H h1,h2 TASK` in a checkout: u7s's single-host tasks on each host (fabric.yaml makes them parallel)."""

from u7s.fab import ns  # noqa: F401
