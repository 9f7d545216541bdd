"""Idempotency keys: a client retries a mutation with the same ``Idempotency-Key`` header
and gets the first response back, without the mutation running twice.

Keys are per user. The first request claims the key (a row with no response yet), runs,
and stores its response; a retry replays it (``Idempotent-Replayed: true``); a retry
while the first is still running waits for it, up to a bound; the same key with a
different request is refused. Keys expire after ``STUDYPILOT_IDEMPOTENCY_TTL_S``.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from uuid import UUID

import orjson

from app.database import Db

MAX_KEY_CHARS = 200

CLAIM = """
INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (user_id, key) DO UPDATE
SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
    created_at = now()
WHERE idempotency_keys.created_at < now() - make_interval(secs => $4)
RETURNING true"""
SELECT = """
SELECT request_hash, status_code, response FROM idempotency_keys
WHERE user_id = $1 AND key = $2"""
STORE = """
UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2"""
RELEASE = "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND response IS NULL"


@dataclass(frozen=True)
class Stored:
    request_hash: str
    status_code: int | None
    response: bytes | None


def request_hash(query: object, variables: object, operation_name: object) -> str:
    canonical = orjson.dumps({"q": query, "v": variables, "o": operation_name},
                             option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def claim(db: Db, user_id: UUID, key: str, digest: str, ttl_s: int) -> bool:
    """True when this request owns the key and must run."""
    return bool(await db.fetchval(CLAIM, user_id, key, digest, float(ttl_s)))


async def wait_for_response(db: Db, user_id: UUID, key: str, wait_s: float) -> Stored | None:
    """The stored outcome; polls while the first request is still running (None: gone)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        row = await db.fetchrow(SELECT, user_id, key)
        if row is None:
            return None
        stored = Stored(row["request_hash"], row["status_code"], row["response"])
        if stored.response is not None or asyncio.get_running_loop().time() >= deadline:
            return stored
        await asyncio.sleep(0.05)


async def store(db: Db, user_id: UUID, key: str, status_code: int, body: bytes) -> None:
    await db.execute(STORE, user_id, key, status_code, body)


async def release(db: Db, user_id: UUID, key: str) -> None:
    """Give the key up after a fault, so a retry runs again."""
    await db.execute(RELEASE, user_id, key)
