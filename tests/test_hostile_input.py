"""Hostile input: limits on documents, bodies and texts; malformed requests answer per
GraphQL-over-HTTP; none of it crashes the process or writes anything."""

from __future__ import annotations

import pytest

from app.settings import Settings
from schema import build_schema
from tests.conftest import START

SYLLABUS_5MB = "Cell biology and genetics. " * (5 * 1024 * 1024 // 26)


async def counts(db) -> tuple[int, int]:
    return (await db.fetchval("SELECT count(*) FROM study_sessions"),
            await db.fetchval("SELECT count(*) FROM session_events"))


@pytest.fixture
async def unchanged(db):
    before = await counts(db)
    yield
    assert await counts(db) == before


def deep_introspection(depth: int) -> str:
    inner = "name"
    for _ in range(depth):
        inner = f"ofType {{ {inner} }}"
    return f'{{ __type(name: "Query") {{ fields {{ type {{ {inner} }} }} }} }}'


async def test_depth_limit() -> None:
    schema = build_schema(Settings(max_query_depth=4))
    deep = "{ sessions { edges { node { topics { quizzes { id } } } } } }"
    result = await schema.execute(deep)
    assert "exceeds maximum operation depth" in result.errors[0].message


async def test_deep_introspection_is_bounded_by_tokens(make_caller, unchanged) -> None:
    """The depth limiter skips introspection; the token limit still bounds it."""
    body = await make_caller().post(deep_introspection(700))
    message = body["errors"][0]["message"].lower()
    assert "token" in message or "nested too deeply" in message


async def test_alias_limit(make_caller, unchanged) -> None:
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }"
    body = await make_caller().post(query)
    assert "aliases" in body["errors"][0]["message"]


async def test_token_limit(make_caller, unchanged) -> None:
    query = "{ me { " + " ".join(["id"] * 2500) + " } }"
    body = await make_caller().post(query)
    assert "token" in body["errors"][0]["message"].lower()


async def test_five_megabyte_syllabus_is_invalid_input(make_caller, unchanged) -> None:
    caller = make_caller()
    body = await caller.data(START, {"input": {"examType": "AP Bio", "syllabus": SYLLABUS_5MB}})
    error = body["startSession"]["userErrors"][0]
    assert body["startSession"]["session"] is None
    assert error["code"] == "INVALID_INPUT"
    assert error["field"] == ["input", "syllabus"]


@pytest.mark.parametrize(("field", "value"), [
    ("examType", ""), ("examType", "   "), ("examType", "x" * 201), ("syllabus", "\x00 \n"),
])
async def test_empty_or_long_text_is_invalid_input(make_caller, unchanged, field, value) -> None:
    inputs = {"examType": "AP Bio", "syllabus": "Cells", field: value}
    body = await make_caller().data(START, {"input": inputs})
    assert body["startSession"]["userErrors"][0]["field"] == ["input", field]


async def test_body_over_cap_is_413(client, services, unchanged) -> None:
    cap = services.settings.max_body_bytes
    response = await client.post("/graphql", content=b'{"query": "' + b"a" * cap + b'"}',
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("content", "ctype", "status"), [
    (b'{"query": ', "application/json", 400),
    (b'{"variables": {}}', "application/json", 400),
    (b'{"query": 42}', "application/json", 400),
    (b'{"query": "{ me { id } }", "variables": [1]}', "application/json", 400),
    (b"query { me { id } }", "text/plain", 415),
    (b"\xff\xfe\x00", "application/json", 400),
])
async def test_malformed_requests(client, unchanged, content, ctype, status) -> None:
    response = await client.post("/graphql", content=content, headers={"content-type": ctype})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["message"]


async def test_unknown_operation_name(make_caller, unchanged) -> None:
    caller = make_caller()
    response = await caller.client.post(
        "/graphql", json={"query": "query A { me { id } }", "operationName": "B"},
        headers={"Authorization": f"Bearer {caller.token}"})
    assert response.status_code in (200, 400)
    assert "B" in response.json()["errors"][0]["message"]


async def test_mutation_over_get_is_refused(client, unchanged) -> None:
    query = 'mutation { startSession(input: {examType: "a", syllabus: "b"}) { session { id } } }'
    response = await client.get("/graphql", params={"query": query})
    assert response.status_code == 405


async def test_wrong_argument_types_are_validation_errors(make_caller, unchanged) -> None:
    body = await make_caller().post(START, {"input": {"examType": 5, "syllabus": None}})
    assert body["data"] is None
    assert body["errors"]


@pytest.mark.parametrize("bad_id", ["", "nope", "U3R1ZHk=", "x" * 500,
                                    "VG9waWM6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"])
async def test_bad_ids_in_mutations(make_caller, unchanged, bad_id) -> None:
    body = await make_caller().data(
        "mutation($id: ID!) { nextTopic(sessionId: $id) { session { id } "
        "userErrors { code field } } }", {"id": bad_id})
    assert body["nextTopic"]["userErrors"] == [{"code": "INVALID_INPUT", "field": ["sessionId"]}]


async def test_bad_cursors_and_page_sizes(make_caller, unchanged) -> None:
    caller = make_caller()
    for args in ['first: -1', 'first: 100000', 'after: "%%%"', 'after: "bm9wZQ=="']:
        body = await caller.post(f"{{ sessions({args}) {{ totalCount }} }}")
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", args


async def test_unexpected_errors_are_masked(make_caller) -> None:
    from graphql import GraphQLError

    from schema.errors import should_mask

    assert should_mask(GraphQLError("boom", original_error=RuntimeError("secret detail")))


async def test_server_still_healthy(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_long_documents_are_never_cached(make_caller) -> None:
    """A document over STUDYPILOT_MAX_CACHED_QUERY_CHARS is answered but kept by no cache:
    otherwise 1,024 distinct multi-megabyte documents would each stay in memory."""
    from uuid import uuid4

    from schema import BoundedParserCache, BoundedValidationCache

    parse_cache = BoundedParserCache(1024, 1).cached_parse_document
    validate_cache = BoundedValidationCache(1024, 1).cached_validate_document
    reads = build_schema(Settings()).compiled_reads
    assert reads is not None

    def sizes() -> tuple[int, int]:
        return parse_cache.cache_info().currsize, validate_cache.cache_info().currsize

    caller = make_caller()
    long_id = "x" * Settings().max_cached_query_chars
    long_query = f'{{ session(id: "{long_id}") {{ id }} me {{ email }} }}'  # the executor's
    before = sizes()
    assert await caller.data(long_query) == {"session": None, "me": {"email": None}}
    assert sizes() == before
    long_compilable = f'{{ session(id: "{long_id}") {{ id }} }}'
    assert await caller.data(long_compilable) == {"session": None}
    assert reads.plan(long_compilable, None) is None and len(reads._plans) == 0

    compiled = f'{{ session(id: "{uuid4()}") {{ id }} }}'  # answered by a compiled read
    assert reads.plan(compiled, None) is not None and len(reads._plans) == 1
    executed = f'{{ a: session(id: "{uuid4()}") {{ id }} me {{ email }} }}'
    assert await caller.data(executed) == {"a": None, "me": {"email": None}}
    assert sizes() == (before[0] + 1, before[1] + 1)
