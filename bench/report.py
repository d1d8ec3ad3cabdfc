"""Summarise scaling timings: medians per operation and host count, the issue's ratios, the CSV.

Pure functions (no lab, no u7s): bench/scaling.py feeds them samples and
writes what they return; tests/unit/test_bench_report.py checks them.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# In the order the benchmark runs them on each inventory (status on the created cluster).
OPERATIONS = ("check-preflight", "up", "check-network", "create", "status")
CSV_FIELDS = ("operation", "hosts", "run", "seconds", "machine_cpu", "u7s_cpu")
OLD_CSV_FIELDS = CSV_FIELDS[:4]  # results written before CPU was measured


@dataclass(frozen=True)
class Sample:
    """One timed run of one operation on an inventory of `hosts` hosts."""

    operation: str
    hosts: int
    run: int
    seconds: float
    machine_cpu: float | None = None  # CPU-seconds the whole machine was busy (every lab host's share)
    u7s_cpu: float | None = None  # CPU-seconds of the u7s process on the controller (and its children)


@dataclass(frozen=True)
class Summary:
    """The runs of one operation at one host count."""

    median: float
    low: float
    high: float
    runs: int
    machine_cpu: float | None = None  # medians, where measured
    u7s_cpu: float | None = None


@dataclass(frozen=True)
class Criterion:
    """T(operation, hosts) / T(operation, base) must be at most `limit` (below it when `strict`)."""

    operation: str
    hosts: int
    base: int
    limit: float
    strict: bool = False

    @property
    def text(self) -> str:
        sign = "<" if self.strict else "<="
        return f"{self.operation} T({self.hosts})/T({self.base}) {sign} {self.limit:g}"


# Issue 13's acceptance, on medians of one benchmark run.
ACCEPTANCE = (
    Criterion("check-network", 8, 2, 1.5),
    Criterion("check-network", 16, 2, 2.0),
    Criterion("check-preflight", 8, 1, 1.5),
    Criterion("status", 8, 1, 1.5),
    Criterion("create", 8, 2, 2.0, strict=True),
)


@dataclass(frozen=True)
class Verdict:
    """A criterion, its measured ratio (None when a median is missing) and whether it holds."""

    criterion: Criterion
    ratio: float | None

    @property
    def holds(self) -> bool | None:
        if self.ratio is None:
            return None
        limit = self.criterion.limit
        return self.ratio < limit if self.criterion.strict else self.ratio <= limit

    @property
    def text(self) -> str:
        if self.ratio is None:
            return f"{self.criterion.text}: not measured"
        return f"{self.criterion.text}: {self.ratio:.2f} {'holds' if self.holds else 'FAILS'}"


def parse_hosts(text: str) -> list[int]:
    """Parse `--hosts 1,2,4` into sorted distinct counts; raise ValueError naming a bad item."""
    counts = set()
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise ValueError(f"--hosts: {item!r} is not a host count (give counts like 1,2,4,8,16)")
        counts.add(int(item))
    return sorted(counts)


def parse_operations(text: str) -> list[str]:
    """Parse `--ops a,b` into known operations, in the benchmark's order; raise ValueError on an unknown one."""
    wanted = {item.strip() for item in text.split(",") if item.strip()}
    unknown = sorted(wanted - set(OPERATIONS))
    if unknown or not wanted:
        raise ValueError(f"--ops: unknown operation {', '.join(unknown) or '(none given)'}; "
                         f"choose from {','.join(OPERATIONS)}")
    return [op for op in OPERATIONS if op in wanted]


def applies(operation: str, hosts: int) -> bool:
    """Tell whether an operation is measured at this host count (the network check needs a pair)."""
    return not (operation == "check-network" and hosts < 2)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarise(samples: Iterable[Sample]) -> dict[tuple[str, int], Summary]:
    """Group samples by (operation, hosts): median, minimum, maximum and number of runs; CPU medians."""
    groups: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.operation, sample.hosts), []).append(sample)
    out = {}
    for key, group in groups.items():
        times = [s.seconds for s in group]
        out[key] = Summary(statistics.median(times), min(times), max(times), len(times),
                           _median([s.machine_cpu for s in group]), _median([s.u7s_cpu for s in group]))
    return out


