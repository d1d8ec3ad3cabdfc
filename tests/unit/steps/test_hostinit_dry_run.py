"""cluster.init-host --dry-run changes nothing on a host: the scripts run from a temporary folder it removes.

The host is this machine (a LocalHost, as a `local: true` inventory host is): its files
and `mktemp`/`rm` are real; the scripts themselves answer as their dry runs do (they are
tested on their own in tests/unit/test_init_host.py), and the user is not root.
"""

import dataclasses
import os

from invoke import Context

from u7s.config.inventory import HostSpec, Inventory, Ssh
from u7s.run.hosts import LocalHost, Result
from u7s.session import Member, Run
from u7s.steps import hostinit
from u7s.ui.report import Reporter
from tests.unit.u7s_fakes import make_settings


class Recording(LocalHost):
    """This machine, noting every file written to it and every script run (which must be there then)."""

    def __init__(self):
        super().__init__(Context(), "h1")
        self.written, self.scripts = [], []

    def write_file(self, path, data, mode=0o644):
        self.written.append(path)
        return super().write_file(path, data, mode)

    def run(self, argv, **kwargs):
        if list(argv) == ["id", "-un"]:
            return Result(0, "alice\n", "")
        if argv[0] == "bash":
            assert os.path.isfile(argv[1])
            self.scripts.append(list(argv))
            return Result(0, "info: dry run: nothing is changed\nok: something already right\n", "")
        return super().run(argv, **kwargs)


def test_a_dry_run_uploads_nothing_to_the_working_directory_and_leaves_no_copy(tmp_path, capsys):
    workdir = tmp_path / "work"
    host = Recording()
    settings = dataclasses.replace(make_settings(), workdir=str(workdir))
    spec = HostSpec("h1", None, "control-plane", True, Ssh())
    member = Member(spec, Reporter("h1"), host, settings)
    run = Run(Inventory("hosts.yaml", "demo", [spec], "10.100.0.0/16", 5), [member], Reporter(), dry_run=True)
    hostinit.run_all(None, run)
    assert not workdir.exists()
    assert len(host.written) == 5 and all(not os.path.exists(p) for p in host.written)  # every script of init-host/
    assert {os.path.dirname(p) for p in host.written} != {str(workdir / "init-host")}
    assert [argv[1].rsplit("/", 1)[1] for argv in host.scripts] == ["init-host.root.sh", "init-host.rootless.sh"]
    assert all("--dry-run" in argv for argv in host.scripts)  # the root part without sudo: its dry run needs none
    assert "init-host: 0 changed, 2 ok, 0 skipped" in capsys.readouterr().err
