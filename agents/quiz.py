"""The quiz agent: multiple-choice questions on a topic, validated before they are shown.

``agents.models.Question``/``Quiz`` carry the checks (distinct options, key in range,
no duplicate question, no option that gives the answer away by length), so an unfair
quiz is a validation error that the gateway feeds back to the model for another try.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from agents.asking import LlmRunner, ask
from agents.models import Quiz


@dataclass(frozen=True)
class QuizInput:
    topic: str
    topic_summary: str
    material: str
    other_topics: list[str] = field(default_factory=list)
    num_questions: int = 5
    session_id: UUID | None = None


async def run(inp: QuizInput, llm: LlmRunner) -> Quiz:
    document = {"task": "quiz", "topic": inp.topic, "topic_summary": inp.topic_summary,
                "material": inp.material, "other_topics": inp.other_topics,
                "num_questions": inp.num_questions}
    return await ask(llm, "quiz", "quiz", Quiz, document, inp.session_id)


def stored_questions(quiz: Quiz) -> list[dict[str, Any]]:
    """The questions as stored: each with its own id (keys stay server-side)."""
    return [{"id": str(uuid.uuid4()), **q.model_dump(mode="json")} for q in quiz.questions]
