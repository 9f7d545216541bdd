"""The benchmark harness: ``python -m bench`` (``--quick`` for a short run).

It starts everything it measures itself, on loopback only: a fresh database with seeded
data on the target PostgreSQL server, StudyPilot (``studypilot serve``), and the
baselines (a minimal Starlette + asyncpg "floor" app, and PostGraphile v4 when node is
installed). Each workload runs in alternating rounds (A, B, C, A, B, C, ...) and every
figure is reported with its ratio to the baseline measured in the same run, as the
median of the per-round ratios. Output: a markdown table on stdout,
``bench/results/latest.json`` and ``bench/results/latest.png``.

Modules, one noun each::

    __main__     the command line; composes a run and always cleans up
    run          the run's context: options, shared fixtures, the clean-up stack
    database     the PostgreSQL server used, the throw-away bench database, the seed
    servers      the server processes (StudyPilot, floor, PostGraphile): start, ready, stop
    floor_app    the floor: one SQL statement per request, served by uvicorn
    loadgen      the load generators: wrk (preferred) and an asyncio fallback
    pgwire       a counting PostgreSQL wire-protocol proxy (statements per request)
    rounds       alternating rounds, medians and paired ratios
    report       tables, latest.json and the machine description
    chart        latest.png (needs matplotlib; skipped with a line when it is missing)
    ws           websocket subscriber client processes (fan-out)
    workloads/   the registry; one module per workload (read, startup, fanout, autopilot)

Nothing here asserts a time: the harness measures and reports.
"""
