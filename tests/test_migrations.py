"""Migrations: from empty, re-run as a no-op, concurrent runners, edited files refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from app.database import Db
from app.migrations import MigrationError, load_migrations, migrate

TABLES = {"users", "study_sessions", "topics", "plan_cache", "tutor_chats", "quizzes",
          "session_events", "llm_calls", "schema_migrations"}


async def connected(url: str) -> Db:
    db = Db(url, min_size=1, max_size=4)
    await db.connect()
    return db


async def test_from_empty_then_noop(fresh_database) -> None:
    db = await connected(await fresh_database())
    try:
        applied = await migrate(db)
        assert applied == [m.name for m in load_migrations()]
        tables = {r["tablename"] for r in await db.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert TABLES <= tables
        assert await migrate(db) == []
        count = await db.fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
    finally:
        await db.disconnect()


async def test_concurrent_runners_apply_once(fresh_database) -> None:
    url = await fresh_database()
    dbs = [await connected(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*[migrate(db) for db in dbs])
        names = [name for applied in results for name in applied]
        assert sorted(names) == sorted(m.name for m in load_migrations())
    finally:
        for db in dbs:
            await db.disconnect()


async def test_schema_has_the_promised_constraints(db) -> None:
    fks = {(r["table_name"], r["column_name"]) for r in await db.fetch("""
        SELECT kcu.table_name, kcu.column_name FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu USING (constraint_name, table_schema)
        WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'""")}
    assert {("study_sessions", "user_id"), ("topics", "session_id"),
            ("tutor_chats", "topic_id"), ("quizzes", "topic_id"),
            ("session_events", "session_id")} <= fks
    unique = await db.fetchval("""
        SELECT count(*) FROM pg_indexes WHERE tablename = 'session_events'
        AND indexdef LIKE '%UNIQUE%(session_id, seq)%'""")
    assert unique == 1


async def test_events_are_append_only(db, make_caller) -> None:
    from tests.conftest import start_session

    caller = make_caller()
    await start_session(caller)
    import asyncpg

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE session_events SET action = 'x' WHERE seq = 1")


async def test_edited_migration_is_refused(fresh_database, tmp_path: Path) -> None:
    source = Path(load_migrations()[0].name)
    import sql

    src_dir = Path(sql.__file__).parent
    for path in src_dir.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    db = await connected(await fresh_database())
    try:
        await migrate(db, tmp_path)
        edited = tmp_path / source.name
        edited.write_text(edited.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(db, tmp_path)
        (tmp_path / "999_new_table.sql").write_text("CREATE TABLE extra (id int);")
        edited.write_text(load_migrations()[0].sql)
        assert await migrate(db, tmp_path) == ["999_new_table.sql"]
    finally:
        await db.disconnect()
