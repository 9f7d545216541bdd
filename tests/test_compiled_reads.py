"""Compiled reads (schema/compiled.py) answer exactly what the executor answers.

Two apps share the same services and database: one with compiled reads (the default),
one without. Every document is posted to both and the responses compared byte for
byte; the compiled app's counters tell whether it answered or fell back.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.database import Db
from app.main import create_app
from app.services import Services
from app.settings import Settings
from schema import ids
from schema.compiled import CompiledReads
from tests.conftest import Caller, start_session
from tests.test_study_loop import AP_BIO, PLAN, START, ok, run_topic

FULL = """query Full($id: ID!) { session(id: $id) {
  __typename id examType examDate state version syllabus context createdAt updatedAt
  currentTopic { __typename id name status masteryScore position estimatedMinutes }
  topics { __typename id name status masteryScore position estimatedMinutes
           quizzes { __typename id timeEstimateMinutes score } } } }"""

NODE = """query Node($id: ID!) { node(id: $id) {
  __typename id
  ... on StudySession { state topics { id name } }
  ...T
  ... on Quiz { score timeEstimateMinutes }
} }
fragment T on Topic { name position quizzes { id score } }"""

BENCH = ("query Read($id: ID!) { session(id: $id) { id examType state "
         "topics { id name status masteryScore quizzes { id timeEstimateMinutes } } } }")

MERGED = """query($id: ID!) {
  __typename
  a: session(id: $id) { id x: id topics { name } state topics { id name } }
  b: session(id: $id) { ...S ... on Node { id } ... on StudySession { version } }
  a: session(id: $id) { examType topics { masteryScore } }
}
fragment S on StudySession { state topics { ...T } currentTopic { ...T } }
fragment T on Topic { id n: name quizzes { ... on Quiz { score } ...Q } }
fragment Q on Quiz { id ... { timeEstimateMinutes } }"""

TWO_OPERATIONS = """query One($id: ID!) { session(id: $id) { id } }
query Two($id: ID!) { session(id: $id) { state topics { position } } }"""

# Documents the compiler leaves to the executor (plan is None).
NOT_COMPILED = [
    "query($id: ID!) { session(id: $id) { topics { quizzes { questions { id prompt } } } } }",
    "query($id: ID!) { session(id: $id) { history { edges { node { seq } } } } }",
    "query($id: ID!) { session(id: $id) { id } me { email } }",
    "query($id: ID!, $on: Boolean!) { session(id: $id) { id @include(if: $on) state } }",
    "query($id: ID!) { node(id: $id) { id ... on Topic { explanation { topic } } } }",
    # (a mutation that changes nothing: each document is posted twice)
    'mutation { generatePlan(sessionId: "nope") { session { id } userErrors { code } } }',
    "{ __typename }",
    "query($id: ID!) { session(id: $id) { nope } }",  # invalid: the executor's error
    # over the alias limit (30): refused by the same validation rules, by the executor
    "query($id: ID!) { " + " ".join(f"a{n}: session(id: $id) {{ id }}" for n in range(31)) + " }",
]


@pytest.fixture(scope="module")
async def plain(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The same API with compiled reads off: every document goes through the executor."""
    app = create_app(dataclasses.replace(settings, compiled_reads=False), services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield c


@pytest.fixture(scope="module")
async def compiled(settings: Settings, services: Services
                   ) -> AsyncIterator[tuple[httpx.AsyncClient, CompiledReads]]:
    app = create_app(dataclasses.replace(settings, compiled_reads=True), services=services)
    reads = app.routes[1].app.schema.compiled_reads  # type: ignore[attr-defined]
    assert isinstance(reads, CompiledReads)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield c, reads


async def _both(plain: httpx.AsyncClient, compiled: tuple[httpx.AsyncClient, CompiledReads],
                body: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, int]:
    client, reads = compiled
    before = reads.answered
    expected = await plain.post("/graphql", json=body, headers=headers)
    got = await client.post("/graphql", json=body, headers=headers)
    assert (got.status_code, got.headers["content-type"]) == (
        expected.status_code, expected.headers["content-type"])
    assert got.content == expected.content, (body, got.content, expected.content)
    return got, reads.answered - before


async def _studied_session(caller: Caller, db: Db) -> str:
    session = ok((await caller.data(START, {"input": {
        "examType": f"AP Biology {uuid.uuid4().hex[:6]}", "syllabus": AP_BIO,
        "examDate": "2027-05-11"}}))["startSession"])["session"]
    sid: str = session["id"]
    ok((await caller.data(PLAN, {"id": sid}))["generatePlan"])
    await run_topic(caller, db, sid, wrong=2)
    return sid


async def _studied_topic(caller: Caller, db: Db) -> str:
    sid = await _studied_session(caller, db)
    data = await caller.data("query($id: ID!) { session(id: $id) { topics { id } } }",
                             {"id": sid})
    topic: str = data["session"]["topics"][0]["id"]
    return topic


async def test_compiled_equals_executor(make_caller, db, plain, compiled) -> None:
    caller: Caller = make_caller("reader@example.com")
    auth = {"Authorization": f"Bearer {caller.token}"}
    sid = await _studied_session(caller, db)
    empty = (await start_session(caller, exam="Empty"))["id"]
    bare = str(ids.decode(sid, "StudySession", "id"))
    other = (await start_session(make_caller(), exam="Someone else's"))["id"]
    topic_id = (await caller.data("query($id: ID!) { session(id: $id) { topics { id } } }",
                                  {"id": sid}))["session"]["topics"][0]["id"]

    cases: list[dict[str, Any]] = [
        {"query": FULL, "variables": {"id": sid}},
        {"query": FULL, "variables": {"id": empty}},
        {"query": BENCH, "variables": {"id": sid}},
        {"query": BENCH, "variables": {"id": bare}},           # a bare UUID is accepted
        {"query": MERGED, "variables": {"id": sid}},
        {"query": TWO_OPERATIONS, "variables": {"id": sid}, "operationName": "Two"},
        {"query": TWO_OPERATIONS, "variables": {"id": sid}, "operationName": "One"},
        {"query": f'{{ session(id: "{sid}") {{ id state }} }}'},  # a literal argument
    ]
    for case in cases:
        response, answered = await _both(plain, compiled, case, auth)
        assert answered == 1, case
        assert "errors" not in response.json()
    full = (await caller.data(FULL, {"id": sid}))["session"]
    assert full["examDate"] == "2027-05-11" and full["state"] == "ANALYZING"
    assert full["currentTopic"]["id"] == full["topics"][0]["id"]
    [score] = [q["score"] for q in full["topics"][0]["quizzes"]]
    assert 0 < score < 1  # two of its questions answered wrong
    assert full["topics"][1]["quizzes"] == [] and len(full["topics"]) > 3

    # Relay's node(id:), for each type it may name (and null for the rest).
    quiz_id = full["topics"][0]["quizzes"][0]["id"]
    other_topic = await _studied_topic(make_caller(), db)
    for id_ in [sid, topic_id, quiz_id, empty, bare, other, other_topic, str(uuid.uuid4()),
                "not-an-id", ids.encode("Nope", uuid.uuid4())]:
        response, answered = await _both(plain, compiled,
                                         {"query": NODE, "variables": {"id": id_}}, auth)
        assert answered == 1 and "errors" not in response.json(), id_
    nodes = [(await caller.data(NODE, {"id": id_}))["node"] for id_ in [sid, topic_id, quiz_id]]
    assert [n["__typename"] for n in nodes] == ["StudySession", "Topic", "Quiz"]
    assert nodes[0]["topics"] and nodes[1]["quizzes"] and nodes[2]["score"] == score
    assert (await caller.data(NODE, {"id": bare}))["node"] is None  # node needs a global id
    assert (await caller.data(NODE, {"id": other_topic}))["node"] is None

    # Answered null by both, compiled: absent, another user's, malformed, of another type.
    for id_ in [other, str(uuid.uuid4()), "not-an-id", topic_id, "x" * 300]:
        response, answered = await _both(plain, compiled,
                                         {"query": BENCH, "variables": {"id": id_}}, auth)
        assert answered == 1 and response.json() == {"data": {"session": None}}, id_


async def test_other_documents_and_bad_requests_fall_back(make_caller, plain, compiled) -> None:
    caller: Caller = make_caller()
    auth = {"Authorization": f"Bearer {caller.token}"}
    sid = (await start_session(caller))["id"]
    for query in NOT_COMPILED:
        _, answered = await _both(plain, compiled,
                                  {"query": query, "variables": {"id": sid, "on": True}}, auth)
        assert answered == 0, query
        assert compiled[1].plan(query, None) is None, query
    fallbacks = [
        ({"query": BENCH, "variables": {"id": sid}}, {}),                       # no token
        ({"query": BENCH, "variables": {"id": sid}}, {"Authorization": "Bearer nope"}),
        ({"query": BENCH, "variables": {"id": True}}, auth),          # does not coerce
        ({"query": BENCH, "variables": {}}, auth),                     # missing variable
        ({"query": BENCH}, auth),
        ({"query": BENCH, "variables": {"id": sid}, "operationName": "Nope"}, auth),
        ({"query": BENCH, "variables": [sid]}, auth),
        ({"query": 42}, auth),
    ]
    for body, headers in fallbacks:
        response, answered = await _both(plain, compiled, body, headers)
        assert answered == 0, body
        assert "errors" in response.json(), body
    # No operationName with two operations: left to the executor (strawberry runs the first).
    _, answered = await _both(plain, compiled, {"query": TWO_OPERATIONS, "variables": {"id": sid}},
                              auth)
    assert answered == 0


async def test_one_statement_whatever_the_number_of_topics(make_caller, db, compiled,
                                                            monkeypatch) -> None:
    caller: Caller = make_caller()
    auth = {"Authorization": f"Bearer {caller.token}"}
    small = (await start_session(caller, exam="Small"))["id"]
    large = await _studied_session(caller, db)
    client, _ = compiled
    await client.post("/graphql", json={"query": FULL, "variables": {"id": small}}, headers=auth)
    sent: list[str] = []
    for name in ("fetch", "fetchrow", "fetchval", "execute"):
        method = getattr(Db, name)

        async def spy(self: Db, sql: str, *args: Any, _method: Any = method) -> Any:
            sent.append(sql)
            return await _method(self, sql, *args)

        monkeypatch.setattr(Db, name, spy)
    counts = []
    for sid in (small, large):
        sent.clear()
        response = await client.post("/graphql", json={"query": FULL, "variables": {"id": sid}},
                                      headers=auth)
        counts.append(len(sent))
        assert "errors" not in response.json()
    assert len((await caller.data(FULL, {"id": large}))["session"]["topics"]) > 3
    assert counts == [1, 1], counts


async def test_timestamps_whatever_the_session_time_zone(make_caller, db, compiled) -> None:
    """PostgreSQL writes a timestamptz into JSON in the session's TimeZone; the compiled
    answer must still be the executor's (asyncpg gives UTC)."""
    caller: Caller = make_caller()
    sid = (await start_session(caller))["id"]
    expected = (await caller.data(FULL, {"id": sid}))["session"]
    plan = compiled[1].plan(FULL, None)
    assert plan is not None
    parameters = plan.parameters(caller.user_id, {"id": sid}, compiled[1].schema)
    async with db.raw() as conn:
        await conn.execute("SET TIME ZONE 'Asia/Kolkata'")
        try:
            assert "+05:30" in await conn.fetchval("SELECT to_json(now())::text")
            got = plan.build(await conn.fetchval(plan.sql, *parameters))["session"]
        finally:
            await conn.execute("RESET TIME ZONE")
    assert expected["createdAt"].endswith("+00:00")
    assert (got["createdAt"], got["updatedAt"]) == (expected["createdAt"], expected["updatedAt"])
    assert got == expected


PAGE = """query Page($first: Int, $after: String) {
  sessions(first: $first, after: $after) {
    __typename totalCount
    edges { __typename cursor node { id examType state createdAt topics { name } } }
    nodes { id version }
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

PAGE_MIXED = """query($id: ID!) {
  one: session(id: $id) { id state }
  sessions(first: 3) { ...Conn }
  more: sessions { totalCount pageInfo { endCursor } nodes { ... on StudySession { id } } }
}
fragment Conn on StudySessionConnection {
  edges { node { id currentTopic { id } } cursor } pageInfo { hasNextPage }
}"""


async def test_sessions_pages_equal_the_executor(make_caller, db, plain, compiled) -> None:
    caller: Caller = make_caller()
    auth = {"Authorization": f"Bearer {caller.token}"}
    studied = await _studied_session(caller, db)
    for n in range(4):
        await start_session(caller, exam=f"Exam {n}")
    await start_session(make_caller(), exam="Someone else's")  # never in this caller's pages

    seen, after, pages = [], None, 0
    while True:
        response, answered = await _both(
            plain, compiled, {"query": PAGE, "variables": {"first": 2, "after": after}}, auth)
        assert answered == 1 and "errors" not in response.json()
        page = response.json()["data"]["sessions"]
        assert page["totalCount"] == 5
        seen += [edge["node"]["examType"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3 and seen[:4] == ["Exam 3", "Exam 2", "Exam 1", "Exam 0"]
    assert seen[4].startswith("AP Biology")

    for variables in [{}, {"first": 0}, {"first": 50}, {"first": None, "after": None}]:
        response, answered = await _both(plain, compiled, {"query": PAGE, "variables": variables},
                                         auth)
        assert answered == 1 and "errors" not in response.json(), variables
    response, answered = await _both(plain, compiled,
                                     {"query": PAGE_MIXED, "variables": {"id": studied}}, auth)
    assert answered == 1 and "errors" not in response.json()

    # Refused by the resolver (its own errors): the executor answers.
    for variables in [{"first": -1}, {"first": 51}, {"after": "not a cursor"},
                      {"after": "bm90LWEtZGF0ZXxub3BlCg=="}, {"first": "two"}]:
        response, answered = await _both(plain, compiled, {"query": PAGE, "variables": variables},
                                         auth)
        assert answered == 0 and "errors" in response.json(), variables


async def test_floats_leave_postgresql_in_full_precision(db) -> None:
    """Compiled reads carry a float (a quiz score) as PostgreSQL's JSON text; every pool
    connection writes floats exactly, even on a server configured with fewer digits."""
    assert await db.fetchval("SHOW extra_float_digits") == "3"
    assert await db.fetchval("SELECT to_json((2.0 / 3)::float8)") == 2 / 3
