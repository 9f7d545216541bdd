"""The seeded data, written with direct SQL (faster than driving the agents, and the read
workloads only need rows shaped like the app's own).

The bench user (``bench@example.com``, id = ``app.auth.local_user_id`` of it, so
``studypilot token`` names the same user) owns one LEARNING session per topic count in
``TOPIC_COUNTS``; each topic has one quiz of five questions, so a topic's ``quizzes`` is
its latest quiz. Another user owns ``OTHER_SESSIONS`` sessions of 10 topics, so the
tables and indexes are not trivially small and the caller scoping has rows to skip.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import orjson

from app.auth import local_user_id

EMAIL = "bench@example.com"
OTHER_EMAIL = "other@example.com"
TOPIC_COUNTS = (10, 40)
OTHER_SESSIONS = 50
SYLLABUS = "\n".join(f"Unit {i}: cells, membranes, transport, energy and enzymes, part {i}"
                     for i in range(1, 61))
QUESTIONS = [
    {"id": f"q{i}", "prompt": f"Which statement about concept {i} is true?",
     "options": [f"option {i}.{k}" for k in range(4)], "correct_index": i % 4,
     "difficulty": "medium", "concept_tested": f"concept {i}",
     "explanation": "Because the material says so."}
    for i in range(1, 6)
]

INSERT_USER = "INSERT INTO users (id, email) VALUES ($1, $2)"
INSERT_SESSION = """
INSERT INTO study_sessions (id, user_id, exam_type, syllabus, current_state, current_context)
VALUES ($1, $2, 'AP Biology', $3, 'LEARNING', $4::jsonb)"""
INSERT_TOPICS = """
INSERT INTO topics (session_id, position, name, status, mastery_score, estimated_minutes,
                    summary)
SELECT $1, i, format('Unit %s: %s', i, (ARRAY['Cell membranes', 'Mitochondria', 'Enzymes',
                      'Photosynthesis', 'Genetics', 'Evolution'])[1 + i % 6]),
       (ARRAY['pending', 'in_progress', 'needs_review', 'mastered'])[1 + i % 4],
       (i * 37) % 101, 15 + (i % 4) * 5, 'What the student should know about it.'
FROM generate_series(1, $2::int) AS i"""
INSERT_QUIZZES = """
INSERT INTO quizzes (user_id, session_id, topic_id, questions, time_estimate_minutes)
SELECT $2, t.session_id, t.id, $3::jsonb, 5 + t.position % 3
FROM topics t WHERE t.session_id = $1"""


@dataclass(frozen=True)
class Seed:
    email: str
    user_id: UUID
    sessions: dict[int, UUID]  # number of topics -> the bench user's session with that many


async def _session(conn: asyncpg.Connection, user_id: UUID, topics: int) -> UUID:
    session_id = uuid4()
    context = orjson.dumps({"v": 1, "current_topic": None, "misconceptions": []}).decode()
    await conn.execute(INSERT_SESSION, session_id, user_id, SYLLABUS, context)
    await conn.execute(INSERT_TOPICS, session_id, topics)
    await conn.execute(INSERT_QUIZZES, session_id, user_id, orjson.dumps(QUESTIONS).decode())
    return session_id


async def _seed(url: str) -> Seed:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            user_id, other_id = local_user_id(EMAIL), local_user_id(OTHER_EMAIL)
            await conn.execute(INSERT_USER, user_id, EMAIL)
            await conn.execute(INSERT_USER, other_id, OTHER_EMAIL)
            for _ in range(OTHER_SESSIONS):
                await _session(conn, other_id, 10)
            sessions = {n: await _session(conn, user_id, n) for n in TOPIC_COUNTS}
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Seed(EMAIL, user_id, sessions)


def seed(url: str) -> Seed:
    return asyncio.run(_seed(url))
