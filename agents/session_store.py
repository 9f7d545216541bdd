"""Study sessions and their event log (``study_sessions``, ``session_events``).

Every write that changes a session bumps ``last_seq`` and inserts the event with that
``seq`` in the same statement, under the row lock the UPDATE takes: the log stays
gapless per session and an event never exists without its state change, or vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.database import Db

SESSION_COLUMNS = """
    s.id, s.user_id, s.exam_type, s.exam_date, s.syllabus, s.current_state,
    s.current_context, s.metadata, s.current_topic_id, s.current_quiz_id, s.version, s.last_seq,
    s.created_at, s.updated_at"""

INSERT_SESSION = f"""
WITH s AS (
    INSERT INTO study_sessions (user_id, exam_type, exam_date, syllabus, current_context,
                                last_seq)
    VALUES ($1, $2, $3, $4, $5, 1)
    RETURNING *
), e AS (
    INSERT INTO session_events (session_id, seq, phase, action, data, reasoning)
    SELECT s.id, 1, s.current_state, 'session_started', $6, $7 FROM s
)
SELECT {SESSION_COLUMNS} FROM s"""

SELECT_SESSION = f"""
SELECT {SESSION_COLUMNS} FROM study_sessions s WHERE s.id = $1 AND s.user_id = $2"""

SELECT_SESSIONS_BY_IDS = f"""
SELECT {SESSION_COLUMNS} FROM study_sessions s WHERE s.id = ANY($1::uuid[]) AND s.user_id = $2"""

# Newest first; the cursor is the (created_at, id) of the last row seen.
SELECT_SESSIONS_PAGE = f"""
SELECT {SESSION_COLUMNS} FROM study_sessions s
WHERE s.user_id = $1
  AND ($2::timestamptz IS NULL OR (s.created_at, s.id) < ($2::timestamptz, $3::uuid))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $4"""

COUNT_SESSIONS = "SELECT count(*) FROM study_sessions WHERE user_id = $1"

UPDATE_STATE = f"""
WITH s AS (
    UPDATE study_sessions
    SET current_state = $3, current_context = $4, version = version + 1,
        last_seq = last_seq + 1, updated_at = now(),
        current_topic_id = coalesce($9::uuid, current_topic_id),
        current_quiz_id = coalesce($10::uuid, current_quiz_id)
    WHERE id = $1 AND version = $2
    RETURNING *
), e AS (
    INSERT INTO session_events (session_id, seq, phase, action, data, reasoning, duration_ms)
    SELECT s.id, s.last_seq, s.current_state, $5, $6, $7, $8 FROM s
)
SELECT {SESSION_COLUMNS} FROM s"""

APPEND_EVENT = """
WITH s AS (
    UPDATE study_sessions SET last_seq = last_seq + 1 WHERE id = $1
    RETURNING id, last_seq, current_state
)
INSERT INTO session_events (session_id, seq, phase, action, data, reasoning, duration_ms)
SELECT s.id, s.last_seq, s.current_state, $2, $3, $4, $5 FROM s
RETURNING seq"""

SELECT_OWNER = "SELECT user_id FROM study_sessions WHERE id = $1"

LOCK_SESSION = "SELECT version FROM study_sessions WHERE id = $1 FOR UPDATE"

SELECT_EVENTS_PAGE = """
SELECT session_id, seq, at, phase, action, data, reasoning, duration_ms
FROM session_events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"""


@dataclass(frozen=True)
class SessionRecord:
    id: UUID
    user_id: UUID
    exam_type: str
    exam_date: date | None
    syllabus: str
    state: str
    context: dict[str, Any]
    metadata: dict[str, Any]
    current_topic_id: UUID | None
    current_quiz_id: UUID | None
    version: int
    last_seq: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SessionRecord:
        return cls(
            id=row["id"], user_id=row["user_id"], exam_type=row["exam_type"],
            exam_date=row["exam_date"], syllabus=row["syllabus"], state=row["current_state"],
            context=row["current_context"], metadata=row["metadata"],
            current_topic_id=row["current_topic_id"], current_quiz_id=row["current_quiz_id"],
            version=row["version"],
            last_seq=row["last_seq"], created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class EventRecord:
    session_id: UUID
    seq: int
    at: datetime
    phase: str | None
    action: str
    data: Any
    reasoning: str | None
    duration_ms: int | None


def _maybe(row: asyncpg.Record | None) -> SessionRecord | None:
    return SessionRecord.from_row(row) if row is not None else None


async def create_session(
    db: Db, user_id: UUID, exam_type: str, exam_date: date | None, syllabus: str,
    context: dict[str, Any], data: dict[str, Any], reasoning: str,
) -> SessionRecord:
    row = await db.fetchrow(INSERT_SESSION, user_id, exam_type, exam_date, syllabus, context,
                            data, reasoning)
    assert row is not None
    return SessionRecord.from_row(row)


async def get_session(db: Db, user_id: UUID, session_id: UUID) -> SessionRecord | None:
    return _maybe(await db.fetchrow(SELECT_SESSION, session_id, user_id))


async def get_sessions(db: Db, user_id: UUID, ids: list[UUID]) -> dict[UUID, SessionRecord]:
    rows = await db.fetch(SELECT_SESSIONS_BY_IDS, ids, user_id)
    return {row["id"]: SessionRecord.from_row(row) for row in rows}


async def list_sessions(
    db: Db, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[SessionRecord]:
    at, sid = after if after is not None else (None, None)
    rows = await db.fetch(SELECT_SESSIONS_PAGE, user_id, at, sid, limit)
    return [SessionRecord.from_row(row) for row in rows]


async def count_sessions(db: Db, user_id: UUID) -> int:
    count: int = await db.fetchval(COUNT_SESSIONS, user_id)
    return count


async def update_state(
    db: Db, current: SessionRecord, state: str, context: dict[str, Any], *, action: str,
    data: Any = None, reasoning: str | None = None, duration_ms: int | None = None,
    topic_id: UUID | None = None, quiz_id: UUID | None = None,
) -> SessionRecord | None:
    """Write the new phase, context and event (and, if given, the current topic/quiz);
    None when ``current.version`` is stale."""
    return _maybe(await db.fetchrow(
        UPDATE_STATE, current.id, current.version, state, context, action,
        data if data is not None else {}, reasoning, duration_ms, topic_id, quiz_id,
    ))


async def append_event(
    db: Db, session_id: UUID, action: str, *, data: Any = None,
    reasoning: str | None = None, duration_ms: int | None = None,
) -> int:
    seq: int = await db.fetchval(APPEND_EVENT, session_id, action,
                                 data if data is not None else {}, reasoning, duration_ms)
    return seq


async def list_events(db: Db, session_id: UUID, after_seq: int, limit: int) -> list[EventRecord]:
    rows = await db.fetch(SELECT_EVENTS_PAGE, session_id, after_seq, limit)
    return [EventRecord(**dict(row)) for row in rows]


async def lock_session(db: Db, session_id: UUID) -> None:
    """Serialise writers to one session for the rest of the caller's transaction."""
    await db.execute(LOCK_SESSION, session_id)


async def owner_of(db: Db, session_id: UUID) -> UUID | None:
    """The user a session belongs to (for the autopilot's recovery, which has no caller)."""
    user_id: UUID | None = await db.fetchval(SELECT_OWNER, session_id)
    return user_id
