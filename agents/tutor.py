"""The tutor agent: a micro-lesson for a topic, and replies in the topic's chat."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from agents.asking import LlmRunner, ask
from agents.models import TutorExplanation, TutorReply


@dataclass(frozen=True)
class LessonInput:
    exam_type: str
    topic: str
    topic_summary: str
    material: str
    other_topics: list[str] = field(default_factory=list)
    session_id: UUID | None = None


@dataclass(frozen=True)
class ChatInput:
    topic: str
    material: str
    history: list[dict[str, str]]
    message: str
    session_id: UUID | None = None


async def run(inp: LessonInput, llm: LlmRunner) -> TutorExplanation:
    document = {"task": "lesson", "exam_type": inp.exam_type, "topic": inp.topic,
                "topic_summary": inp.topic_summary, "material": inp.material,
                "other_topics": inp.other_topics}
    return await ask(llm, "tutor", "tutor", TutorExplanation, document, inp.session_id)


async def reply(inp: ChatInput, llm: LlmRunner) -> TutorReply:
    document = {"task": "chat", "topic": inp.topic, "material": inp.material,
                "history": inp.history, "message": inp.message}
    return await ask(llm, "tutor", "chat", TutorReply, document, inp.session_id)
