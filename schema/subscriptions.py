"""Subscription root: a session's steps, replayed after a cursor, then live.

Both websocket protocols (graphql-transport-ws and legacy graphql-ws) serve it. The
stream never ends on its own: the client completes it or closes the socket.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from agents import session_store
from agents.errors import InvalidInput
from agents.session_store import EventRecord
from schema import ids
from schema.errors import RequestError
from schema.types import AutopilotStep

STEPS_KEPT = 256  # recent steps (like the hub's window): one object per event for its subscribers


class RecentSteps:
    """Each event's ``AutopilotStep``, made once: the hub hands every subscriber of a
    session the same events, and the same step object lets the executor share the
    per-event result (``schema/execution.py``). Keyed by (session, seq, time), which
    names one immutable row of the append-only log, so a subscriber that read the row
    itself gets the same object too. Oldest out first."""

    def __init__(self, size: int = STEPS_KEPT) -> None:
        self._size = size
        self._steps: OrderedDict[tuple[UUID, int, datetime], AutopilotStep] = OrderedDict()

    def of(self, event: EventRecord) -> AutopilotStep:
        key = (event.session_id, event.seq, event.at)
        step = self._steps.get(key)
        if step is None:
            step = self._steps[key] = AutopilotStep.of(event)
            if len(self._steps) > self._size:
                self._steps.popitem(last=False)
        return step


_steps = RecentSteps()  # memory only: per process, shared by every schema in it


@strawberry.type
class Subscription:
    @strawberry.subscription(description=(
        "The session's steps with seq > afterSeq, oldest first, then each new one as it "
        "is committed (from any server process): reconnect with the last seq you saw to "
        "miss nothing and see nothing twice. Null means 0; a negative afterSeq is INVALID_INPUT. A "
        "session that is absent or not the caller's yields nothing."))
    async def autopilot_steps(
        self, info: Info, session_id: strawberry.ID, after_seq: int | None = 0
    ) -> AsyncGenerator[AutopilotStep, None]:
        user_id = await info.context.user_id()
        try:
            sid = ids.decode(session_id, "StudySession", "sessionId")
            cursor = after_seq or 0
            if cursor < 0:
                raise InvalidInput("afterSeq must not be negative", field=["afterSeq"])
        except InvalidInput as exc:
            raise RequestError.of(exc) from None
        services = info.context.services
        if await session_store.get_session(services.db, user_id, sid) is None:
            return  # absent or someone else's: the same silence either way
        async with services.hub.subscribe(sid, cursor) as steps:
            async for event in steps:
                yield _steps.of(event)
