"""The offline model's engine: answers each agent request from the student's own text.

``respond(schema_name, payload)`` is the whole interface. It is pure (no I/O, no clock,
no randomness: the one "random" choice, where a quiz key goes, hashes the prompt) and
extractive: every plan topic, lesson step, reply and quiz option is text of the syllabus.
Each output model has its module: :mod:`~agents.offline.plans` (StudyPlan),
:mod:`~agents.offline.lessons` (TutorExplanation), :mod:`~agents.offline.replies`
(TutorReply), :mod:`~agents.offline.quizzes` (Quiz) and
:mod:`~agents.offline.misconceptions` (MisconceptionAnalysis).

Errors: only :class:`UnsupportedTask` (an unknown schema name). Odd input (missing
fields, wrong types, empty or huge text) gives a weaker answer, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agents.offline import misconceptions, quizzes
from agents.offline.lessons import lesson
from agents.offline.payload import as_int, read_int, read_name, read_names, read_text
from agents.offline.plans import plan
from agents.offline.replies import chat


class UnsupportedTask(ValueError):
    """The offline model has no answer for this output schema."""


def _quiz(doc: dict[str, Any]) -> BaseModel:
    return quizzes.quiz(read_name(doc, "topic", "General"), read_text(doc, "topic_summary"),
                        read_text(doc, "material"), read_names(doc, "other_topics"),
                        read_int(doc, "num_questions", 5, 1, 20))


def _misconception(doc: dict[str, Any]) -> BaseModel:
    return misconceptions.analyse(read_name(doc, "topic", "this topic"),
                                  read_text(doc, "material"), doc.get("question"),
                                  as_int(doc.get("chosen_index"), -1))


_AGENTS: dict[str, Callable[[dict[str, Any]], BaseModel]] = {
    "StudyPlan": plan, "TutorExplanation": lesson, "TutorReply": chat, "Quiz": _quiz,
    "MisconceptionAnalysis": _misconception,
}


def respond(schema_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Answer one agent request. ``schema_name`` is the output model's class name in
    ``agents/models.py``; ``payload`` is the agent's input document (``AGENT_INPUTS``; a
    JSON string is accepted too). Returns a dict that validates against that model."""
    agent = _AGENTS.get(schema_name)
    if agent is None:
        raise UnsupportedTask(f"no offline answer for {schema_name!r}; "
                              f"supported: {', '.join(_AGENTS)}")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {}
    return agent(payload if isinstance(payload, dict) else {}).model_dump(mode="json")
