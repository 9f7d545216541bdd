"""Users, created the first time a valid token is seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.auth import Identity
from app.database import Db

UPSERT_USER = """
INSERT INTO users (id, email) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET email = coalesce(EXCLUDED.email, users.email)
    WHERE users.email IS DISTINCT FROM coalesce(EXCLUDED.email, users.email)"""
SELECT_USER = "SELECT id, email, created_at FROM users WHERE id = $1"


@dataclass(frozen=True)
class UserRecord:
    id: UUID
    email: str | None
    created_at: datetime


class UserDirectory:
    """Makes sure a caller has a row, writing only the first time a process sees them."""

    def __init__(self, db: Db, cache_size: int = 100_000) -> None:
        self._db = db
        self._seen: dict[Identity, None] = {}
        self._cache_size = cache_size

    async def ensure(self, identity: Identity) -> None:
        if identity in self._seen:
            return
        await self._db.execute(UPSERT_USER, identity.user_id, identity.email)
        if len(self._seen) >= self._cache_size:
            self._seen.pop(next(iter(self._seen)))
        self._seen[identity] = None

    async def get(self, user_id: UUID) -> UserRecord | None:
        row = await self._db.fetchrow(SELECT_USER, user_id)
        return UserRecord(**dict(row)) if row is not None else None
