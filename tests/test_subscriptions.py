"""Subscriptions: the event hub against an in-memory log, ``schema.subscribe`` in
process, and both websocket protocols against a real uvicorn server (cursor, reconnect,
auth, freeing, a dropped LISTEN connection, malformed messages)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from agents import session_store, state_machine
from app.database import Db
from app.events import EventHub
from app.listener import APPLICATION_NAME, PgListener, parse_payload
from app.main import create_app
from app.services import Services
from app.settings import Settings
from schema import build_schema, ids
from schema.context import Context
from tests.conftest import Caller, start_session

# -- the hub, against an in-memory log ---------------------------------------------------


@dataclass(frozen=True)
class Ev:
    session_id: UUID
    seq: int


@dataclass
class MemoryLog:
    """The in-memory twin of ``session_store.list_events``, counting its reads."""

    rows: dict[UUID, list[Ev]] = field(default_factory=dict)
    reads: list[tuple[UUID, int, int]] = field(default_factory=list)
    during_read: Callable[[], Awaitable[None]] | None = None  # runs after the snapshot
    fail: bool = False

    async def read(self, session_id: UUID, after_seq: int, limit: int) -> list[Ev]:
        self.reads.append((session_id, after_seq, limit))
        if self.fail:
            raise ConnectionResetError("database went away")
        snapshot = [e for e in self.rows.get(session_id, []) if e.seq > after_seq][:limit]
        await asyncio.sleep(0)
        if self.during_read is not None:
            await self.during_read()
        return snapshot

    def append(self, session_id: UUID, n: int = 1) -> list[int]:
        events = self.rows.setdefault(session_id, [])
        start = events[-1].seq if events else 0
        events.extend(Ev(session_id, start + i) for i in range(1, n + 1))
        return [e.seq for e in events[-n:]]


async def take(subscription: Any, n: int) -> list[int]:
    async with asyncio.timeout(2):
        return [(await anext(subscription)).seq for _ in range(n)]


async def nothing_more(subscription: Any, wait: float = 0.05) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(subscription), wait)


@asynccontextmanager
async def subscribed(hub: EventHub[Ev], sid: UUID, n: int, after: int
                     ) -> AsyncIterator[list[Any]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(hub.subscribe(sid, after)) for _ in range(n)]


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def hub(log: MemoryLog) -> EventHub[Ev]:
    return EventHub(log.read, window=8)


async def test_replays_after_the_cursor_then_streams_live(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    log.append(sid, 5)
    async with hub.subscribe(sid, 2) as sub:
        assert await take(sub, 3) == [3, 4, 5]
        await nothing_more(sub)
        for seq in log.append(sid, 2):
            hub.notify(sid, seq)
        assert await take(sub, 2) == [6, 7]
        await nothing_more(sub)


async def test_an_event_committed_during_a_read_is_seen_once(log: MemoryLog, hub) -> None:
    """Registered before the first read: an event committed after a read's snapshot,
    and announced before the read returns, is read next (the wake-up is a level-triggered
    flag and the feed remembers it is stale); the seam has neither a gap nor a duplicate."""
    for existing in (0, 3):
        sid = uuid.uuid4()
        if existing:
            log.append(sid, existing)

        async def commit_one(sid: UUID = sid) -> None:
            log.during_read = None
            (seq,) = log.append(sid)
            hub.notify(sid, seq)
            hub.notify(sid, seq)  # and a duplicate of it

        log.during_read = commit_one
        async with hub.subscribe(sid, 0) as sub:
            assert await take(sub, existing + 1) == list(range(1, existing + 2))
            await nothing_more(sub)


async def test_one_read_per_wake_up_however_many_subscribers(log: MemoryLog) -> None:
    sid = uuid.uuid4()
    log.append(sid, 3)
    hub = EventHub(log.read, window=256)
    async with subscribed(hub, sid, 1000, after=0) as subs:
        firsts = await asyncio.gather(*(take(s, 3) for s in subs))
        assert all(seen == [1, 2, 3] for seen in firsts)
        assert len(log.reads) == 1  # the first subscriber's read filled the window
        for round_ in range(3):
            log.reads.clear()
            (seq,) = log.append(sid)
            hub.notify(sid, seq)
            got = await asyncio.gather(*(take(s, 1) for s in subs))
            assert got == [[4 + round_]] * 1000
            assert len(log.reads) == 1


async def test_duplicate_late_and_reordered_notifications(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    log.append(sid, 1)
    async with hub.subscribe(sid, 0) as sub:
        assert await take(sub, 1) == [1]
        log.append(sid, 2)  # 2 and 3, announced out of order
        hub.notify(sid, 3)
        hub.notify(sid, 2)
        assert await take(sub, 2) == [2, 3]
        reads = len(log.reads)
        for seq in (3, 2, 1, 3):
            hub.notify(sid, seq)
        await nothing_more(sub)
        assert len(log.reads) == reads  # already known: no read, no wake-up


async def test_a_slow_subscriber_is_resynced_from_the_log(log: MemoryLog, hub) -> None:
    """Nothing is queued for it: once the window (8) has moved past its cursor it reads
    its next pages from the log itself."""
    sid = uuid.uuid4()
    log.append(sid, 1)
    async with hub.subscribe(sid, 0) as fast, hub.subscribe(sid, 0) as slow:
        assert await take(slow, 1) == await take(fast, 1) == [1]
        for _ in range(30):
            (seq,) = log.append(sid)
            hub.notify(sid, seq)
            assert await take(fast, 1) == [seq]
        log.reads.clear()
        assert await take(slow, 30) == list(range(2, 32))
        assert log.reads[0][1] == 1, "the slow one read from its own cursor"
        await nothing_more(slow)


async def test_resync_reads_what_was_never_announced(log: MemoryLog, hub) -> None:
    """What a re-opened LISTEN connection does: events committed while it was down
    reach every subscriber."""
    sid, other = uuid.uuid4(), uuid.uuid4()
    async with hub.subscribe(sid, 0) as a, hub.subscribe(other, 0) as b:
        await nothing_more(a)
        log.append(sid, 20)  # more than the window, and never notified
        log.append(other, 2)
        await nothing_more(a)
        hub.resync_all()
        assert await take(a, 20) == list(range(1, 21))
        assert await take(b, 2) == [1, 2]


async def test_a_cursor_beyond_the_log_does_not_cost_the_others_their_shared_read(
        log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    log.append(sid, 3)
    async with hub.subscribe(sid, 50) as ahead, hub.subscribe(sid, 3) as tail:
        await nothing_more(ahead)  # first: the window is anchored at 50, empty
        await nothing_more(tail)  # re-anchors the empty window at 3
        for _ in range(5):
            log.reads.clear()
            (seq,) = log.append(sid)
            hub.notify(sid, seq)
            assert await take(tail, 1) == [seq]
            assert len(log.reads) == 1
        await nothing_more(ahead)


async def test_a_notification_nobody_watches_costs_nothing(log: MemoryLog, hub) -> None:
    hub.notify(uuid.uuid4(), 1)
    hub.resync_all()
    assert log.reads == [] and hub.watched() == set()


async def test_leaving_frees_everything(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    log.append(sid, 3)
    async with hub.subscribe(sid, 0) as a:
        async with hub.subscribe(sid, 0) as b:
            await take(b, 3)
            assert hub.subscribers(sid) == 2
        assert hub.subscribers(sid) == 1
        await take(a, 3)
    assert hub.subscribers(sid) == 0 and hub.watched() == set()


async def test_a_cancelled_waiter_leaves_no_state(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    gate = asyncio.Event()
    log.append(sid, 1)

    async def hang() -> None:
        await gate.wait()

    log.during_read = hang

    async def consume() -> None:
        async with hub.subscribe(sid, 0) as sub:
            await anext(sub)

    task = asyncio.create_task(consume())
    while not log.reads:  # noqa: ASYNC110 (the read is what we wait for)
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.watched() == set()


async def test_a_hole_in_the_log_does_not_stall_the_stream(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    log.rows[sid] = [Ev(sid, 1), Ev(sid, 2), Ev(sid, 5), Ev(sid, 6)]
    async with hub.subscribe(sid, 0) as sub:
        assert await take(sub, 4) == [1, 2, 5, 6]
        log.rows[sid].append(Ev(sid, 9))
        hub.notify(sid, 9)
        assert await take(sub, 1) == [9]


async def test_a_failed_read_ends_the_waiters_and_the_next_read_retries(log, hub) -> None:
    sid = uuid.uuid4()
    log.append(sid, 2)
    log.fail = True
    async with hub.subscribe(sid, 0) as sub:
        with pytest.raises(ConnectionResetError):
            await take(sub, 1)
    log.fail = False
    async with hub.subscribe(sid, 0) as sub:
        assert await take(sub, 2) == [1, 2]


async def test_closing_the_hub_ends_every_subscription(log: MemoryLog, hub) -> None:
    sid = uuid.uuid4()
    async with hub.subscribe(sid, 0) as sub:
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0.01)
        hub.close()
        with pytest.raises(StopAsyncIteration):
            await waiting
    async with hub.subscribe(sid, 0) as late:
        with pytest.raises(StopAsyncIteration):
            await anext(late)


def test_parse_payload() -> None:
    sid = uuid.uuid4()
    assert parse_payload(f"{sid}:42") == (sid, 42)
    for bad in ("", "x:1", f"{sid}", f"{sid}:", f"{sid}:x", ":1"):
        assert parse_payload(bad) is None


# -- the listener, on the real database -------------------------------------------------


class Connects:
    """``asyncpg.connect`` through the listener's own seam: records each connection and
    can refuse the next few attempts (a database that is briefly unreachable)."""

    def __init__(self) -> None:
        self.made: list[asyncpg.Connection] = []
        self.attempts = 0
        self.refuse = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            raise ConnectionRefusedError("database unreachable (test)")
        conn = await asyncpg.connect(*args, **kwargs)
        self.made.append(conn)
        return conn


@asynccontextmanager
async def own_listener(db: Db, connects: Connects, **kwargs: Any
                       ) -> AsyncIterator[tuple[EventHub[Any], PgListener]]:
    hub: EventHub[Any] = EventHub(partial(session_store.list_events, db), window=16)
    listener = PgListener(db.url, hub, reconnect_max_s=0.2, connect=connects, **kwargs)
    await listener.start()
    try:
        yield hub, listener
    finally:
        await listener.aclose()
        hub.close()


async def test_listener_start_fails_when_the_database_is_unreachable() -> None:
    listener = PgListener(f"postgresql://nobody@127.0.0.1:{free_port()}/none",
                          EventHub(MemoryLog().read), reconnect_max_s=0.1)
    with pytest.raises(OSError):
        await listener.start()


async def test_listener_retries_with_backoff_and_resyncs(db, make_caller) -> None:
    caller = make_caller()
    session = await start_session(caller)
    connects = Connects()
    async with own_listener(db, connects) as (hub, listener):
        async with hub.subscribe(session_uuid(session), 0) as sub:
            assert await take(sub, 1) == [1]
            connects.refuse = 2
            await db.fetchval("SELECT pg_terminate_backend($1)",
                              connects.made[0].get_server_pid())
            await note(db, caller, session["id"], 3)  # while nobody listens
            assert await take(sub, 3) == [2, 3, 4]
            assert (connects.attempts, listener.connects) == (4, 2)
            await note(db, caller, session["id"])
            assert await take(sub, 1) == [5]


async def test_listener_notices_a_silent_loss(db, make_caller) -> None:
    """A connection that dies without a FIN (here: the socket is simply no longer read)
    fires no termination callback; the periodic check finds it."""
    caller = make_caller()
    session = await start_session(caller)
    connects = Connects()
    async with own_listener(db, connects, check_every_s=0.1) as (hub, listener):
        async with hub.subscribe(session_uuid(session), 0) as sub:
            assert await take(sub, 1) == [1]
            connects.made[0]._transport.pause_reading()
            await note(db, caller, session["id"], 2)
            assert await take(sub, 2) == [2, 3]
            assert listener.connects == 2


# -- schema.subscribe, in process --------------------------------------------------------

STEPS = """subscription($id: ID!, $after: Int) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq action timestamp data }
}"""


async def note(db: Db, caller: Caller, session_id: str, n: int = 1) -> list[int]:
    sid = ids.decode(session_id, "StudySession", "id")
    return [await state_machine.log_action(db, caller.user_id, sid, "note", data={"i": i})
            for i in range(n)]


@pytest.fixture(scope="module")
def gql(settings: Settings) -> Any:
    return build_schema(settings)


async def in_process(gql: Any, services: Services, token: str | None, variables: dict[str, Any]
                     ) -> Any:
    params = {"Authorization": f"Bearer {token}"} if token else {}
    context = Context(services=services, connection_params=params)
    return await gql.subscribe(STEPS, variable_values=variables, context_value=context)


async def test_in_process_replay_then_live(gql, services, make_caller, db) -> None:
    caller = make_caller()
    session = await start_session(caller)  # seq 1: session_started
    await note(db, caller, session["id"], 4)
    stream = await in_process(gql, services, caller.token, {"id": session["id"], "after": 2})
    got = [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
    assert [r.data["autopilotSteps"]["seq"] for r in got] == [3, 4, 5]
    assert all(r.errors is None for r in got)
    await note(db, caller, session["id"])
    live = await asyncio.wait_for(anext(stream), 5)
    assert live.data["autopilotSteps"]["seq"] == 6
    assert live.data["autopilotSteps"]["data"] == {"i": 0}
    await stream.aclose()
    assert services.hub.subscribers(ids.decode(session["id"], "StudySession", "id")) == 0


@pytest.mark.parametrize(("variables", "code"), [
    ({"id": "not-an-id"}, "INVALID_INPUT"),
    ({"id": ids.encode("Topic", uuid.uuid4())}, "INVALID_INPUT"),
    ({"id": str(uuid.uuid4()), "after": -1}, "INVALID_INPUT"),
])
async def test_in_process_refusals(gql, services, make_caller, variables, code) -> None:
    stream = await in_process(gql, services, make_caller().token, variables)
    results = [r async for r in stream]
    assert len(results) == 1 and results[0].errors[0].extensions["code"] == code


async def test_in_process_unauthenticated(gql, services) -> None:
    stream = await in_process(gql, services, None, {"id": str(uuid.uuid4())})
    results = [r async for r in stream]
    assert results[0].errors[0].extensions["code"] == "UNAUTHENTICATED"


async def test_in_process_absent_or_foreign_session_yields_nothing(
        gql, services, make_caller) -> None:
    owner, other = make_caller(), make_caller()
    session = await start_session(owner)
    for variables in ({"id": session["id"]}, {"id": str(uuid.uuid4())}):
        stream = await in_process(gql, services, other.token, variables)
        assert [r async for r in stream] == []
    assert services.hub.watched() == set()


# -- real websockets against a real uvicorn ------------------------------------------------

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
START = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
NEXT = {"graphql-transport-ws": "next", "graphql-ws": "data"}
STOP = {"graphql-transport-ws": "complete", "graphql-ws": "stop"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def ws_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    """A real uvicorn (its own websocket stack) on the suite's services, in this loop."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, services=services), host="127.0.0.1", port=port,
        lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


