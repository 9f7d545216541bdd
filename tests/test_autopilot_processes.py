"""Several `studypilot serve` processes on one PostgreSQL: a client subscribed on one
watches a whole autopilot session driven through another, answers its questions, and
sees every step exactly once, even when the process running the session is killed
(SIGKILL) in the middle of a slow step."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.auth import Authenticator
from tests.test_serve_e2e import BIN, free_port, wait_healthy

SECRET = "multi-process-secret-" + "z" * 32
SYLLABUS = """Exam outline
Unit 1: Water
- Water is polar; hydrogen bonds give cohesion and a high specific heat.
Unit 2: Enzymes
- Enzymes lower activation energy; temperature and pH change their shape.
"""
LEASE_S = 2.0
RECOVERY_S = 0.5


class Proc:
    def __init__(self, name: str, url: str, tmp: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYPILOT_")}
        env.update(
            DATABASE_URL=url, STUDYPILOT_JWT_SECRET=SECRET, STUDYPILOT_LOG_LEVEL="warning",
            STUDYPILOT_DATA_DIR=str(tmp / name), STUDYPILOT_OFFLINE_LATENCY_MS="800",
            STUDYPILOT_AUTOPILOT_LEASE_S=str(LEASE_S),
            STUDYPILOT_AUTOPILOT_RECOVERY_S=str(RECOVERY_S),
            STUDYPILOT_AUTOPILOT_MAX_QUIZZES_PER_TOPIC="1",
        )
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([str(BIN), "serve", "--port", str(self.port)],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_healthy(self.base, self.proc, self.log)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    """Start named server processes on a database; all stopped at the end."""
    procs: list[Proc] = []

    def make(name: str, database_url: str) -> Proc:
        proc = Proc(name, database_url, tmp_path)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop()


def token() -> str:
    return Authenticator(SECRET).mint(uuid.uuid4(), "multi@example.com")


async def gql(base: str, tok: str, query: str, variables: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{base}/graphql", json={"query": query,
                                                               "variables": variables or {}},
                                     headers={"Authorization": f"Bearer {tok}"})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


SUBSCRIBE = """subscription($id: ID!, $after: Int) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq action timestamp } }"""
STATUS = """query($id: ID!) { session(id: $id) { state
  autopilot { status lastSeq currentQuestion { id options } } } }"""


async def watch(port: int, tok: str, sid: str, seen: list[dict[str, Any]],
                done: asyncio.Event) -> None:
    url = f"ws://127.0.0.1:{port}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {tok}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": SUBSCRIBE, "variables": {"id": sid, "after": 0}}}))
        while not done.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            assert message["type"] == "next", message
            step = message["payload"]["data"]["autopilotSteps"]
            step["arrived"] = time.time()
            seen.append(step)
            if step["action"] == "autopilot_completed":
                return


async def until(seen: list[dict[str, Any]], action: str, limit_s: float = 60) -> None:
    """Wait (bounded) until the watcher has received a step with ``action``."""
    for _ in range(int(limit_s / 0.05)):
        if any(s["action"] == action for s in seen):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"no {action} step within {limit_s}s: {[s['action'] for s in seen]}")


async def test_session_survives_sigkill_of_its_process(cluster, fresh_database) -> None:
    url = await fresh_database()
    watcher = cluster("watcher", url)
    runner = cluster("runner", url)
    tok = token()
    started = await gql(runner.base, tok, """mutation($s: String!) { startSession(input: {
        examType: "Biology", syllabus: $s}) { session { id } } }""", {"s": SYLLABUS})
    sid = started["startSession"]["session"]["id"]
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()
    watching = asyncio.create_task(watch(watcher.port, tok, sid, seen, done))
    await asyncio.sleep(0.3)
    await gql(runner.base, tok, "mutation($id: ID!) { startAutopilot(sessionId: $id) "
                                "{ userErrors { code message } } }", {"id": sid})
    await asyncio.sleep(0.3)  # the planner step (800 ms of model latency) is under way
    killed_at = time.time()
    runner.kill()
    restarted = cluster("runner-restarted", url)  # as a supervisor would

    for _ in range(200):  # answer whatever the autopilot asks, through the new process
        status = (await gql(restarted.base, tok, STATUS, {"id": sid}))["session"]
        if status["autopilot"]["status"] == "COMPLETED":
            break
        question = status["autopilot"]["currentQuestion"]
        if status["autopilot"]["status"] == "AWAITING_INPUT" and question:
            await gql(restarted.base, tok, """mutation($id: ID!, $q: ID!) {
                answerQuestion(sessionId: $id, questionId: $q, choice: 0) {
                userErrors { code message } } }""", {"id": sid, "q": question["id"]})
        else:
            await asyncio.sleep(0.2)
    else:
        pytest.fail("the session never completed")
    await asyncio.wait_for(watching, 30)
    done.set()

    seqs = [s["seq"] for s in seen]
    assert seqs == list(range(1, len(seqs) + 1)), "gapless, in order, no duplicates"
    actions = [s["action"] for s in seen]
    assert actions.count("autopilot_recovered") == 1
    assert actions.count("generate_plan") == 1
    assert actions[-1] == "autopilot_completed"
    final = (await gql(watcher.base, tok, STATUS, {"id": sid}))["session"]
    assert final["state"] == "COMPLETED" and final["autopilot"]["lastSeq"] == seqs[-1]
    recovered = next(s for s in seen if s["action"] == "autopilot_recovered")
    takeover = datetime.fromisoformat(recovered["timestamp"]).timestamp() - killed_at
    delays = sorted(s["arrived"] - datetime.fromisoformat(s["timestamp"]).timestamp()
                    for s in seen)
    print(f"\ntake-over after SIGKILL: {takeover:.2f}s (lease {LEASE_S}s + scan "
          f"{RECOVERY_S}s); {len(seen)} steps; commit→delivery on another process: "
          f"median {delays[len(delays) // 2] * 1000:.1f} ms, worst {delays[-1] * 1000:.1f} ms")


async def test_pause_resume_and_sigterm_over_websockets(cluster, fresh_database) -> None:
    """Pause lets the step under way finish, then nothing happens until resume; SIGTERM
    lets the running step persist before exit, and another process continues at once."""
    url = await fresh_database()
    watcher = cluster("watcher", url)
    runner = cluster("runner", url)
    tok = token()
    started = await gql(runner.base, tok, """mutation($s: String!) { startSession(input: {
        examType: "Biology", syllabus: $s}) { session { id } } }""",
                        {"s": SYLLABUS + "Unit 3: Pause\n- Only in this test.\n"})
    sid = started["startSession"]["session"]["id"]
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()
    watching = asyncio.create_task(watch(watcher.port, tok, sid, seen, done))
    await asyncio.sleep(0.3)
    command = "mutation($id: ID!) { %s(sessionId: $id) { userErrors { code message } } }"
    await gql(runner.base, tok, command % "startAutopilot", {"id": sid})
    await asyncio.sleep(0.2)
    paused = await gql(runner.base, tok, command % "pauseAutopilot", {"id": sid})
    assert paused["pauseAutopilot"]["userErrors"] == []
    await until(seen, "generate_plan")  # the planner step under way finishes and persists
    quiet = [s["action"] for s in seen]
    assert quiet[-2:] == ["autopilot_paused", "generate_plan"], quiet
    await asyncio.sleep(1.0)
    assert [s["action"] for s in seen] == quiet, "nothing happens while paused"

    await gql(runner.base, tok, command % "resumeAutopilot", {"id": sid})
    await asyncio.sleep(0.3)  # the tutor step (800 ms) is under way on the runner
    stopping = time.time()
    runner.stop()  # SIGTERM: the step finishes and persists, the lease is handed over
    exited = time.time() - stopping
    await until(seen, "awaiting_input")
    done.set()
    await asyncio.wait_for(watching, 30)
    actions = [s["action"] for s in seen]
    assert actions.count("start_topic") == 1 and actions.count("autopilot_recovered") == 1
    # The runner persisted its step before exiting; the other process went on from there.
    assert actions.index("start_topic") < actions.index("autopilot_recovered"), actions
    assert actions[-1] == "awaiting_input"
    seqs = [s["seq"] for s in seen]
    assert seqs == list(range(1, len(seqs) + 1))
    recovered = next(s for s in seen if s["action"] == "autopilot_recovered")
    print(f"\nSIGTERM: exited {exited:.2f}s after the signal; taken over "
          f"{datetime.fromisoformat(recovered['timestamp']).timestamp() - stopping:.2f}s "
          "after it")
