"""Read: one session with its topics (name, status, mastery) and each topic's quizzes.

The same answer from four servers on the same database, at concurrency 1, 16 and 64:

- StudyPilot: ``QUERY`` (each seeded topic has one quiz, so ``quizzes`` is its latest),
  answered by a compiled read (schema/compiled.py: one SQL statement);
- StudyPilot with compiled reads off (``studypilot-executor``): the same query through
  strawberry, graphql-core and the DataLoaders;
- floor: the same request, answered with the same JSON document, by one SQL statement;
- PostGraphile: ``POSTGRAPHILE_QUERY``, the same fields in its generated names (topics by
  position, quizzes by creation time then id, as StudyPilot orders them).

Before timing, every answer is checked: the executor's bytes equal the compiled read's,
the floor's document equals StudyPilot's, PostGraphile's
has the same topics, statuses, mastery scores and quizzes. Then SQL statements per
request are counted for each server with 10 and with 40 topics (``bench.statements``).
"""

from __future__ import annotations

import base64
from contextlib import ExitStack
from typing import Any
from uuid import UUID

import orjson

from bench import rounds, servers, statements
from bench.client import HttpRequest, fetch
from bench.run import Run
from bench.workloads import Bar, Table, Workload, WorkloadResult

QUERY = ("query Read($id: ID!) { session(id: $id) { id examType state "
         "topics { id name status masteryScore quizzes { id timeEstimateMinutes } } } }")
POSTGRAPHILE_QUERY = (
    "query Read($id: UUID!) { studySessionById(id: $id) { id examType currentState "
    "topicsBySessionIdList(orderBy: POSITION_ASC) { id name status masteryScore "
    "quizzesByTopicIdList(orderBy: [CREATED_AT_ASC, ID_ASC]) { id timeEstimateMinutes } } } }")
BASELINE = "floor"
TIMED_TOPICS = 10  # the session the timed rounds read; every seeded size is checked/counted
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req")


def request_for(server: str, session_id: UUID, token: str) -> HttpRequest:
    headers = {"Authorization": f"Bearer {token}"}
    if server == "postgraphile":
        return HttpRequest.graphql(POSTGRAPHILE_QUERY, {"id": str(session_id)}, headers)
    global_id = base64.b64encode(f"StudySession:{session_id}".encode()).decode()
    return HttpRequest.graphql(QUERY, {"id": global_id}, headers)


def _shape(server: str, body: dict[str, Any]) -> Any:
    """What must be equal across servers (PostGraphile's ids and names differ)."""
    if server == "postgraphile":
        s = body["data"]["studySessionById"]
        topics = [(t["name"], t["status"], t["masteryScore"],
                   [q["timeEstimateMinutes"] for q in t["quizzesByTopicIdList"]])
                  for t in s["topicsBySessionIdList"]]
        return s["examType"], s["currentState"], topics
    s = body["data"]["session"]
    topics = [(t["name"], t["status"], t["masteryScore"],
               [q["timeEstimateMinutes"] for q in t["quizzes"]]) for t in s["topics"]]
    return s["examType"], s["state"], topics


def check_answers(base_urls: dict[str, str], requests: dict[str, HttpRequest],
                  topics: int) -> dict[str, int]:
    """Raise unless every server gives the equivalent answer; response sizes in bytes."""
    bodies = {}
    for name, base in base_urls.items():
        status, raw = fetch(base, requests[name])
        body = orjson.loads(raw) if status == 200 else {}
        if status != 200 or "errors" in body:
            raise RuntimeError(f"{name} answered HTTP {status}: {raw[:500]!r}")
        bodies[name] = (raw, body)
    shapes = {name: _shape(name, body) for name, (_, body) in bodies.items()}
    reference = next(iter(shapes.values()))
    for name, shape in shapes.items():
        if shape != reference or len(shape[2]) != topics:
            raise RuntimeError(f"{name}'s answer differs from the others: {shape!r:.300}")
    for floor in ("floor", "floor-reset"):
        if floor in bodies and "studypilot" in bodies and \
                bodies[floor][1] != bodies["studypilot"][1]:
            raise RuntimeError(f"{floor}'s answer is not StudyPilot's")
    if "studypilot" in bodies and "studypilot-executor" in bodies and \
            bodies["studypilot"][0] != bodies["studypilot-executor"][0]:
        raise RuntimeError("the compiled read's bytes are not the executor's")
    return {name: len(raw) for name, (raw, _) in bodies.items()}


def _start(run: Run, stack: ExitStack, url: str) -> dict[str, servers.ServerProcess]:
    started = {}
    for name in run.options.servers:
        try:
            spec = servers.make(name, url, run.jwt_secret, run.workdir,
                                run.options.studypilot_env)
        except servers.Unavailable as exc:
            run.log(f"{name} skipped: {exc}")
            continue
        process = servers.ServerProcess(spec, run.workdir)
        stack.callback(process.stop)
        run.log(f"{name} ready on {process.base_url} after {process.startup_s:.2f}s")
        started[name] = process
    return started


