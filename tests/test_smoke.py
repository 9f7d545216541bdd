from tests.conftest import start_session


async def test_start_and_read(make_caller):
    alice = make_caller("alice@example.com")
    session = await start_session(alice)
    assert session["state"] == "INTAKE"
    data = await alice.data("query($id: ID!) { session(id: $id) { id state history { edges { node { seq action phase } } } usage { calls } autopilot { status lastSeq } topics { id } } me { email } }", {"id": session["id"]})
    print(data)
    assert data["session"]["history"]["edges"][0]["node"]["seq"] == 1
