"""The process's one LISTEN connection, feeding the event hub (``app/events.py``).

A plain ``asyncpg`` connection, never one from the pool (``databases`` has no LISTEN
API, and a pooled connection would be reset). The trigger on ``session_events`` sends
``"<session uuid>:<seq>"`` on ``studypilot_events`` at each commit; the payload is only
a wake-up for ``EventHub.notify``.

Loss is noticed two ways: asyncpg's termination callback (the server closed the socket:
``pg_terminate_backend``, a restart) and a periodic ``SELECT 1`` (a connection that died
without a FIN). The connection is then re-opened with backoff, up to
``events_reconnect_s`` between attempts, forever; once it listens again every feed is
resynced, so nothing committed while it was down is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any
from uuid import UUID

import asyncpg

from app.events import EventHub

log = logging.getLogger("studypilot.events")

CHANNEL = "studypilot_events"
APPLICATION_NAME = "studypilot-listener"  # how the LISTEN backend shows in pg_stat_activity


def parse_payload(payload: str) -> tuple[UUID, int] | None:
    """``"<session uuid>:<seq>"`` → (session, seq); None for anything else."""
    session, _, seq = payload.partition(":")
    try:
        return UUID(session), int(seq)
    except ValueError:
        return None


Connect = Callable[..., Awaitable[asyncpg.Connection]]
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PgListener:
    """The process's LISTEN connection: feeds ``hub.notify``; when the connection is lost
    (termination callback, or a failed periodic check) it is re-opened with backoff and
    the hub resynced."""

    def __init__(self, url: str, hub: EventHub[Any], *, reconnect_max_s: float,
                 check_every_s: float = 10.0, connect: Connect = asyncpg.connect) -> None:
        self.url = url
        self.hub = hub
        self.reconnect_max_s = reconnect_max_s
        self.check_every_s = check_every_s
        self.connects = 0  # successful (re)connections, for logs and tests
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the connection (start-up fails if it cannot), then watch over it."""
        self._conn = await self._open()
        self._task = asyncio.create_task(self._supervise(), name="events-listener")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=2)
            except CONNECTION_ERRORS:
                conn.terminate()

    async def _open(self) -> asyncpg.Connection:
        conn = await self._connect(self.url, timeout=10,
                                   server_settings={"application_name": APPLICATION_NAME})
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        self._lost.clear()
        conn.add_termination_listener(self._on_termination)
        self.connects += 1
        self.hub.resync_all()  # after LISTEN: whatever committed before is read now
        return conn

    def _on_notification(self, conn: object, pid: int, channel: str, payload: str) -> None:
        parsed = parse_payload(payload)
        if parsed is None:
            log.warning("ignoring malformed %s payload %r", CHANNEL, payload[:100])
            return
        self.hub.notify(*parsed)

    def _on_termination(self, conn: object) -> None:
        if conn is self._conn:
            self._lost.set()

    async def _supervise(self) -> None:
        while True:
            await self._until_lost()
            log.warning("LISTEN connection lost; re-opening it")
            if self._conn is not None:
                self._conn.terminate()
            self._conn = None
            self._conn = await self._reopen()
            log.info("LISTEN connection re-opened; subscribers resynced")

    async def _until_lost(self) -> None:
        while not self._lost.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check_every_s)
                return
            if not await self._alive():
                return

    async def _alive(self) -> bool:
        """A cheap round trip: catches a connection that died without a FIN."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await conn.fetchval("SELECT 1", timeout=self.check_every_s)
        except CONNECTION_ERRORS:
            return False
        return True

    async def _reopen(self) -> asyncpg.Connection:
        delay = min(0.05, self.reconnect_max_s)
        while True:
            try:
                return await self._open()
            except CONNECTION_ERRORS as exc:
                log.warning("LISTEN reconnect failed (%s); retrying in %.2fs",
                            type(exc).__name__, delay)
            except Exception:  # the loop's outer edge: log it, and keep trying
                log.exception("LISTEN reconnect failed unexpectedly; retrying in %.2fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_s)
