"""The misconception agent: one analysis per wrong answer, with a redemption question."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from agents.asking import LlmRunner, ask
from agents.models import MisconceptionAnalysis


@dataclass(frozen=True)
class MisconceptionInput:
    topic: str
    material: str
    question: dict[str, Any]
    chosen_index: int
    session_id: UUID | None = None


async def run(inp: MisconceptionInput, llm: LlmRunner) -> MisconceptionAnalysis:
    question = {k: v for k, v in inp.question.items() if k != "id"}
    document = {"task": "misconception", "topic": inp.topic, "material": inp.material,
                "question": question, "chosen_index": inp.chosen_index}
    return await ask(llm, "misconception", "misconception", MisconceptionAnalysis, document,
                     inp.session_id)
