"""Reading a new session: every core field resolves, with the first event logged."""

from tests.conftest import start_session

READ = """
query($id: ID!) {
  session(id: $id) {
    id state version examType topics { id } currentTopic { id }
    history { edges { node { seq action phase } } pageInfo { hasNextPage } }
    usage { calls promptTokens completionTokens costUsd }
    autopilot { status lastSeq currentPhase currentQuestion { id } }
  }
  me { email }
}"""


async def test_start_and_read(make_caller):
    alice = make_caller("alice@example.com")
    session = await start_session(alice)
    assert session["state"] == "INTAKE"
    data = await alice.data(READ, {"id": session["id"]})
    got = data["session"]
    assert got["history"]["edges"] == [
        {"node": {"seq": 1, "action": "session_started", "phase": "INTAKE"}}]
    assert got["usage"] == {"calls": 0, "promptTokens": 0, "completionTokens": 0,
                            "costUsd": 0.0}
    assert got["autopilot"] == {"status": "IDLE", "lastSeq": 1, "currentPhase": "INTAKE",
                                "currentQuestion": None}
    assert (got["topics"], got["currentTopic"]) == ([], None)
    assert data["me"]["email"] == "alice@example.com"


async def test_sessions_pagination(make_caller):
    bob = make_caller()
    made = [await start_session(bob, exam=f"Exam {i}") for i in range(5)]
    seen, after = [], None
    while True:
        page = (await bob.data(
            "query($after: String) { sessions(first: 2, after: $after) { totalCount "
            "edges { node { id } } pageInfo { hasNextPage endCursor } } }",
            {"after": after}))["sessions"]
        assert page["totalCount"] == 5
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [s["id"] for s in reversed(made)]
