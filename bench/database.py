"""The PostgreSQL server the bench runs on, and its throw-away databases.

The server, first that works: ``DATABASE_URL``'s server when set; else the service at
``127.0.0.1:5432`` (user postgres) when it answers; else an embedded server
(``app.embedded.EmbeddedPostgres``) in the run's temporary directory. On it the bench
creates ``studypilot_bench_<random>``, applies the app's own migrations with the app's
runner, seeds it (``bench.seed``), and drops it (``WITH (FORCE)``) when the run ends.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

from app.database import Db
from app.embedded import EmbeddedPostgres
from app.migrations import migrate

SERVICE_URLS = ("postgresql://postgres@127.0.0.1:5432/postgres",
                "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class PgServer:
    kind: str  # "DATABASE_URL", "service 127.0.0.1:5432" or "embedded"
    admin_url: str
    version: str

    def url(self, dbname: str) -> str:
        """``admin_url`` with its database replaced by ``dbname``."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))


def split_url(url: str) -> tuple[str, int | None, str]:
    """(host or unix socket directory, port, database) of a PostgreSQL URL."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    return host, parts.port, parts.path.lstrip("/")


async def _version(url: str) -> str | None:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    try:
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def find_server(database_url: str | None, workdir: Path, stack: ExitStack,
                embedded: bool = False) -> PgServer:
    """The first that works: DATABASE_URL, the local service, the embedded server (forced
    with ``embedded``)."""
    if embedded:
        return _embedded(workdir, stack)
    if database_url:
        url = database_url.replace("postgres://", "postgresql://", 1)
        version = asyncio.run(_version(url))
        if version is None:
            raise RuntimeError("DATABASE_URL is set but its server does not answer")
        return PgServer("DATABASE_URL", url, version)
    for url in SERVICE_URLS:
        version = asyncio.run(_version(url))
        if version is not None:
            return PgServer("service 127.0.0.1:5432", url, version)
    return _embedded(workdir, stack)


def _embedded(workdir: Path, stack: ExitStack) -> PgServer:
    embedded = EmbeddedPostgres(workdir / "embedded")
    url = embedded.start()
    stack.callback(embedded.stop)
    version = asyncio.run(_version(url))
    return PgServer("embedded", url, version or "unknown")


async def _admin(server: PgServer, sql: str) -> None:
    conn = await asyncpg.connect(server.admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    db = Db(url, min_size=1, max_size=1)
    await db.connect()
    try:
        await migrate(db)
    finally:
        await db.disconnect()


def create_database(server: PgServer, stack: ExitStack) -> str:
    """A new, migrated database on ``server``, dropped when ``stack`` closes; its URL."""
    name = f"studypilot_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    stack.callback(drop_database, server, name)
    url = server.url(name)
    asyncio.run(_migrate(url))
    return url


def drop_database(server: PgServer, name: str) -> None:
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
