"""Autopilot runs (``autopilot_runs``): status, and which process holds the lease.

A lease is held only while a process is advancing the session (status RUNNING). Its
owner renews it with a heartbeat; when the owner dies the lease expires and another
process claims the run (``claim_expired``) and redoes the interrupted step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.database import Db

RUN_COLUMNS = "session_id, status, owner, lease_expires_at, error, started_at, updated_at"

START_RUN = f"""
INSERT INTO autopilot_runs (session_id, status, owner, lease_expires_at)
VALUES ($1, 'RUNNING', $2, now() + make_interval(secs => $3))
ON CONFLICT (session_id) DO UPDATE
SET status = 'RUNNING', owner = EXCLUDED.owner, lease_expires_at = EXCLUDED.lease_expires_at,
    error = NULL, started_at = now(), updated_at = now()
WHERE autopilot_runs.status IN ('IDLE', 'FAILED', 'COMPLETED')
RETURNING {RUN_COLUMNS}"""

SELECT_RUNS = f"SELECT {RUN_COLUMNS} FROM autopilot_runs WHERE session_id = ANY($1::uuid[])"

# Move a run from one of ``$2`` statuses to ``$3``; with an owner and lease when ``$4``.
SET_STATUS = f"""
UPDATE autopilot_runs
SET status = $3, owner = $4,
    lease_expires_at = CASE WHEN $4::text IS NULL THEN NULL
                            ELSE now() + make_interval(secs => $5) END,
    error = $6, updated_at = now()
WHERE session_id = $1 AND status = ANY($2::text[])
RETURNING {RUN_COLUMNS}"""

# The owner gives the session up (its step is done, or it is waiting for the student).
RELEASE = f"""
UPDATE autopilot_runs SET status = $3, owner = NULL, lease_expires_at = NULL, error = $4,
    updated_at = now()
WHERE session_id = $1 AND owner = $2 AND status = 'RUNNING'
RETURNING {RUN_COLUMNS}"""

DROP_OWNERSHIP = """
UPDATE autopilot_runs SET owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE session_id = $1 AND owner = $2 AND status <> 'RUNNING'"""

HEARTBEAT = """
UPDATE autopilot_runs SET lease_expires_at = now() + make_interval(secs => $2)
WHERE owner = $1 AND status = 'RUNNING' AND session_id = ANY($3::uuid[])
RETURNING session_id"""

# Shutting down: let any process take these over at once.
EXPIRE_MINE = """
UPDATE autopilot_runs SET lease_expires_at = now() - interval '1 second'
WHERE owner = $1 AND status = 'RUNNING'"""

CLAIM_EXPIRED = """
UPDATE autopilot_runs r SET owner = $1, lease_expires_at = now() + make_interval(secs => $2),
    updated_at = now()
FROM (SELECT session_id, owner AS previous FROM autopilot_runs
      WHERE status = 'RUNNING' AND lease_expires_at < now()
      ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) expired
WHERE r.session_id = expired.session_id
RETURNING r.session_id, expired.previous"""


@dataclass(frozen=True)
class RunRecord:
    session_id: UUID
    status: str
    owner: str | None
    lease_expires_at: datetime | None
    error: dict[str, Any] | None
    started_at: datetime
    updated_at: datetime


def _run(row: Any) -> RunRecord | None:
    return RunRecord(**dict(row)) if row is not None else None


async def start_run(db: Db, session_id: UUID, owner: str, lease_s: float) -> RunRecord | None:
    """RUNNING and owned by ``owner``; None if a run is already active or paused."""
    return _run(await db.fetchrow(START_RUN, session_id, owner, lease_s))


async def runs(db: Db, session_ids: list[UUID]) -> dict[UUID, RunRecord]:
    rows = await db.fetch(SELECT_RUNS, session_ids)
    return {row["session_id"]: RunRecord(**dict(row)) for row in rows}


async def set_status(
    db: Db, session_id: UUID, from_statuses: list[str], status: str, *,
    owner: str | None = None, lease_s: float = 0.0, error: dict[str, Any] | None = None,
) -> RunRecord | None:
    return _run(await db.fetchrow(SET_STATUS, session_id, from_statuses, status, owner,
                                  lease_s, error))


async def release(db: Db, session_id: UUID, owner: str, status: str,
                  error: dict[str, Any] | None = None) -> RunRecord | None:
    return _run(await db.fetchrow(RELEASE, session_id, owner, status, error))


async def drop_ownership(db: Db, session_id: UUID, owner: str) -> None:
    await db.execute(DROP_OWNERSHIP, session_id, owner)


async def heartbeat(db: Db, owner: str, lease_s: float, session_ids: list[UUID]) -> set[UUID]:
    rows = await db.fetch(HEARTBEAT, owner, lease_s, session_ids)
    return {row["session_id"] for row in rows}


async def expire_mine(db: Db, owner: str) -> None:
    await db.execute(EXPIRE_MINE, owner)


async def claim_expired(db: Db, owner: str, lease_s: float,
                        limit: int = 50) -> list[tuple[UUID, str | None]]:
    rows = await db.fetch(CLAIM_EXPIRED, owner, lease_s, limit)
    return [(row["session_id"], row["previous"]) for row in rows]
