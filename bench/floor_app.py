"""The floor: the least a server must do to answer the read workload correctly.

Parse the JSON body, verify the bearer token (PyJWT, HS256, as StudyPilot does), run ONE
SQL statement that builds the whole response document in PostgreSQL (json_build_object
and json_agg, scoped to the caller like StudyPilot's queries), and send its text. The
answer is the JSON document StudyPilot gives for the same GraphQL query, global ids
included (equal once parsed; PostgreSQL's json text has a few more spaces).

Served by uvicorn with uvloop and httptools, no access log, an asyncpg pool sized like
StudyPilot's defaults (2 to 10 connections). asyncpg's pool runs ``Connection.reset()``
(``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``: one more round
trip) each time a connection goes back to the pool; the floor sets no session state, so
by default it skips that (``--pool-reset none``); ``--pool-reset default`` keeps
asyncpg's behaviour, to measure its cost.

    DATABASE_URL=postgresql://... BENCH_JWT_SECRET=... python -m bench.floor_app --port 8101
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET_ENV = "BENCH_JWT_SECRET"


def _global_id(type_name: str, column: str) -> str:
    # base64 of "<Type>:<uuid>" (under 57 bytes, so PostgreSQL's encode adds no newline)
    return f"encode(convert_to('{type_name}:' || {column}, 'UTF8'), 'base64')"


SELECT_SESSION_DOCUMENT = f"""
SELECT json_build_object('data', json_build_object('session', (
    SELECT json_build_object(
        'id', {_global_id('StudySession', 's.id')},
        'examType', s.exam_type,
        'state', s.current_state,
        'topics', coalesce((
            SELECT json_agg(json_build_object(
                'id', {_global_id('Topic', 't.id')},
                'name', t.name,
                'status', t.status,
                'masteryScore', t.mastery_score,
                'quizzes', coalesce((
                    SELECT json_agg(json_build_object(
                        'id', {_global_id('Quiz', 'q.id')},
                        'timeEstimateMinutes', q.time_estimate_minutes
                    ) ORDER BY q.created_at, q.id)
                    FROM quizzes q WHERE q.topic_id = t.id AND q.user_id = $2
                ), '[]'::json)
            ) ORDER BY t.position)
            FROM topics t WHERE t.session_id = s.id
        ), '[]'::json)
    )
    FROM study_sessions s WHERE s.id = $1 AND s.user_id = $2
)))::text"""


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Pool ``reset`` hook that sends nothing (asyncpg still rolls back an open transaction)."""


def _session_id(raw: object) -> UUID | None:
    if not isinstance(raw, str):
        return None
    try:
        return UUID(raw)
    except ValueError:
        pass
    try:
        type_name, _, value = base64.b64decode(raw, validate=True).decode().partition(":")
        return UUID(value) if type_name == "StudySession" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


def create_app(dsn: str, secret: str, *, pool_min: int = 2, pool_max: int = 10,
               reset: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        options = {} if reset else {"reset": _no_reset}
        async with asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max,
                                       **options) as pool:
            app.state.pool = pool
            yield

    async def graphql(request: Request) -> Response:
        try:
            claims = jwt.decode(
                request.headers.get("authorization", "").removeprefix("Bearer "), secret,
                algorithms=["HS256"], options={"require": ["sub"], "verify_aud": False})
            user_id = UUID(str(claims["sub"]))
        except (jwt.InvalidTokenError, ValueError):
            return _error(401, "unauthenticated")
        try:
            body = orjson.loads(await request.body())
            session_id = _session_id(body["variables"]["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(400, "expected {query, variables: {id}}")
        if session_id is None:
            return Response(b'{"data":{"session":null}}', media_type="application/json")
        document = await request.app.state.pool.fetchval(
            SELECT_SESSION_DOCUMENT, session_id, user_id)
        return Response(document, media_type="application/json")

    async def healthz(request: Request) -> JSONResponse:
        await request.app.state.pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]),
                             Route("/healthz", healthz)], lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m bench.floor_app", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pool-min", type=int, default=2)
    p.add_argument("--pool-max", type=int, default=10)
    p.add_argument("--pool-reset", choices=["none", "default"], default="none")
    args = p.parse_args(argv)
    app = create_app(os.environ["DATABASE_URL"], os.environ[SECRET_ENV], pool_min=args.pool_min,
                     pool_max=args.pool_max, reset=args.pool_reset == "default")
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
