"""Command line of the lab: `python -m tests.lab up [--hosts N] [--subnet CIDR] [--repo DIR] [--no-podman]` or `down`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .commands import LabError
from .lab import Lab
from .layout import DEFAULT_HOSTS
from .teardown import down_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="Bring the u7s test lab up or down.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="remove any lab, bring up a new one, print it as JSON")
    up.add_argument("--hosts", type=int, default=DEFAULT_HOSTS, help=f"number of hosts (default {DEFAULT_HOSTS})")
    up.add_argument("--subnet", default=None, help="lab subnet (default $U7S_LAB_SUBNET or 10.213.0.0/24)")
    up.add_argument("--repo", type=Path, default=None, help="u7s checkout to install (default: this one)")
    up.add_argument("--no-podman", dest="podman", action="store_false",
                    help="leave out the first host's Podman service (Docker-only work)")
    commands.add_parser("down", help="remove every lab on this machine")
    commands.add_parser("show", help="print the running lab as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            lab = Lab.up(args.hosts, repo=args.repo, subnet=args.subnet, podman=args.podman)
            print(json.dumps(lab.to_json(), indent=2))
            print("timings (s): " + json.dumps(lab.timings), file=sys.stderr)
        elif args.command == "down":
            down_all()
        else:
            lab = Lab.existing()
            if lab is None:
                print("no lab is running", file=sys.stderr)
                return 1
            print(json.dumps(lab.to_json(), indent=2))
    except (LabError, ValueError, OSError) as error:
        print(f"lab: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
