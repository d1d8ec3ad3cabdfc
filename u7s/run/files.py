"""Files on a remote host, each operation one command: a round trip, not SFTP's several.

SFTP needs its own start (a channel, a subsystem, a version exchange), then a round
trip per step: u7s's write (stat, open and compare, make the directory, open a
temporary file, chmod, write, close, rename) waited for about ten of them per file.
Here a write is one command with the content on its standard input: a fixed script
makes the directory, writes a temporary file created 0600 (a secret never sits
readable), leaves the file alone when content and mode are already as wanted, else
sets the mode and renames it into place. Paths and modes are positional parameters:
nothing is interpreted by a shell; the content never appears on a command line.
"""

from __future__ import annotations

import io
import posixpath

from u7s.errors import U7sError

UNCHANGED = 3  # the script's exit status when content and mode were as wanted already (or: no such file)

# $1 the path, $2 its mode (octal digits); the content on standard input.
WRITE = r"""
path=$1 mode=$2
mkdir -p -m 700 -- "$(dirname -- "$path")" || exit 1
umask 077
tmp="$path.u7s-$$"
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp" || exit 1
if [ -f "$path" ] && [ "$(stat -c %a -- "$path" 2>/dev/null)" = "$mode" ] && cmp -s -- "$tmp" "$path"; then
	exit 3
fi
chmod "$mode" "$tmp" && mv -f -- "$tmp" "$path"
"""
READ = '[ -e "$1" ] || exit 3; exec cat -- "$1"'
REMOVE = '[ -e "$1" ] || [ -L "$1" ] || exit 3; exec rm -f -- "$1"'


def write_argv(path: str, mode: int) -> list[str]:
    return ["sh", "-c", WRITE, "u7s-write", path, f"{mode:o}"]


def write_file(host, path: str, data: str | bytes, mode: int = 0o644) -> bool:
    """Write `data` to `path` with `mode` (its directory made 0700 if missing); False when it was so already."""
    raw = data.encode() if isinstance(data, str) else data
    r = host.run_streaming(write_argv(path, mode), io.BytesIO(raw))
    if r.exited == UNCHANGED:
        return False
    if not r.ok:
        raise U7sError(f"{host.name}: cannot write {path}: {r.stderr_tail()}")
    return True


def read_text(host, path: str) -> str | None:
    """The file's text; None when there is no such file."""
    r = host.run(["sh", "-c", READ, "u7s-read", path], check=False)
    if r.exited == UNCHANGED:
        return None
    if not r.ok:
        raise U7sError(f"{host.name}: cannot read {path}: {r.stderr_tail()}")
    return r.stdout


def remove(host, path: str) -> bool:
    """Remove the file; False when there was none."""
    r = host.run(["sh", "-c", REMOVE, "u7s-remove", path], check=False)
    if r.exited == UNCHANGED:
        return False
    if not r.ok:
        raise U7sError(f"{host.name}: cannot remove {path}: {r.stderr_tail()}")
    return True


def makedirs(host, path: str, mode: int = 0o700) -> None:
    """Make the directory and its parents (`mode` for the last, when made); nothing when it is there."""
    host.run(["mkdir", "-p", "-m", f"{mode:o}", "--", posixpath.normpath(path)])
