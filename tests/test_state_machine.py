"""The state machine: the table, every refused transition, atomicity, concurrency."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from agents import state_machine
from agents.errors import InvalidTransition
from agents.state_machine import TRANSITIONS, Command, StudyPhase, next_phase
from tests.conftest import start_session

EXPECTED = {
    (StudyPhase.INTAKE, Command.GENERATE_PLAN): StudyPhase.PLANNING,
    (StudyPhase.PLANNING, Command.START_TOPIC): StudyPhase.LEARNING,
    (StudyPhase.LEARNING, Command.TAKE_QUIZ): StudyPhase.QUIZZING,
    (StudyPhase.QUIZZING, Command.SUBMIT_ANSWERS): StudyPhase.ANALYZING,
    (StudyPhase.ANALYZING, Command.NEXT_TOPIC): StudyPhase.PLANNING,
    (StudyPhase.ANALYZING, Command.COMPLETE): StudyPhase.COMPLETED,
}
ALL_PAIRS = list(itertools.product(StudyPhase, Command))


@pytest.mark.parametrize(("phase", "command"), ALL_PAIRS)
def test_table(phase: StudyPhase, command: Command) -> None:
    expected = EXPECTED.get((phase, command))
    if expected is None:
        with pytest.raises(InvalidTransition) as err:
            next_phase(phase, command)
        assert phase.value in err.value.message
        for move in state_machine.allowed_moves(phase):
            assert move in err.value.message
    else:
        assert next_phase(phase, command) is expected


def test_table_is_exactly_the_seed() -> None:
    flat = {(p, c): t for p, moves in TRANSITIONS.items() for c, t in moves.items()}
    assert flat == EXPECTED


SAVE = """
mutation($id: ID!, $phase: StudyPhase!, $ctx: JSON!, $v: Int) {
  saveSession(sessionId: $id, phase: $phase, context: $ctx, expectedVersion: $v) {
    session { state version context }
    userErrors { code message field }
  }
}"""
NEXT = """mutation($id: ID!) { nextTopic(sessionId: $id) {
  session { state version } userErrors { code message } } }"""
COMPLETE = """mutation($id: ID!) { completeSession(sessionId: $id) {
  session { state version } userErrors { code message } } }"""
READ = """query($id: ID!) { session(id: $id) { state version context
  history(first: 50) { edges { node { seq action phase } } } } }"""

PATH = [StudyPhase.PLANNING, StudyPhase.LEARNING, StudyPhase.QUIZZING, StudyPhase.ANALYZING]


async def walk_to(caller, session_id: str, target: StudyPhase) -> None:
    """Move along the allowed path from wherever the session is to ``target``."""
    here = StudyPhase((await snapshot(caller, session_id))["state"])
    start = PATH.index(here) + 1 if here in PATH else 0
    for phase in PATH[start:]:
        body = await caller.data(SAVE, {"id": session_id, "phase": phase.value, "ctx": {}})
        assert body["saveSession"]["userErrors"] == []
        if phase is target:
            return


async def snapshot(caller, session_id: str) -> dict:
    return (await caller.data(READ, {"id": session_id}))["session"]


@pytest.mark.parametrize("phase", list(StudyPhase))
async def test_every_refused_save_changes_nothing(make_caller, phase: StudyPhase) -> None:
    """From each phase, every phase that is neither current nor allowed is refused."""
    caller = make_caller()
    session = await start_session(caller)
    if phase is StudyPhase.COMPLETED:
        await walk_to(caller, session["id"], StudyPhase.ANALYZING)
        assert (await caller.data(COMPLETE, {"id": session["id"]}))["completeSession"][
            "userErrors"] == []
    elif phase is not StudyPhase.INTAKE:
        await walk_to(caller, session["id"], phase)
    allowed = set(TRANSITIONS[phase].values()) | {phase}
    for target in StudyPhase:
        if target in allowed:
            continue
        before = await snapshot(caller, session["id"])
        body = await caller.data(SAVE, {"id": session["id"], "phase": target.value,
                                        "ctx": {"current_topic": "x"}})
        errors = body["saveSession"]["userErrors"]
        assert body["saveSession"]["session"] is None
        assert errors[0]["code"] == "INVALID_TRANSITION"
        assert phase.value in errors[0]["message"]
        assert await snapshot(caller, session["id"]) == before


@pytest.mark.parametrize(("mutation", "name"), [(NEXT, "nextTopic"), (COMPLETE, "completeSession")])
@pytest.mark.parametrize("phase", [p for p in StudyPhase if p is not StudyPhase.ANALYZING])
async def test_refused_commands_change_nothing(make_caller, mutation, name, phase) -> None:
    caller = make_caller()
    session = await start_session(caller)
    if phase is StudyPhase.COMPLETED:
        await walk_to(caller, session["id"], StudyPhase.ANALYZING)
        await caller.data(COMPLETE, {"id": session["id"]})
    elif phase is not StudyPhase.INTAKE:
        await walk_to(caller, session["id"], phase)
    before = await snapshot(caller, session["id"])
    body = (await caller.data(mutation, {"id": session["id"]}))[name]
    assert body["session"] is None
    assert body["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert f"in {phase.value}" in body["userErrors"][0]["message"]
    assert await snapshot(caller, session["id"]) == before


async def test_full_loop_writes_one_event_per_step(make_caller) -> None:
    caller = make_caller()
    session = await start_session(caller)
    await walk_to(caller, session["id"], StudyPhase.ANALYZING)
    assert (await caller.data(NEXT, {"id": session["id"]}))["nextTopic"]["session"][
        "state"] == "PLANNING"
    await walk_to(caller, session["id"], StudyPhase.ANALYZING)
    done = (await caller.data(COMPLETE, {"id": session["id"]}))["completeSession"]
    assert done["session"]["state"] == "COMPLETED"
    after = await snapshot(caller, session["id"])
    events = [e["node"] for e in after["history"]["edges"]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["action"] for e in events] == [
        "session_started", "generate_plan", "start_topic", "take_quiz", "submit_answers",
        "next_topic", "start_topic", "take_quiz", "submit_answers", "complete",
    ]
    assert after["version"] == len(events)


async def test_save_context_round_trips_and_checks_version(make_caller) -> None:
    caller = make_caller()
    session = await start_session(caller)
    ctx = {"current_topic": "Mitosis", "last_quiz_score": 80, "misconceptions": ["a"],
           "extra_data": {"k": [1, 2]}}
    saved = (await caller.data(SAVE, {"id": session["id"], "phase": "INTAKE", "ctx": ctx,
                                      "v": 1}))["saveSession"]
    assert saved["userErrors"] == []
    assert saved["session"]["version"] == 2
    assert saved["session"]["context"]["extra_data"] == {"k": [1, 2]}
    assert saved["session"]["context"]["v"] == 1
    stale = (await caller.data(SAVE, {"id": session["id"], "phase": "INTAKE", "ctx": {},
                                      "v": 1}))["saveSession"]
    assert stale["userErrors"][0]["code"] == "CONFLICT"
    assert (await snapshot(caller, session["id"]))["context"]["current_topic"] == "Mitosis"


@pytest.mark.parametrize(("ctx", "field"), [
    ([1, 2], ["context"]),
    ({"unknown_key": 1}, ["context", "unknown_key"]),
    ({"last_quiz_score": 101}, ["context", "last_quiz_score"]),
    ({"misconceptions": "not a list"}, ["context", "misconceptions"]),
    ({"extra_data": {"blob": "x" * 70_000}}, ["context"]),
])
async def test_bad_context_is_invalid_input(make_caller, ctx, field) -> None:
    caller = make_caller()
    session = await start_session(caller)
    before = await snapshot(caller, session["id"])
    body = (await caller.data(SAVE, {"id": session["id"], "phase": "PLANNING",
                                     "ctx": ctx}))["saveSession"]
    assert body["userErrors"][0]["code"] == "INVALID_INPUT"
    assert body["userErrors"][0]["field"] == field
    assert await snapshot(caller, session["id"]) == before


async def test_ten_concurrent_writers_one_winner(make_caller, db) -> None:
    caller = make_caller()
    session = await start_session(caller)
    await walk_to(caller, session["id"], StudyPhase.ANALYZING)
    before = await snapshot(caller, session["id"])
    results = await asyncio.gather(*[
        caller.data(NEXT if i % 2 else COMPLETE, {"id": session["id"]}) for i in range(10)
    ])
    payloads = [next(iter(r.values())) for r in results]
    winners = [p for p in payloads if p["session"] is not None]
    losers = [p["userErrors"][0]["code"] for p in payloads if p["session"] is None]
    assert len(winners) == 1
    assert set(losers) <= {"CONFLICT", "INVALID_TRANSITION"} and len(losers) == 9
    after = await snapshot(caller, session["id"])
    assert after["version"] == before["version"] + 1
    seqs = [e["node"]["seq"] for e in after["history"]["edges"]]
    assert seqs == list(range(1, len(before["history"]["edges"]) + 2))


async def test_ten_concurrent_saves_in_one_phase(make_caller) -> None:
    caller = make_caller()
    session = await start_session(caller)
    results = await asyncio.gather(*[
        caller.data(SAVE, {"id": session["id"], "phase": "INTAKE",
                           "ctx": {"current_topic": f"t{i}"}}) for i in range(10)
    ])
    payloads = [r["saveSession"] for r in results]
    winners = [p for p in payloads if p["session"] is not None]
    assert len(winners) == 1
    assert {p["userErrors"][0]["code"] for p in payloads if p["session"] is None} == {"CONFLICT"}
    after = await snapshot(caller, session["id"])
    assert after["context"]["current_topic"] == winners[0]["session"]["context"]["current_topic"]
    assert len(after["history"]["edges"]) == 2


async def test_log_action_appends_gapless(make_caller, db) -> None:
    caller = make_caller()
    session = await start_session(caller)
    from schema import ids

    sid = ids.decode(session["id"], "StudySession", "id")
    seqs = await asyncio.gather(*[
        state_machine.log_action(db, caller.user_id, sid, "note", data={"i": i})
        for i in range(20)
    ])
    assert sorted(seqs) == list(range(2, 22))
