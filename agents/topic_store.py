"""Reads of what hangs off a session: topics, quizzes, tutor chats, model usage.

Each function answers a batch of keys with one SQL statement, so the GraphQL layer's
DataLoaders keep the number of statements per request constant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.database import Db

SELECT_TOPICS_BY_SESSIONS = """
SELECT t.id, t.session_id, t.position, t.name, t.status, t.mastery_score,
       t.estimated_minutes, t.weight, t.review_due_at, t.summary, t.p_known, t.attempts,
       t.correct
FROM topics t JOIN study_sessions s ON s.id = t.session_id
WHERE t.session_id = ANY($1::uuid[]) AND s.user_id = $2
ORDER BY t.session_id, t.position"""

SELECT_TOPICS_BY_IDS = """
SELECT t.id, t.session_id, t.position, t.name, t.status, t.mastery_score,
       t.estimated_minutes, t.weight, t.review_due_at, t.summary, t.p_known, t.attempts,
       t.correct
FROM topics t JOIN study_sessions s ON s.id = t.session_id
WHERE t.id = ANY($1::uuid[]) AND s.user_id = $2"""

SELECT_QUIZZES_BY_TOPICS = """
SELECT id, session_id, topic_id, questions, time_estimate_minutes, created_at,
       submitted_at, score
FROM quizzes WHERE topic_id = ANY($1::uuid[]) AND user_id = $2
ORDER BY topic_id, created_at, id"""

SELECT_QUIZZES_BY_IDS = """
SELECT id, session_id, topic_id, questions, time_estimate_minutes, created_at,
       submitted_at, score
FROM quizzes WHERE id = ANY($1::uuid[]) AND user_id = $2"""

SELECT_CHATS_BY_TOPICS = """
SELECT id, topic_id, messages, explanation, last_updated
FROM tutor_chats WHERE topic_id = ANY($1::uuid[]) AND user_id = $2"""

SELECT_USAGE_BY_SESSIONS = """
SELECT session_id, count(*) AS calls, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens), 0) AS completion_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd
FROM llm_calls WHERE session_id = ANY($1::uuid[]) GROUP BY session_id"""


@dataclass(frozen=True)
class TopicRecord:
    id: UUID
    session_id: UUID
    position: int
    name: str
    status: str
    mastery_score: int
    estimated_minutes: int | None
    weight: float
    review_due_at: datetime | None
    summary: str = ""
    p_known: float | None = None
    attempts: int = 0
    correct: int = 0


@dataclass(frozen=True)
class QuizRecord:
    id: UUID
    session_id: UUID
    topic_id: UUID
    questions: list[dict[str, Any]]
    time_estimate_minutes: int
    created_at: datetime
    submitted_at: datetime | None = None
    score: float | None = None


@dataclass(frozen=True)
class ChatRecord:
    id: UUID
    topic_id: UUID
    messages: list[dict[str, Any]]
    explanation: dict[str, Any] | None
    last_updated: datetime


@dataclass(frozen=True)
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


async def topics_by_sessions(
    db: Db, user_id: UUID, session_ids: list[UUID]
) -> dict[UUID, list[TopicRecord]]:
    grouped: dict[UUID, list[TopicRecord]] = defaultdict(list)
    for row in await db.fetch(SELECT_TOPICS_BY_SESSIONS, session_ids, user_id):
        grouped[row["session_id"]].append(TopicRecord(**dict(row)))
    return grouped


async def topics_by_ids(db: Db, user_id: UUID, ids: list[UUID]) -> dict[UUID, TopicRecord]:
    rows = await db.fetch(SELECT_TOPICS_BY_IDS, ids, user_id)
    return {row["id"]: TopicRecord(**dict(row)) for row in rows}


async def quizzes_by_topics(
    db: Db, user_id: UUID, topic_ids: list[UUID]
) -> dict[UUID, list[QuizRecord]]:
    grouped: dict[UUID, list[QuizRecord]] = defaultdict(list)
    for row in await db.fetch(SELECT_QUIZZES_BY_TOPICS, topic_ids, user_id):
        grouped[row["topic_id"]].append(QuizRecord(**dict(row)))
    return grouped


async def quizzes_by_ids(db: Db, user_id: UUID, ids: list[UUID]) -> dict[UUID, QuizRecord]:
    rows = await db.fetch(SELECT_QUIZZES_BY_IDS, ids, user_id)
    return {row["id"]: QuizRecord(**dict(row)) for row in rows}


async def chats_by_topics(
    db: Db, user_id: UUID, topic_ids: list[UUID]
) -> dict[UUID, ChatRecord]:
    rows = await db.fetch(SELECT_CHATS_BY_TOPICS, topic_ids, user_id)
    return {row["topic_id"]: ChatRecord(**dict(row)) for row in rows}


async def usage_by_sessions(db: Db, session_ids: list[UUID]) -> dict[UUID, Usage]:
    rows = await db.fetch(SELECT_USAGE_BY_SESSIONS, session_ids)
    return {
        row["session_id"]: Usage(row["calls"], row["prompt_tokens"], row["completion_tokens"],
                                 float(row["cost_usd"]))
        for row in rows
    }


SELECT_ANSWERS_BY_QUIZZES = """
SELECT quiz_id, question_id, choice, correct FROM quiz_answers
WHERE quiz_id = ANY($1::uuid[]) AND user_id = $2"""


@dataclass(frozen=True)
class AnswerRecord:
    quiz_id: UUID
    question_id: str
    choice: int
    correct: bool


async def answers_by_quizzes(
    db: Db, user_id: UUID, quiz_ids: list[UUID]
) -> dict[UUID, dict[str, AnswerRecord]]:
    grouped: dict[UUID, dict[str, AnswerRecord]] = defaultdict(dict)
    for row in await db.fetch(SELECT_ANSWERS_BY_QUIZZES, quiz_ids, user_id):
        grouped[row["quiz_id"]][row["question_id"]] = AnswerRecord(**dict(row))
    return grouped


SELECT_QUIZ_COUNTS = """
SELECT topic_id, count(*) AS quizzes FROM quizzes
WHERE session_id = $1 AND submitted_at IS NOT NULL GROUP BY topic_id"""


async def quiz_counts(db: Db, session_id: UUID) -> dict[UUID, int]:
    """Submitted quizzes per topic of a session."""
    rows = await db.fetch(SELECT_QUIZ_COUNTS, session_id)
    return {row["topic_id"]: row["quizzes"] for row in rows}
