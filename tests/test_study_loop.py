"""The whole study loop over GraphQL, on the offline model and a real PostgreSQL."""

from __future__ import annotations

from typing import Any

from app.database import Db
from schema import ids
from tests.conftest import Caller

AP_BIO = """AP Biology — course outline

Unit 1: Chemistry of Life
- Water is a polar molecule; hydrogen bonds give it cohesion, adhesion and a high specific heat.
- Carbohydrates, lipids, proteins and nucleic acids are the four classes of macromolecules.
- Enzymes lower the activation energy of reactions; temperature and pH change their shape.

Unit 2: Cell Structure and Function
- The plasma membrane is a phospholipid bilayer with embedded proteins (fluid mosaic model).
- Mitochondria make ATP by cellular respiration; chloroplasts capture light energy.
- Diffusion and osmosis are passive transport; the sodium-potassium pump is active transport.

Unit 3: Cellular Energetics
- Glycolysis splits glucose into two pyruvate in the cytoplasm, netting 2 ATP.
- The Krebs cycle runs in the mitochondrial matrix and releases carbon dioxide.
- Photosynthesis: light reactions in the thylakoids make ATP and NADPH; the Calvin cycle fixes CO2.
"""

START = """mutation($input: StartSessionInput!) { startSession(input: $input) {
  session { id state } userErrors { code message field } } }"""
PLAN = """mutation($id: ID!) { generatePlan(sessionId: $id) {
  session { id state version topics { id name status masteryScore } usage { calls } }
  userErrors { code message field } } }"""
START_TOPIC = """mutation($id: ID!, $topic: ID) { startTopic(sessionId: $id, topicId: $topic) {
  session { state currentTopic { id name status } }
  topic { id name }
  explanation { topic intuition steps { title content } realWorldExample commonPitfall
                practiceQuestion }
  userErrors { code message field } } }"""
ASK = """mutation($topic: ID!, $msg: String!) { askTutor(topicId: $topic, message: $msg) {
  reply chat { id messages { role content at } } userErrors { code message field } } }"""
QUIZ = """mutation($id: ID!) { takeQuiz(sessionId: $id) {
  session { state }
  quiz { id timeEstimateMinutes questions { id prompt options difficulty conceptTested
                                            correctIndex explanation } }
  userErrors { code message field } } }"""
SUBMIT = """mutation($id: ID!, $quiz: ID!, $answers: [AnswerInput!]!) {
  submitAnswers(sessionId: $id, quizId: $quiz, answers: $answers) {
    session { state topics { name masteryScore status } }
    score
    misconceptions { questionId wrongOptionChosen inferredConfusion counterExample explanation
                     redemptionQuestion { prompt options correctIndex } }
    userErrors { code message field } } }"""
NEXT = """mutation($id: ID!) { nextTopic(sessionId: $id) { session { state }
  userErrors { code message } } }"""
COMPLETE = """mutation($id: ID!) { completeSession(sessionId: $id) { session { state }
  userErrors { code message } } }"""
READ = """query($id: ID!) { session(id: $id) { state version
  usage { calls promptTokens completionTokens costUsd }
  history(first: 50) { edges { node { seq action phase reasoning durationMs data } } }
  topics { name quizzes { score questions { correctIndex explanation } } chat { messages { role } }
           explanation { topic } } } }"""


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def keys(db: Db, quiz_id: str) -> dict[str, int]:
    """The answer key, read from the database (the API hides it until answered)."""
    questions = await db.fetchval("SELECT questions FROM quizzes WHERE id = $1",
                                  ids.decode(quiz_id, "Quiz", "quizId"))
    return {q["id"]: q["correct_index"] for q in questions}


async def run_topic(caller: Caller, db: Db, sid: str, wrong: int) -> dict[str, Any]:
    """Learn the next topic, quiz it, answer with ``wrong`` wrong answers."""
    taught = ok((await caller.data(START_TOPIC, {"id": sid}))["startTopic"])
    quiz = ok((await caller.data(QUIZ, {"id": sid}))["takeQuiz"])["quiz"]
    assert all(q["correctIndex"] is None and q["explanation"] is None
               for q in quiz["questions"]), "the key must stay hidden before answering"
    key = await keys(db, quiz["id"])
    answers = []
    for n, q in enumerate(quiz["questions"]):
        right = key[q["id"]]
        choice = (right + 1) % len(q["options"]) if n < wrong else right
        answers.append({"questionId": q["id"], "choice": choice})
    result = await caller.data(SUBMIT, {"id": sid, "quiz": quiz["id"], "answers": answers})
    return {"taught": taught, "quiz": quiz, "result": result["submitAnswers"]}


async def test_full_loop_from_syllabus(make_caller, db) -> None:
    caller = make_caller()
    session = ok((await caller.data(START, {"input": {
        "examType": "AP Biology", "syllabus": AP_BIO}}))["startSession"])["session"]
    sid = session["id"]
    planned = ok((await caller.data(PLAN, {"id": sid}))["generatePlan"])["session"]
    assert planned["state"] == "PLANNING"
    names = [t["name"] for t in planned["topics"]]
    assert len(names) >= 3
    words = AP_BIO.lower()
    assert all(any(w in words for w in n.lower().split()) for n in names), names

    first = await run_topic(caller, db, sid, wrong=1)
    lesson = first["taught"]["explanation"]
    assert lesson["steps"] and lesson["intuition"]
    topic_id = first["taught"]["topic"]["id"]
    chat = ok((await caller.data(ASK, {"topic": topic_id, "msg": "What is an example?"}))[
        "askTutor"])
    assert chat["reply"] and [m["role"] for m in chat["chat"]["messages"]] == [
        "user", "assistant"]

    result = first["result"]
    assert result["userErrors"] == []
    assert result["session"]["state"] == "ANALYZING"
    n = len(first["quiz"]["questions"])
    assert result["score"] == (n - 1) / n
    assert len(result["misconceptions"]) == 1
    analysis = result["misconceptions"][0]
    assert analysis["wrongOptionChosen"] and analysis["inferredConfusion"]

    ok((await caller.data(NEXT, {"id": sid}))["nextTopic"])
    second = await run_topic(caller, db, sid, wrong=0)
    assert second["result"]["score"] == 1.0
    assert second["taught"]["topic"]["id"] != topic_id, "lowest mastery first"
    ok((await caller.data(COMPLETE, {"id": sid}))["completeSession"])

    final = (await caller.data(READ, {"id": sid}))["session"]
    assert final["state"] == "COMPLETED"
    actions = [e["node"]["action"] for e in final["history"]["edges"]]
    assert actions == ["session_started", "generate_plan", "start_topic", "take_quiz",
                       "submit_answers", "tutor_chat", "next_topic", "start_topic",
                       "take_quiz", "submit_answers", "complete"]
    seqs = [e["node"]["seq"] for e in final["history"]["edges"]]
    assert seqs == list(range(1, len(seqs) + 1))
    planned_by_model = final["history"]["edges"][1]["node"]["data"]["plan_cache"] == "miss"
    # planner (unless cached) + 2 lessons + 1 chat + 2 quizzes + 1 misconception
    assert final["usage"]["calls"] == 6 + planned_by_model
    assert final["usage"]["promptTokens"] > 0
    answered = [q for t in final["topics"] for quiz in t["quizzes"] for q in quiz["questions"]]
    assert answered and all(q["correctIndex"] is not None for q in answered)
