"""`cluster.settings`: every host's settings as resolved for the cluster, and where each value came from.

The ports show whether they are the cluster's lease (`lease`, or `new lease` for a set
this run chose and the next `cluster.up`/`cluster.create` records), given explicitly, or defaults.
"""

from __future__ import annotations

from u7s.tasks._common import out, read_only, task
from u7s.tasks.cluster import COMMON, ITER, _open


def rows(run) -> list:
    """(host, setting, value, from) for each resolved host; a host that failed says why on one row."""
    found = []
    for m in run.members:
        if m.settings is None or m.failed:
            found.append((m.name, "-", "-", m.failed or "not resolved"))
            continue
        for key, value in m.settings.as_table().items():
            found.append((m.name, key, value, m.settings.sources.get(key, "default")))
    return found


@task(iterable=ITER, help={**COMMON, "json": "print JSON: per host, each setting's value and where it came from"})
@read_only
def settings(c, inventory=None, set_=None, accept_unknown_host_keys=False, json=False):
    """Show each host's settings as the cluster tasks resolve them (ports: lease, explicit or default)."""
    import json as _json

    from u7s.ui import tables

    run = _open(c, inventory, set_, accept_unknown_host_keys)
    table = {}
    for host, key, value, origin in rows(run):
        table.setdefault(host, {})[key] = {"value": value, "from": origin}
    if json:
        out(_json.dumps(table, indent=2))
    else:
        grid = tables.Grid(("host", "setting", "value", "from"))
        for row in rows(run):
            grid.add(*row)
        tables.show(grid, stderr=False)
    for m in run.members:
        if m.lease_problem:
            run.report.warn(f"{m.name}: {m.lease_problem}")
    return table