def busy_seconds(stat_before: str, stat_after: str, ticks_per_second: int) -> float:
    """CPU-seconds the machine was busy between two readings of /proc/stat (idle and iowait excluded)."""
    def busy(text: str) -> int:
        fields = text.splitlines()[0].split()
        if not fields or fields[0] != "cpu" or not all(f.isdigit() for f in fields[1:8]):
            raise ValueError("/proc/stat: no aggregate cpu line")
        ticks = [int(f) for f in fields[1:9] if f.isdigit()]  # user nice system idle iowait irq softirq steal
        return sum(ticks) - ticks[3] - ticks[4]

    before, after = busy(stat_before), busy(stat_after)
    return (after - before) / ticks_per_second


def cpu_table(summary: dict[tuple[str, int], Summary], cores: int) -> str:
    """Markdown: per operation and host count, the machine's CPU-seconds and the wall time they need at least.

    On one machine every lab host's work shares its cores: an operation cannot take less
    wall time than the CPU it used divided by the cores, however parallel u7s is.
    """
    def cell(s: Summary) -> str:
        if s.machine_cpu is None:
            return ""
        own = f" (u7s {s.u7s_cpu:.1f})" if s.u7s_cpu is not None else ""
        return f"{s.machine_cpu:.1f} CPU-s, >= {s.machine_cpu / cores:.1f} s{own}"

    return _grid({key: s for key, s in summary.items() if s.machine_cpu is not None}, cell)


def _grid(summary: dict[tuple[str, int], Summary], cell) -> str:
    """A Markdown table of cell(summary) with one row per operation and one column per host count."""
    hosts = sorted({count for _, count in summary})
    operations = [op for op in OPERATIONS if any((op, n) in summary for n in hosts)]
    operations += sorted({op for op, _ in summary} - set(operations))
    lines = ["| operation | " + " | ".join(f"{n} host{'s' if n > 1 else ''}" for n in hosts) + " |",
             "|---|" + "---|" * len(hosts)]
    for op in operations:
        cells = ["" if (op, n) not in summary else cell(summary[(op, n)]) for n in hosts]
        lines.append(f"| `cluster.{op}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(summary: dict[tuple[str, int], Summary],
             criteria: Sequence[Criterion] = ACCEPTANCE) -> list[Verdict]:
    """Compute each criterion's ratio of medians (None where either median is missing)."""
    out = []
    for criterion in criteria:
        top = summary.get((criterion.operation, criterion.hosts))
        base = summary.get((criterion.operation, criterion.base))
        ratio = top.median / base.median if top and base and base.median > 0 else None
        out.append(Verdict(criterion, ratio))
    return out


def table(summary: dict[tuple[str, int], Summary]) -> str:
    """Render medians as a Markdown table: one row per operation, one column per host count."""
    return _grid(summary, lambda s: f"{s.median:.1f} s" if s.runs == 1 else
                 f"{s.median:.1f} s ({s.low:.1f}-{s.high:.1f})")


def to_csv(samples: Iterable[Sample]) -> str:
    """Write samples as CSV text with a header row (seconds to 3 decimals)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for s in samples:
        cpu = ["" if v is None else f"{v:.3f}" for v in (s.machine_cpu, s.u7s_cpu)]
        writer.writerow([s.operation, s.hosts, s.run, f"{s.seconds:.3f}", *cpu])
    return buffer.getvalue()


def from_csv(text: str) -> list[Sample]:
    """Read samples back from to_csv's text; raise ValueError naming the line of a bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) not in (CSV_FIELDS, OLD_CSV_FIELDS):
        raise ValueError(f"line 1: expected the header {','.join(CSV_FIELDS)}, got {reader.fieldnames}")

    def cpu(row: dict, key: str) -> float | None:
        return float(row[key]) if row.get(key) else None

    samples = []
    for row in reader:
        try:
            samples.append(Sample(row["operation"], int(row["hosts"]), int(row["run"]), float(row["seconds"]),
                                  cpu(row, "machine_cpu"), cpu(row, "u7s_cpu")))
        except (TypeError, ValueError) as error:
            raise ValueError(f"line {reader.line_num}: {error}") from None
    return samples
