"""The agent-backed mutations: plan cache, faults leave sessions unchanged, validation,
BKT against hand-computed values, concurrency and isolation."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import pytest

from agents import mastery
from agents.llm import LlmGateway
from agents.llm_calls import record_call
from agents.models import Question
from app.main import create_app
from app.services import Services
from schema import ids
from tests.conftest import Caller
from tests.test_study_loop import AP_BIO, ASK, PLAN, QUIZ, START, START_TOPIC, SUBMIT, keys, ok

READ = """query($id: ID!) { session(id: $id) { state version topics { id }
  history(first: 50) { edges { node { seq action data } } } } }"""


async def new_session(caller: Caller, syllabus: str = AP_BIO) -> str:
    payload = (await caller.data(START, {"input": {"examType": "AP Biology",
                                                   "syllabus": syllabus}}))["startSession"]
    return str(ok(payload)["session"]["id"])


async def history(caller: Caller, sid: str) -> list[dict[str, Any]]:
    session = (await caller.data(READ, {"id": sid}))["session"]
    return [e["node"] for e in session["history"]["edges"]]


# -- plan cache -------------------------------------------------------------------------

async def test_plan_cache_miss_then_hit_then_expiry(make_caller, db) -> None:
    caller = make_caller()
    syllabus = AP_BIO + "\nUnit 9: A unit only this test has (cache isolation)\n- Its bullet"
    sid_a = await new_session(caller, syllabus)
    calls_before = await db.fetchval("SELECT count(*) FROM llm_calls WHERE agent = 'planner'")
    ok((await caller.data(PLAN, {"id": sid_a}))["generatePlan"])
    assert (await history(caller, sid_a))[-1]["data"]["plan_cache"] == "miss"
    # Same exam and syllabus up to whitespace and case: a hit, and no model call.
    sid_b = await new_session(caller, "  " + syllabus.upper().replace("\n", "\n\n"))
    hit = ok((await caller.data(PLAN, {"id": sid_b}))["generatePlan"])["session"]
    assert (await history(caller, sid_b))[-1]["data"]["plan_cache"] == "hit"
    assert hit["usage"]["calls"] == 0
    planner_calls = await db.fetchval("SELECT count(*) FROM llm_calls WHERE agent = 'planner'")
    assert planner_calls == calls_before + 1
    # Expired entries are not used.
    await db.execute("UPDATE plan_cache SET expires_at = now() - interval '1 second'")
    sid_c = await new_session(caller, syllabus)
    ok((await caller.data(PLAN, {"id": sid_c}))["generatePlan"])
    assert (await history(caller, sid_c))[-1]["data"]["plan_cache"] == "miss"


async def test_ten_concurrent_generate_plans_make_one_plan(make_caller, db) -> None:
    caller = make_caller()
    sid = await new_session(caller)
    results = await asyncio.gather(*[caller.data(PLAN, {"id": sid}) for _ in range(10)])
    payloads = [r["generatePlan"] for r in results]
    assert sum(p["session"] is not None for p in payloads) == 1
    assert {p["userErrors"][0]["code"] for p in payloads if p["session"] is None} <= {
        "CONFLICT", "INVALID_TRANSITION"}
    session = (await caller.data(READ, {"id": sid}))["session"]
    winner = next(p for p in payloads if p["session"] is not None)["session"]
    assert len(session["topics"]) == len(winner["topics"])
    assert [e["action"] for e in await history(caller, sid)] == ["session_started",
                                                                  "generate_plan"]


# -- faults: a clear error and an unchanged session -----------------------------------

@pytest.fixture
async def faulty(services: Services, settings):
    """A client whose model fails in the way a test asks for (through litellm itself)."""
    clients: list[httpx.AsyncClient] = []

    async def make(caller: Caller, **kwargs: Any) -> Caller:
        fast = settings.replace(llm_retries=1, llm_backoff_s=0.0,
                                **kwargs.pop("settings", {}))
        llm = LlmGateway(fast, partial(record_call, services.db), **kwargs)
        broken = Services(fast, services.db, services.authenticator, services.users, llm,
                          services.hub, services.autopilot)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=create_app(fast, services=broken)), base_url="http://test")
        clients.append(client)
        return Caller(client, caller.token, caller.user_id)

    yield make
    for client in clients:
        await client.aclose()


FAULTS = {
    "rate limit": ({"completion_kwargs": {"mock_response": "litellm.RateLimitError"}},
                   "RATE_LIMITED"),
    "provider error": ({"completion_kwargs": {
        "mock_response": "litellm.InternalServerError"}}, "PROVIDER_ERROR"),
    "never valid JSON": ({"completion_kwargs": {"mock_response": "{not json"}},
                         "INVALID_OUTPUT"),
    "timeout": ({"settings": {"offline_latency_ms": 400, "llm_timeout_s": 0.05}}, "TIMEOUT"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_model_faults_leave_the_session_unchanged(make_caller, faulty, db, fault) -> None:
    caller = make_caller()
    sid = await new_session(caller, AP_BIO + f"\nUnit 10: fault {fault}\n- only here")
    broken = await faulty(caller, **FAULTS[fault][0])
    before = (await caller.data(READ, {"id": sid}))["session"]
    payload = (await broken.data(PLAN, {"id": sid}))["generatePlan"]
    assert payload["session"] is None
    error = payload["userErrors"][0]
    assert error["code"] == "AGENT_FAILED"
    assert FAULTS[fault][1] in error["message"] and "planner" in error["message"]
    assert (await caller.data(READ, {"id": sid}))["session"] == before
    outcomes = await db.fetch(
        "SELECT outcome FROM llm_calls WHERE session_id = $1 ORDER BY id",
        ids.decode(sid, "StudySession", "id"))
    assert len(outcomes) == 2 and all(r["outcome"] != "ok" for r in outcomes)


# -- validation ------------------------------------------------------------------------

def question(**changes: Any) -> dict[str, Any]:
    base = {"prompt": "Where does glycolysis happen?", "options": [
        "cytoplasm", "nucleus", "thylakoid", "matrix"], "correct_index": 0,
        "difficulty": "easy", "concept_tested": "glycolysis", "explanation": "Unit 3."}
    return {**base, **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"options": ["cytoplasm", "Cytoplasm ", "x", "y"]}, "distinct"),
    ({"correct_index": 4}, "out of range"),
    ({"options": ["the cytoplasm of every living cell, always, without exception", "a", "b",
                  "c"]}, "gives the answer away"),
    ({"options": ["cytoplasm"]}, "at least 2"),
])
def test_unfair_questions_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Question.model_validate(question(**changes))


def test_fair_question_passes() -> None:
    assert Question.model_validate(question()).correct_index == 0


async def test_tutor_and_answers_validate_input(make_caller, db) -> None:
    caller, other = make_caller(), make_caller()
    sid = await new_session(caller)
    ok((await caller.data(PLAN, {"id": sid}))["generatePlan"])
    topic = ok((await caller.data(START_TOPIC, {"id": sid}))["startTopic"])["topic"]
    for message, field in [("", ["message"]), ("x" * 4001, ["message"])]:
        bad = (await caller.data(ASK, {"topic": topic["id"], "msg": message}))["askTutor"]
        assert bad["userErrors"][0]["field"] == field
    stranger = (await other.data(ASK, {"topic": topic["id"], "msg": "hi"}))["askTutor"]
    assert stranger["userErrors"][0]["code"] == "NOT_FOUND"
    quiz = ok((await caller.data(QUIZ, {"id": sid}))["takeQuiz"])["quiz"]
    key = await keys(db, quiz["id"])
    qs = quiz["questions"]
    good = [{"questionId": q["id"], "choice": key[q["id"]]} for q in qs]
    cases = [
        ([{"questionId": "nope", "choice": 0}, *good[1:]], ["answers", "0", "questionId"]),
        ([{"questionId": qs[0]["id"], "choice": 9}, *good[1:]], ["answers", "0", "choice"]),
        ([good[0], good[0], *good[2:]], ["answers", "1", "questionId"]),
        (good[:-1], ["answers"]),
    ]
    for answers, field in cases:
        bad = (await caller.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": answers})
               )["submitAnswers"]
        assert bad["userErrors"][0]["field"] == field, answers
    assert (await caller.data(READ, {"id": sid}))["session"]["state"] == "QUIZZING"
    stolen = (await other.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": good})
              )["submitAnswers"]
    assert stolen["userErrors"][0]["code"] == "NOT_FOUND"
    ok((await caller.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": good})
        )["submitAnswers"])
    again = (await caller.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": good})
             )["submitAnswers"]
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    stored = await db.fetchval("SELECT count(*) FROM quiz_answers WHERE quiz_id = $1",
                               ids.decode(
                                   quiz["id"], "Quiz", "id"))
    assert stored == len(qs)


async def test_chats_and_quizzes_are_private(make_caller) -> None:
    alice, bob = make_caller(), make_caller()
    sid = await new_session(alice)
    ok((await alice.data(PLAN, {"id": sid}))["generatePlan"])
    topic = ok((await alice.data(START_TOPIC, {"id": sid}))["startTopic"])["topic"]
    ok((await alice.data(ASK, {"topic": topic["id"], "msg": "What is ATP?"}))["askTutor"])
    quiz = ok((await alice.data(QUIZ, {"id": sid}))["takeQuiz"])["quiz"]
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await bob.data(node, {"id": topic["id"]}))["node"] is None
    assert (await bob.data(node, {"id": quiz["id"]}))["node"] is None
    for mutation, variables in [(PLAN, {"id": sid}), (START_TOPIC, {"id": sid}),
                                (QUIZ, {"id": sid})]:
        payload = next(iter((await bob.data(mutation, variables)).values()))
        assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    chat = "query($id: ID!) { node(id: $id) { ... on Topic { chat { messages { content } } } } }"
    mine = (await alice.data(chat, {"id": topic["id"]}))["node"]["chat"]["messages"]
    assert mine[0]["content"] == "What is ATP?"


# -- mastery ---------------------------------------------------------------------------

def test_bkt_matches_hand_computed_values() -> None:
    p = mastery.BktParams(prior=0.2, learn=0.15, guess=0.25, slip=0.1)
    # right: 0.2*0.9 / (0.2*0.9 + 0.8*0.25) = 0.18/0.38 = 0.473684…; + 0.526316*0.15
    assert mastery.update(0.2, True, p) == pytest.approx(0.552631, abs=1e-6)
    # wrong: 0.2*0.1 / (0.02 + 0.8*0.75) = 0.02/0.62 = 0.032258…; + 0.967742*0.15
    assert mastery.update(0.2, False, p) == pytest.approx(0.177419, abs=1e-6)
    # right then wrong, from the prior
    after_right = 0.5526315789
    posterior = after_right * 0.1 / (after_right * 0.1 + (1 - after_right) * 0.75)
    expected = posterior + (1 - posterior) * 0.15
    assert mastery.trace(None, [True, False], p) == pytest.approx(expected, abs=1e-9)
    assert mastery.score(0.552631) == 55
    assert mastery.status(90, 5, 85) == "mastered"
    assert mastery.status(50, 5, 85) == "needs_review"
    assert mastery.status(0, 0, 85) == "in_progress"


async def test_mastery_follows_answers(make_caller, db) -> None:
    caller = make_caller()
    sid = await new_session(caller)
    ok((await caller.data(PLAN, {"id": sid}))["generatePlan"])
    ok((await caller.data(START_TOPIC, {"id": sid}))["startTopic"])
    quiz = ok((await caller.data(QUIZ, {"id": sid}))["takeQuiz"])["quiz"]
    key = await keys(db, quiz["id"])
    answers = [{"questionId": q["id"], "choice": key[q["id"]]} for q in quiz["questions"]]
    result = ok((await caller.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": answers})
                 )["submitAnswers"])
    expected = mastery.score(mastery.trace(None, [True] * len(answers), mastery.BktParams()))
    scores = {t["masteryScore"] for t in result["session"]["topics"]}
    assert expected in scores
    studied = next(t for t in result["session"]["topics"] if t["masteryScore"] == expected)
    assert studied["status"] == ("mastered" if expected >= 85 else "needs_review")
