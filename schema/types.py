"""The object types: sessions, topics, quizzes, chats, usage, the event log."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agents import session_store
from agents.errors import InvalidInput
from agents.session_store import EventRecord, SessionRecord
from agents.state_machine import StudyPhase as DomainPhase
from agents.topic_store import ChatRecord, QuizRecord, TopicRecord
from schema import ids
from schema.connections import Edge, PageInfo, decode_cursor, encode_cursor, page_size
from schema.errors import RequestError

StudyPhase = strawberry.enum(DomainPhase, name="StudyPhase",
                             description="Where a study session is in its loop.")


@strawberry.enum(description="What the autopilot is doing for a session.")
class AutopilotState(Enum):
    IDLE = "IDLE"
    RUNNING = "RUNNING"
    AWAITING_INPUT = "AWAITING_INPUT"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.interface(description="An object with a global id (Relay).")
class Node:
    id: strawberry.ID


@strawberry.type
class User:
    id: strawberry.ID
    email: str | None
    created_at: datetime.datetime


@strawberry.type
class ExplanationStep:
    title: str
    content: str


@strawberry.type
class TutorExplanation:
    topic: str
    intuition: str
    steps: list[ExplanationStep]
    real_world_example: str
    common_pitfall: str
    practice_question: str | None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TutorExplanation:
        return cls(
            topic=doc.get("topic", ""), intuition=doc.get("intuition", ""),
            steps=[ExplanationStep(title=s.get("title", ""), content=s.get("content", ""))
                   for s in doc.get("steps", [])],
            real_world_example=doc.get("real_world_example", ""),
            common_pitfall=doc.get("common_pitfall", ""),
            practice_question=doc.get("practice_question"),
        )


@strawberry.type
class ChatMessage:
    role: str
    content: str
    at: datetime.datetime


@strawberry.type
class TutorChat:
    id: strawberry.ID
    messages: list[ChatMessage]

    @classmethod
    def of(cls, record: ChatRecord) -> TutorChat:
        return cls(
            id=strawberry.ID(str(record.id)),
            messages=[ChatMessage(role=m["role"], content=m["content"],
                                  at=datetime.datetime.fromisoformat(m["at"]))
                      for m in record.messages],
        )


@strawberry.type(description="A multiple-choice question. The key and the explanation stay "
                             "null until the student has answered it.")
class Question:
    id: strawberry.ID
    prompt: str
    options: list[str]
    difficulty: str
    concept_tested: str
    correct_index: int | None
    explanation: str | None

    @classmethod
    def of(cls, doc: dict[str, Any], revealed: bool) -> Question:
        return cls(
            id=strawberry.ID(str(doc["id"])), prompt=doc["prompt"], options=doc["options"],
            difficulty=doc.get("difficulty", "medium"),
            concept_tested=doc.get("concept_tested", ""),
            correct_index=doc["correct_index"] if revealed else None,
            explanation=doc.get("explanation") if revealed else None,
        )


@strawberry.type
class Quiz(Node):
    time_estimate_minutes: int
    record: strawberry.Private[QuizRecord]

    @classmethod
    def of(cls, record: QuizRecord) -> Quiz:
        return cls(id=strawberry.ID(ids.encode("Quiz", record.id)),
                   time_estimate_minutes=record.time_estimate_minutes, record=record)

    @strawberry.field
    async def questions(self, info: Info) -> list[Question]:
        answered = await (await info.context.loaders()).answers_by_quiz.load(self.record.id)
        return [Question.of(q, revealed=q["id"] in answered) for q in self.record.questions]

    @strawberry.field(description="0..1, once the quiz is submitted.")
    def score(self) -> float | None:
        return self.record.score


@strawberry.type
class Topic(Node):
    name: str
    status: str
    mastery_score: int = strawberry.field(description="0..100")
    position: int
    estimated_minutes: int | None
    record: strawberry.Private[TopicRecord]

    @classmethod
    def of(cls, record: TopicRecord) -> Topic:
        return cls(
            id=strawberry.ID(ids.encode("Topic", record.id)), name=record.name,
            status=record.status, mastery_score=record.mastery_score,
            position=record.position, estimated_minutes=record.estimated_minutes,
            record=record,
        )

    @strawberry.field
    async def explanation(self, info: Info) -> TutorExplanation | None:
        chat = await (await info.context.loaders()).chat_by_topic.load(self.record.id)
        if chat is None or chat.explanation is None:
            return None
        return TutorExplanation.of(chat.explanation)

    @strawberry.field
    async def chat(self, info: Info) -> TutorChat | None:
        chat = await (await info.context.loaders()).chat_by_topic.load(self.record.id)
        return TutorChat.of(chat) if chat is not None else None

    @strawberry.field
    async def quizzes(self, info: Info) -> list[Quiz]:
        found = await (await info.context.loaders()).quizzes_by_topic.load(self.record.id)
        return [Quiz.of(q) for q in found]


@strawberry.type
class LlmUsage:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@strawberry.type(description="One row of the session's event log.")
class AutopilotStep:
    seq: int
    timestamp: datetime.datetime
    action: str
    phase: StudyPhase | None
    data: JSON | None
    reasoning: str | None
    duration_ms: int | None

    @classmethod
    def of(cls, event: EventRecord) -> AutopilotStep:
        return cls(
            seq=event.seq, timestamp=event.at, action=event.action,
            phase=DomainPhase(event.phase) if event.phase else None, data=event.data,
            reasoning=event.reasoning, duration_ms=event.duration_ms,
        )


@strawberry.type
class AgentActionConnection:
    edges: list[Edge[AutopilotStep]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[AutopilotStep]:
        return [edge.node for edge in self.edges]


@strawberry.type
class AutopilotStatus:
    status: AutopilotState
    current_topic: Topic | None
    current_phase: StudyPhase | None
    current_question: Question | None
    last_seq: int


@strawberry.type
class StudySession(Node):
    exam_type: str
    exam_date: datetime.date | None
    state: StudyPhase
    version: int
    syllabus: str
    context: JSON = strawberry.field(description="The StudentContext document.")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    record: strawberry.Private[SessionRecord]

    @classmethod
    def of(cls, record: SessionRecord) -> StudySession:
        return cls(
            id=strawberry.ID(ids.encode("StudySession", record.id)),
            exam_type=record.exam_type, exam_date=record.exam_date,
            state=DomainPhase(record.state), version=record.version,
            syllabus=record.syllabus, context=record.context,
            created_at=record.created_at, updated_at=record.updated_at, record=record,
        )

    @strawberry.field
    async def topics(self, info: Info) -> list[Topic]:
        found = await (await info.context.loaders()).topics_by_session.load(self.record.id)
        return [Topic.of(t) for t in found]

    @strawberry.field
    async def current_topic(self, info: Info) -> Topic | None:
        return await _topic(info, self.record.current_topic_id)

    @strawberry.field(description="The agent history, oldest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AgentActionConnection:
        try:
            limit = page_size(first, info.context.services.settings.max_page_size)
            after_seq = _seq_cursor(after)
        except InvalidInput as exc:
            raise RequestError.of(exc) from None
        events = await session_store.list_events(info.context.db, self.record.id, after_seq,
                                                 limit + 1)
        edges = [Edge(cursor=encode_cursor(f"seq:{e.seq}"), node=AutopilotStep.of(e))
                 for e in events[:limit]]
        return AgentActionConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(events) > limit, has_previous_page=after_seq > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ))

    @strawberry.field
    async def autopilot(self, info: Info) -> AutopilotStatus:
        loaders = await info.context.loaders()
        run = await loaders.run_by_session.load(self.record.id)
        status = AutopilotState(run.status) if run is not None else AutopilotState.IDLE
        if self.record.state == DomainPhase.COMPLETED.value:
            status = AutopilotState.COMPLETED
        return AutopilotStatus(
            status=status, current_topic=await _topic(info, self.record.current_topic_id),
            current_phase=DomainPhase(self.record.state),
            current_question=await _current_question(info, self.record),
            last_seq=self.record.last_seq,
        )

    @strawberry.field
    async def usage(self, info: Info) -> LlmUsage:
        u = await (await info.context.loaders()).usage_by_session.load(self.record.id)
        return LlmUsage(calls=u.calls, prompt_tokens=u.prompt_tokens,
                        completion_tokens=u.completion_tokens, cost_usd=u.cost_usd)


async def _topic(info: Info, topic_id: UUID | None) -> Topic | None:
    if topic_id is None:
        return None
    record = await (await info.context.loaders()).topic_by_id.load(topic_id)
    return Topic.of(record) if record is not None else None


async def _current_question(info: Info, record: SessionRecord) -> Question | None:
    """The first unanswered question of the quiz being taken (key hidden)."""
    if record.state != DomainPhase.QUIZZING.value or record.current_quiz_id is None:
        return None
    loaders = await info.context.loaders()
    quiz = await loaders.quiz_by_id.load(record.current_quiz_id)
    if quiz is None:
        return None
    answered = await loaders.answers_by_quiz.load(quiz.id)
    question = next((q for q in quiz.questions if q["id"] not in answered), None)
    return Question.of(question, revealed=False) if question is not None else None


def _seq_cursor(after: str | None) -> int:
    if after is None:
        return 0
    kind, _, raw = decode_cursor(after).partition(":")
    if kind != "seq" or not raw.isdigit():
        raise InvalidInput("after is not a history cursor", field=["after"])
    return int(raw)


@strawberry.type
class StudySessionConnection:
    edges: list[Edge[StudySession]]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[StudySession]:
        return [edge.node for edge in self.edges]
