"""Run several read-only commands on a host in one round trip, each with its own exit status and output.

Every command sent on its own costs an SSH channel (open, exec, close) and a set
of reader threads on the controller; preflight, status and fact gathering send a
dozen each per host. Here they travel together: one constant shell script gets
every command's words as positional parameters (a word count, then the words),
runs each with its input closed, and prints after each command's own output a
line with a random boundary and its exit status, then its error output. No word
is ever part of the script's text, so nothing a user or a host supplies is
interpreted by a shell (u7s/run/hosts.py quotes the whole command line once).
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol, Sequence

from u7s.run.result import Result


class Runs(Protocol):
    """What a batch needs of a host (u7s/run/hosts.py's Host), named here so that hosts.py can use batches."""

    def run(self, argv: Sequence[str], *, check: bool = True) -> Result: ...

# $1 the boundary, then for each command: the number of its words, the words.
SCRIPT = r"""
b="$1"
shift
err="$(mktemp)" || exit 125
trap 'rm -f "$err"' EXIT
while [ "$#" -gt 0 ]; do
	n="$1"
	shift
	(
		# Keep this command's n words only: the first n rotate to the end, the others are dropped.
		total="$#" i=0
		while [ "$i" -lt "$total" ]; do
			if [ "$i" -lt "$n" ]; then set -- "$@" "$1"; fi
			shift
			i=$((i + 1))
		done
		exec "$@"
	) </dev/null 2>"$err"
	rc="$?"
	printf '\n%s %s\n' "$b" "$rc"
	cat "$err"
	printf '\n%s\n' "$b"
	shift "$n"
done
"""


def command(argvs: Sequence[Sequence[str]], boundary: str) -> list[str]:
    """The one argv that runs every argv in `argvs`, in order."""
    words = ["sh", "-c", SCRIPT, "u7s-batch", boundary]
    for argv in argvs:
        words += [str(len(argv)), *(str(a) for a in argv)]
    return words


def parse(text: str, boundary: str) -> list[Result]:
    """Each command's Result from the script's output (fewer when the script ended early)."""
    pieces = re.split(rf"\n{re.escape(boundary)} (\d+)\n(.*?)\n{re.escape(boundary)}\n", text, flags=re.S)
    return [Result(int(pieces[i + 1]), pieces[i], pieces[i + 2]) for i in range(0, len(pieces) - 3, 3)]


def run_together(host: Runs, argvs: Sequence[Sequence[str]]) -> list[Result]:
    """Run every argv on `host` in one command; the ones the script did not get to run on their own."""
    if not argvs:
        return []
    boundary = "u7s-" + secrets.token_hex(12)
    whole = host.run(command(argvs, boundary), check=False)
    results = parse(whole.stdout, boundary)[: len(argvs)]
    # The script itself failed part-way (no mktemp, a full /tmp): the rest, one by one, as before.
    return results + [host.run(argv, check=False) for argv in argvs[len(results):]]
