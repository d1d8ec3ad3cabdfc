"""Let the compose tool check a rendered compose file, when it is installed; needs no running engine."""

from __future__ import annotations

from u7s.render import engine
from u7s.config.settings import Settings
from u7s.errors import U7sError
from u7s.run.hosts import Host
from u7s.ui.report import Reporter


def compose_file(host: Host, s: Settings, text: str, report: Reporter) -> None:
    """Warn when the compose tool is missing; raise when it rejects the file."""
    if not host.run(engine.compose_cmd(s, "version"), check=False).ok:
        report.warn(f"`{' '.join(s.compose)}` is not installed: compose file not validated")
        return
    # A private folder on the host the compose tool runs on (under fab -H, not the controller).
    tmp = host.run(["mktemp", "-d", "-t", "u7s-render.XXXXXXXX"]).stdout.strip()
    try:
        path = f"{tmp}/{engine.COMPOSE_FILE}"
        host.write_file(path, text, 0o600)
        r = host.run(engine.compose_cmd(s, "-f", path, "-p", s.project, "config", "--quiet"), check=False)
    finally:
        host.run(["rm", "-rf", "--", tmp], check=False)
    if not r.ok:
        raise U7sError(f"{' '.join(s.compose)} rejects the rendered file: {r.stderr.strip()}")
    report.done(f"valid for {' '.join(s.compose)}")
