"""Many processes, one database: two ``studypilot serve`` processes share one PostgreSQL.
Subscribers on A see every step written through B exactly once, in order. The delays
printed here (commit → delivery across processes, and with many subscribers on one
process) are measurements, not assertions."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from app.auth import Authenticator
from tests.test_serve_e2e import BIN, free_port, wait_healthy

SECRET = "multiprocess-events-secret-" + "q" * 32
STEPS = """subscription($id: ID!, $after: Int) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq action timestamp } }"""
START = """mutation { startSession(input: {examType: "AP Chemistry", syllabus: "Unit 1: Atoms"})
  { session { id } userErrors { code } } }"""
SAVE = """mutation($id: ID!, $ctx: JSON!) { saveSession(sessionId: $id, phase: INTAKE,
  context: $ctx) { session { version } userErrors { code message } } }"""


class Serve:
    """A ``studypilot serve`` subprocess on the shared database."""

    def __init__(self, name: str, database_url: str, tmp: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/graphql"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYPILOT_")}
        env.update(DATABASE_URL=database_url, STUDYPILOT_JWT_SECRET=SECRET,
                   STUDYPILOT_DATA_DIR=str(tmp / name), STUDYPILOT_LOG_LEVEL="warning")
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([str(BIN), "serve", "--port", str(self.port)],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 20) -> None:
        """Until the process stops burning CPU: after start-up it imports litellm in a
        background thread (~4 s of CPU), which stalls its event loop now and then and
        would skew the delays measured here."""
        if not Path("/proc/self/stat").exists():
            return
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now - before < 0.03:
                return
            before = now

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
async def shared_url(fresh_database: Any) -> str:
    url: str = await fresh_database()
    return url


@pytest.fixture(scope="module")
def servers(shared_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Serve, Serve]]:
    tmp = tmp_path_factory.mktemp("multiprocess")
    a, b = Serve("a", shared_url, tmp), Serve("b", shared_url, tmp)
    try:
        for s in (a, b):
            wait_healthy(s.base, s.proc, s.log)
        for s in (a, b):
            s.wait_idle()
        yield a, b
    finally:
        for s in (a, b):
            s.stop()


@pytest.fixture(scope="module")
async def writer(servers: tuple[Serve, Serve]) -> AsyncIterator[Writer]:
    async with httpx.AsyncClient(base_url=servers[1].base, timeout=30) as client:
        yield Writer(client, Authenticator(SECRET).mint(uuid.uuid4(), "mp@example.com"))


class Writer:
    """Writes steps through process B, over HTTP."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.client.post("/graphql", json={
            "query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"})
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def session(self) -> str:
        payload = (await self.gql(START))["startSession"]
        assert payload["userErrors"] == []
        session_id: str = payload["session"]["id"]
        return session_id

    async def save(self, session_id: str, i: int) -> float:
        """One step (``session_saved``); returns when the response arrived."""
        variables = {"id": session_id, "ctx": {"extra_data": {"i": i}}}
        payload = (await self.gql(SAVE, variables))["saveSession"]
        assert payload["userErrors"] == [], payload
        return time.time()


async def connect(url: str, token: str) -> ClientConnection:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    return ws


async def subscribe(ws: ClientConnection, session_id: str, after: int) -> None:
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": STEPS, "variables": {"id": session_id, "after": after}}}))


async def receive(ws: ClientConnection, n: int, within: float = 30.0
                  ) -> list[tuple[int, float, float]]:
    """``n`` steps as (seq, written at, arrived at), epoch seconds."""
    got: list[tuple[int, float, float]] = []
    async with asyncio.timeout(within):
        while len(got) < n:
            message = json.loads(await ws.recv())
            arrived = time.time()
            assert message["type"] == "next", message
            step = message["payload"]["data"]["autopilotSteps"]
            got.append((step["seq"], datetime.fromisoformat(step["timestamp"]).timestamp(),
                        arrived))
    return got


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"worst {ordered[-1] * 1000:.1f} ms")


async def test_steps_written_on_b_reach_a_once_in_order(servers, writer) -> None:
    a, _ = servers
    session_id = await writer.session()
    n = 200
    ws = await connect(a.ws, writer.token)
    try:
        await subscribe(ws, session_id, 0)
        assert [s for s, _, _ in await receive(ws, 1)] == [1]
        receiving = asyncio.create_task(receive(ws, n))
        try:
            answered = [await writer.save(session_id, i) for i in range(n)]
        except BaseException:
            receiving.cancel()
            raise
        got = await receiving
        assert [seq for seq, _, _ in got] == list(range(2, n + 2))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
    finally:
        await ws.close()
    print(f"\ncross-process, {n} steps written on B, one subscriber on A:"
          f"\n  insert → delivery: {ms([arrived - at for _, at, arrived in got])}"
          f"\n  B's response → A's delivery: "
          f"{ms([arrived - done for (_, _, arrived), done in zip(got, answered, strict=True)])}"
          " (negative: delivered before the writer had its answer)")


async def test_many_subscribers_on_one_process(servers, writer) -> None:
    """As many subscribers on A as open within a time budget (up to 1,000), all on one
    session; ten steps written on B, 200 ms apart (each fan-out is measured on its own,
    not behind the previous one). Every subscriber sees every step."""
    a, _ = servers
    session_id = await writer.session()
    gate = asyncio.Semaphore(50)

    async def one() -> ClientConnection:
        async with gate:
            ws = await connect(a.ws, writer.token)
            await subscribe(ws, session_id, 1)
            return ws

    sockets: list[ClientConnection] = []
    started = time.monotonic()
    for batch in (250, 250, 500):
        if time.monotonic() - started > 2.5:
            break
        sockets += await asyncio.gather(*(one() for _ in range(batch)))
    opened_s = time.monotonic() - started
    steps = 10
    try:
        receiving = asyncio.gather(*(receive(ws, steps, within=60) for ws in sockets))
        await asyncio.sleep(0.2)
        try:
            for i in range(steps):
                await writer.save(session_id, i)
                await asyncio.sleep(0.2)
        except BaseException:
            receiving.cancel()
            raise
        results = await receiving
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    assert all([seq for seq, _, _ in got] == list(range(2, 2 + steps)) for got in results)
    delays = [arrived - at for got in results for _, at, arrived in got]
    print(f"\n{len(sockets)} websocket subscribers on A (opened in {opened_s:.1f}s), "
          f"{steps} steps written on B: insert → delivery {ms(delays)}"
          " (the clients share this test's one event loop)")


async def test_sigterm_with_live_subscribers_is_clean(servers, writer) -> None:
    """A stops (SIGTERM) with a subscriber attached: its socket is closed, A exits 0."""
    a, _ = servers
    session_id = await writer.session()
    ws = await connect(a.ws, writer.token)
    await subscribe(ws, session_id, 0)
    assert [s for s, _, _ in await receive(ws, 1)] == [1]
    started = time.monotonic()
    code = await asyncio.to_thread(a.stop)
    took = time.monotonic() - started
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert code in (0, -signal.SIGTERM), a.log.read_text()
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
    print(f"\nA stopped in {took:.2f}s with a live subscriber "
          f"(close code {closed.value.rcvd.code})")
