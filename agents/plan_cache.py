"""The plan cache: a plan keyed by a hash of the exam type and the normalised syllabus.

A hit within the TTL skips the planner's model call entirely.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from app.database import Db

SELECT_PLAN = "SELECT plan FROM plan_cache WHERE cache_key = $1 AND expires_at > now()"
UPSERT_PLAN = """
INSERT INTO plan_cache (cache_key, plan, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (cache_key) DO UPDATE
SET plan = EXCLUDED.plan, expires_at = EXCLUDED.expires_at, created_at = now()"""
DELETE_EXPIRED = "DELETE FROM plan_cache WHERE expires_at <= now()"

_SPACE = re.compile(r"\s+")
VERSION = "v1"  # bump when the planner's output changes meaning


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def cache_key(exam_type: str, syllabus: str, max_topics: int) -> str:
    material = "\x1f".join([VERSION, normalise(exam_type), normalise(syllabus), str(max_topics)])
    return hashlib.sha256(material.encode()).hexdigest()


async def get(db: Db, key: str) -> dict[str, Any] | None:
    plan: dict[str, Any] | None = await db.fetchval(SELECT_PLAN, key)
    return plan


async def put(db: Db, key: str, plan: dict[str, Any], ttl_seconds: int) -> None:
    await db.execute(UPSERT_PLAN, key, plan, float(ttl_seconds))


async def purge_expired(db: Db) -> int:
    status = await db.execute(DELETE_EXPIRED)
    return int(status.split()[-1])
