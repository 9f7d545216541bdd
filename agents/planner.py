"""The planner agent: exam + syllabus → a study plan of topics (with the plan cache)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from uuid import UUID

from agents.asking import LlmRunner, ask
from agents.models import StudyPlan


@dataclass(frozen=True)
class PlannerInput:
    exam_type: str
    syllabus: str
    exam_date: datetime.date | None
    max_topics: int = 12
    session_id: UUID | None = None


async def run(inp: PlannerInput, llm: LlmRunner) -> StudyPlan:
    document = {"task": "plan", "exam_type": inp.exam_type, "syllabus": inp.syllabus,
                "exam_date": inp.exam_date.isoformat() if inp.exam_date else None,
                "max_topics": inp.max_topics}
    plan = await ask(llm, "planner", "planner", StudyPlan, document, inp.session_id)
    topics = sorted(plan.topics, key=lambda t: t.order)[: inp.max_topics]
    return plan.model_copy(update={"topics": topics})
