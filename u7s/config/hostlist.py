"""Slurm's hostlist expressions (`node[01-04,07],gpu[1-2]`) expanded to host names.

`expand` uses `scontrol show hostnames` when it is installed and answers (the
scheduler's own reading), and `parse` otherwise. `parse` reads what scontrol
reads: comma- or space-separated items; an item is text with bracketed ranges
(`rack[1-2]-n[01-02]`, every combination, in order); a range `LOW-HIGH` keeps
LOW's width (`[01-10]` gives 01..10, `[8-11]` gives 8..11). It refuses what
scontrol refuses (`n[3-1]`, `a[1-2]b`) and also unbalanced brackets, which
scontrol reads in surprising ways (`n[1-2` gives `n]`).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess

MAX_HOSTS = 65536  # scontrol refuses larger ranges too ("Too many hosts in range")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class HostlistError(ValueError):
    """An expression that names no hosts, or not in hostlist syntax; its text says why."""


def parse(expression: str) -> list[str]:
    """The host names of a hostlist expression, in order (duplicates kept, as scontrol keeps them)."""
    hosts: list[str] = []
    for item in _items(expression):
        hosts.extend(_expand_item(item, expression))
        if len(hosts) > MAX_HOSTS:
            raise HostlistError(f"{expression!r} names more than {MAX_HOSTS} hosts")
    if not hosts:
        raise HostlistError(f"{expression!r} names no hosts")
    return hosts


def _items(expression: str) -> list[str]:
    """The expression split at commas and spaces outside brackets."""
    items, current, depth = [], "", 0
    for ch in expression:
        if ch == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"{expression!r}: '[' inside brackets")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"{expression!r}: ']' without '['")
        if depth == 0 and (ch == "," or ch.isspace()):
            items.append(current)
            current = ""
        else:
            current += ch
    if depth:
        raise HostlistError(f"{expression!r}: '[' without ']'")
    return [item for item in items + [current] if item]


def _expand_item(item: str, expression: str) -> list[str]:
    parts = re.split(r"\[([^\]]*)\]", item)  # text, ranges, text, ranges, ..., text
    if len(parts) > 1 and parts[-1]:
        raise HostlistError(f"{expression!r}: text after the last ']' in {item!r}")
    choices = []
    for index, part in enumerate(parts[:-1] if len(parts) > 1 else parts):
        choices.append([part] if index % 2 == 0 else _numbers(part, expression))
    return ["".join(combo) for combo in itertools.product(*choices)]


def _numbers(ranges: str, expression: str) -> list[str]:
    """`01-04,07` as ['01', '02', '03', '04', '07']."""
    out: list[str] = []
    for one in ranges.split(","):
        match = _RANGE.match(one.strip())
        if not match:
            raise HostlistError(f"{expression!r}: {one!r} is not a number or a range LOW-HIGH")
        low_text, high_text = match.group(1), match.group(2) or match.group(1)
        low, high = int(low_text), int(high_text)
        if high < low:
            raise HostlistError(f"{expression!r}: range {one!r} runs backwards")
        if high - low >= MAX_HOSTS:
            raise HostlistError(f"{expression!r}: range {one!r} names more than {MAX_HOSTS} hosts")
        out.extend(str(n).zfill(len(low_text)) for n in range(low, high + 1))
    return out


def expand(expression: str, where: str, runner=subprocess.run) -> list[str]:
    """The hosts of `expression` (read from `where`, e.g. SLURM_JOB_NODELIST), by scontrol if it answers.

    Raises HostlistError with one line naming `where` when the expression is not a hostlist.
    """
    scontrol = shutil.which("scontrol")
    if scontrol:
        try:
            done = runner([scontrol, "show", "hostnames", expression], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0:
            hosts = done.stdout.split()
            invalid = "Invalid hostlist" in (done.stderr or "")
            if hosts and not invalid:
                return hosts
            if invalid:
                raise HostlistError(f"{where}: {expression!r} is not a Slurm hostlist (scontrol: Invalid hostlist)")
        # scontrol without a configuration of its own (no slurm.conf) cannot answer: read it ourselves.
    try:
        return parse(expression)
    except HostlistError as exc:
        raise HostlistError(f"{where}: {exc}") from None
