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


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection set-up: jsonb/json as Python objects."""
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


class Db:
    """Pool handle shared by the app; store functions take it as their first argument."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.database = databases.Database(
            url, min_size=min_size, max_size=max_size, init=init_connection
        )

    async def connect(self) -> None:
        await self.database.connect()

    async def disconnect(self) -> None:
        await self.database.disconnect()

    def transaction(self) -> databases.core.Transaction:
        """A transaction bound to the current task; nested calls make savepoints."""
        return self.database.transaction()

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.database.connection() as conn:
            yield conn.raw_connection

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.raw() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.raw() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.raw() as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.raw() as conn:
            status: str = await conn.execute(sql, *args)
            return status

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        async with self.raw() as conn:
            await conn.executemany(sql, args)
