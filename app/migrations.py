"""Migrations runner: applies ``sql/NNN_*.sql`` in order, each once.

Applied files are recorded in ``schema_migrations`` with a checksum. The whole run holds
a PostgreSQL advisory lock, so processes starting together apply each file exactly
once (the others wait, then find nothing to do). Each file runs in its own transaction.
An applied file whose text has since changed stops the run: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from app.database import Db

log = logging.getLogger(__name__)

LOCK_KEY = 0x57D1_9117  # arbitrary, fixed: "StudyPilot migrations"
FILE_PATTERN = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(RuntimeError):
    """The migrations on disk and the ones recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    root = directory or Path(str(resources.files("sql")))
    found = []
    for path in sorted(root.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {root}")
    return found


async def migrate(db: Db, directory: Path | None = None) -> list[str]:
    """Apply pending migrations; return the names applied by this call."""
    migrations = load_migrations(directory)
    async with db.raw() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            return await _apply_pending(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(CREATE_TABLE)
    applied = {r["version"]: r for r in await conn.fetch(SELECT_APPLIED)}
    done = []
    for migration in migrations:
        record = applied.get(migration.version)
        if record is not None:
            if record["checksum"] != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was changed after it was applied; add a new migration"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(INSERT_APPLIED, migration.version, migration.name,
                               migration.checksum)
        log.info("applied migration %s", migration.name)
        done.append(migration.name)
    return done
