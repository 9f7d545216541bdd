"""The autopilot engine in-process: the whole loop, pause/resume, answers one at a time,
leases (one driver per session) and recovery from a process that stopped renewing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any
from uuid import UUID

import pytest

from agents import autopilot_store, study
from agents.autopilot import Autopilot
from agents.errors import InvalidInput, InvalidTransition
from agents.llm import LlmGateway
from agents.llm_calls import record_call
from app.settings import Settings
from schema import ids
from tests.test_agents import new_session

SHORT = """Exam outline
Unit 1: Water
- Water is polar; hydrogen bonds give cohesion and a high specific heat.
Unit 2: Enzymes
- Enzymes lower activation energy; temperature and pH change their shape.
"""


def engine_factory(db, settings: Settings) -> Callable[..., Autopilot]:
    def make(owner: str, **changes: Any) -> Autopilot:
        s = settings.replace(**{"autopilot_lease_s": 1.0, "autopilot_recovery_s": 0.2,
                                "autopilot_max_quizzes_per_topic": 1, **changes})
        llm = LlmGateway(s, partial(record_call, db))
        return Autopilot(study.Deps(db, llm, s), owner=owner)
    return make


@pytest.fixture
async def engines(db, settings) -> AsyncIterator[Callable[..., Autopilot]]:
    made: list[Autopilot] = []
    factory = engine_factory(db, settings)

    def make(owner: str, **changes: Any) -> Autopilot:
        engine = factory(owner, **changes)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop()


async def wait_for(db, sid: UUID, statuses: set[str], limit_s: float = 60) -> str:
    async def poll() -> str:
        while True:
            run = (await autopilot_store.runs(db, [sid])).get(sid)
            if run is not None and run.status in statuses:
                return run.status
            await asyncio.sleep(0.02)
    return await asyncio.wait_for(poll(), limit_s)


async def answer_all(db, engine: Autopilot, user_id: UUID, sid: UUID, wrong: int = 0) -> None:
    """Answer the current quiz question by question (reading the key from the database)."""
    session = await engine_state(db, sid)
    questions = await db.fetchval("SELECT questions FROM quizzes WHERE id = $1",
                                  session["current_quiz_id"])
    for n, q in enumerate(questions):
        choice = (q["correct_index"] + 1) % len(q["options"]) if n < wrong else q[
            "correct_index"]
        await engine.answer(user_id, sid, q["id"], choice)


async def engine_state(db, sid: UUID) -> dict[str, Any]:
    row = await db.fetchrow("SELECT current_state, current_quiz_id FROM study_sessions "
                            "WHERE id = $1", sid)
    return dict(row)


async def actions(db, sid: UUID) -> list[str]:
    rows = await db.fetch("SELECT seq, action FROM session_events WHERE session_id = $1 "
                          "ORDER BY seq", sid)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)), "gapless"
    return [r["action"] for r in rows]


async def test_whole_session_on_autopilot(make_caller, db, engines) -> None:
    caller = make_caller()
    sid = ids.decode(await new_session(caller, SHORT), "StudySession", "id")
    engine = engines("proc-a")
    await engine.start()
    await engine.start_run(caller.user_id, sid)
    rounds = 0
    while await wait_for(db, sid, {"AWAITING_INPUT", "COMPLETED"}) == "AWAITING_INPUT":
        await answer_all(db, engine, caller.user_id, sid, wrong=1 if rounds == 0 else 0)
        rounds += 1
        assert rounds < 20
    assert (await engine_state(db, sid))["current_state"] == "COMPLETED"
    log = await actions(db, sid)
    assert log[:6] == ["session_started", "autopilot_started", "generate_plan", "start_topic",
                       "take_quiz", "awaiting_input"]
    assert log[-2:] == ["complete", "autopilot_completed"]
    assert log.count("submit_answers") == rounds
    assert log.count("answer_recorded") == await db.fetchval(
        "SELECT count(*) FROM quiz_answers a JOIN quizzes q ON q.id = a.quiz_id "
        "WHERE q.session_id = $1", sid)
    reasoning = await db.fetch("SELECT action, reasoning FROM session_events "
                               "WHERE session_id = $1", sid)
    assert all(r["reasoning"] for r in reasoning), "every decision says why"
    assert not engine.driving


async def test_pause_and_resume(make_caller, db, engines) -> None:
    caller = make_caller()
    sid = ids.decode(await new_session(caller, SHORT), "StudySession", "id")
    engine = engines("proc-a", offline_latency_ms=150)
    await engine.start()
    await engine.start_run(caller.user_id, sid)
    await engine.pause(caller.user_id, sid)
    await asyncio.sleep(0.5)  # the step under way finishes, then the engine stops
    assert not engine.driving
    paused_at = await actions(db, sid)
    await asyncio.sleep(0.3)
    assert await actions(db, sid) == paused_at, "nothing happens while paused"
    with pytest.raises(InvalidTransition):
        await engine.pause(caller.user_id, sid)
    with pytest.raises(InvalidTransition):
        await engine.start_run(caller.user_id, sid)
    await engine.resume(caller.user_id, sid)
    assert await wait_for(db, sid, {"AWAITING_INPUT"}) == "AWAITING_INPUT"
    assert "autopilot_paused" in paused_at and (await actions(db, sid)).count(
        "autopilot_resumed") == 1


async def test_answers_are_validated(make_caller, db, engines) -> None:
    caller, other = make_caller(), make_caller()
    sid = ids.decode(await new_session(caller), "StudySession", "id")
    engine = engines("proc-a")
    await engine.start()
    with pytest.raises(InvalidTransition, match="not waiting"):
        await engine.answer(caller.user_id, sid, "x", 0)
    await engine.start_run(caller.user_id, sid)
    await wait_for(db, sid, {"AWAITING_INPUT"})
    state = await engine_state(db, sid)
    questions = await db.fetchval("SELECT questions FROM quizzes WHERE id = $1",
                                  state["current_quiz_id"])
    first = questions[0]
    assert len(questions) > 1
    with pytest.raises(InvalidInput) as bad:
        await engine.answer(caller.user_id, sid, "nope", 0)
    assert bad.value.field == ["questionId"]
    with pytest.raises(InvalidInput) as bad:
        await engine.answer(caller.user_id, sid, first["id"], 99)
    assert bad.value.field == ["choice"]
    from agents.errors import NotFound

    with pytest.raises(NotFound):
        await engine.answer(other.user_id, sid, first["id"], 0)
    await engine.answer(caller.user_id, sid, first["id"], 0)
    with pytest.raises(InvalidInput, match="already answered"):
        await engine.answer(caller.user_id, sid, first["id"], 1)


async def test_one_driver_per_session_and_takeover(make_caller, db, engines) -> None:
    """A process that stops renewing its lease (as if killed) loses the session to another,
    which redoes the interrupted step: no step lost, none recorded twice."""
    caller = make_caller()
    unique = SHORT + f"Unit 3: Takeover {caller.user_id}\n- Not in the plan cache yet.\n"
    sid = ids.decode(await new_session(caller, unique), "StudySession", "id")
    dying = engines("proc-dying", offline_latency_ms=600)
    survivor = engines("proc-survivor")
    await survivor.start()
    await dying.start_run(caller.user_id, sid)  # no heartbeat loop started: it will lapse
    await asyncio.sleep(0.05)
    for task in list(dying._drivers.values()):  # killed mid-step: nothing of it commits
        task.cancel()
    await asyncio.sleep(0.1)
    assert (await autopilot_store.runs(db, [sid]))[sid].owner == "proc-dying"
    assert await wait_for(db, sid, {"AWAITING_INPUT"}, limit_s=30) == "AWAITING_INPUT"
    log = await actions(db, sid)
    assert log == ["session_started", "autopilot_started", "autopilot_recovered",
                   "generate_plan", "start_topic", "take_quiz", "awaiting_input"]
    assert await db.fetchval("SELECT count(*) FROM topics WHERE session_id = $1", sid) > 0


AUTOPILOT = """mutation($id: ID!) { %s(sessionId: $id) {
  session { state autopilot { status } } userErrors { code message field } } }"""
ANSWER = """mutation($id: ID!, $q: ID!, $c: Int!) {
  answerQuestion(sessionId: $id, questionId: $q, choice: $c) {
    session { autopilot { status currentQuestion { id } } } userErrors { code field } } }"""
STATUS = """query($id: ID!) { session(id: $id) { state
  autopilot { status lastSeq currentQuestion { id prompt options correctIndex } } } }"""


async def test_autopilot_over_graphql(make_caller, db) -> None:
    caller, other = make_caller(), make_caller()
    gid = await new_session(caller, SHORT)
    sid = ids.decode(gid, "StudySession", "id")
    for name in ["startAutopilot", "pauseAutopilot", "resumeAutopilot"]:
        stolen = (await other.data(AUTOPILOT % name, {"id": gid}))[name]
        assert stolen["userErrors"][0]["code"] == "NOT_FOUND", name
    stolen = (await other.data(ANSWER, {"id": gid, "q": "x", "c": 0}))["answerQuestion"]
    assert stolen["userErrors"][0]["code"] == "NOT_FOUND"
    paused = (await caller.data(AUTOPILOT % "pauseAutopilot", {"id": gid}))["pauseAutopilot"]
    assert paused["userErrors"][0]["code"] == "INVALID_TRANSITION"

    started = (await caller.data(AUTOPILOT % "startAutopilot", {"id": gid}))["startAutopilot"]
    assert started["userErrors"] == []
    await wait_for(db, sid, {"AWAITING_INPUT"})
    status = (await caller.data(STATUS, {"id": gid}))["session"]
    assert status["state"] == "QUIZZING" and status["autopilot"]["status"] == "AWAITING_INPUT"
    question = status["autopilot"]["currentQuestion"]
    assert question["correctIndex"] is None, "the key stays hidden"
    bad = (await caller.data(ANSWER, {"id": gid, "q": question["id"], "c": 42}))
    assert bad["answerQuestion"]["userErrors"] == [{"code": "INVALID_INPUT",
                                                     "field": ["choice"]}]
    again = (await caller.data(AUTOPILOT % "startAutopilot", {"id": gid}))["startAutopilot"]
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    while True:
        status = (await caller.data(STATUS, {"id": gid}))["session"]["autopilot"]
        if status["status"] == "COMPLETED":
            break
        if status["status"] == "AWAITING_INPUT" and status["currentQuestion"]:
            answered = (await caller.data(ANSWER, {"id": gid, "q": status["currentQuestion"][
                "id"], "c": 0}))["answerQuestion"]
            assert answered["userErrors"] == []
        else:
            await asyncio.sleep(0.05)
    log = await actions(db, sid)
    assert log[-1] == "autopilot_completed" and log.count("generate_plan") == 1
