"""Standard streams whatever their encoding: u7s's own marks fall back to ASCII, other text is replaced.

A user's locale (or PYTHONIOENCODING) may give stdout and stderr an encoding without
✓ or box-drawing characters (latin-1, ASCII): printing them would end the run with
UnicodeEncodeError after its work was done.
"""

from __future__ import annotations

import sys


def can_encode(stream, text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def tolerate_any_encoding() -> None:
    """Characters a stream cannot encode are replaced (`?`) instead of raising; UTF-8 streams are left alone."""
    for stream in (sys.stdout, sys.stderr):
        if not can_encode(stream, "✓…━") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):  # detached or closed: nothing to protect
                pass


def mark(stream, fancy: str, plain: str) -> str:
    """`fancy` where the stream can encode it, else `plain`."""
    return fancy if can_encode(stream, fancy) else plain
