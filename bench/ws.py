"""Client processes for the websocket workloads (``fanout``, ``autopilot``).

The clients never run in the harness or in a server: ``Clients(n, stack)`` starts ``n``
worker processes (``python -m bench.ws``), each with its own uvloop event loop, and sends
them commands over a socket pair (``multiprocessing.connection.Connection``: one reply per
command, a dict; ``{"error": ...}`` when it failed). What a worker
can hold:

- **subscribers**: ``graphql-transport-ws`` connections to ``/graphql``, each with the
  bearer token in ``connection_init`` and one ``autopilotSteps(sessionId, afterSeq)``
  subscription. A subscriber counts as registered when the first event after its cursor
  arrives (the harness subscribes one event back, so that event is a replay, and a replay
  is read only after the subscription is registered in the server's hub). After that,
  each message is kept as (``time.time()`` at arrival, raw text) and parsed only when the
  harness collects, so parsing does not sit between two arrivals;
- a raw PostgreSQL listener (asyncpg ``LISTEN``) and a notifier on another connection:
  the floor for delivery across processes;
- **autopilot drivers**: one session each, like a student's client: it watches its
  session's steps over a subscription and answers each question (``awaiting_input``, then
  ``answer_recorded``'s ``next_question``) over HTTP as soon as it arrives.

Clocks: every process reads ``time.time()`` on the same machine; PostgreSQL's
``clock_timestamp()`` (an event's ``timestamp``) is the same clock.

Websocket compression is off (``compression=None``): a browser would offer
permessage-deflate, which adds zlib work per message and per subscriber on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import orjson

PROTOCOL = "graphql-transport-ws"
STEPS = """subscription($id: ID!, $after: Int) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq action timestamp data } }"""
START_SESSION = """mutation($exam: String!, $syllabus: String!) {
  startSession(input: {examType: $exam, syllabus: $syllabus}) {
    session { id } userErrors { code message } } }"""
START_AUTOPILOT = """mutation($id: ID!) { startAutopilot(sessionId: $id) {
  userErrors { code message } } }"""
ANSWER = """mutation($id: ID!, $q: ID!, $choice: Int!) {
  answerQuestion(sessionId: $id, questionId: $q, choice: $choice) {
    userErrors { code message } } }"""
STOP_ACTIONS = ("autopilot_completed", "autopilot_failed")


# -- the parent's side --------------------------------------------------------------------


class Clients:
    """``n`` worker processes (``python -m bench.ws``, each in its own session, talking
    over a socket pair); everything they hold is closed with ``stack``."""

    def __init__(self, n: int, stack: ExitStack, start_timeout: float = 60) -> None:
        from bench.run import REPO

        self._conns: list[Connection] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        stack.callback(self.close)
        for index in range(n):
            mine, theirs = socket.socketpair()
            with mine, theirs:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.ws", str(theirs.fileno()), str(index)],
                    pass_fds=[theirs.fileno()], cwd=REPO, start_new_session=True)
                self.procs.append(proc)
                self._conns.append(Connection(mine.detach()))
        self.call_all("ping", timeout=start_timeout)

    def __len__(self) -> int:
        return len(self._conns)

    def send(self, index: int, op: str, **args: Any) -> None:
        self._conns[index].send({"op": op, **args})

    def receive(self, index: int, timeout: float) -> dict[str, Any]:
        conn = self._conns[index]
        if not conn.poll(timeout):
            raise RuntimeError(f"client process {index} did not answer within {timeout:.0f}s")
        reply: dict[str, Any] = conn.recv()
        if "error" in reply:
            raise RuntimeError(f"client process {index}: {reply['error']}")
        return reply

    def call(self, index: int, op: str, timeout: float = 60, **args: Any) -> dict[str, Any]:
        self.send(index, op, **args)
        return self.receive(index, timeout)

    def call_all(self, op: str, per_worker: list[dict[str, Any]] | None = None,
                 timeout: float = 60, **args: Any) -> list[dict[str, Any]]:
        """The same command to every worker (or ``per_worker[i]`` added to worker i's),
        all sent before any reply is awaited, so they work at the same time."""
        for i in range(len(self)):
            self.send(i, op, **args, **(per_worker[i] if per_worker else {}))
        deadline = time.monotonic() + timeout
        return [self.receive(i, max(0.1, deadline - time.monotonic())) for i in range(len(self))]

    def cpu_seconds(self) -> float:
        from bench.servers import process_cpu_seconds

        return sum(process_cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send({"op": "stop"})
        deadline = time.monotonic() + 15
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for conn in self._conns:
            conn.close()
        self._conns, self.procs = [], []


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible (the first ones get more)."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


# -- the worker's side ----------------------------------------------------------------------


@dataclass
class Sub:
    records: list[tuple[float, str]] = field(default_factory=list)
    last_seq: int = 0  # the seq this subscriber has accounted for (collect moves it on)
    registered: bool = False
    dead: str | None = None
    task: asyncio.Task[None] | None = None


class Group:
    """Subscribers watching one session (or one raw LISTEN); ``expect`` waits until every
    live one has at least ``target`` records."""

    def __init__(self, kind: str = "steps") -> None:
        self.kind = kind
        self.subs: list[Sub] = []
        self.target = 0
        self.pending = 0
        self.done = asyncio.Event()
        self.closers: list[Callable[[], Awaitable[None]]] = []

    def on_record(self, sub: Sub) -> None:
        if len(sub.records) == self.target and sub.dead is None:
            self.pending -= 1
            if self.pending <= 0:
                self.done.set()

    def on_dead(self, sub: Sub) -> None:
        if len(sub.records) < self.target:
            self.pending -= 1
            if self.pending <= 0:
                self.done.set()

    async def expect(self, count: int, wait_s: float) -> int:
        self.target = count
        self.pending = sum(1 for s in self.subs if s.dead is None and len(s.records) < count)
        self.done = asyncio.Event()
        if self.pending > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), wait_s)
        return sum(1 for s in self.subs if len(s.records) >= count)


@dataclass
class Driven:
    """One session on autopilot, driven like a student's client."""

    session_id: str
    sub: Sub = field(default_factory=Sub)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: float | None = None
    start_ms: float | None = None
    completed: float | None = None
    failed: str | None = None
    events: int = 0
    answer_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answering: set[asyncio.Task[None]] = field(default_factory=set)


class Http:
    """Keep-alive HTTP/1.1 connections to one server, at most ``size`` at a time. uvicorn
    closes a connection idle for 5 s: one idle longer than ``IDLE_S`` is not reused, and a
    reused one that the server closed before answering (EOF, reset) is replaced once."""

    IDLE_S = 3.0

    def __init__(self, base_url: str, token: str, size: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = (f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                        "Content-Type: application/json\r\n")
        self._idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)

    async def _connection(self) -> tuple[bool, asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            since, reader, writer = self._idle.pop()
            if time.monotonic() - since < self.IDLE_S and not reader.at_eof():
                return True, reader, writer
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return False, reader, writer

    async def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables})
        request = (f"POST /graphql HTTP/1.1\r\n{self.headers}Content-Length: {len(body)}"
                   "\r\n\r\n").encode() + body
        async with self._slots:
            for attempt in (1, 2):
                reused, reader, writer = await self._connection()
                try:
                    writer.write(request)
                    status, raw, keep = await _response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    writer.close()
                    stale = reused and (not isinstance(exc, asyncio.IncompleteReadError)
                                        or not exc.partial)
                    if attempt == 1 and stale:
                        continue  # closed by the server while idle: never processed
                    raise
                except BaseException:
                    writer.close()
                    raise
                if keep:
                    self._idle.append((time.monotonic(), reader, writer))
                else:
                    writer.close()
                break
        answer = orjson.loads(raw) if raw else {}
        if status != 200 or answer.get("errors"):
            raise RuntimeError(f"HTTP {status}: {raw[:300]!r}")
        data: dict[str, Any] = answer["data"]
        return data

    def close(self) -> None:
        for _, _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in head[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


def _user_errors(data: dict[str, Any]) -> list[Any]:
    payload = next(iter(data.values()))
    return list(payload.get("userErrors") or []) if isinstance(payload, dict) else []


class Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.groups: dict[str, Group] = {}
        self.driven: dict[str, list[Driven]] = {}
        self.http: dict[str, Http] = {}
        self.notifier: Any = None

    # -- subscribers ----------------------------------------------------------------------

    async def _subscriber(self, sub: Sub, group: Group, ws_url: str, token: str,
                          session_id: str, after_seq: int, gate: asyncio.Semaphore,
                          registered: Callable[[], None],
                          on_message: Callable[[str], None] | None = None) -> None:
        import websockets

        gated = True
        await gate.acquire()
        try:
            async with websockets.connect(ws_url, subprotocols=[PROTOCOL],  # type: ignore[list-item]
                                          compression=None, ping_interval=None,
                                          open_timeout=60, close_timeout=2,
                                          max_size=2 ** 24) as ws:
                await ws.send(json.dumps({"type": "connection_init",
                                          "payload": {"Authorization": f"Bearer {token}"}}))
                ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack!r:.200}")
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": STEPS, "variables": {"id": session_id, "after": after_seq}}}))
                first = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if first.get("type") != "next":
                    raise RuntimeError(f"subscription refused: {first!r:.300}")
                sub.last_seq = first["payload"]["data"]["autopilotSteps"]["seq"]
                sub.registered = True
                gate.release()
                gated = False
                registered()
                if on_message is not None:
                    on_message(json.dumps(first))
                while True:
                    raw = await ws.recv()
                    arrived = time.time()
                    sub.records.append((arrived, raw))  # type: ignore[arg-type]
                    group.on_record(sub)
                    if on_message is not None:
                        on_message(raw)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the subscriber's outer edge: reported at collect
            sub.dead = f"{type(exc).__name__}: {exc}"[:300]
            group.on_dead(sub)
            if not sub.registered:
                registered()
        finally:
            if gated:
                gate.release()

    async def _open(self, group: Group, count: int, ws_url: str, token: str,
                    session_ids: list[str], after_seqs: list[int], concurrency: int,
                    wait_s: float, on_message: list[Callable[[str], None]] | None = None,
                    subs: list[Sub] | None = None) -> dict[str, Any]:
        gate = asyncio.Semaphore(concurrency)
        settled = asyncio.Event()
        left = count

        def registered() -> None:
            nonlocal left
            left -= 1
            if left <= 0:
                settled.set()

        new = subs or [Sub() for _ in range(count)]
        for i, sub in enumerate(new):
            group.subs.append(sub)
            sub.task = asyncio.create_task(self._subscriber(
                sub, group, ws_url, token, session_ids[i % len(session_ids)],
                after_seqs[i % len(after_seqs)], gate, registered,
                on_message[i] if on_message else None))
        started = time.monotonic()
        if count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), wait_s)
        dead = [s.dead for s in new if s.dead]
        return {"registered": sum(s.registered and not s.dead for s in new),
                "failed": len(dead), "errors": dead[:3],
                "seconds": time.monotonic() - started}

    async def op_subscribe(self, group: str, count: int, ws_url: str, token: str,
                           session_id: str, after_seq: int, concurrency: int = 25,
                           wait_s: float = 120) -> dict[str, Any]:
        g = self.groups.setdefault(group, Group())
        return await self._open(g, count, ws_url, token, [session_id], [after_seq],
                                concurrency, wait_s)

    async def op_expect(self, group: str, count: int, wait_s: float) -> dict[str, Any]:
        g = self.groups.get(group)
        if g is None:
            return {"reached": 0, "of": 0}
        return {"reached": await g.expect(count, wait_s), "of": len(g.subs)}

    async def op_collect(self, group: str, steps: int) -> dict[str, Any]:
        """Delays (ms) of every (subscriber, step) pair since the last collect; what is
        missing, duplicated or out of order; then forget the records."""
        g = self.groups.get(group)
        if g is None:
            return {"delays_ms": [], "subscribers": 0, "complete": 0, "missing": 0,
                    "duplicates": 0, "out_of_order": 0, "errors": 0, "dead": []}
        delays: list[float] = []
        complete = missing = duplicates = disorder = errors = 0
        for sub in g.subs:
            seqs: list[int] = []
            for arrived, raw in sub.records:
                if g.kind == "notify":
                    delays.append((arrived - float(raw)) * 1e3)
                    seqs.append(len(seqs) + 1)
                    continue
                message = json.loads(raw)
                if message.get("type") != "next":
                    errors += 1
                    continue
                step = message["payload"]["data"]["autopilotSteps"]
                seqs.append(step["seq"])
                delays.append((arrived - datetime.fromisoformat(step["timestamp"]).timestamp())
                              * 1e3)
            sub.records.clear()
            distinct = set(seqs)
            duplicates += len(seqs) - len(distinct)
            disorder += seqs != sorted(seqs)
            if g.kind == "notify":
                wanted = set(range(1, steps + 1))
            else:
                wanted = set(range(sub.last_seq + 1, sub.last_seq + steps + 1))
                sub.last_seq += steps
            missing += len(wanted - distinct)
            complete += wanted <= distinct and len(seqs) == len(distinct)
        return {"delays_ms": delays, "subscribers": len(g.subs), "complete": complete,
                "missing": missing, "duplicates": duplicates, "out_of_order": disorder,
                "errors": errors, "dead": [s.dead for s in g.subs if s.dead][:3]}

    async def op_close_group(self, group: str) -> dict[str, Any]:
        g = self.groups.pop(group, None)
        if g is not None:
            await _cancel([s.task for s in g.subs if s.task is not None])
            for closer in g.closers:
                with contextlib.suppress(Exception):
                    await closer()
        for driven in self.driven.pop(group, []):
            driven.done.set()
        http = self.http.pop(group, None)
        if http is not None:
            http.close()
        return {}

    # -- the raw LISTEN/NOTIFY floor -------------------------------------------------------

    async def op_listen(self, group: str, dsn: str, channel: str) -> dict[str, Any]:
        import asyncpg

        g = self.groups[group] = Group(kind="notify")
        sub = Sub(registered=True)
        g.subs.append(sub)
        conn = await asyncpg.connect(dsn)

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            sub.records.append((time.time(), payload))
            g.on_record(sub)

        await conn.add_listener(channel, on_notify)
        g.closers.append(conn.close)
        return {}

    async def op_notify(self, dsn: str, channel: str) -> dict[str, Any]:
        """One NOTIFY carrying its own ``clock_timestamp()`` (delivered at commit)."""
        import asyncpg

        if self.notifier is None:
            self.notifier = await asyncpg.connect(dsn)
        await self.notifier.execute(
            "SELECT pg_notify($1, extract(epoch FROM clock_timestamp())::text)", channel)
        return {}

    # -- autopilot drivers ---------------------------------------------------------------

    async def op_prepare(self, group: str, base_url: str, ws_url: str, token: str,
                         exams: list[str], syllabus: str, http_connections: int = 32,
                         concurrency: int = 25, wait_s: float = 300) -> dict[str, Any]:
        """Start one session per exam name and subscribe to each (from seq 0: the
        ``session_started`` event is the registration)."""
        http = self.http[group] = Http(base_url, token, http_connections)
        started = time.monotonic()

        async def create(exam: str) -> str:
            data = await http.graphql(START_SESSION, {"exam": exam, "syllabus": syllabus})
            payload = data["startSession"]
            if payload["userErrors"]:
                raise RuntimeError(f"startSession: {payload['userErrors']}")
            return str(payload["session"]["id"])

        ids = await asyncio.gather(*(create(exam) for exam in exams))
        driven = self.driven[group] = [Driven(sid) for sid in ids]
        g = self.groups[group] = Group()
        handlers = [self._driver(d, http) for d in driven]
        opened = await self._open(g, len(driven), ws_url, token, list(ids), [0], concurrency,
                                  wait_s, handlers, [d.sub for d in driven])
        return opened | {"sessions": list(ids), "create_seconds": time.monotonic() - started}

    def _driver(self, d: Driven, http: Http) -> Callable[[str], None]:
        def on_message(raw: str) -> None:
            message = json.loads(raw)
            if message.get("type") != "next":
                d.failed = f"subscription: {raw[:200]}"
                d.done.set()
                return
            step = message["payload"]["data"]["autopilotSteps"]
            d.events += 1
            data = step.get("data") or {}
            question = None
            if step["action"] == "awaiting_input":
                question = data.get("question")
            elif step["action"] == "answer_recorded":
                question = data.get("next_question")
            if question:
                task = asyncio.get_running_loop().create_task(
                    self._answer(d, http, question["id"]))
                d.answering.add(task)  # a reference: the loop keeps only a weak one
                task.add_done_callback(d.answering.discard)
            if step["action"] in STOP_ACTIONS:
                d.completed = time.time()
                if step["action"] == "autopilot_failed":
                    d.failed = f"autopilot_failed: {data}"
                d.done.set()

        return on_message

    async def _answer(self, d: Driven, http: Http, question_id: str) -> None:
        sent = time.perf_counter()
        try:
            data = await http.graphql(ANSWER, {"id": d.session_id, "q": question_id,
                                               "choice": 0})
        except Exception as exc:  # reported with the session
            d.errors.append(f"answerQuestion: {type(exc).__name__}: {exc}"[:300])
            return
        d.answer_ms.append((time.perf_counter() - sent) * 1e3)
        if _user_errors(data):
            d.errors.append(f"answerQuestion: {_user_errors(data)}"[:300])

    async def _start(self, d: Driven, http: Http) -> None:
        d.started = time.time()
        try:
            data = await http.graphql(START_AUTOPILOT, {"id": d.session_id})
        except Exception as exc:
            d.failed = f"startAutopilot: {type(exc).__name__}: {exc}"[:300]
            d.done.set()
            return
        d.start_ms = (time.time() - d.started) * 1e3
        if _user_errors(data):
            d.failed = f"startAutopilot: {_user_errors(data)}"[:300]
            d.done.set()

    async def op_drive(self, group: str, sequential: bool, wait_s: float) -> dict[str, Any]:
        """Start the autopilot on every prepared session (all at once, or one after the
        other) and answer its questions until each completes; per-session results."""
        driven, http = self.driven[group], self.http[group]
        went = time.time()
        deadline = time.monotonic() + wait_s
        if sequential:
            for d in driven:
                await self._start(d, http)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(d.done.wait(), max(0.1, deadline - time.monotonic()))
        else:
            starts = [asyncio.create_task(self._start(d, http)) for d in driven]
            waits = [asyncio.create_task(d.done.wait()) for d in driven]
            _, late = await asyncio.wait(waits, timeout=wait_s)
            await _cancel(list(late))
            await asyncio.gather(*starts, return_exceptions=True)
        answering = [t for d in driven for t in d.answering]
        if answering:  # an answer's response may come after the steps it started
            _, late = await asyncio.wait(answering, timeout=30)
            await _cancel(list(late))
        for d in driven:
            if d.sub.dead and not d.done.is_set():
                d.failed = d.failed or d.sub.dead
        return {"went": went, "sessions": [
            {"id": d.session_id, "started": d.started, "start_ms": d.start_ms,
             "completed": d.completed if d.failed is None else None, "failed": d.failed
             or (None if d.completed else "did not complete in time"), "events": d.events,
             "answer_ms": d.answer_ms, "errors": d.errors[:3]} for d in driven]}

    async def op_ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    async def op_call(self, target: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run ``module:function(**kwargs)`` here (awaited if it is a coroutine): a
        measurement that must not run in the harness (e.g. one that imports litellm)."""
        import importlib
        import inspect

        module, _, name = target.partition(":")
        result = getattr(importlib.import_module(module), name)(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return {"result": result}

    async def close(self) -> None:
        for name in list(self.groups) + list(self.driven):
            await self.op_close_group(name)
        if self.notifier is not None:
            with contextlib.suppress(Exception):
                await self.notifier.close()


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _serve(conn: Connection, index: int) -> None:
    worker = Worker(index)
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                message = await loop.run_in_executor(None, conn.recv)
            except (EOFError, OSError):
                return  # the harness is gone
            op = message.pop("op")
            if op == "stop":
                return
            handler = getattr(worker, f"op_{op}", None)
            try:
                if handler is None:
                    raise ValueError(f"unknown op {op!r}")
                reply = await handler(**message)
            except Exception as exc:  # the command's outer edge: the harness raises it
                reply = {"error": f"{op}: {type(exc).__name__}: {exc}"}
            try:
                conn.send(reply)
            except (OSError, ValueError):
                return
    finally:
        await worker.close()


def worker_main(conn: Connection, index: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's: it stops us
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(conn, index))
    else:
        uvloop.run(_serve(conn, index))


if __name__ == "__main__":
    worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
