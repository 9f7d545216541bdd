"""Autopilot: what the engine costs per step besides the model, and how close many
concurrent sessions come to the time their model calls alone need.

Sessions are short on purpose: ``SYLLABUS`` makes 2 topics, each gets one quiz
(``STUDYPILOT_AUTOPILOT_MAX_QUIZZES_PER_TOPIC=1``) of 2 questions
(``STUDYPILOT_QUIZ_QUESTIONS=2``); each session has its own exam name, so the plan cache
never hits and every session calls the planner. A session is driven like a student's
client (``bench.ws``, in client processes): it watches its steps over a websocket
subscription and answers each question (choice 0; with this syllabus every answer is
wrong, so each grading runs the misconception agent) over HTTP as soon as it arrives.

(a) **orchestration**, server D with ``STUDYPILOT_OFFLINE_LATENCY_MS=0``: 5 (full 10)
sessions per round, one after the other, end to end. From the database afterwards:

- *engine step, wall*: a stretch is the engine running on its own, from the event that
  hands it the session (``autopilot_started``, or the last ``answer_recorded``) to the one
  where it stops (``awaiting_input``, ``autopilot_completed``); its steps are the events
  after the first, up to and including the last. Per step = (Σ stretch durations - Σ
  ``llm_calls.latency_ms``) ÷ Σ steps: event timestamps and latencies are both the app's
  own records (``latency_ms`` is the gateway's wall time around ``litellm.acompletion``,
  rounded to whole ms, so litellm's own overhead counts as model time);
- *server CPU per event*: user+system CPU of D over the round ÷ every event the sessions
  wrote, commands included (start, answers, the subscription's delivery); then the same
  with the model calls taken out: (CPU - model calls x CPU per call) ÷ events. The CPU
  per call is measured in the same round in a separate client process
  (``model_profile``) on the very documents the agents send (the app's planner, tutor,
  quiz and misconception modules, run against a stand-in that calls both
  ``agents.offline.engine.respond`` alone and the real ``LlmGateway.run``: litellm, the
  offline provider, validation). Subtracting ``latency_ms`` from CPU instead would mix
  wall and CPU time (a call's latency also counts waiting for the event loop or a core);
- baselines in the same rounds: one bare event commit (the app's own ``APPEND_EVENT``
  statement through asyncpg from the harness, one transaction each, ``FLOOR_COMMITS`` in
  a row: a step can't cost less than committing its event), and the model's time per call.

(b) **concurrent**, server E with ``STUDYPILOT_OFFLINE_LATENCY_MS=500``:
``--autopilot-sessions`` sessions (quick 100, full 1000) are created and subscribed first,
then all started at once and driven to completion. Wall = the last ``autopilot_completed``
to arrive - the moment the starts were sent. Model-bound ideal = (sequential model calls on
the longest session's critical path) x 500 ms, where a session's sequential calls are its
``llm_calls`` rows of the planner, tutor and quiz agents (every attempt: retries are
sequential) plus one per grading that diagnosed wrong answers (its misconception calls run
concurrently, ``asyncio.gather`` in ``agents/study.py``). Ratio = wall ÷ ideal. What may
bind instead of the model: E's CPU (one Python process), its DB pool (sampled from
``pg_stat_activity`` every 100 ms), the clients (their CPU is reported).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from bench import database, rounds, servers
from bench.run import Run
from bench.workloads import Bar, Table, Workload, WorkloadResult
from bench.workloads.fanout import raise_nofile, session_uuid, start_session
from bench.ws import Clients, percentile, split

SYLLABUS = """Exam outline
Unit 1: Water
- Water is a polar molecule, so hydrogen bonds give it cohesion and a high specific heat. \
Ice floats because hydrogen bonds hold its molecules apart in an open lattice. Adhesion to \
glass drives capillary action in thin tubes.
Unit 2: Enzymes
- Enzymes lower the activation energy of a reaction without being consumed. Temperature \
and pH change the shape of the active site. A competitive inhibitor binds the active site, \
while a noncompetitive inhibitor binds an allosteric site.
"""
SETTINGS = {"STUDYPILOT_AUTOPILOT_MAX_QUIZZES_PER_TOPIC": "1", "STUDYPILOT_QUIZ_QUESTIONS": "2"}
LATENCY_MS = 500
CLIENTS = 4
FLOOR_COMMITS = 200
PROFILE = "bench.workloads.autopilot:model_profile"
PROFILE_SESSIONS = 10  # sessions' worth of model calls timed per round (model_profile)
EMAIL = "autopilot@example.com"
TRIGGERS = ("autopilot_started", "autopilot_resumed", "autopilot_recovered")
STOPS = ("awaiting_input", "autopilot_completed", "autopilot_failed", "autopilot_paused")
SEQUENTIAL_AGENTS = ("planner", "tutor", "quiz")
FLOOR, ORCH, CONCURRENT = "floor", "orchestration", "concurrent"

EVENTS = """SELECT session_id, seq, at, action, data FROM session_events
WHERE session_id = ANY($1::uuid[]) ORDER BY session_id, seq"""
CALLS = """SELECT session_id, agent, latency_ms, outcome FROM llm_calls
WHERE session_id = ANY($1::uuid[])"""
POOL = """SELECT count(*) FILTER (WHERE state <> 'idle'), count(*) FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND application_name <> 'studypilot-listener'"""


@dataclass(frozen=True)
class Sizes:
    orch_sessions: int
    concurrent_sessions: int

    @classmethod
    def of(cls, run: Run) -> Sizes:
        return cls(5 if run.options.quick else 10, run.options.autopilot_sessions)


# -- reading what the sessions left in the database ---------------------------------------


async def _fetch(url: str, ids: list[uuid.UUID]) -> tuple[list[asyncpg.Record],
                                                          list[asyncpg.Record]]:
    conn = await asyncpg.connect(url)
    try:
        await conn.set_type_codec("jsonb", encoder=orjson.dumps, decoder=orjson.loads,
                                  schema="pg_catalog", format="text")
        return await conn.fetch(EVENTS, ids), await conn.fetch(CALLS, ids)
    finally:
        await conn.close()


def history(url: str, session_ids: list[str]) -> tuple[dict[uuid.UUID, list[Any]],
                                                       dict[uuid.UUID, list[Any]]]:
    ids = [session_uuid(s) for s in session_ids]
    events, calls = asyncio.run(_fetch(url, ids))
    by_session: dict[uuid.UUID, list[Any]] = defaultdict(list)
    calls_by: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for e in events:
        by_session[e["session_id"]].append(e)
    for c in calls:
        calls_by[c["session_id"]].append(c)
    return by_session, calls_by


def stretches(events: list[Any]) -> tuple[float, int]:
    """(Σ seconds, Σ steps) of the stretches where the engine ran on its own."""
    seconds, steps, opened, count = 0.0, 0, None, 0
    for e in events:
        data = e["data"] or {}
        if opened is None:
            if e["action"] in TRIGGERS or (e["action"] == "answer_recorded"
                                           and data.get("remaining") == 0):
                opened, count = e, 0
            continue
        count += 1
        if e["action"] in STOPS:
            seconds += (e["at"] - opened["at"]).total_seconds()
            steps += count
            opened = None
    return seconds, steps


def sequential_calls(events: list[Any], calls: list[Any]) -> int:
    """Model calls on the session's critical path (see the module's docstring)."""
    serial = sum(1 for c in calls if c["agent"] in SEQUENTIAL_AGENTS)
    diagnosed = sum(1 for e in events if e["action"] == "submit_answers"
                    and (e["data"] or {}).get("misconceptions"))
    return serial + diagnosed


# -- the pieces of a round ------------------------------------------------------------------


async def _floor(url: str, session_id: uuid.UUID, n: int) -> float:
    from agents.session_store import APPEND_EVENT

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(APPEND_EVENT, session_id, "bench_floor", "{}", None, None)  # prepare
        started = time.perf_counter()
        for _ in range(n):
            await conn.execute(APPEND_EVENT, session_id, "bench_floor", "{}", None, None)
        return (time.perf_counter() - started) * 1e3 / n
    finally:
        await conn.close()


async def model_profile(repeat: int) -> dict[str, float]:
    """CPU ms per model call, on the documents one of this workload's sessions sends (the
    agents' own modules; choice 0 answered): the offline engine alone
    (``engine.respond``), and the whole gateway path the server takes (``LlmGateway.run``:
    litellm, the offline provider, validation; no recorder). Run in a client process
    (``Clients.call``), so litellm is never imported by the harness."""
    from agents import misconception, planner, quiz, tutor
    from agents.llm import LlmGateway
    from agents.offline import engine
    from app.settings import Settings

    gateway = LlmGateway(Settings.from_env({"STUDYPILOT_OFFLINE_LATENCY_MS": "0"}))
    await gateway.start()
    engine_s: list[float] = []
    gateway_s: list[float] = []

    class Both:
        async def run(self, agent: str, output: Any, messages: list[dict[str, str]], *,
                      session_id: uuid.UUID | None = None) -> Any:
            document = json.loads(messages[-1]["content"])
            started = time.process_time()
            engine.respond(output.__name__, document)
            engine_s.append(time.process_time() - started)
            started = time.process_time()
            result = await gateway.run(agent, output, messages, session_id=session_id)
            gateway_s.append(time.process_time() - started)
            return result

    llm = Both()
    questions = int(SETTINGS["STUDYPILOT_QUIZ_QUESTIONS"])
    for i in range(repeat + 1):
        if i == 1:  # the first session's calls warm up; not counted
            engine_s.clear()
            gateway_s.clear()
        plan = await planner.run(planner.PlannerInput(f"Bench model {i}", SYLLABUS, None), llm)
        names = [t.name for t in plan.topics]
        for topic in plan.topics:
            others = [n for n in names if n != topic.name]
            await tutor.run(tutor.LessonInput(f"Bench model {i}", topic.name, topic.summary,
                                              SYLLABUS, others), llm)
            made = await quiz.run(quiz.QuizInput(topic.name, topic.summary, SYLLABUS, others,
                                                 questions), llm)
            for question in quiz.stored_questions(made):
                if question["correct_index"] != 0:
                    await misconception.run(misconception.MisconceptionInput(
                        topic.name, SYLLABUS, question, 0), llm)
    return {"engine_ms_per_call": sum(engine_s) * 1e3 / len(engine_s),
            "gateway_ms_per_call": sum(gateway_s) * 1e3 / len(gateway_s)}


class PoolSampler:
    """Samples how many of a database's client connections are busy, every 100 ms."""

    def __init__(self, url: str, dbname: str) -> None:
        self.samples: list[tuple[float, int, int]] = []  # (time.monotonic(), busy, open)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(url, dbname)),
                                        daemon=True, name="bench-pool-sampler")

    async def _run(self, url: str, dbname: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            while not self._stop.is_set():
                busy, total = await conn.fetchrow(POOL, dbname)
                self.samples.append((time.monotonic(), busy, total))
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def __enter__(self) -> PoolSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _exams(tag: str, counts: list[int]) -> list[dict[str, Any]]:
    return [{"exams": [f"Bench {tag} {w}.{i}" for i in range(c)]} for w, c in enumerate(counts)]


def _start_server(run: Run, stack: ExitStack, url: str, name: str, latency_ms: int
                  ) -> servers.ServerProcess:
    env = SETTINGS | run.options.studypilot_env | {
        "STUDYPILOT_OFFLINE_LATENCY_MS": str(latency_ms)}
    spec = servers.studypilot(url, run.workdir / f"autopilot-{name}-{servers.free_port()}",
                              run.jwt_secret, env)
    process = servers.ServerProcess(spec, run.workdir)
    stack.callback(process.stop)
    run.log(f"autopilot: server {name} (model latency {latency_ms} ms) on {process.base_url}")
    return process


def _ws(process: servers.ServerProcess) -> str:
    return f"ws://127.0.0.1:{process.spec.port}/graphql"


def _drive(clients: Clients, group: str, process: servers.ServerProcess, token: str,
           counts: list[int], tag: str, sequential: bool, timeout: float
           ) -> tuple[list[dict[str, Any]], float, list[str], dict[str, float]]:
    """Prepare (create + subscribe), then drive; (sessions, went, ids, measures)."""
    workers = [i for i, c in enumerate(counts) if c]
    exams = _exams(tag, counts)
    for i in workers:
        clients.send(i, "prepare", group=group, base_url=process.base_url, ws_url=_ws(process),
                     token=token, syllabus=SYLLABUS, **exams[i])
    prepared = [clients.receive(i, 600) for i in workers]
    failed = sum(p["failed"] for p in prepared)
    if failed:
        raise RuntimeError(f"{failed} subscriptions failed: {prepared[0]['errors']}")
    ids = [s for p in prepared for s in p["sessions"]]
    process.settle(max_s=15)
    cpu, client_cpu = process.cpu_seconds(), clients.cpu_seconds()
    wall_started = time.monotonic()
    for i in workers:
        clients.send(i, "drive", group=group, sequential=sequential, wait_s=timeout)
    driven = [clients.receive(i, timeout + 60) for i in workers]
    measures = {"server_cpu_s": process.cpu_seconds() - cpu,
                "client_cpu_s": clients.cpu_seconds() - client_cpu,
                "elapsed_s": time.monotonic() - wall_started, "drive_started": wall_started}
    for i in workers:
        clients.send(i, "close_group", group=group)
    for i in workers:
        clients.receive(i, 120)
    sessions = [s for d in driven for s in d["sessions"]]
    return sessions, min(d["went"] for d in driven), ids, measures


def orchestration(run: Run, clients: Clients, d: servers.ServerProcess, url: str, token: str,
                  n: int, r: int) -> dict[str, float]:
    counts = [n] + [0] * (len(clients) - 1)
    sessions, _, ids, m = _drive(clients, f"orch{r}", d, token, counts, f"orch{r}",
                                 sequential=True, timeout=60 + 20 * n)
    failed = [s["failed"] for s in sessions if s["failed"]]
    if failed:
        raise RuntimeError(f"orchestration round: {len(failed)} sessions failed: {failed[:2]}")
    events, calls = history(url, ids)
    stretch_s = stretch_steps = 0
    model_ms = n_events = n_calls = 0
    for sid in events:
        s, k = stretches(events[sid])
        stretch_s += s
        stretch_steps += k
        n_events += sum(1 for e in events[sid] if e["seq"] > 1)  # session_started: setup
        model_ms += sum(c["latency_ms"] for c in calls[sid])
        n_calls += len(calls[sid])
    cpu_ms = m["server_cpu_s"] * 1e3
    return {
        "engine_wall_ms_per_step": (stretch_s * 1e3 - model_ms) / stretch_steps,
        "server_cpu_ms_per_event_with_model": cpu_ms / n_events,
        "server_cpu_ms": cpu_ms, "events": n_events, "calls": n_calls,
        "model_ms_per_call": model_ms / n_calls,
        "model_ms_per_event": model_ms / n_events,
        "events_per_session": n_events / n, "engine_steps_per_session": stretch_steps / n,
        "calls_per_session": n_calls / n, "sessions": n, "elapsed_s": m["elapsed_s"],
    }


def concurrent(run: Run, clients: Clients, e: servers.ServerProcess, url: str, token: str,
               n: int, r: int) -> dict[str, float]:
    dbname = database.split_url(url)[2]
    with PoolSampler(url, dbname) as sampler:
        sessions, went, ids, m = _drive(clients, f"conc{r}", e, token, split(n, len(clients)),
                                        f"conc{r}", sequential=False, timeout=120 + 0.6 * n)
    done = [s for s in sessions if s["completed"]]
    failed = [s["failed"] for s in sessions if s["failed"]]
    errors = [e for s in sessions for e in s["errors"]]
    if failed or errors:
        run.log(f"autopilot: {len(failed)} of {n} sessions did not complete: {failed[:2]}; "
                f"{len(errors)} client errors: {errors[:2]}")
    events, calls = history(url, ids)
    serial = [sequential_calls(events[session_uuid(s)], calls[session_uuid(s)]) for s in ids]
    not_ok = sum(1 for cs in calls.values() for c in cs if c["outcome"] != "ok")
    wall = max(s["completed"] for s in done) - went if done else float("nan")
    ideal = max(serial) * LATENCY_MS / 1e3
    durations = sorted(s["completed"] - s["started"] for s in done)
    answers = sorted(a for s in sessions for a in s["answer_ms"])
    starts = sorted(s["start_ms"] for s in sessions if s["start_ms"] is not None)
    # the pool's samples while the sessions ran (the sampler also ran during preparation)
    window = (m["drive_started"], m["drive_started"] + m["elapsed_s"])
    busy = [b for at, b, _ in sampler.samples if window[0] <= at <= window[1]]
    pool_max = int(run.options.studypilot_env.get("STUDYPILOT_DB_POOL_MAX", "10"))
    return {
        "wall_s": wall, "ideal_s": ideal, "wall_over_ideal": wall / ideal,
        "sequential_calls_max": max(serial), "sequential_calls_mean": statistics.mean(serial),
        "sessions": n, "completed": len(done), "failed": len(failed), "calls_not_ok": not_ok,
        "client_errors": len(errors),
        "session_p50_s": percentile(durations, 50), "session_p99_s": percentile(durations, 99),
        "server_cpu_share": m["server_cpu_s"] / m["elapsed_s"],
        "server_cpu_ms_per_session": m["server_cpu_s"] * 1e3 / n,
        # the wall time the server's own CPU work needs on one core (one event loop)
        "cpu_bound_s": max(ideal, m["server_cpu_s"]),
        "client_cpu_share": m["client_cpu_s"] / m["elapsed_s"],
        "pool_busy_mean": statistics.mean(busy) if busy else float("nan"),
        "pool_busy_max": max(busy) if busy else float("nan"),
        "pool_saturated_share": sum(b >= pool_max for b in busy) / len(busy) if busy else 0.0,
        "answer_p50_ms": percentile(answers, 50), "answer_p99_ms": percentile(answers, 99),
        "start_p50_ms": percentile(starts, 50), "start_p99_ms": percentile(starts, 99),
        "model_calls": sum(len(c) for c in calls.values()),
    }


# -- the workload ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:,.{digits}f}"


def orchestration_table(run: Run, cells: dict[str, Any], sizes: Sizes) -> Table:
    o, f = cells[ORCH]["median"], cells[FLOOR]["median"]
    vs_floor, vs_model = cells[ORCH]["vs_floor"], cells[ORCH]["vs_model"]
    table = Table(
        f"Autopilot (a): orchestration per step, model time excluded; offline model, latency "
        f"0; {sizes.orch_sessions} sessions one after another per round, {run.options.rounds} "
        "rounds, medians; ratios = median of per-round ratios",
        ["figure", "ms", "÷ one bare event commit", "÷ model time per call"])
    def row(label: str, key: str, value: float) -> list[str]:
        return [label, _fmt(value), _fmt(vs_floor.get(key)), _fmt(vs_model.get(key))]

    table.rows += [
        row("engine step, wall: (stretch time - its model calls' latency) ÷ steps",
            "engine_wall_ms_per_step", o["engine_wall_ms_per_step"]),
        row("server CPU per event, model calls excluded (CPU - calls x gateway-path CPU)",
            "server_cpu_ms_per_event", o["server_cpu_ms_per_event"]),
        row("server CPU per event, offline engine excluded (litellm's share kept)",
            "server_cpu_ms_per_event_with_litellm", o["server_cpu_ms_per_event_with_litellm"]),
        row("server CPU per event, everything (commands, answers, deliveries, model calls)",
            "server_cpu_ms_per_event_with_model", o["server_cpu_ms_per_event_with_model"]),
        row("model call as the server recorded it (llm_calls.latency_ms, wall)",
            "model_ms_per_call", o["model_ms_per_call"]),
        row("model call, gateway path CPU (LlmGateway.run: litellm + provider + engine)",
            "gateway_ms_per_call", o["gateway_ms_per_call"]),
        row("model call, offline engine alone CPU (engine.respond, same documents)",
            "engine_ms_per_call", o["engine_ms_per_call"]),
        ["one bare event commit (APPEND_EVENT via asyncpg, harness)", _fmt(f["commit_ms"]),
         "1.00", "-"],
    ]
    table.notes += [
        f"per session: {o['events_per_session']:.0f} events, of which "
        f"{o['engine_steps_per_session']:.0f} engine steps in stretches; "
        f"{o['calls_per_session']:.0f} model calls",
        "a stretch runs from the event handing the session to the engine "
        "(autopilot_started, last answer_recorded) to the one where it stops (awaiting_input, "
        "autopilot_completed); its wall time comes from the events' own timestamps",
        "latency_ms is whole milliseconds (rounded) and includes litellm's own overhead; "
        "server CPU is counted in 10 ms ticks over the round",
    ]
    return table


def concurrent_table(run: Run, cells: dict[str, Any], sizes: Sizes, pool: str) -> Table:
    c = cells[CONCURRENT]["median"]
    table = Table(
        f"Autopilot (b): {sizes.concurrent_sessions:,} concurrent sessions, model latency "
        f"{LATENCY_MS} ms; {run.options.rounds} rounds, medians",
        ["sessions", "wall s", "model-bound ideal s", "wall ÷ ideal", "session p50 / p99 s",
         "server CPU ms / session", "wall ÷ max(ideal, server CPU s)", "server CPU busy",
         "DB pool busy mean / max", "pool saturated", "client CPU",
         "answer RTT p50 / p99 ms", "completed"])
    done = [s["completed"] for s in cells[CONCURRENT]["rounds"]]
    table.rows.append([
        f"{sizes.concurrent_sessions:,}", _fmt(c["wall_s"], 1), _fmt(c["ideal_s"], 1),
        _fmt(cells[CONCURRENT]["wall_over_ideal"], 1),
        f"{_fmt(c['session_p50_s'], 1)} / {_fmt(c['session_p99_s'], 1)}",
        _fmt(c.get("server_cpu_ms_per_session"), 0),
        _fmt(c["wall_s"] / c["cpu_bound_s"] if c.get("cpu_bound_s") else None, 2),
        f"{c['server_cpu_share']:.0%} of a core", f"{_fmt(c['pool_busy_mean'], 1)} / "
        f"{_fmt(c['pool_busy_max'], 0)}", f"{c['pool_saturated_share']:.0%} of samples",
        f"{c['client_cpu_share']:.0%} of a core",
        f"{_fmt(c['answer_p50_ms'], 0)} / {_fmt(c['answer_p99_ms'], 0)}",
        f"{min(done):.0f}-{max(done):.0f} of {sizes.concurrent_sessions}"])
    table.notes += [
        f"ideal = {c['sequential_calls_max']:.0f} sequential model calls on the longest "
        f"session's critical path (mean {c['sequential_calls_mean']:.1f}) x {LATENCY_MS} ms; "
        "sequential calls = the planner's, tutor's and quiz's llm_calls rows + one per "
        "grading with wrong answers (its misconception calls run concurrently)",
        "wall = last autopilot_completed arrival - the moment the starts were sent "
        f"(sessions created and subscribed beforehand); {c['model_calls']:.0f} model calls "
        f"per round, {c['calls_not_ok']:.0f} not ok; {c['client_errors']:.0f} client errors "
        "(answer or start refused, connection lost)",
        "server CPU busy: user+system CPU of the one server process ÷ wall (100% = one core "
        "saturated: the event loop is the limit); client CPU: the client processes' sum",
        "wall ÷ max(ideal, server CPU s): against the bound the server's own CPU work sets on "
        "one process (sessions x CPU per session); near 1 = the process is CPU-bound, and only "
        "less CPU per session or more processes (any process can drive any session) help",
        pool,
    ]
    return table


def run_autopilot(run: Run) -> WorkloadResult:
    sizes = Sizes.of(run)
    raise_nofile(sizes.concurrent_sessions * 3 + 1000)
    from app.auth import Authenticator

    token = Authenticator(run.jwt_secret).mint(uuid.uuid4(), EMAIL, ttl_seconds=86400)
    with ExitStack() as stack:
        url_d = database.create_database(run.pg_server(), stack)
        url_e = database.create_database(run.pg_server(), stack)
        d = _start_server(run, stack, url_d, "D", 0)
        e = _start_server(run, stack, url_e, "E", LATENCY_MS)
        clients = Clients(CLIENTS, stack)
        profiler = Clients(1, stack)
        floor_session = session_uuid(start_session(d, token, "Bench floor"))
        run.log("autopilot: warm-up (one session on each server; litellm loads on first use)")
        for name, process in (("D", d), ("E", e)):
            _drive(clients, f"warm{name}", process, token, [1] + [0] * (CLIENTS - 1),
                   f"warm{name}", sequential=True, timeout=120)

        def measure(r: int, subject: str) -> dict[str, float]:
            started = time.monotonic()
            if subject == FLOOR:
                got = {"commit_ms": asyncio.run(_floor(url_d, floor_session, FLOOR_COMMITS)),
                       **profiler.call(0, "call", timeout=300, target=PROFILE,
                                       kwargs={"repeat": PROFILE_SESSIONS})["result"]}
                line = (f"bare event commit {got['commit_ms']:.2f} ms; per model call, CPU: "
                        f"gateway path {got['gateway_ms_per_call']:.2f} ms, of which the "
                        f"offline engine {got['engine_ms_per_call']:.2f} ms")
            elif subject == ORCH:
                got = orchestration(run, clients, d, url_d, token, sizes.orch_sessions, r)
                line = (f"engine step {got['engine_wall_ms_per_step']:.2f} ms wall without the "
                        f"model, server CPU {got['server_cpu_ms_per_event_with_model']:.2f} "
                        f"ms/event with it ({got['model_ms_per_call']:.1f} ms per model call)")
            else:
                got = concurrent(run, clients, e, url_e, token, sizes.concurrent_sessions, r)
                line = (f"{got['completed']:.0f}/{got['sessions']:.0f} sessions in "
                        f"{got['wall_s']:.1f}s, ideal {got['ideal_s']:.1f}s "
                        f"({got['wall_over_ideal']:.1f}x), server CPU "
                        f"{got['server_cpu_share']:.0%}, pool busy "
                        f"{got['pool_busy_mean']:.1f} (saturated "
                        f"{got['pool_saturated_share']:.0%})")
            run.log(f"round {r + 1}/{run.options.rounds} {subject:<13} {line} "
                    f"({time.monotonic() - started:.1f}s)")
            return got

        taken = rounds.alternate(run.options.rounds, [FLOOR, ORCH, CONCURRENT], measure)
    orch, floor = taken[ORCH], taken[FLOOR]
    for o, f in zip(orch, floor, strict=True):  # with the model measured in the same round
        o["engine_ms_per_call"] = f["engine_ms_per_call"]
        o["gateway_ms_per_call"] = f["gateway_ms_per_call"]
        o["server_cpu_ms_per_event"] = (o["server_cpu_ms"] - o["calls"] * f[
            "gateway_ms_per_call"]) / o["events"]
        o["server_cpu_ms_per_event_with_litellm"] = (o["server_cpu_ms"] - o["calls"] * f[
            "engine_ms_per_call"]) / o["events"]
    cells: dict[str, Any] = {k: {"rounds": v, "median": rounds.medians(v)}
                             for k, v in taken.items()}
    keys = ("engine_wall_ms_per_step", "server_cpu_ms_per_event",
            "server_cpu_ms_per_event_with_litellm", "server_cpu_ms_per_event_with_model",
            "model_ms_per_call", "gateway_ms_per_call", "engine_ms_per_call")
    cells[ORCH]["vs_floor"] = {k: statistics.median(o[k] / f["commit_ms"]
                                                    for o, f in zip(orch, floor, strict=True))
                               for k in keys}
    cells[ORCH]["vs_model"] = {k: statistics.median(o[k] / o["model_ms_per_call"] for o in orch)
                               for k in keys}
    cells[CONCURRENT]["wall_over_ideal"] = statistics.median(
        c["wall_over_ideal"] for c in taken[CONCURRENT])
    env = SETTINGS | run.options.studypilot_env
    pool = (f"server settings: DB pool {env.get('STUDYPILOT_DB_POOL_MIN', '2')}.."
            f"{env.get('STUDYPILOT_DB_POOL_MAX', '10')} (raise with --studypilot-env "
            "STUDYPILOT_DB_POOL_MAX=N), "
            + ", ".join(f"{k.removeprefix('STUDYPILOT_')}={v}" for k, v in sorted(env.items()))
            + f"; {CLIENTS} client processes, 32 HTTP connections each")
    c = cells[CONCURRENT]
    bars = [Bar(f"{sizes.concurrent_sessions:,} sessions", "wall", c["median"]["wall_s"],
                f"{c['median']['wall_s']:.1f}s\n{c['wall_over_ideal']:.1f}x ideal"),
            Bar(f"{sizes.concurrent_sessions:,} sessions", "model-bound ideal",
                c["median"]["ideal_s"], f"{c['median']['ideal_s']:.1f}s")]
    data = {"sizes": {"orchestration_sessions": sizes.orch_sessions,
                      "concurrent_sessions": sizes.concurrent_sessions},
            "latency_ms": LATENCY_MS, "settings": env, "cells": cells}
    return WorkloadResult("autopilot", WORKLOAD.title, data,
                          [orchestration_table(run, cells, sizes),
                           concurrent_table(run, cells, sizes, pool)], bars, "seconds")


WORKLOAD = Workload("autopilot", "the engine's cost per step, and many sessions at once",
                    run_autopilot)
