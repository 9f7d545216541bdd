"""Writes of the learning loop: topics from a plan, lessons and chats, quizzes, answers,
misconceptions, mastery. Each runs inside the caller's transaction."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from agents.models import PlannedTopic
from agents.topic_store import ChatRecord
from app.database import Db

INSERT_TOPIC = """
INSERT INTO topics (session_id, position, name, estimated_minutes, weight, summary, status)
VALUES ($1, $2, $3, $4, $5, $6, 'pending')"""

SET_TOPIC_STATUS = "UPDATE topics SET status = $2, updated_at = now() WHERE id = $1"

UPDATE_MASTERY = """
UPDATE topics SET p_known = $2, mastery_score = $3, status = $4, attempts = attempts + $5,
    correct = correct + $6, updated_at = now()
WHERE id = $1"""

UPSERT_EXPLANATION = """
INSERT INTO tutor_chats (user_id, topic_id, explanation) VALUES ($1, $2, $3)
ON CONFLICT (user_id, topic_id) DO UPDATE
SET explanation = EXCLUDED.explanation, last_updated = now()"""

APPEND_MESSAGES = """
INSERT INTO tutor_chats (user_id, topic_id, messages) VALUES ($1, $2, $3)
ON CONFLICT (user_id, topic_id) DO UPDATE
SET messages = tutor_chats.messages || EXCLUDED.messages, last_updated = now()
RETURNING id, topic_id, messages, explanation, last_updated"""

INSERT_QUIZ = """
INSERT INTO quizzes (user_id, session_id, topic_id, questions, time_estimate_minutes)
VALUES ($1, $2, $3, $4, $5) RETURNING id"""

MARK_SUBMITTED = """
UPDATE quizzes SET submitted_at = now(), score = $2
WHERE id = $1 AND submitted_at IS NULL"""

INSERT_ANSWER = """
INSERT INTO quiz_answers (quiz_id, question_id, user_id, choice, correct)
VALUES ($1, $2, $3, $4, $5)"""

INSERT_MISCONCEPTION = """
INSERT INTO misconceptions (user_id, session_id, topic_id, quiz_id, question_id, analysis)
VALUES ($1, $2, $3, $4, $5, $6)"""


async def insert_topics(db: Db, session_id: UUID, topics: list[PlannedTopic]) -> None:
    await db.executemany(INSERT_TOPIC, [
        (session_id, position, t.name, t.estimated_minutes, t.weight, t.summary)
        for position, t in enumerate(topics, start=1)
    ])


async def set_topic_status(db: Db, topic_id: UUID, status: str) -> None:
    await db.execute(SET_TOPIC_STATUS, topic_id, status)


async def update_mastery(db: Db, topic_id: UUID, p_known: float, score: int, status: str,
                         attempts: int, correct: int) -> None:
    await db.execute(UPDATE_MASTERY, topic_id, p_known, score, status, attempts, correct)


async def save_explanation(db: Db, user_id: UUID, topic_id: UUID,
                           explanation: dict[str, Any]) -> None:
    await db.execute(UPSERT_EXPLANATION, user_id, topic_id, explanation)


async def append_messages(db: Db, user_id: UUID, topic_id: UUID,
                          messages: list[dict[str, Any]]) -> ChatRecord:
    """Atomically append to the (user, topic) chat, creating it on first use."""
    row = await db.fetchrow(APPEND_MESSAGES, user_id, topic_id, messages)
    assert row is not None
    return ChatRecord(**dict(row))


async def insert_quiz(db: Db, user_id: UUID, session_id: UUID, topic_id: UUID,
                      questions: list[dict[str, Any]], minutes: int) -> UUID:
    quiz_id: UUID = await db.fetchval(INSERT_QUIZ, user_id, session_id, topic_id, questions,
                                      minutes)
    return quiz_id


async def mark_submitted(db: Db, quiz_id: UUID, score: float) -> bool:
    """False when the quiz was already submitted (a concurrent submission won)."""
    return (await db.execute(MARK_SUBMITTED, quiz_id, score)).endswith(" 1")


async def insert_answers(db: Db, quiz_id: UUID, user_id: UUID,
                         graded: list[tuple[str, int, bool]]) -> None:
    await db.executemany(INSERT_ANSWER, [(quiz_id, qid, user_id, choice, ok)
                                         for qid, choice, ok in graded])


async def insert_misconception(db: Db, user_id: UUID, session_id: UUID, topic_id: UUID,
                               quiz_id: UUID, question_id: str,
                               analysis: dict[str, Any]) -> None:
    await db.execute(INSERT_MISCONCEPTION, user_id, session_id, topic_id, quiz_id, question_id,
                     analysis)


def chat_message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content,
            "at": datetime.datetime.now(datetime.UTC).isoformat()}
