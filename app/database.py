"""The database: one ``databases`` pool over asyncpg, with jsonb decoded to Python.

``Db`` is the small interface every store module uses: SQL with ``$n`` placeholders run
on the task's connection (so it joins an open ``db.transaction()``), rows back as
asyncpg ``Record``s. jsonb and json columns arrive as Python objects and accept them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import databases
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Sent when each connection starts: floats written as text in full precision whatever the
# server's configuration (compiled reads carry floats as JSON text; asyncpg's binary
# floats are exact).
SERVER_SETTINGS = {"extra_float_digits": "3"}


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection set-up: jsonb/json as Python objects."""
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default ``RESET ALL``-style query (one statement per
    release). asyncpg still rolls back any open transaction before this runs; nothing
    here leaves session state behind (advisory locks are released explicitly, LISTEN
    uses its own connection)."""


class Db:
    """Pool handle shared by the app; store functions take it as their first argument."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.database = databases.Database(
            url, min_size=min_size, max_size=max_size, init=init_connection, reset=keep_session,
            server_settings=SERVER_SETTINGS,
        )

    async def connect(self) -> None:
        await self.database.connect()

    async def disconnect(self) -> None:
        await self.database.disconnect()

    def transaction(self) -> databases.core.Transaction:
        """A transaction bound to the current task; nested calls make savepoints."""
        return self.database.transaction()

    def _held(self) -> asyncpg.Connection | None:
        """The connection this task already holds (inside ``db.transaction()``), if any.

        Reads databases' per-task connection (``databases`` is pinned at 0.9.0): statements
        inside a transaction must run on its connection; the others go straight to the
        asyncpg pool, skipping databases' per-call connection bookkeeping (~8% of a read
        request's CPU in a profile).
        """
        held = self.database._connection
        if held is not None and held._connection_counter > 0:
            raw: asyncpg.Connection = held.raw_connection
            return raw
        return None

    @property
    def _pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.database._backend._pool
        return pool

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for several statements: the task's own in a transaction, else one
        from the pool for the duration of the block."""
        held = self._held()
        if held is not None:
            yield held
            return
        async with self._pool.acquire() as conn:
            yield conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await (self._held() or self._pool).fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await (self._held() or self._pool).fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await (self._held() or self._pool).fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await (self._held() or self._pool).execute(sql, *args)
        return status

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await (self._held() or self._pool).executemany(sql, args)
