"""Idempotency keys: a retried mutation gets the first response and runs once."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import START, SYLLABUS


async def post(caller, body, key=None):
    headers = {"Authorization": f"Bearer {caller.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await caller.client.post("/graphql", json=body, headers=headers)


def start_body(exam: str = "AP Biology") -> dict:
    return {"query": START, "variables": {"input": {"examType": exam, "syllabus": SYLLABUS}}}


async def count_sessions(db, caller) -> int:
    return await db.fetchval("SELECT count(*) FROM study_sessions WHERE user_id = $1",
                             caller.user_id)


async def test_retry_replays_the_first_response(make_caller, db) -> None:
    caller = make_caller()
    key = str(uuid.uuid4())
    first = await post(caller, start_body(), key)
    again = await post(caller, start_body(), key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_sessions(db, caller) == 1


async def test_concurrent_retries_run_once(make_caller, db) -> None:
    caller = make_caller()
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*[post(caller, start_body(), key) for _ in range(5)])
    bodies = {r.text for r in responses if r.status_code == 200}
    assert len(bodies) == 1
    assert await count_sessions(db, caller) == 1


async def test_same_key_different_request_is_refused(make_caller, db) -> None:
    caller = make_caller()
    key = str(uuid.uuid4())
    assert (await post(caller, start_body("A"), key)).status_code == 200
    reused = await post(caller, start_body("B"), key)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count_sessions(db, caller) == 1


async def test_keys_are_per_user_and_ignored_for_queries(make_caller, db) -> None:
    alice, bob = make_caller(), make_caller()
    key = "shared-key"
    await post(alice, start_body(), key)
    await post(bob, start_body(), key)
    assert await count_sessions(db, alice) == await count_sessions(db, bob) == 1
    query = {"query": "{ me { id } }"}
    assert "idempotent-replayed" not in (await post(alice, query, key)).headers
    assert "idempotent-replayed" not in (await post(alice, query, key)).headers


async def test_bad_keys(make_caller) -> None:
    caller = make_caller()
    response = await post(caller, start_body(), "x" * 201)
    assert response.status_code == 400
