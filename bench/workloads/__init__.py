"""The workload registry, and what a workload hands back.

A workload is a name, a one-line title and ``run(run) -> WorkloadResult``. It starts what
it needs through the ``Run`` (processes and databases go on ``run.stack``), measures in
alternating rounds (``bench.rounds``), and returns JSON-ready data (raw rounds, medians,
ratios), markdown tables and, optionally, bars for the chart. To add one: a module here
with a ``WORKLOAD``, and one line in ``WORKLOADS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Run


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bar:
    group: str  # e.g. "c=16"
    series: str  # e.g. "studypilot"
    value: float
    label: str  # printed on the bar, e.g. "0.41x floor"


@dataclass
class WorkloadResult:
    name: str
    title: str
    data: dict[str, Any]
    tables: list[Table]
    bars: list[Bar] = field(default_factory=list)
    bar_axis: str = ""  # the chart's y label, e.g. "requests/s"


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    run: Callable[[Run], WorkloadResult]


def registry() -> dict[str, Workload]:
    from bench.workloads import autopilot, fanout, read, startup

    workloads = (read.WORKLOAD, startup.WORKLOAD, fanout.WORKLOAD, autopilot.WORKLOAD)
    return {w.name: w for w in workloads}
