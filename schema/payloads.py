"""Mutation inputs and payloads. Every payload carries ``userErrors``; results are nullable."""

from __future__ import annotations

import datetime

import strawberry

from agents import models as agent_models
from schema.errors import UserError
from schema.types import Question, Quiz, StudySession, Topic, TutorChat, TutorExplanation


@strawberry.input
class StartSessionInput:
    exam_type: str = strawberry.field(description="The exam, e.g. 'AP Biology'.")
    syllabus: str = strawberry.field(description="The syllabus or notes, as plain text.")
    exam_date: datetime.date | None = None


@strawberry.input
class AnswerInput:
    question_id: strawberry.ID
    choice: int


@strawberry.type
class SessionPayload:
    session: StudySession | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TopicPayload:
    session: StudySession | None = None
    topic: Topic | None = None
    explanation: TutorExplanation | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class QuizPayload:
    session: StudySession | None = None
    quiz: Quiz | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MisconceptionAnalysis:
    question_id: strawberry.ID
    wrong_option_chosen: str
    inferred_confusion: str
    counter_example: str
    explanation: str
    redemption_question: Question = strawberry.field(
        description="A practice question on the same concept; its key is shown, for "
                    "self-checking.")

    @classmethod
    def of(cls, question_id: str, analysis: agent_models.MisconceptionAnalysis
           ) -> MisconceptionAnalysis:
        redemption = {"id": f"{question_id}-redemption",
                      **analysis.redemption_question.model_dump()}
        return cls(
            question_id=strawberry.ID(question_id),
            wrong_option_chosen=analysis.wrong_option_chosen,
            inferred_confusion=analysis.inferred_confusion,
            counter_example=analysis.counter_example, explanation=analysis.explanation,
            redemption_question=Question.of(redemption, revealed=True),
        )


@strawberry.type
class AnswersPayload:
    session: StudySession | None = None
    score: float | None = strawberry.field(default=None, description="0..1")
    misconceptions: list[MisconceptionAnalysis] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TutorChatPayload:
    chat: TutorChat | None = None
    reply: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
