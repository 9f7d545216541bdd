"""``python -m bench [--quick] [options]``: run the workloads, print the table, write
``bench/results/latest.json`` and ``latest.png``. Everything started is stopped and every
bench database dropped at the end, also on failure, Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from dataclasses import asdict
from types import FrameType

from bench import chart, report
from bench.run import Options, Run
from bench.servers import NAMES
from bench.workloads import WorkloadResult, registry


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_args(argv: list[str] | None) -> Options:
    known = registry()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="short run: 3 rounds of 3 s, 1 s warm-up, 100 requests counted")
    p.add_argument("--rounds", type=int, help="rounds per figure (default 5, quick 3; min 3)")
    p.add_argument("--duration", type=float, help="seconds per load round (default 10, quick 3)")
    p.add_argument("--concurrency", type=_csv, default=("1", "16", "64"),
                   help="comma-separated concurrencies (default 1,16,64)")
    p.add_argument("--servers", type=_csv,
                   default=("studypilot", "studypilot-executor", "floor", "postgraphile"),
                   help=f"comma-separated, from {', '.join(NAMES)}")
    p.add_argument("--workloads", type=_csv, default=(),
                   help=f"comma-separated, from {', '.join(known)} (default all)")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto",
                   help="auto: wrk when installed, else the asyncio generator")
    p.add_argument("--studypilot-env", action="append", default=[], metavar="KEY=VALUE",
                   help="a STUDYPILOT_* setting for the StudyPilot under test (repeatable)")
    p.add_argument("--autopilot-sessions", type=int,
                   help="concurrent sessions in the autopilot workload (default 1000, quick 100)")
    p.add_argument("--embedded", action="store_true",
                   help="put the bench database on an embedded PostgreSQL even when "
                        "DATABASE_URL or 127.0.0.1:5432 answers")
    p.add_argument("--no-chart", action="store_true", help="do not write latest.png")
    args = p.parse_args(argv)
    unknown = [w for w in args.workloads if w not in known] + \
        [s for s in args.servers if s not in NAMES]
    if unknown:
        p.error(f"unknown workload or server: {', '.join(unknown)}")
    rounds = args.rounds or (3 if args.quick else 5)
    if rounds < 3:
        p.error("--rounds: at least 3 (every figure is a median of at least 3)")
    return Options(
        quick=args.quick, rounds=rounds,
        duration_s=args.duration or (3.0 if args.quick else 10.0),
        warmup_s=1.0 if args.quick else 2.0,
        concurrencies=tuple(int(c) for c in args.concurrency),
        servers=args.servers, workloads=args.workloads, loadgen=args.loadgen,
        count_requests=100 if args.quick else 300, startup_rounds=rounds,
        database_url=os.environ.get("DATABASE_URL") or None, embedded=args.embedded,
        studypilot_env=dict(kv.split("=", 1) for kv in args.studypilot_env),
        autopilot_sessions=args.autopilot_sessions or (100 if args.quick else 1000),
        chart=not args.no_chart,
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the clean-up stack like Ctrl-C


def execute(options: Options) -> int:
    chosen = [w for name, w in registry().items()
              if not options.workloads or name in options.workloads]
    results: list[WorkloadResult] = []
    errors: dict[str, str] = {}
    with Run(options) as run:
        run.log(f"load generator: {run.loadgen.name}"
                + ("" if run.loadgen.name == "wrk" else " (wrk not found: apt-get install wrk)"))
        for workload in chosen:
            run.log(f"workload {workload.name}: {workload.title}")
            try:
                results.append(workload.run(run))
            except Exception as exc:  # the run's outer edge: report, go on with the next one
                traceback.print_exc()
                errors[workload.name] = f"{type(exc).__name__}: {exc}"
        meta = report.machine(run) | {"options": report.redacted(asdict(options))}
    print(report.render(results, meta))
    for name, error in errors.items():
        print(f"**{name} failed**: {error}\n")
    report.write_json(options.out_dir / "latest.json", results, meta, errors)
    print(f"results: {options.out_dir / 'latest.json'}")
    if options.chart:
        print(chart.draw(results, options.out_dir / "latest.png"))
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return execute(parse_args(argv))
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
