"""Fan-out: how long a committed step takes to reach every subscriber of one session, and
how many subscribers one server process holds.

Subscribers (``bench.ws``, in ``CLIENTS`` client processes) speak graphql-transport-ws
with the bearer token in ``connection_init`` and subscribe to
``autopilotSteps(sessionId, afterSeq)`` of ONE session per size N (1, 100, 1000), all
connected to server A for the whole measurement (idle websockets of the other sizes cost
memory, not delivery: only the written session's feed is woken). A step is a
``saveSession`` mutation (one statement: the version-guarded update and its event,
committed at once), sent over HTTP either to A itself ("same process") or to a second
server B ("across processes": B commits, PostgreSQL's NOTIFY wakes A). Steps are written
one at a time: the next one only once every subscriber has the previous one.

Delay = arrival at the subscriber (``time.time()`` in the client process) minus the
event's ``timestamp`` (``clock_timestamp()`` when the row was inserted; the commit follows
within the same statement): p50 and p99 over every (subscriber, step) pair of a round,
then the median over rounds. Baselines in the same rounds: N = 1 (how the delay grows
with N), and a raw PostgreSQL LISTEN/NOTIFY (asyncpg listener in a client process, NOTIFY
of ``clock_timestamp()`` from another connection in another process): the floor for any
delivery across processes.

Then the capacity ramp on a fresh server C: subscribers on one session, doubling from
``RAMP_FROM`` up to ``RAMP_CAP`` within ``RAMP_BUDGET_S``; at each level the server's RSS
with every subscriber idle (minus its RSS before any subscriber, over N: memory per idle
subscriber), then a few steps (written to C) that every subscriber must receive. The
largest N where every subscriber received every step is what one process held.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import database, rounds, servers
from bench.client import HttpRequest, Session, fetch
from bench.run import Run
from bench.workloads import Bar, Table, Workload, WorkloadResult
from bench.ws import START_SESSION, Clients, percentile, split

SIZES = (1, 100, 1000)
MODES = {"same": "A (the subscribers' process)", "cross": "B (another process)"}
CLIENTS = 4
RAMP_FROM, RAMP_CAP, RAMP_BUDGET_S = 1000, 8000, 120.0
STEP_TIMEOUT_S = 30.0
GAP_S = 0.05  # between a step reaching everyone and the next write
CHANNEL = "bench_fanout_floor"
FLOOR = "floor"
EMAIL = "fanout@example.com"
SYLLABUS = "Unit 1: Water\n- Water is polar.\nUnit 2: Enzymes\n- Enzymes lower activation energy."
SAVE = """mutation($id: ID!, $c: JSON!) { saveSession(sessionId: $id, phase: INTAKE,
  context: $c) { userErrors { code message } } }"""


@dataclass(frozen=True)
class Sizes:
    steps: int  # steps per subject per round
    ramp_steps: int

    @classmethod
    def of(cls, run: Run) -> Sizes:
        return cls(8, 3) if run.options.quick else cls(15, 5)


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the servers and clients it
    starts) towards ``wanted``; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def session_uuid(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().partition(":")[2])


async def _last_seq(url: str, session_id: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        seq: int = await conn.fetchval("SELECT last_seq FROM study_sessions WHERE id = $1",
                                       session_uuid(session_id))
        return seq
    finally:
        await conn.close()


def last_seq(url: str, session_id: str) -> int:
    return asyncio.run(_last_seq(url, session_id))


class Writer:
    """Steps written over HTTP (keep-alive) to one server; a connection idle for longer
    than ``IDLE_S`` is replaced first (uvicorn closes idle ones after 5 s)."""

    IDLE_S = 3.0

    def __init__(self, process: servers.ServerProcess, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base_url = process.base_url
        self.http = Session(self.base_url, timeout=60)
        self.used = time.monotonic()
        self.written = 0

    def step(self, session_id: str) -> None:
        if time.monotonic() - self.used > self.IDLE_S:
            self.http.close()
            self.http = Session(self.base_url, timeout=60)
        self.written += 1
        request = HttpRequest.graphql(SAVE, {"id": session_id, "c": {
            "v": 1, "extra_data": {"bench_step": self.written}}}, self.headers)
        status, body = self.http.send(request)
        self.used = time.monotonic()
        if status != 200 or b'"userErrors":[]' not in body.replace(b" ", b""):
            raise RuntimeError(f"saveSession answered HTTP {status}: {body[:300]!r}")

    def close(self) -> None:
        self.http.close()


def start_session(process: servers.ServerProcess, token: str, exam: str) -> str:
    request = HttpRequest.graphql(START_SESSION, {"exam": exam, "syllabus": SYLLABUS},
                                  {"Authorization": f"Bearer {token}"})
    status, body = fetch(process.base_url, request)
    if status != 200 or b"userErrors\":[]" not in body:
        raise RuntimeError(f"startSession answered HTTP {status}: {body[:300]!r}")
    import orjson

    return str(orjson.loads(body)["data"]["startSession"]["session"]["id"])


def ws_url(process: servers.ServerProcess) -> str:
    return f"ws://127.0.0.1:{process.spec.port}/graphql"


def subscribe(clients: Clients, group: str, n: int, process: servers.ServerProcess,
              token: str, session_id: str, after_seq: int, timeout: float = 180
              ) -> dict[str, Any]:
    counts = split(n, len(clients))
    replies = clients.call_all("subscribe", [{"count": c} for c in counts], timeout=timeout + 10,
                               group=group, ws_url=ws_url(process), token=token,
                               session_id=session_id, after_seq=after_seq, wait_s=timeout)
    return {"registered": sum(r["registered"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:3],
            "seconds": max(r["seconds"] for r in replies)}


def steps_to_all(clients: Clients, group: str, steps: int, write: Any,
                 workers: list[int] | None = None, timeout: float = STEP_TIMEOUT_S
                 ) -> dict[str, Any]:
    """Write ``steps`` steps one at a time, each once the previous one has reached every
    subscriber (or ``timeout``); then collect the delays of every (subscriber, step)."""
    targets = workers if workers is not None else list(range(len(clients)))
    for k in range(steps):
        write()
        for i in targets:
            clients.send(i, "expect", group=group, count=k + 1, wait_s=timeout)
        for i in targets:
            clients.receive(i, timeout + 10)
        time.sleep(GAP_S)
    for i in targets:
        clients.send(i, "collect", group=group, steps=steps)
    collected = [clients.receive(i, 120) for i in targets]
    delays = sorted(d for c in collected for d in c["delays_ms"])
    return {
        "pairs": len(delays), "p50_ms": percentile(delays, 50), "p99_ms": percentile(delays, 99),
        "max_ms": delays[-1] if delays else float("nan"),
        "subscribers": sum(c["subscribers"] for c in collected),
        "complete": sum(c["complete"] for c in collected),
        "missing": sum(c["missing"] for c in collected),
        "duplicates": sum(c["duplicates"] for c in collected),
        "out_of_order": sum(c["out_of_order"] for c in collected),
        "errors": sum(c["errors"] for c in collected),
        "dead": [d for c in collected for d in c["dead"]][:3],
    }


def _start(run: Run, stack: ExitStack, url: str, name: str) -> servers.ServerProcess:
    spec = servers.studypilot(url, run.workdir / f"fanout-{name}-{servers.free_port()}",
                              run.jwt_secret, run.options.studypilot_env)
    process = servers.ServerProcess(spec, run.workdir)
    stack.callback(process.stop)
    run.log(f"fanout: server {name} ready on {process.base_url}")
    return process


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or value != value else f"{value:,.{digits}f}"


# -- delay vs N, same process and across processes ---------------------------------------


def measure_delays(run: Run, stack: ExitStack, url: str, token: str, sizes: Sizes
                   ) -> dict[str, Any]:
    a, b = _start(run, stack, url, "A"), _start(run, stack, url, "B")
    clients = Clients(CLIENTS, stack)
    writers = {"same": Writer(a, token), "cross": Writer(b, token)}
    for w in writers.values():
        stack.callback(w.close)
    sessions = {n: start_session(a, token, f"Fan-out {n}") for n in SIZES}
    for n, sid in sessions.items():
        got = subscribe(clients, f"n{n}", n, a, token, sid, 0)
        run.log(f"fanout: {got['registered']}/{n} subscribers on A for N={n} "
                f"({got['seconds']:.1f}s)" + (f"; failures: {got['errors']}"
                                               if got["failed"] else ""))
        if got["registered"] != n:
            raise RuntimeError(f"only {got['registered']} of {n} subscribers registered: "
                               f"{got['errors']}")
    listener = len(clients) - 1
    clients.call(listener, "listen", group=FLOOR, dsn=url, channel=CHANNEL)

    def write_floor() -> None:
        clients.call(0, "notify", dsn=url, channel=CHANNEL)

    for n, sid in sessions.items():  # warm-up: first mutation, first fan-out of each feed
        steps_to_all(clients, f"n{n}", 2, lambda sid=sid: writers["same"].step(sid))
        steps_to_all(clients, f"n{n}", 1, lambda sid=sid: writers["cross"].step(sid))
    steps_to_all(clients, FLOOR, 2, write_floor, [listener])
    a.settle()
    b.settle()

    def measure(r: int, subject: str) -> dict[str, float]:
        cpu_a, cpu_c, started = a.cpu_seconds(), clients.cpu_seconds(), time.monotonic()
        if subject == FLOOR:
            got = steps_to_all(clients, FLOOR, sizes.steps, write_floor, [listener])
            n = 1
        else:
            size, mode = subject.split("|")
            n, sid, writer = int(size), sessions[int(size)], writers[mode]
            got = steps_to_all(clients, f"n{n}", sizes.steps, lambda: writer.step(sid))
        cpu_us = (a.cpu_seconds() - cpu_a) * 1e6 / (n * sizes.steps)
        client_us = (clients.cpu_seconds() - cpu_c) * 1e6 / (n * sizes.steps)
        run.log(f"round {r + 1}/{run.options.rounds} {subject:<10} p50 {got['p50_ms']:8.2f} ms  "
                f"p99 {got['p99_ms']:8.2f} ms  A cpu {cpu_us:7.1f} us/delivery  "
                f"missing {got['missing']}  ({time.monotonic() - started:.1f}s)")
        return {k: float(v) for k, v in got.items() if not isinstance(v, list)} | {
            "server_cpu_us_per_delivery": cpu_us, "client_cpu_us_per_delivery": client_us}

    subjects = [FLOOR] + [f"{n}|{mode}" for n in SIZES for mode in MODES]
    taken = rounds.alternate(run.options.rounds, subjects, measure)
    clients.call_all("close_group", group=FLOOR)
    for n in SIZES:
        clients.call_all("close_group", group=f"n{n}")
    cells: dict[str, Any] = {}
    for subject in subjects:
        cell: dict[str, Any] = {"rounds": taken[subject], "median": rounds.medians(taken[subject])}
        if subject != FLOOR:
            mode = subject.split("|")[1]
            cell["vs_n1"] = rounds.paired_ratios(taken[subject], taken[f"1|{mode}"],
                                                 ("p50_ms", "p99_ms"))
            cell["vs_floor"] = rounds.paired_ratios(taken[subject], taken[FLOOR],
                                                    ("p50_ms", "p99_ms"))
        cells[subject] = cell
    return {"cells": cells, "steps_per_round": sizes.steps, "clients": CLIENTS}


def delay_table(run: Run, measured: dict[str, Any]) -> Table:
    cells = measured["cells"]
    table = Table(
        f"Fan-out: commit → arrival at every subscriber of one session; {run.options.rounds} "
        f"rounds x {measured['steps_per_round']} steps; p50/p99 over all (subscriber, step) "
        "pairs of a round, median of rounds; ratios = median of per-round ratios",
        ["subscribers", "steps written via", "p50 ms", "p99 ms", "p50 ÷ N=1", "p99 ÷ N=1",
         "p50 ÷ NOTIFY floor", "A CPU µs / delivery", "clients' CPU µs / delivery",
         "every step to every subscriber"])
    floor = cells[FLOOR]
    table.rows.append(["1 (raw asyncpg LISTEN)", "NOTIFY, another process",
                       _fmt(floor["median"]["p50_ms"], 2), _fmt(floor["median"]["p99_ms"], 2),
                       "-", "-", "1.00", "-", "-", _ok(floor["rounds"])])
    for n in SIZES:
        for mode, label in MODES.items():
            cell = cells[f"{n}|{mode}"]
            m, vs, fl = cell["median"], cell["vs_n1"], cell["vs_floor"]
            table.rows.append([f"{n:,}", label, _fmt(m["p50_ms"], 2), _fmt(m["p99_ms"], 2),
                               _fmt(vs["p50_ms"], 2), _fmt(vs["p99_ms"], 2),
                               _fmt(fl["p50_ms"], 1),
                               _fmt(m["server_cpu_us_per_delivery"] if n >= 100 else None, 0),
                               _fmt(m["client_cpu_us_per_delivery"] if n >= 100 else None, 0),
                               _ok(cell["rounds"])])
    table.notes += [
        "delay = time.time() at arrival in the client process - the event's timestamp "
        "(clock_timestamp() at INSERT; the statement commits right after, so the commit "
        "itself, ~0.1-1 ms, is inside the figure); the floor's NOTIFY carries its own "
        "clock_timestamp() the same way",
        "A CPU µs / delivery: user+system CPU of server A over the round ÷ (N x steps); "
        "with 'A' as the writer it includes the saveSession request itself; CPU is counted "
        "in 10 ms ticks, so it is shown from N = 100 up",
        f"subscribers in {measured['clients']} client processes (asyncio + websockets, no "
        f"compression); all sizes stay connected to A at once ({sum(SIZES):,} websockets), "
        "only the written session's subscribers are woken",
    ]
    return table


def _ok(samples: list[dict[str, float]]) -> str:
    missing = sum(s["missing"] + s["duplicates"] + s["out_of_order"] + s["errors"]
                  for s in samples)
    return "yes" if missing == 0 else f"NO: {missing:.0f} missing/duplicate/out of order"


# -- how many subscribers one process holds ------------------------------------------------


def capacity(run: Run, url: str, token: str, sizes: Sizes, limit: int) -> dict[str, Any]:
    with ExitStack() as local:
        c = _start(run, local, url, "C")
        clients = Clients(CLIENTS, local)
        writer = Writer(c, token)
        local.callback(writer.close)
        sid = start_session(c, token, "Fan-out capacity")
        warm = subscribe(clients, "warm", 50, c, token, sid, 0)
        steps_to_all(clients, "warm", 2, lambda: writer.step(sid))
        clients.call_all("close_group", group="warm")
        c.settle()
        rss0 = rss_bytes(c.proc.pid)
        run.log(f"fanout: capacity ramp on C, RSS with no subscriber {rss0 / 2**20:.0f} MiB "
                f"(after {warm['registered']} warm-up subscribers came and went)")
        cap = min(RAMP_CAP, limit)
        levels, n, held, stopped = [], 0, 0, "reached the cap"
        started = time.monotonic()
        last_level_s = 0.0
        target = RAMP_FROM
        while target <= cap:
            elapsed = time.monotonic() - started
            if levels and elapsed + 2.5 * last_level_s > RAMP_BUDGET_S:
                stopped = f"time budget ({RAMP_BUDGET_S:.0f}s) would be exceeded"
                break
            level_started = time.monotonic()
            got = subscribe(clients, "ramp", target - n, c, token, sid, last_seq(url, sid) - 1)
            n = target
            c.settle(max_s=20)
            rss = rss_bytes(c.proc.pid)
            ok = got["failed"] == 0
            delivered: dict[str, Any] = {}
            if ok:
                delivered = steps_to_all(clients, "ramp", sizes.ramp_steps,
                                         lambda: writer.step(sid),
                                         timeout=max(STEP_TIMEOUT_S, n / 100))
                ok = delivered["missing"] == delivered["duplicates"] == 0 and \
                    delivered["complete"] == n
            last_level_s = time.monotonic() - level_started
            level = {"subscribers": n, "connect_s": got["seconds"], "failed": got["failed"],
                     "errors": got["errors"], "rss_bytes": rss,
                     "rss_per_subscriber_bytes": (rss - rss0) / n, "level_s": last_level_s,
                     **{k: v for k, v in delivered.items() if k != "dead"}, "ok": ok}
            levels.append(level)
            run.log(f"fanout: {n:,} subscribers: connect {got['seconds']:.1f}s, RSS "
                    f"{rss / 2**20:.0f} MiB ({(rss - rss0) / n / 1024:.1f} KiB each), "
                    + (f"p50 {delivered['p50_ms']:.0f} ms p99 {delivered['p99_ms']:.0f} ms, "
                       f"missing {delivered['missing']}" if delivered else
                       f"{got['failed']} failed: {got['errors']}"))
            if not ok:
                stopped = "delivery or connection failed"
                break
            held = n
            target *= 2
        clients.call_all("close_group", group="ramp", timeout=120)
    return {"rss_before_bytes": rss0, "levels": levels, "held": held, "stopped": stopped,
            "cap": cap, "budget_s": RAMP_BUDGET_S, "steps_per_level": sizes.ramp_steps}


def capacity_table(ramp: dict[str, Any], pool: str) -> Table:
    table = Table(
        f"Fan-out capacity: subscribers on ONE session of one fresh server process "
        f"(doubling from {RAMP_FROM:,}, cap {ramp['cap']:,}, budget {ramp['budget_s']:.0f}s); "
        f"{ramp['steps_per_level']} steps per level",
        ["subscribers", "connect s", "server RSS MiB", "RSS per idle subscriber KiB",
         "p50 ms", "p99 ms", "p99 ÷ p99 at first level", "every step to every subscriber"])
    first = ramp["levels"][0].get("p99_ms") if ramp["levels"] else None
    for level in ramp["levels"]:
        p99 = level.get("p99_ms")
        table.rows.append([
            f"{level['subscribers']:,}", _fmt(level["connect_s"]),
            _fmt(level["rss_bytes"] / 2**20, 0),
            _fmt(level["rss_per_subscriber_bytes"] / 1024, 1), _fmt(level.get("p50_ms"), 0),
            _fmt(p99, 0), _fmt(p99 / first if p99 and first else None, 2),
            "yes" if level["ok"] else f"NO ({level['failed']} connects failed, "
                                      f"{level.get('missing', '-')} missing)"])
    table.notes += [
        f"largest N held (every subscriber got every step): {ramp['held']:,}; the ramp "
        f"stopped: {ramp['stopped']}",
        f"RSS per idle subscriber = (RSS with N idle subscribers - RSS before any: "
        f"{ramp['rss_before_bytes'] / 2**20:.0f} MiB) ÷ N, read from /proc after the server "
        "went idle; steps written to the same process (C)",
        pool,
    ]
    return table


def run_fanout(run: Run) -> WorkloadResult:
    sizes = Sizes.of(run)
    limit = raise_nofile(RAMP_CAP + max(SIZES) * 2 + 1000)
    fd_cap = max(0, limit - 1000)
    with ExitStack() as stack:
        url = database.create_database(run.pg_server(), stack)
        from app.auth import Authenticator

        token = Authenticator(run.jwt_secret).mint(uuid.uuid4(), EMAIL, ttl_seconds=86400)
        with ExitStack() as delays_stack:
            measured = measure_delays(run, delays_stack, url, token, sizes)
        ramp = capacity(run, url, token, sizes, fd_cap)
    env = run.options.studypilot_env
    pool = (f"server settings: DB pool {env.get('STUDYPILOT_DB_POOL_MIN', '2')}.."
            f"{env.get('STUDYPILOT_DB_POOL_MAX', '10')}, events cache "
            f"{env.get('STUDYPILOT_EVENTS_CACHE', '256')}; open-file limit {limit}")
    bars = []
    for n in SIZES:
        for mode in MODES:
            cell = measured["cells"][f"{n}|{mode}"]
            p99, ratio = cell["median"]["p99_ms"], cell["vs_n1"]["p99_ms"]
            bars.append(Bar(f"N={n:,}", f"writes via {mode} process", p99,
                            f"{p99:,.0f} ms\n{ratio:.1f}x N=1"))
    data = {"sizes": SIZES, "delays": measured, "capacity": ramp, "open_file_limit": limit,
            "studypilot_env": env}
    tables = [delay_table(run, measured), capacity_table(ramp, pool)]
    tables[0].notes.append(pool)
    return WorkloadResult("fanout", WORKLOAD.title, data, tables, bars,
                          "p99 commit → every subscriber, ms")


WORKLOAD = Workload("fanout", "one session's steps to N websocket subscribers", run_fanout)
