"""Live session events: the in-process hub that subscriptions read from.

    session_events INSERT ─trigger─▶ NOTIFY studypilot_events "<session>:<seq>" (at commit)
        ─▶ PgListener (``app/listener.py``: one dedicated connection, re-opened when lost)
        ─▶ EventHub.notify ─▶ the session's Feed: one shared read into a window of recent
           events ─▶ each Subscription takes the events after its own cursor.

A notification is only a wake-up: the rows are always read from the log, so a lost or
duplicated notification costs a read, never an event. Wake-ups are level-triggered flags
(no queues): a subscriber that falls behind the window reads its next page from the log
itself. When the LISTEN connection comes back, every feed is re-read (``resync_all``),
so nothing committed while it was down is missed. A feed exists only while its session
has subscribers in this process.

``EventHub`` does no I/O of its own: it is given a ``Reader`` (the store's
``list_events``, or a list in tests).

Errors: a failing read (the database is down) ends the subscriptions that were waiting
on it with that error; clients resume from their cursor.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from itertools import islice
from typing import Generic, Protocol, TypeVar
from uuid import UUID

PAGE = 100  # events per read for a subscriber behind the window


class Event(Protocol):
    @property
    def seq(self) -> int: ...


E = TypeVar("E", bound=Event)
Reader = Callable[[UUID, int, int], Awaitable[Sequence[E]]]  # (session, after_seq, limit)


class Subscription(Generic[E]):
    """One subscriber's cursor; iterate it for every event after the cursor, in order,
    each once, forever (until the hub closes)."""

    def __init__(self, feed: _Feed[E], cursor: int) -> None:
        self.cursor = cursor
        self._feed = feed
        self._ready = asyncio.Event()
        self._pending: deque[E] = deque()
        self.closed = False

    def wake(self) -> None:
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def __aiter__(self) -> Subscription[E]:
        return self

    async def __anext__(self) -> E:
        while not self._pending:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()  # before reading: a wake-up during the read is kept
            self._pending.extend(await self._next_batch())
            if not self._pending:
                await self._ready.wait()
        event = self._pending.popleft()
        self.cursor = event.seq
        return event

    async def _next_batch(self) -> list[E]:
        batch = await self._feed.after(self.cursor)
        if batch and batch[0].seq != self.cursor + 1:
            batch = list(await self._feed.read(self.cursor))  # a hole: the log decides
        fresh, last = [], self.cursor
        for event in batch:
            if event.seq > last:
                fresh.append(event)
                last = event.seq
        return fresh


class _Feed(Generic[E]):
    """A watched session: its subscribers and a window holding every event with
    ``lo < seq <= hi``. A notification starts one read into the window and, once it is
    done, wakes every subscriber: those at the tail then just take the new events."""

    def __init__(self, session_id: UUID, read: Reader[E], size: int) -> None:
        self.session_id = session_id
        self.subscribers: set[Subscription[E]] = set()
        self._read = read
        self._size = size
        self._window: deque[E] = deque()
        self._lo: int | None = None  # None: nothing read yet
        self._hi = 0
        self._known = 0  # highest seq announced or read
        self._wanted = 0  # bumped by each new announcement and each resync ...
        self._satisfied = 0  # ... and the value the last complete read started from
        self._refill: asyncio.Task[None] | None = None

    def announce(self, seq: int) -> None:
        if seq <= self._known:
            return  # a duplicate, late or already-read notification
        self._known = seq
        self.resync()

    def resync(self) -> None:
        self._wanted += 1
        if self._lo is None:
            self._wake_all()  # nothing read yet: each subscriber reads from its cursor
        elif self._refill is None:
            self._start_refill(self._hi)
        # else: the read in flight wakes everyone; they see the window is stale and read

    def _wake_all(self) -> None:
        for subscriber in self.subscribers:
            subscriber.wake()

    async def read(self, after_seq: int) -> Sequence[E]:
        return await self._read(self.session_id, after_seq, PAGE)

    async def after(self, cursor: int) -> list[E]:
        """Events after ``cursor`` (possibly none): from the window when it covers the
        cursor, else a page from the log."""
        while True:
            if self._lo is not None and cursor < self._lo and not self._window and (
                    self._refill is None):
                self._lo = None  # empty, and anchored above this cursor: anchor it here
            if not (self._lo is None or (cursor >= self._hi and self._wanted > self._satisfied)):
                break
            if self._refill is None:
                self._start_refill(cursor)
            await asyncio.shield(self._refill)  # type: ignore[arg-type]
        assert self._lo is not None
        if cursor < self._lo:
            return list(await self.read(cursor))
        fresh = self._hi - cursor
        if fresh <= 0:
            return []
        return list(islice(reversed(self._window), fresh))[::-1]  # O(fresh), not O(window)

    def _start_refill(self, cursor: int) -> None:
        self._refill = asyncio.create_task(self._fill(cursor), name="events-refill")
        self._refill.add_done_callback(self._filled)

    def _filled(self, task: asyncio.Task[None]) -> None:
        if self._refill is task:
            self._refill = None
        if not task.cancelled():
            task.exception()  # retrieved here too: its awaiters may all have gone
        self._wake_all()

    async def _fill(self, cursor: int) -> None:
        wanted = self._wanted
        after = self._hi if self._lo is not None else cursor
        rows = await self._read(self.session_id, after, self._size)
        if self._lo is None:
            self._lo = self._hi = after
        for event in rows:
            self._push(event)
        if len(rows) < self._size:
            self._satisfied = wanted  # read to the end of the log as of ``wanted``

    def _push(self, event: E) -> None:
        if event.seq <= self._hi:
            return
        if event.seq != self._hi + 1:  # a hole (never expected): restart the window
            self._window.clear()
            self._lo = event.seq - 1
        self._window.append(event)
        self._hi = event.seq
        self._known = max(self._known, event.seq)
        if len(self._window) > self._size:
            self._lo = self._window.popleft().seq

    def close(self) -> None:
        if self._refill is not None:
            self._refill.cancel()


class EventHub(Generic[E]):
    """In-process fan-out of session events to subscriptions, keyed by session id."""

    def __init__(self, read: Reader[E], *, window: int = 256) -> None:
        self._read = read
        self._window = window
        self._feeds: dict[UUID, _Feed[E]] = {}
        self._closed = False

    @asynccontextmanager
    async def subscribe(self, session_id: UUID, after_seq: int) -> AsyncIterator[
            Subscription[E]]:
        """Register first, then iterate: replay after ``after_seq``, then live events."""
        feed = self._feeds.get(session_id)
        if feed is None:
            feed = self._feeds[session_id] = _Feed(session_id, self._read, self._window)
        subscription = Subscription(feed, after_seq)
        feed.subscribers.add(subscription)
        if self._closed:
            subscription.close()
        try:
            yield subscription
        finally:
            feed.subscribers.discard(subscription)
            if not feed.subscribers:
                feed.close()
                if self._feeds.get(session_id) is feed:
                    del self._feeds[session_id]

    def notify(self, session_id: UUID, seq: int) -> None:
        """Session ``session_id`` has committed event ``seq`` (a wake-up, maybe repeated)."""
        feed = self._feeds.get(session_id)
        if feed is not None:
            feed.announce(seq)

    def resync_all(self) -> None:
        """Notifications may have been missed: every feed re-reads the log."""
        for feed in list(self._feeds.values()):
            feed.resync()

    def subscribers(self, session_id: UUID) -> int:
        feed = self._feeds.get(session_id)
        return len(feed.subscribers) if feed is not None else 0

    def watched(self) -> set[UUID]:
        """Sessions with at least one subscriber in this process."""
        return set(self._feeds)

    def close(self) -> None:
        """End every subscription (shut-down)."""
        self._closed = True
        for feed in list(self._feeds.values()):
            feed.close()
            for subscription in list(feed.subscribers):
                subscription.close()
