"""The study-session state machine: phases, the transition table, the student context.

    INTAKE → PLANNING → LEARNING → QUIZZING → ANALYZING → PLANNING | COMPLETED

Transitions are data (``TRANSITIONS``); ``next_phase`` is a lookup that raises
``InvalidTransition`` naming the current phase and the allowed moves. ``transition``,
``save_state`` and ``log_action`` persist through ``agents.session_store``: the phase, the
context and the event commit in one statement, guarded by the session's ``version`` so
that of several concurrent writers exactly one wins and the rest get ``Conflict`` (or
``InvalidTransition`` when the phase has moved on).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from agents import session_store
from agents.errors import Conflict, InvalidTransition, NotFound
from agents.session_store import SessionRecord
from app.database import Db


class StudyPhase(StrEnum):
    INTAKE = "INTAKE"
    PLANNING = "PLANNING"
    LEARNING = "LEARNING"
    QUIZZING = "QUIZZING"
    ANALYZING = "ANALYZING"
    COMPLETED = "COMPLETED"


class Command(StrEnum):
    """What moves a session from one phase to the next (the seed's transition names)."""

    GENERATE_PLAN = "generate_plan"
    START_TOPIC = "start_topic"
    TAKE_QUIZ = "take_quiz"
    SUBMIT_ANSWERS = "submit_answers"
    NEXT_TOPIC = "next_topic"
    COMPLETE = "complete"


TRANSITIONS: dict[StudyPhase, dict[Command, StudyPhase]] = {
    StudyPhase.INTAKE: {Command.GENERATE_PLAN: StudyPhase.PLANNING},
    StudyPhase.PLANNING: {Command.START_TOPIC: StudyPhase.LEARNING},
    StudyPhase.LEARNING: {Command.TAKE_QUIZ: StudyPhase.QUIZZING},
    StudyPhase.QUIZZING: {Command.SUBMIT_ANSWERS: StudyPhase.ANALYZING},
    StudyPhase.ANALYZING: {
        Command.NEXT_TOPIC: StudyPhase.PLANNING,
        Command.COMPLETE: StudyPhase.COMPLETED,
    },
    StudyPhase.COMPLETED: {},
}


def allowed_moves(phase: StudyPhase) -> list[str]:
    return [f"{cmd.value} → {target.value}" for cmd, target in TRANSITIONS[phase].items()]


def refusal(phase: StudyPhase, wanted: str) -> InvalidTransition:
    moves = allowed_moves(phase)
    allowed = ", ".join(moves) if moves else "none (the session is finished)"
    return InvalidTransition(
        f"cannot {wanted}: the session is in {phase.value}; allowed from here: {allowed}"
    )


def next_phase(phase: StudyPhase, command: Command) -> StudyPhase:
    target = TRANSITIONS[phase].get(command)
    if target is None:
        raise refusal(phase, command.value)
    return target


def command_between(phase: StudyPhase, target: StudyPhase) -> Command:
    for command, to in TRANSITIONS[phase].items():
        if to is target:
            return command
    raise refusal(phase, f"move to {target.value}")


class StudentContext(BaseModel):
    """What the agents share about the student in a session (stored with ``v``)."""

    model_config = ConfigDict(extra="forbid")

    v: int = 1
    user_id: str | None = None
    session_id: str | None = None
    current_topic: str | None = None
    last_quiz_score: int | None = Field(default=None, ge=0, le=100)
    misconceptions: list[str] = Field(default_factory=list, max_length=200)
    plan_cache_key: str | None = None
    extra_data: dict[str, Any] = Field(default_factory=dict)


def load_context(record: SessionRecord) -> StudentContext:
    ctx = StudentContext.model_validate(record.context or {})
    return ctx.model_copy(update={"user_id": str(record.user_id), "session_id": str(record.id)})


async def load_state(db: Db, user_id: UUID, session_id: UUID) -> SessionRecord:
    record = await session_store.get_session(db, user_id, session_id)
    if record is None:
        raise NotFound("no such session", field=["sessionId"])
    return record


async def _write(
    db: Db,
    current: SessionRecord,
    target: StudyPhase,
    command_name: str,
    context: StudentContext | None,
    **event: Any,
) -> SessionRecord:
    ctx = context if context is not None else load_context(current)
    updated = await session_store.update_state(
        db, current, target.value, ctx.model_dump(mode="json"), action=command_name, **event
    )
    if updated is not None:
        return updated
    fresh = await load_state(db, current.user_id, current.id)
    phase = StudyPhase(fresh.state)
    moved = phase is not StudyPhase(current.state)
    if moved and target not in TRANSITIONS[phase].values():
        raise refusal(phase, command_name)
    raise Conflict(
        f"the session changed while this request ran (version {current.version} → "
        f"{fresh.version}); reload it and retry"
    )


def _check_version(record: SessionRecord, expected_version: int | None) -> None:
    if expected_version is not None and record.version != expected_version:
        raise Conflict(
            f"the session is at version {record.version}, not {expected_version}; reload it"
        )


async def transition(
    db: Db,
    user_id: UUID,
    session_id: UUID,
    command: Command,
    *,
    expected_version: int | None = None,
    context: StudentContext | None = None,
    **event: Any,
) -> SessionRecord:
    """Apply ``command`` if the table allows it; one atomic write, or none."""
    current = await load_state(db, user_id, session_id)
    _check_version(current, expected_version)
    return await advance(db, current, command, context=context, **event)


async def advance(
    db: Db, current: SessionRecord, command: Command, *,
    context: StudentContext | None = None, **event: Any,
) -> SessionRecord:
    """Apply ``command`` to a session as it was read (``current``): refused if the table
    does not allow it, ``Conflict`` if another writer changed the session since."""
    target = next_phase(StudyPhase(current.state), command)
    return await _write(db, current, target, command.value, context, **event)


async def save_state(
    db: Db,
    user_id: UUID,
    session_id: UUID,
    phase: StudyPhase,
    context: StudentContext,
    *,
    expected_version: int | None = None,
) -> SessionRecord:
    """Save the context; ``phase`` must be the current one or an allowed next one."""
    current = await load_state(db, user_id, session_id)
    _check_version(current, expected_version)
    here = StudyPhase(current.state)
    action = "session_saved" if phase is here else command_between(here, phase).value
    return await _write(db, current, phase, action, context,
                        data={"saved": True, "phase": phase.value})


async def log_action(
    db: Db, user_id: UUID, session_id: UUID, action: str, **event: Any
) -> int:
    """Append an event that changes no phase; returns its ``seq``."""
    current = await load_state(db, user_id, session_id)
    return await session_store.append_event(db, current.id, action, **event)
