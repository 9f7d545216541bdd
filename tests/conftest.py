"""Shared fixtures: a real PostgreSQL (``DATABASE_URL``'s server, else the embedded one),
a fresh database per run with the migrations applied, and an in-process HTTP client."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from agents.autopilot import Autopilot
from agents.llm import LlmGateway
from agents.llm_calls import record_call
from agents.session_store import list_events
from agents.study import Deps
from app.auth import Authenticator
from app.database import Db
from app.embedded import EmbeddedPostgres
from app.events import EventHub
from app.listener import PgListener
from app.migrations import migrate
from app.services import Services
from app.settings import Settings
from app.users import UserDirectory
from tests import network_guard  # installed by tests/__init__.py, before these imports


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Fail any test during which something tried to leave this machine."""
    before = len(network_guard.attempts)
    yield
    tried = network_guard.attempts[before:]
    assert not tried, f"non-loopback network use: {tried}"


TEST_SECRET = "test-secret-" + "x" * 40


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: the one in DATABASE_URL, or an embedded one for this run."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded")))
    yield embedded.start()
    embedded.stop()


async def create_database(server: str) -> str:
    name = f"studypilot_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server, name)


async def drop_database(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[Any]:
    """A factory of empty databases on the test server, dropped at the end."""
    made: list[str] = []

    async def make() -> str:
        url = await create_database(server_url)
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_database(server_url, url)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(jwt_secret=None, max_page_size=50)


@pytest.fixture(scope="session")
async def db(fresh_database: Any) -> AsyncIterator[Db]:
    database = Db(await fresh_database(), min_size=1, max_size=20)
    await database.connect()
    await migrate(database)
    yield database
    await database.disconnect()


@pytest.fixture(scope="session")
def authenticator() -> Authenticator:
    return Authenticator(TEST_SECRET)


@pytest.fixture(scope="session")
async def services(settings: Settings, db: Db, authenticator: Authenticator
                   ) -> AsyncIterator[Services]:
    llm = LlmGateway(settings, partial(record_call, db))
    hub = EventHub(partial(list_events, db), window=settings.events_cache)
    listener = PgListener(db.url, hub, reconnect_max_s=settings.events_reconnect_s)
    await listener.start()
    autopilot = Autopilot(Deps(db, llm, settings))
    await autopilot.start()
    yield Services(settings, db, authenticator, UserDirectory(db), llm, hub, autopilot)
    await autopilot.stop()
    await listener.aclose()
    hub.close()


@pytest.fixture(scope="session")
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import create_app

    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


class Caller:
    """A user with a token, posting GraphQL as themselves."""

    def __init__(self, client: httpx.AsyncClient, token: str, user_id: uuid.UUID) -> None:
        self.client = client
        self.token = token
        self.user_id = user_id

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


@pytest.fixture
def make_caller(client: httpx.AsyncClient, authenticator: Authenticator) -> Any:
    def make(email: str | None = None) -> Caller:
        user_id = uuid.uuid4()
        return Caller(client, authenticator.mint(user_id, email), user_id)

    return make


START = """
mutation($input: StartSessionInput!) {
  startSession(input: $input) {
    session { id state version examType examDate }
    userErrors { code message field }
  }
}"""

SYLLABUS = """Unit 1: Cell biology
- Cell membrane structure and transport
- Mitochondria and cellular respiration
Unit 2: Genetics
- DNA replication
- Mendelian inheritance
"""


async def start_session(caller: Caller, exam: str = "AP Biology") -> dict[str, Any]:
    data = await caller.data(START, {"input": {"examType": exam, "syllabus": SYLLABUS}})
    payload: dict[str, Any] = data["startSession"]
    assert payload["userErrors"] == []
    session: dict[str, Any] = payload["session"]
    return session
