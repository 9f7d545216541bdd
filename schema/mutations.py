"""Mutation root. Resolvers are thin: decode ids, call ``agents``, shape the payload.

Business errors (``agents.errors``) become ``userErrors``; nothing is written when one
is raised, because every write is a single atomic step at the end of the domain call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agents import intake, state_machine, study
from agents.errors import InvalidInput, StudyPilotError
from agents.state_machine import Command
from schema import ids
from schema.errors import UserError
from schema.payloads import (
    AnswerInput,
    AnswersPayload,
    MisconceptionAnalysis,
    QuizPayload,
    SessionPayload,
    StartSessionInput,
    TopicPayload,
    TutorChatPayload,
)
from schema.types import Quiz, StudyPhase, StudySession, Topic, TutorChat, TutorExplanation

MAX_ANSWERS = 50
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


async def _deps(info: Info) -> tuple[UUID, study.Deps]:
    user_id = await info.context.user_id()
    services = info.context.services
    return user_id, study.Deps(services.db, services.llm, services.settings)


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

    @strawberry.mutation(description="INTAKE → PLANNING: the planner makes the topics "
                                      "(or the plan cache, for a syllabus seen before).")
    async def generate_plan(self, info: Info, session_id: strawberry.ID) -> SessionPayload:
        async def work() -> SessionPayload:
            user_id, deps = await _deps(info)
            sid = ids.decode(session_id, "StudySession", "sessionId")
            record = await study.generate_plan(deps, user_id, sid)
            return SessionPayload(session=StudySession.of(record))

        return await guarded(SessionPayload, work)

    @strawberry.mutation(description="PLANNING → LEARNING: the tutor teaches a topic (the "
                                      "given one, else the lowest-mastery open topic).")
    async def start_topic(
        self, info: Info, session_id: strawberry.ID, topic_id: strawberry.ID | None = None
    ) -> TopicPayload:
        async def work() -> TopicPayload:
            user_id, deps = await _deps(info)
            sid = ids.decode(session_id, "StudySession", "sessionId")
            tid = ids.decode(topic_id, "Topic", "topicId") if topic_id is not None else None
            record, topic, lesson = await study.start_topic(deps, user_id, sid, tid)
            return TopicPayload(session=StudySession.of(record), topic=Topic.of(topic),
                                explanation=TutorExplanation.of(lesson.model_dump()))

        return await guarded(TopicPayload, work)

    @strawberry.mutation(description="Ask the tutor about a topic; the chat is kept per topic.")
    async def ask_tutor(self, info: Info, topic_id: strawberry.ID,
                        message: str) -> TutorChatPayload:
        async def work() -> TutorChatPayload:
            user_id, deps = await _deps(info)
            tid = ids.decode(topic_id, "Topic", "topicId")
            chat, reply = await study.ask_tutor(deps, user_id, tid, message)
            return TutorChatPayload(chat=TutorChat.of(chat), reply=reply)

        return await guarded(TutorChatPayload, work)

    @strawberry.mutation(description="LEARNING → QUIZZING: the quiz agent writes a quiz on "
                                      "the current topic; keys stay hidden until answered.")
    async def take_quiz(self, info: Info, session_id: strawberry.ID) -> QuizPayload:
        async def work() -> QuizPayload:
            user_id, deps = await _deps(info)
            sid = ids.decode(session_id, "StudySession", "sessionId")
            record, made = await study.take_quiz(deps, user_id, sid)
            return QuizPayload(session=StudySession.of(record), quiz=Quiz.of(made))

        return await guarded(QuizPayload, work)

    @strawberry.mutation(description="QUIZZING → ANALYZING: grade every answer (once per "
                                      "quiz), diagnose the wrong ones, update mastery.")
    async def submit_answers(
        self, info: Info, session_id: strawberry.ID, quiz_id: strawberry.ID,
        answers: list[AnswerInput],
    ) -> AnswersPayload:
        async def work() -> AnswersPayload:
            user_id, deps = await _deps(info)
            sid = ids.decode(session_id, "StudySession", "sessionId")
            qid = ids.decode(quiz_id, "Quiz", "quizId")
            if len(answers) > MAX_ANSWERS:
                raise InvalidInput(f"at most {MAX_ANSWERS} answers", field=["answers"])
            pairs = [(str(a.question_id), a.choice) for a in answers]
            record, score, analyses = await study.submit_answers(deps, user_id, sid, qid, pairs)
            return AnswersPayload(
                session=StudySession.of(record), score=score,
                misconceptions=[MisconceptionAnalysis.of(q, a) for q, a in analyses])

        return await guarded(AnswersPayload, work)

    @strawberry.mutation(description="Run the study loop automatically: from INTAKE it plans "
                                      "first; it stops to wait for the student's answers.")
    async def start_autopilot(self, info: Info, session_id: strawberry.ID) -> SessionPayload:
        return await _autopilot(info, session_id, "start_run")

    @strawberry.mutation(description="Pause the autopilot; a step under way finishes first.")
    async def pause_autopilot(self, info: Info, session_id: strawberry.ID) -> SessionPayload:
        return await _autopilot(info, session_id, "pause")

    @strawberry.mutation(description="Resume a paused (or failed) autopilot.")
    async def resume_autopilot(self, info: Info, session_id: strawberry.ID) -> SessionPayload:
        return await _autopilot(info, session_id, "resume")

    @strawberry.mutation(description="Answer the autopilot's current quiz, one question at a "
                                      "time; the last answer lets it go on.")
    async def answer_question(
        self, info: Info, session_id: strawberry.ID, question_id: strawberry.ID, choice: int
    ) -> SessionPayload:
        async def work() -> SessionPayload:
            user_id = await info.context.user_id()
            sid = ids.decode(session_id, "StudySession", "sessionId")
            if len(question_id) > 100:
                raise InvalidInput("questionId is too long", field=["questionId"])
            record = await info.context.services.autopilot.answer(user_id, sid,
                                                                  str(question_id), choice)
            return SessionPayload(session=StudySession.of(record))

        return await guarded(SessionPayload, work)


async def _autopilot(info: Info, session_id: strawberry.ID, command: str) -> SessionPayload:
    async def work() -> SessionPayload:
        user_id = await info.context.user_id()
        sid = ids.decode(session_id, "StudySession", "sessionId")
        record = await getattr(info.context.services.autopilot, command)(user_id, sid)
        return SessionPayload(session=StudySession.of(record))

    return await guarded(SessionPayload, work)
