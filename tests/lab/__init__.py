"""The u7s test lab: several rootless-Docker hosts on one machine, reachable over real SSH.

    from tests.lab import Lab
    lab = Lab.up(3)              # as root; removes any earlier lab first
    lab.hosts[0].ssh(["docker", "info"])
    lab.down()

`python -m tests.lab up|down` does the same from a shell (JSON on stdout).
"""

from .commands import LabCommandError, LabError
from .host import LabHost
from .lab import Lab
from .teardown import down_all, leftovers

__all__ = ["Lab", "LabHost", "LabError", "LabCommandError", "down_all", "leftovers"]
