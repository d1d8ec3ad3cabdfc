"""Write the working directory on a host: only the files that differ from what u7s renders."""

from __future__ import annotations

from u7s.config import storagedir
from u7s.config.settings import Settings
from u7s.render.workdir import differing_in, file_probes, files
from u7s.run.hosts import Host


def differing(host: Host, s: Settings, wanted: dict[str, tuple[bytes, int]]) -> list[str]:
    """The files whose content or mode on `host` is not as wanted, asked in one batch."""
    return differing_in(wanted, host.run_many(file_probes(s, wanted)))


def stage(host: Host, s: Settings) -> list[str]:
    """Write the working directory on `host`, and make its volume directory; return the files that changed.

    One batch first says which files differ and whether the volume directory is there; only
    what is missing is made (a re-run writes none and costs that one batch).
    """
    wanted = files(s)
    *answers, storage = host.run_many([*file_probes(s, wanted), ["test", "-d", s.storage_dir]])
    todo = differing_in(wanted, answers)
    if todo or not storage.ok:
        host.makedirs(s.workdir, 0o700)  # first: the volume directory's parents must not get another mode
    if not storage.ok:  # bind-mounted into the node: it must exist (Podman refuses a missing source)
        host.makedirs(s.storage_dir, storagedir.MODE)
    if not todo:
        return []
    changed = []
    for rel in todo:
        data, mode = wanted[rel]
        if host.write_file(s.path(rel), data, mode):
            changed.append(rel)
    return changed
