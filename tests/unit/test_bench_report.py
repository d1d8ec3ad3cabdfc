"""The scaling benchmark's pure parts: medians, the issue's ratios, the CSV, flags, machine facts, inventory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.inventory import inventory_data
from bench.machine import cpu_model, memory_gib
from bench.plot import series
from bench.report import (
    Criterion, Sample, applies, busy_seconds, cpu_table, from_csv, parse_hosts, parse_operations, summarise, table,
    to_csv, verdicts,
)
from tests.lab.host import LabHost

REPO = Path(__file__).resolve().parents[2]


def samples(op, hosts, *seconds):
    return [Sample(op, hosts, run, s) for run, s in enumerate(seconds, start=1)]


def test_summary_is_median_min_max_per_operation_and_host_count():
    summary = summarise([*samples("status", 1, 1.2, 0.9, 5.0), *samples("status", 8, 2.0, 1.0)])
    one = summary[("status", 1)]
    assert (one.median, one.low, one.high, one.runs) == (1.2, 0.9, 5.0, 3)
    assert summary[("status", 8)].median == 1.5  # even count: the mean of the middle two


def test_ratios_are_of_medians_and_say_whether_each_limit_holds():
    summary = summarise([
        *samples("check-network", 2, 4.0, 4.1, 3.9), *samples("check-network", 8, 6.0, 30.0, 5.0),
        *samples("check-network", 16, 9.0),
        *samples("check-preflight", 1, 1.0), *samples("check-preflight", 8, 1.5),
        *samples("create", 2, 10.0), *samples("create", 8, 20.0),
    ])
    by_text = {v.criterion.text: v for v in verdicts(summary)}
    assert by_text["check-network T(8)/T(2) <= 1.5"].ratio == pytest.approx(1.5)  # 6/4: the outlier 30 is ignored
    assert by_text["check-network T(8)/T(2) <= 1.5"].holds is True
    assert by_text["check-network T(16)/T(2) <= 2"].holds is False
    assert by_text["check-preflight T(8)/T(1) <= 1.5"].holds is True  # at the limit
    assert by_text["create T(8)/T(2) < 2"].holds is False  # strictly less than 2x
    missing = by_text["status T(8)/T(1) <= 1.5"]
    assert missing.ratio is None and missing.holds is None and missing.text.endswith("not measured")
    assert "FAILS" in by_text["check-network T(16)/T(2) <= 2"].text


def test_a_zero_base_gives_no_ratio_instead_of_dividing_by_zero():
    summary = summarise([*samples("up", 1, 0.0), *samples("up", 8, 1.0)])
    assert verdicts(summary, [Criterion("up", 8, 1, 2.0)])[0].ratio is None


def test_table_has_a_column_per_host_count_and_leaves_unmeasured_cells_empty():
    summary = summarise([*samples("check-preflight", 1, 1.0, 2.0, 3.0), *samples("check-network", 2, 4.25)])
    assert table(summary).splitlines() == [
        "| operation | 1 host | 2 hosts |",
        "|---|---|---|",
        "| `cluster.check-preflight` | 2.0 s (1.0-3.0) |  |",
        "| `cluster.check-network` |  | 4.2 s |",
    ]


def test_csv_round_trips_and_a_bad_row_names_its_line():
    data = [*samples("up", 4, 1.23456, 2.0), *samples("create", 16, 100.5)]
    text = to_csv(data)
    assert text.splitlines()[:2] == ["operation,hosts,run,seconds,machine_cpu,u7s_cpu", "up,4,1,1.235,,"]
    assert from_csv(text) == [Sample("up", 4, 1, 1.235), Sample("up", 4, 2, 2.0), Sample("create", 16, 1, 100.5)]
    measured = [Sample("status", 8, 1, 1.8, 3.4567, 0.5)]
    assert to_csv(measured).splitlines()[1] == "status,8,1,1.800,3.457,0.500"
    assert from_csv(to_csv(measured)) == [Sample("status", 8, 1, 1.8, 3.457, 0.5)]
    # results written before CPU was measured still read
    assert from_csv("operation,hosts,run,seconds\nup,4,1,1.0\n") == [Sample("up", 4, 1, 1.0)]
    with pytest.raises(ValueError, match="line 3"):
        from_csv("operation,hosts,run,seconds\nup,4,1,1.0\nup,four,2,1.0\n")
    with pytest.raises(ValueError, match="line 1"):
        from_csv("op,n\nup,4\n")


def test_busy_cpu_is_every_tick_but_idle_and_iowait_between_two_readings():
    before = "cpu  100 5 50 1000 20 1 2 0 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n"
    after = "cpu  300 5 150 1500 80 1 12 0 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n"
    assert busy_seconds(before, after, 100) == pytest.approx(3.1)  # (200 user + 100 system + 10 softirq) / 100
    with pytest.raises(ValueError, match="/proc/stat"):
        busy_seconds("intr 1 2\n", after, 100)


def test_cpu_table_gives_cpu_seconds_and_the_least_wall_time_they_allow():
    summary = summarise([Sample("check-network", 2, 1, 1.5, 1.8, 0.4), Sample("check-network", 16, 1, 13.0, 26.0, 1.5),
                         Sample("status", 1, 1, 0.8)])
    assert cpu_table(summary, 2).splitlines() == [
        "| operation | 2 hosts | 16 hosts |",
        "|---|---|---|",
        "| `cluster.check-network` | 1.8 CPU-s, >= 0.9 s (u7s 0.4) | 26.0 CPU-s, >= 13.0 s (u7s 1.5) |",
    ]


def test_flags_are_parsed_in_order_and_bad_items_are_named():
    assert parse_hosts("16, 1,2,2,8") == [1, 2, 8, 16]
    assert parse_operations("status,check-preflight") == ["check-preflight", "status"]
    for bad in ("0", "1,,2", "two"):
        with pytest.raises(ValueError, match="--hosts"):
            parse_hosts(bad)
    with pytest.raises(ValueError, match="unknown operation reboot"):
        parse_operations("up,reboot")


def test_the_network_check_is_measured_only_with_a_pair():
    assert not applies("check-network", 1)
    assert applies("check-network", 2) and applies("status", 1)


def test_plot_series_follow_the_benchmark_order_and_sort_by_hosts():
    summary = summarise([*samples("status", 8, 1.0), *samples("status", 1, 1.0), *samples("up", 2, 3.0)])
    assert [(op, [n for n, _ in points]) for op, points in series(summary).items()] == [
        ("up", [2]), ("status", [1, 8])]


def test_the_benchmark_imports_matplotlib_only_to_draw():
    probe = "import sys, bench.scaling; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_machine_facts_are_parsed_from_proc_text():
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nmodel name\t: other\n") == "AMD EPYC 7B13"
    assert cpu_model("processor: 0\n") == "unknown"
    assert memory_gib("MemTotal:       24607060 kB\nMemFree: 1 kB\n") == 23.5
    assert memory_gib("MemFree: 1 kB\n") is None


def test_inventory_makes_the_first_host_the_control_plane_with_the_lab_credentials():
    hosts = [LabHost(name=f"h{k}", address=f"10.213.0.{10 + k}", ssh_user=f"u7slab{k}", ssh_port=22,
                     key="/var/lib/u7s-lab/ssh/id", known_hosts="/var/lib/u7s-lab/ssh/known_hosts", uid=41000 + k,
                     home=f"/home/u7slab{k}", netns=f"u7slab-h{k}", engine_socket="unix:///x") for k in (1, 2)]
    data = inventory_data(hosts, "u7s-lab-node:latest")
    assert data["settings"] == {"NODE_IMAGE": "u7s-lab-node:latest"}
    assert data["ssh"]["known_hosts"] == "/var/lib/u7s-lab/ssh/known_hosts"
    assert [(h["name"], h["role"], h["ssh"]["user"]) for h in data["hosts"]] == [
        ("h1", "control-plane", "u7slab1"), ("h2", "worker", "u7slab2")]
    with pytest.raises(ValueError):
        inventory_data([], "x")


def test_step_times_are_the_wall_and_cpu_between_the_step_lines_u7s_prints(tmp_path):
    from bench import steptimes

    script = 'echo "- == up (h1, h2)" >&2; sleep 0.2; echo "h1 - == x" >&2; echo "- == init (h1)" >&2; echo /path/kubeconfig'
    done, marks = steptimes.run_marked(["sh", "-c", script], tmp_path, {"PATH": "/usr/bin:/bin"}, 30)
    assert done.returncode == 0 and done.stdout == "/path/kubeconfig\n"
    rows = steptimes.segments(marks, 100, 2)
    assert [r["step"] for r in rows] == [steptimes.BEFORE, "up", "init"]
    assert rows[1]["seconds"] >= 0.2 and all(r["cpu_floor"] == round(r["machine_cpu"] / 2, 2) for r in rows)
    text = steptimes.steps_table({8: rows, 16: rows})
    assert text.splitlines()[0] == "| step | 8 hosts: wall, CPU floor | 16 hosts: wall, CPU floor |"
    assert text.splitlines()[-1].startswith("| total | ")
