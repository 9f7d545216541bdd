"""The agents' structured outputs (pydantic), as the model must return them.

Field names follow the seed. Each model is sent to the model as its JSON schema through
litellm's ``response_format``; the reply is validated against it, and an invalid reply
is sent back with the validation error. ``AGENT_INPUTS`` documents the JSON document
each agent sends as its user message (the offline model reads the same document).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedTopic(_Strict):
    name: str = Field(min_length=1, max_length=200)
    order: int = Field(ge=1)
    estimated_minutes: int = Field(ge=1, le=600)
    weight: float = Field(gt=0, le=10, description="Relative importance for the exam.")
    summary: str = Field(default="", max_length=2000,
                         description="What the topic covers, from the syllabus.")


class StudyPlan(_Strict):
    exam_type: str
    topics: list[PlannedTopic] = Field(min_length=1, max_length=50)
    rationale: str = Field(default="", max_length=2000)


class ExplanationStep(_Strict):
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=4000)


class TutorExplanation(_Strict):
    topic: str
    intuition: str = Field(min_length=1)
    steps: list[ExplanationStep] = Field(min_length=1, max_length=12)
    real_world_example: str
    common_pitfall: str
    practice_question: str | None = None


class Distractor(_Strict):
    option_index: int = Field(ge=0)
    confusion: str = Field(description="The confusion a student who picks this shows.")
    source: str = Field(default="", description="Where in the material the option comes from.")


class Question(_Strict):
    """A multiple-choice question, checked before any student sees it."""

    prompt: str = Field(min_length=1, max_length=2000)
    options: list[str] = Field(min_length=2, max_length=6)
    correct_index: int = Field(ge=0)
    difficulty: Literal["easy", "medium", "hard"]
    concept_tested: str
    explanation: str
    distractors: list[Distractor] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fair(self) -> Question:
        check_question(self)
        return self


def check_question(q: Question) -> None:
    """Distinct options, key in range, and no option that gives the answer away by length."""
    normalised = [" ".join(o.lower().split()) for o in q.options]
    if any(not o for o in normalised):
        raise ValueError("an option is empty")
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"options must be distinct: {q.options}")
    if q.correct_index >= len(q.options):
        raise ValueError(f"correct_index {q.correct_index} is out of range for "
                         f"{len(q.options)} options")
    for d in q.distractors:
        if d.option_index >= len(q.options) or d.option_index == q.correct_index:
            raise ValueError(f"distractor option_index {d.option_index} is not a wrong option")
    key = len(q.options[q.correct_index])
    others = sorted(len(o) for i, o in enumerate(q.options) if i != q.correct_index)
    median = others[len(others) // 2]
    if len(q.options) > 2 and key > max(2 * median, median + 40) and key > others[-1]:
        raise ValueError("the key is much longer than every other option: it gives the answer "
                         "away; make the options of similar length")


class Quiz(_Strict):
    topic: str
    questions: list[Question] = Field(min_length=1, max_length=20)
    time_estimate_minutes: int = Field(ge=1, le=120)

    @model_validator(mode="after")
    def _no_duplicates(self) -> Quiz:
        prompts = [" ".join(q.prompt.lower().split()) for q in self.questions]
        if len(set(prompts)) != len(prompts):
            raise ValueError("two questions have the same prompt")
        return self


class MisconceptionAnalysis(_Strict):
    wrong_option_chosen: str
    inferred_confusion: str
    counter_example: str
    explanation: str
    redemption_question: Question


class TutorReply(_Strict):
    reply: str = Field(min_length=1, max_length=8000)
    cited: list[str] = Field(default_factory=list, max_length=10,
                             description="Sentences of the student's material used.")


AGENT_INPUTS: dict[str, dict[str, str]] = {
    "StudyPlan": {
        "task": '"plan"', "exam_type": "str", "syllabus": "str",
        "exam_date": "ISO date or null", "max_topics": "int",
    },
    "TutorExplanation": {
        "task": '"lesson"', "exam_type": "str", "topic": "str", "topic_summary": "str",
        "material": "str (the syllabus)", "other_topics": "list[str]",
    },
    "TutorReply": {
        "task": '"chat"', "topic": "str", "material": "str",
        "history": "list[{role, content}] (bounded window)", "message": "str",
    },
    "Quiz": {
        "task": '"quiz"', "topic": "str", "topic_summary": "str", "material": "str",
        "other_topics": "list[str]", "num_questions": "int",
    },
    "MisconceptionAnalysis": {
        "task": '"misconception"', "topic": "str", "material": "str",
        "question": "Question (with key and distractors)", "chosen_index": "int",
    },
}
