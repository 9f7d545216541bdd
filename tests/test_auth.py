"""Auth: bearer JWTs, users on first sight, every operation scoped to the caller."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from app.auth import Authenticator, local_user_id, resolve_secret
from app.settings import Settings
from tests.conftest import TEST_SECRET, start_session

ME = "{ me { id email } }"


async def post(client, query, token=None, variables=None):
    headers = {"Authorization": token} if token is not None else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers)
    assert response.status_code == 200
    return response.json()


def claims_token(secret=TEST_SECRET, **claims):
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


BAD_TOKENS = {
    "missing": None,
    "empty": "",
    "not bearer": "Basic dXNlcjpwYXNz",
    "bearer without token": "Bearer ",
    "garbage": "Bearer not.a.jwt",
    "wrong secret": claims_token("another-secret-" + "y" * 40, sub=str(uuid.uuid4())),
    "expired": claims_token(sub=str(uuid.uuid4()), exp=int(time.time()) - 10),
    "no sub": claims_token(email="a@b.c"),
    "sub not uuid": claims_token(sub="12345"),
    "alg none": "Bearer " + jwt.encode({"sub": str(uuid.uuid4())}, None, algorithm="none"),
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_bad_credentials_are_unauthenticated(client, db, name) -> None:
    users_before = await db.fetchval("SELECT count(*) FROM users")
    body = await post(client, ME, BAD_TOKENS[name])
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await db.fetchval("SELECT count(*) FROM users") == users_before


async def test_user_created_on_first_sight(client, db, authenticator) -> None:
    user_id = uuid.uuid4()
    token = "Bearer " + authenticator.mint(user_id, "new@example.com")
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 0
    body = await post(client, ME, token)
    assert body["data"]["me"] == {"id": str(user_id), "email": "new@example.com"}
    await post(client, ME, token)
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 1


def test_token_command_is_stable_per_email(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    secret = resolve_secret(settings)
    assert len(secret) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
    assert resolve_secret(settings) == secret
    auth = Authenticator(secret)
    identity = auth.verify("Bearer " + auth.mint(local_user_id("Me@Example.com"), "me@x"))
    assert identity.user_id == local_user_id("me@example.com")


def test_audience_is_checked_when_configured() -> None:
    auth = Authenticator(TEST_SECRET, audience="authenticated")
    good = auth.mint(uuid.uuid4(), None)
    assert auth.verify("Bearer " + good)
    plain = Authenticator(TEST_SECRET).mint(uuid.uuid4(), None)
    from app.auth import AuthError

    with pytest.raises(AuthError):
        auth.verify("Bearer " + plain)


# Every operation, given another user's ids, answers as if they did not exist.
READS = {
    "session": ("query($id: ID!) { session(id: $id) { id } }", lambda d: d["session"]),
    "node": ("query($id: ID!) { node(id: $id) { id } }", lambda d: d["node"]),
}
WRITES = {
    "saveSession": 'mutation($id: ID!) { saveSession(sessionId: $id, phase: PLANNING, '
                   'context: {}) { session { id } userErrors { code } } }',
    "nextTopic": "mutation($id: ID!) { nextTopic(sessionId: $id) { session { id } "
                 "userErrors { code } } }",
    "completeSession": "mutation($id: ID!) { completeSession(sessionId: $id) { session { id } "
                       "userErrors { code } } }",
}


async def test_reads_are_scoped(make_caller) -> None:
    alice, mallory = make_caller(), make_caller()
    session = await start_session(alice)
    for name, (query, pick) in READS.items():
        assert pick(await alice.data(query, {"id": session["id"]})) is not None, name
        assert pick(await mallory.data(query, {"id": session["id"]})) is None, name
    listing = await mallory.data("{ sessions { totalCount edges { node { id } } } }")
    assert listing["sessions"] == {"totalCount": 0, "edges": []}


@pytest.mark.parametrize("name", list(WRITES))
async def test_writes_are_scoped(make_caller, name) -> None:
    alice, mallory = make_caller(), make_caller()
    session = await start_session(alice)
    read = "query($id: ID!) { session(id: $id) { state version } }"
    before = await alice.data(read, {"id": session["id"]})
    body = (await mallory.data(WRITES[name], {"id": session["id"]}))[name]
    assert body["session"] is None
    assert body["userErrors"][0]["code"] == "NOT_FOUND"
    assert await alice.data(read, {"id": session["id"]}) == before


async def test_mutations_need_credentials(client) -> None:
    body = await post(client, 'mutation { startSession(input: {examType: "x", syllabus: "y"}) '
                              "{ session { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