def _timed(run: Run, started: dict[str, servers.ServerProcess],
           requests: dict[str, HttpRequest]) -> dict[str, list[dict[str, float]]]:
    opts = run.options
    for name, process in started.items():  # idle first, then warm: JIT, pools, caches
        process.settle()
        run.loadgen.run(process.base_url, requests[name], max(opts.concurrencies), opts.warmup_s)
    cells = [(c, name) for c in opts.concurrencies for name in started]

    def measure(r: int, cell: str) -> dict[str, float]:
        c, name = cell.split("|")
        process = started[name]
        cpu = process.cpu_seconds()
        result = run.loadgen.run(process.base_url, requests[name], int(c), opts.duration_s)
        cpu_ms = (process.cpu_seconds() - cpu) * 1e3 / max(result.requests, 1)
        errors = f"  {result.errors} errors" if result.errors else ""
        run.log(f"round {r + 1}/{opts.rounds} c={c:>2} {name:<13} {result.rps:8.0f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                f"cpu {cpu_ms:5.2f} ms/req{errors}")
        return result.as_dict() | {"cpu_ms_per_req": cpu_ms}

    return rounds.alternate(opts.rounds, [f"{c}|{n}" for c, n in cells], measure)


def _summarise(taken: dict[str, list[dict[str, float]]], names: list[str],
               concurrencies: tuple[int, ...]) -> list[dict[str, Any]]:
    cells = []
    for c in concurrencies:
        samples = {n: taken[f"{c}|{n}"] for n in names}
        for name in names:
            cell: dict[str, Any] = {"concurrency": c, "server": name,
                                    "rounds": samples[name],
                                    "median": rounds.medians(samples[name]), "vs": {}}
            for other in (BASELINE, "postgraphile"):
                if other in samples and other != name:
                    cell["vs"][other] = rounds.paired_ratios(samples[name], samples[other],
                                                             METRICS)
            cells.append(cell)
    return cells


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:,.{digits}f}"


def _load_table(run: Run, cells: list[dict[str, Any]], sizes: dict[str, int]) -> Table:
    opts = run.options
    table = Table(
        f"Read: session + {TIMED_TOPICS} topics + quizzes; {opts.rounds} rounds x "
        f"{opts.duration_s:g} s, "
        "medians; ratios = median of per-round ratios",
        ["c", "server", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "req/s ÷ floor",
         "p50 ÷ floor", "p99 ÷ floor", "CPU ÷ floor", "req/s ÷ PostGraphile", "errors"])
    for cell in cells:
        m, vs = cell["median"], cell["vs"]
        floor, pg = vs.get(BASELINE, {}), vs.get("postgraphile", {})
        table.rows.append([
            str(cell["concurrency"]), cell["server"], _fmt(m["rps"], 0), _fmt(m["p50_ms"]),
            _fmt(m["p99_ms"]), _fmt(m["cpu_ms_per_req"]), _fmt(floor.get("rps")),
            _fmt(floor.get("p50_ms")), _fmt(floor.get("p99_ms")),
            _fmt(floor.get("cpu_ms_per_req")), _fmt(pg.get("rps")),
            str(sum(r["errors"] for r in cell["rounds"])),
        ])
    table.notes.append("response bytes: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    return table


def _statements_table(counted: dict[str, dict[str, Any]]) -> Table:
    table = Table("SQL statements per request (steady state, counted on the wire)",
                  ["server", "topics", "statements", "÷ floor", "of which pool resets",
                   "round trips", "grows with topics?"])
    for name, by_label in counted.items():
        totals = [by_label[label]["statements"] for label in by_label]
        grows = "yes" if max(totals) - min(totals) > 0.05 else "no"
        for label, c in by_label.items():
            floor = counted.get(BASELINE, {}).get(label, {}).get("statements")
            table.rows.append([name, label, _fmt(c["statements"]),
                               _fmt(c["statements"] / floor if floor else None),
                               _fmt(c["pool_resets"]), _fmt(c["round_trips"]), grows])
    table.notes.append("pool resets: asyncpg's Connection.reset() query, sent when a "
                       "connection goes back to its pool; the floor skips it (reset=no-op), "
                       "--servers ...,floor-reset measures a floor that keeps it")
    return table


def _bar(cell: dict[str, Any]) -> Bar:
    rps = cell["median"]["rps"]
    ratio = cell["vs"].get(BASELINE, {}).get("rps")
    label = f"{rps:,.0f}\n{ratio:.2f}x floor" if ratio is not None else f"{rps:,.0f}"
    return Bar(f"c={cell['concurrency']}", cell["server"], rps, label)


def run_read(run: Run) -> WorkloadResult:
    db = run.database()
    token = run.token()
    by_topics = {n: {name: request_for(name, sid, token) for name in servers.NAMES}
                 for n, sid in db.seed.sessions.items()}
    requests = by_topics[TIMED_TOPICS]
    with ExitStack() as stack:
        started = _start(run, stack, db.url)
        names = list(started)
        urls = {name: process.base_url for name, process in started.items()}
        sizes = {n: check_answers(urls, reqs, n) for n, reqs in by_topics.items()}[TIMED_TOPICS]
        taken = _timed(run, started, requests)
    cells = _summarise(taken, names, run.options.concurrencies)
    run.log("counting SQL statements per request (separate instances, behind the proxy)")
    counted = statements.count(
        db.url, names,
        lambda name, url: servers.make(name, url, run.jwt_secret, run.workdir,
                                       run.options.studypilot_env),
        {str(n): reqs for n, reqs in by_topics.items()}, run.options.count_requests,
        run.workdir, lambda base, request: run.loadgen.run(base, request, 16, 1.0))
    bars = [_bar(cell) for cell in cells]
    data = {"query": QUERY, "postgraphile_query": POSTGRAPHILE_QUERY, "baseline": BASELINE,
            "servers": names, "response_bytes": sizes, "cells": cells, "statements": counted,
            "skipped": [n for n in run.options.servers if n not in started]}
    return WorkloadResult("read", WORKLOAD.title, data,
                          [_load_table(run, cells, sizes), _statements_table(counted)],
                          bars, "requests/s")


WORKLOAD = Workload("read", "one session with its topics and their quizzes", run_read)
