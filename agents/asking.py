"""How an agent asks the model: its prompt as the system message, its input document
(JSON) as the user message, the reply validated against its output model."""

from __future__ import annotations

import json
from typing import Any, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel

from agents import prompts

T = TypeVar("T", bound=BaseModel)


class LlmRunner(Protocol):
    """The LLM gateway's interface (``agents.llm.LlmGateway``)."""

    async def run(self, agent: str, output: type[T], messages: list[dict[str, str]], *,
                  session_id: UUID | None = None) -> T: ...


async def ask(llm: LlmRunner, agent: str, prompt: str, output: type[T],
              document: dict[str, Any], session_id: UUID | None) -> T:
    messages = [
        {"role": "system", "content": prompts.load(prompt)},
        {"role": "user", "content": json.dumps(document, ensure_ascii=False, default=str)},
    ]
    return await llm.run(agent, output, messages, session_id=session_id)
