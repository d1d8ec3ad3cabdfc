"""Plot scaling medians: seconds against hosts, one line per operation, log2 x axis.

matplotlib is optional (`pip install '.[bench]'`); it is imported only when a
plot is drawn, and nothing in u7s or the test suite imports this module's plot.
"""

from __future__ import annotations

from pathlib import Path

from .report import OPERATIONS, Summary

INSTALL_HINT = "no plot: matplotlib is not installed (pip install '.[bench]'), then: python3 bench/scaling.py --plot-only"


def series(summary: dict[tuple[str, int], Summary]) -> dict[str, list[tuple[int, Summary]]]:
    """Return, per operation in the benchmark's order, its (hosts, summary) points sorted by hosts."""
    out: dict[str, list[tuple[int, Summary]]] = {}
    for op in [*OPERATIONS, *sorted({o for o, _ in summary} - set(OPERATIONS))]:
        points = sorted((n, s) for (o, n), s in summary.items() if o == op)
        if points:
            out[op] = points
    return out


def draw(summary: dict[tuple[str, int], Summary], path: Path, title: str) -> bool:
    """Write the PNG; return False (drawing nothing) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display here
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except ImportError:
        return False
    lines = series(summary)
    hosts = sorted({n for _, n in summary})
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for op, points in lines.items():
        xs = [n for n, _ in points]
        medians = [s.median for _, s in points]
        spread = [[s.median - s.low for _, s in points], [s.high - s.median for _, s in points]]
        axes.errorbar(xs, medians, yerr=spread, marker="o", capsize=3, label=f"cluster.{op}")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")  # operations differ by 100x; equal slopes mean equal growth
    axes.set_xticks(hosts)
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("hosts")
    axes.set_ylabel("seconds (median; bars: min-max)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True
