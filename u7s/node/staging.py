"""Write the working directory on a host: only the files that differ from what u7s renders."""

from __future__ import annotations

from u7s.config.settings import Settings
from u7s.render.workdir import differing_in, file_probes, files
from u7s.run.hosts import Host


def differing(host: Host, s: Settings, wanted: dict[str, tuple[bytes, int]]) -> list[str]:
    """The files whose content or mode on `host` is not as wanted, asked in one batch."""
    return differing_in(wanted, host.run_many(file_probes(s, wanted)))


def stage(host: Host, s: Settings) -> list[str]:
    """Write the working directory on `host`; return the files that changed.

    One batch first says which files differ; only those are written (a re-run writes none).
    """
    wanted = files(s)
    todo = differing(host, s, wanted)
    if not todo:
        return []
    host.makedirs(s.workdir, 0o700)
    changed = []
    for rel in todo:
        data, mode = wanted[rel]
        if host.write_file(s.path(rel), data, mode):
            changed.append(rel)
    return changed
