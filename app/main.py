"""The composition root: ``create_app(settings)`` builds everything in the lifespan.

Start-up: the embedded PostgreSQL when no ``DATABASE_URL`` is set, the pool, the
migrations (under their advisory lock), the authenticator, the LLM gateway (litellm is
imported in the background), the event hub and its LISTEN connection, the autopilot
(heartbeat and recovery loops). Shut-down reverses it: running autopilot steps finish and
persist first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from agents.autopilot import Autopilot
from agents.llm import LlmGateway
from agents.llm_calls import record_call
from agents.session_store import list_events
from agents.study import Deps
from app.auth import Authenticator, resolve_secret
from app.database import Db
from app.embedded import EmbeddedPostgres
from app.events import EventHub
from app.graphiql import ASSETS_DIR, ASSETS_PATH
from app.limits import BodyLimit
from app.listener import PgListener
from app.migrations import migrate
from app.services import Services
from app.settings import Settings
from app.users import UserDirectory
from schema import build_schema
from schema.view import GraphQLView

log = logging.getLogger("studypilot")


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Database (embedded if need be), migrations, auth, LLM, events: the long-lived
    clients."""
    async with AsyncExitStack() as stack:
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await embedded.astart()
            stack.push_async_callback(embedded.astop)
        db = Db(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await db.connect()
        stack.push_async_callback(db.disconnect)
        applied = await migrate(db)
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        authenticator = Authenticator(resolve_secret(settings), settings.jwt_audience)
        llm = LlmGateway(settings, partial(record_call, db))
        stack.push_async_callback(llm.aclose)
        # litellm takes seconds to import: load it in the background, off the start-up path.
        warm = asyncio.create_task(warm_up(llm), name="litellm-warm-up")
        stack.callback(warm.cancel)
        hub = EventHub(partial(list_events, db), window=settings.events_cache)
        stack.callback(hub.close)
        listener = PgListener(db.url, hub, reconnect_max_s=settings.events_reconnect_s)
        await listener.start()
        stack.push_async_callback(listener.aclose)
        autopilot = Autopilot(Deps(db, llm, settings))
        await autopilot.start()
        stack.push_async_callback(autopilot.stop)  # first out: running steps finish
        yield Services(settings, db, authenticator, UserDirectory(db), llm, hub, autopilot)


async def warm_up(llm: LlmGateway) -> None:
    """Import litellm, then move everything loaded so far out of the garbage collector's
    way: ~450k long-lived objects made each full collection a 300-400 ms pause."""
    await llm.start()
    gc.collect()
    gc.freeze()


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    try:
        await services.db.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The ASGI app. With ``services`` given (tests), the lifespan opens nothing itself."""
    view = GraphQLView(schema=build_schema(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        async with open_services(settings) as opened:
            app.state.services = opened
            yield

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS_DIR), name="graphiql"),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=settings.max_body_bytes)],
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    return app
