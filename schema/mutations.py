"""Mutation root. Resolvers are thin: decode ids, call ``agents``, shape the payload.

Business errors (``agents.errors``) become ``userErrors``; nothing is written when one
is raised, because every write is a single atomic step at the end of the domain call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agents import intake, state_machine
from agents.errors import StudyPilotError
from agents.state_machine import Command
from schema import ids
from schema.errors import UserError
from schema.payloads import (
    AnswerInput,
    AnswersPayload,
    QuizPayload,
    SessionPayload,
    StartSessionInput,
    TopicPayload,
    TutorChatPayload,
)
from schema.types import StudyPhase, StudySession

P = TypeVar("P", SessionPayload, TopicPayload, QuizPayload, AnswersPayload, TutorChatPayload)

ExpectedVersion = Annotated[int | None, strawberry.argument(
    description="Optimistic concurrency: refuse with CONFLICT unless the session is at "
                "this version.")]


async def guarded(payload: type[P], work: Callable[[], Awaitable[P]]) -> P:
    try:
        return await work()
    except StudyPilotError as exc:
        return payload(user_errors=[UserError.of(exc)])


async def _transition(
    info: Info, session_id: strawberry.ID, command: Command, expected_version: int | None,
    reasoning: str,
) -> SessionPayload:
    async def work() -> SessionPayload:
        user_id = await info.context.user_id()
        sid = ids.decode(session_id, "StudySession", "sessionId")
        record = await state_machine.transition(
            info.context.db, user_id, sid, command, expected_version=expected_version,
            reasoning=reasoning,
        )
        return SessionPayload(session=StudySession.of(record))

    return await guarded(SessionPayload, work)


def _not_yet(name: str) -> StudyPilotError:
    err = StudyPilotError(f"{name} needs the agents, which this server does not have yet")
    err.code = "NOT_AVAILABLE"
    return err


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Open a session in INTAKE with the exam and syllabus.")
    async def start_session(self, info: Info, input: StartSessionInput) -> SessionPayload:
        async def work() -> SessionPayload:
            user_id = await info.context.user_id()
            record = await intake.start_session(
                info.context.db, user_id, input.exam_type, input.syllabus, input.exam_date,
                max_syllabus_chars=info.context.services.settings.max_syllabus_chars,
            )
            return SessionPayload(session=StudySession.of(record))

        return await guarded(SessionPayload, work)

    @strawberry.mutation(description="Save the student context; `phase` must be the current "
                                      "phase or one the state machine allows next.")
    async def save_session(
        self, info: Info, session_id: strawberry.ID, phase: StudyPhase, context: JSON,
        expected_version: ExpectedVersion = None,
    ) -> SessionPayload:
        async def work() -> SessionPayload:
            user_id = await info.context.user_id()
            sid = ids.decode(session_id, "StudySession", "sessionId")
            ctx = intake.parse_context(context, ["context"],
                                       info.context.services.settings.max_context_bytes)
            record = await state_machine.save_state(
                info.context.db, user_id, sid, state_machine.StudyPhase(phase.value),
                ctx, expected_version=expected_version,
            )
            return SessionPayload(session=StudySession.of(record))

        return await guarded(SessionPayload, work)

    @strawberry.mutation(description="ANALYZING → PLANNING: go on to the next topic.")
    async def next_topic(
        self, info: Info, session_id: strawberry.ID,
        expected_version: ExpectedVersion = None,
    ) -> SessionPayload:
        return await _transition(info, session_id, Command.NEXT_TOPIC, expected_version,
                                 "The student moved on to the next topic.")

    @strawberry.mutation(description="ANALYZING → COMPLETED: finish the session.")
    async def complete_session(
        self, info: Info, session_id: strawberry.ID,
        expected_version: ExpectedVersion = None,
    ) -> SessionPayload:
        return await _transition(info, session_id, Command.COMPLETE, expected_version,
                                 "The student completed the session.")

    @strawberry.mutation(description="INTAKE → PLANNING: the planner makes the topics.")
    async def generate_plan(self, info: Info, session_id: strawberry.ID) -> SessionPayload:
        await info.context.user_id()
        return SessionPayload(user_errors=[UserError.of(_not_yet("generatePlan"))])

    @strawberry.mutation(description="PLANNING → LEARNING: the tutor teaches a topic.")
    async def start_topic(
        self, info: Info, session_id: strawberry.ID, topic_id: strawberry.ID | None = None
    ) -> TopicPayload:
        await info.context.user_id()
        return TopicPayload(user_errors=[UserError.of(_not_yet("startTopic"))])

    @strawberry.mutation(description="Ask the tutor about a topic.")
    async def ask_tutor(self, info: Info, topic_id: strawberry.ID,
                        message: str) -> TutorChatPayload:
        await info.context.user_id()
        return TutorChatPayload(user_errors=[UserError.of(_not_yet("askTutor"))])

    @strawberry.mutation(description="LEARNING → QUIZZING: the quiz agent writes a quiz.")
    async def take_quiz(self, info: Info, session_id: strawberry.ID) -> QuizPayload:
        await info.context.user_id()
        return QuizPayload(user_errors=[UserError.of(_not_yet("takeQuiz"))])

    @strawberry.mutation(description="QUIZZING → ANALYZING: grade answers, diagnose wrong ones.")
    async def submit_answers(
        self, info: Info, session_id: strawberry.ID, quiz_id: strawberry.ID,
        answers: list[AnswerInput],
    ) -> AnswersPayload:
        await info.context.user_id()
        return AnswersPayload(user_errors=[UserError.of(_not_yet("submitAnswers"))])
