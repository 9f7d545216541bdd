"""``latest.png``: one grouped bar chart per workload that has bars (e.g. requests/s per
server at each concurrency), each bar labelled with its ratio to the baseline.

matplotlib is not a dependency of the app; without it the chart is skipped with a line.
"""

from __future__ import annotations

from pathlib import Path

from bench.workloads import WorkloadResult


def draw(results: list[WorkloadResult], path: Path) -> str:
    """Write the chart; the line to print about it."""
    charted = [r for r in results if r.bars]
    if not charted:
        return "chart: nothing to draw"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install matplotlib)"
    fig, axes = plt.subplots(len(charted), 1, figsize=(10, 4.5 * len(charted)), squeeze=False)
    for ax, result in zip(axes[:, 0], charted, strict=True):
        groups = list(dict.fromkeys(b.group for b in result.bars))
        series = list(dict.fromkeys(b.series for b in result.bars))
        width = 0.8 / len(series)
        for i, name in enumerate(series):
            bars = {b.group: b for b in result.bars if b.series == name}
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            values = [bars[g].value if g in bars else 0 for g in groups]
            drawn = ax.bar(xs, values, width, label=name)
            ax.bar_label(drawn, labels=[bars[g].label if g in bars else "" for g in groups],
                         fontsize=8, padding=2)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylabel(result.bar_axis)
        ax.set_title(f"{result.name}: {result.title}")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart: {path}"