class Ws:
    """A GraphQL websocket client speaking either protocol."""

    def __init__(self, conn: ClientConnection, protocol: str) -> None:
        self.conn = conn
        self.protocol = protocol

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.conn.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(),
                                                                        within))
            if message["type"] != "ka":
                return message

    async def init(self, token: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.recv()

    async def subscribe(self, op: str, session_id: str, after: int | None = None) -> None:
        await self.send({"id": op, "type": START[self.protocol], "payload": {
            "query": STEPS, "variables": {"id": session_id, "after": after}}})

    async def stop(self, op: str) -> None:
        await self.send({"id": op, "type": STOP[self.protocol]})

    async def steps(self, op: str, n: int, within: float = 5.0) -> list[int]:
        seen: list[int] = []
        while len(seen) < n:
            message = await self.recv(within)
            assert message["type"] == NEXT[self.protocol] and message["id"] == op, message
            assert "errors" not in message["payload"], message
            seen.append(message["payload"]["data"]["autopilotSteps"]["seq"])
        return seen

    async def silent(self, wait: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            message = await self.recv(wait)
            raise AssertionError(f"unexpected message {message}")

    async def closed_with(self) -> int:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await self.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code


@asynccontextmanager
async def ws(url: str, protocol: str, token: str | None = None, init: bool = True
             ) -> AsyncIterator[Ws]:
    async with websockets.connect(url, subprotocols=[protocol]) as conn:  # type: ignore[list-item]
        client = Ws(conn, protocol)
        if init:
            assert (await client.init(token))["type"] == "connection_ack"
        yield client


def session_uuid(session: dict[str, Any]) -> UUID:
    return ids.decode(session["id"], "StudySession", "id")


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110 (polls the hub, which has no event to await)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_cursor_replays_exactly_then_streams(ws_url, protocol, make_caller, db) -> None:
    caller = make_caller()
    session = await start_session(caller)
    await note(db, caller, session["id"], 9)  # seq 1..10 exist
    async with ws(ws_url, protocol, caller.token) as client:
        await client.subscribe("a", session["id"], after=4)
        assert await client.steps("a", 6) == [5, 6, 7, 8, 9, 10]
        await client.silent(0.1)
        await note(db, caller, session["id"], 3)
        assert await client.steps("a", 3) == [11, 12, 13]
        await client.silent(0.1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_reconnect_with_last_seq_misses_nothing(ws_url, protocol, make_caller,
                                                         db) -> None:
    """Events are written the whole time; the client drops its socket three times and
    resumes from the last seq it saw: every seq exactly once, in order."""
    caller = make_caller()
    session = await start_session(caller)
    total = 1 + 80

    async def writer() -> None:
        for _ in range(80):
            await note(db, caller, session["id"])
            await asyncio.sleep(0.003)

    writing = asyncio.create_task(writer())
    seen: list[int] = []
    for chunk in (10, 20, 15):
        async with ws(ws_url, protocol, caller.token) as client:
            await client.subscribe("s", session["id"], after=seen[-1] if seen else 0)
            seen += await client.steps("s", chunk)
    async with ws(ws_url, protocol, caller.token) as client:
        await client.subscribe("s", session["id"], after=seen[-1])
        seen += await client.steps("s", total - len(seen))
        await writing
        await client.silent(0.1)
    assert seen == list(range(1, total + 1))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_no_or_forged_token_is_rejected(ws_url, protocol) -> None:
    for token in (None, "forged"):
        async with ws(ws_url, protocol, init=False) as client:
            if protocol == "graphql-ws":  # the legacy protocol says why, then closes
                assert (await client.init(token))["type"] == "connection_error"
                assert await client.closed_with() == 1011
            else:
                await client.send({"type": "connection_init", "payload": {
                    "Authorization": f"Bearer {token}"} if token else {}})
                assert await client.closed_with() == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_another_users_session_yields_nothing(ws_url, protocol, make_caller, db,
                                                       services) -> None:
    owner, intruder = make_caller(), make_caller()
    session = await start_session(owner)
    async with ws(ws_url, protocol, intruder.token) as client:
        for target in (session["id"], str(uuid.uuid4())):
            await client.subscribe("x", target)
            done = await client.recv()
            assert done == {"type": "complete", "id": "x"}  # no data, just the end
        await note(db, owner, session["id"], 2)
        await client.silent(0.2)
    assert services.hub.subscribers(session_uuid(session)) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_bad_arguments_answer_in_band(ws_url, protocol, make_caller) -> None:
    async with ws(ws_url, protocol, make_caller().token) as client:
        await client.subscribe("x", "garbage")
        message = await client.recv()
        assert message["type"] in (NEXT[protocol], "error") and message["id"] == "x"
        errors = message["payload"]["errors"]
        assert errors[0]["extensions"] == {"code": "INVALID_INPUT", "field": ["sessionId"]}
        assert (await client.recv())["type"] == "complete"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("how", ["close the socket", "complete the operation"])
async def test_ws_leaving_frees_everything(ws_url, protocol, how, make_caller, db,
                                           services) -> None:
    caller = make_caller()
    session = await start_session(caller)
    sid = session_uuid(session)
    async with ws(ws_url, protocol, caller.token) as client:
        await client.subscribe("a", session["id"])
        await client.subscribe("b", session["id"])
        firsts = [await client.recv() for _ in "ab"]  # in either order
        assert {(m["id"], m["payload"]["data"]["autopilotSteps"]["seq"]) for m in firsts} == {
            ("a", 1), ("b", 1)}
        assert services.hub.subscribers(sid) == 2
        if how == "complete the operation":
            await client.stop("a")
            await client.stop("b")
            if protocol == "graphql-ws":  # the legacy server confirms each stop
                assert {(await client.recv())["type"] for _ in "ab"} == {"complete"}
            await until(lambda: services.hub.subscribers(sid) == 0)
            await note(db, caller, session["id"])
            await client.silent(0.1)
    await until(lambda: sid not in services.hub.watched())


LISTENER_PID = ("SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                "AND datname = current_database()")


async def listener_pid(db: Db, not_pid: int | None = None) -> int:
    """The LISTEN backend's pid (waiting for one other than ``not_pid``)."""
    async with asyncio.timeout(5):
        while True:
            pids = [r["pid"] for r in await db.fetch(LISTENER_PID, APPLICATION_NAME)]
            if len(pids) == 1 and pids[0] != not_pid:
                return pids[0]
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ws_dropped_listen_connection_loses_no_step(ws_url, protocol, make_caller, db,
                                                          services) -> None:
    """The LISTEN backend is killed from SQL: once with events whose NOTIFY is sent while
    it is dead (only the resync on reconnect can find them), once while a writer keeps
    writing. Every step arrives once, in order, and live wake-ups work afterwards."""
    caller = make_caller()
    session = await start_session(caller)
    sid = session_uuid(session)
    async with ws(ws_url, protocol, caller.token) as client:
        await client.subscribe("s", session["id"])
        assert await client.steps("s", 1) == [1]
        first = await listener_pid(db)
        shown = await db.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", first)
        assert shown in ('LISTEN "studypilot_events"', "SELECT 1")  # the periodic check

        async with db.transaction():  # NOTIFY goes out at commit, after the kill
            for i in range(5):
                await state_machine.log_action(db, caller.user_id, sid, "note", data={"i": i})
            assert await db.fetchval("SELECT pg_terminate_backend($1)", first)
        assert await client.steps("s", 5) == [2, 3, 4, 5, 6]
        second = await listener_pid(db, not_pid=first)

        async def writer(n: int) -> None:
            for _ in range(n):
                await note(db, caller, session["id"])
                await asyncio.sleep(0.002)

        writing = asyncio.create_task(writer(50))
        await asyncio.sleep(0.03)
        assert await db.fetchval("SELECT pg_terminate_backend($1)", second)
        await writing
        assert await client.steps("s", 50) == list(range(7, 57))
        await listener_pid(db, not_pid=second)
        await note(db, caller, session["id"], 2)
        assert await client.steps("s", 2) == [57, 58]
        await client.silent(0.1)


async def test_ws_transport_protocol_violations_close_with_their_codes(
        ws_url, make_caller, db) -> None:
    """graphql-transport-ws closes the offending socket (4400 bad message, 4401 subscribe
    before init, 4409 duplicate id, 4429 second init); other clients are unaffected."""
    protocol = "graphql-transport-ws"
    caller = make_caller()
    session = await start_session(caller)
    async with ws(ws_url, protocol, caller.token) as bystander:
        await bystander.subscribe("b", session["id"])
        assert await bystander.steps("b", 1) == [1]
        cases: list[tuple[list[Any], int]] = [
            (["{not json"], 4400),
            ([{"type": "nonsense"}], 4400),
            ([{"id": "1"}], 4400),  # no type at all
        ]
        for messages, code in cases:
            async with ws(ws_url, protocol, caller.token) as bad:
                for message in messages:
                    await bad.send(message if isinstance(message, str) else json.dumps(message))
                assert await bad.closed_with() == code, messages
        async with ws(ws_url, protocol, init=False) as early:
            await early.subscribe("1", session["id"])
            assert await early.closed_with() == 4401
        async with ws(ws_url, protocol, caller.token) as twice:
            await twice.send({"type": "connection_init", "payload": {}})
            assert await twice.closed_with() == 4429
        async with ws(ws_url, protocol, caller.token) as dup:
            await dup.subscribe("1", session["id"])
            assert await dup.steps("1", 1) == [1]
            await dup.subscribe("1", session["id"])
            assert await dup.closed_with() == 4409
        await note(db, caller, session["id"])
        assert await bystander.steps("b", 1) == [2]


async def test_ws_legacy_protocol_violations(ws_url, make_caller, db, services) -> None:
    """Legacy graphql-ws ignores bad JSON and unknown types (the socket stays usable),
    closes 4401 on start before init, and a duplicate id replaces the running operation."""
    protocol = "graphql-ws"
    caller = make_caller()
    session = await start_session(caller)
    sid = session_uuid(session)
    async with ws(ws_url, protocol, init=False) as early:
        await early.subscribe("1", session["id"])
        assert await early.closed_with() == 4401
    async with ws(ws_url, protocol, caller.token) as client:
        await client.send("{not json")
        await client.send({"type": "nonsense"})
        await client.subscribe("1", session["id"])
        assert await client.steps("1", 1) == [1]
        await client.subscribe("1", session["id"], after=0)  # same id again
        assert await client.recv() == {"type": "complete", "id": "1"}
        assert await client.steps("1", 1) == [1]
        assert services.hub.subscribers(sid) == 1
        await note(db, caller, session["id"])
        assert await client.steps("1", 1) == [2]
        await client.silent(0.1)
