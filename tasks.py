"""`inv <task>` in a checkout runs the same tasks as the installed `u7s` command."""

from u7s.tasks import ns  # noqa: F401
