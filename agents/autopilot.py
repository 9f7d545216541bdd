"""The autopilot: runs a session's study loop by itself, asking the student only for answers.

    startAutopilot → plan → (teach → quiz → AWAITING_INPUT → answerQuestion … → grade
                     → next topic)* → complete

A process advances a session only in reaction to a command (start, resume, the last
answer) or to recovery, and only while it holds the run's lease (``autopilot_runs``):
renewed by a heartbeat, given up when the run waits for the student, pauses or ends.
If the process dies, the lease expires and another process claims the run and redoes
the interrupted step from the persisted state (``autopilot_policy.decide``). Each step is
one of the study loop's atomic steps, guarded by the session's version, so a step is
never recorded twice even if two processes briefly both think they own the run.
On shutdown the current steps finish and persist (up to ``shutdown_grace_s``), and the
leases are expired so another process takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from agents import autopilot_policy as policy
from agents import autopilot_store as runs
from agents import learning_store, session_store, study, topic_store
from agents.errors import Conflict, InvalidInput, InvalidTransition, StudyPilotError
from agents.session_store import SessionRecord
from agents.state_machine import Command, StudyPhase, advance, load_state

log = logging.getLogger(__name__)

ACTIVE = ["RUNNING", "AWAITING_INPUT"]
MAX_CONFLICTS = 5


class _LostRun(Exception):
    """The run was paused or taken over while this process worked on it."""


class Autopilot:
    def __init__(self, deps: study.Deps, owner: str | None = None) -> None:
        self.deps = deps
        self.db = deps.db
        self.settings = deps.settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._drivers: dict[UUID, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loops = [asyncio.create_task(self._heartbeat(), name="autopilot-heartbeat"),
                       asyncio.create_task(self._recover(), name="autopilot-recovery")]

    async def stop(self) -> None:
        """Let running steps finish and persist, then hand their runs to other processes."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        drivers = list(self._drivers.values())
        if drivers:
            _, late = await asyncio.wait(drivers, timeout=self.settings.shutdown_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*self._loops, return_exceptions=True)
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await runs.expire_mine(self.db, self.owner)

    @property
    def driving(self) -> set[UUID]:
        return set(self._drivers)

    # -- commands -------------------------------------------------------------------------

    async def start_run(self, user_id: UUID, session_id: UUID) -> SessionRecord:
        session = await load_state(self.db, user_id, session_id)
        if session.state == StudyPhase.COMPLETED.value:
            raise InvalidTransition("the session is COMPLETED: nothing left for the autopilot")
        async with self.db.transaction():
            run = await runs.start_run(self.db, session.id, self.owner,
                                       self.settings.autopilot_lease_s)
            if run is None:
                current = (await runs.runs(self.db, [session.id]))[session.id]
                raise InvalidTransition(
                    f"the autopilot is already {current.status} for this session; "
                    "use pauseAutopilot or resumeAutopilot")
            await session_store.append_event(
                self.db, session.id, "autopilot_started", data={"phase": session.state},
                reasoning=f"The student started the autopilot in {session.state}.")
        self._spawn(session.id, user_id)
        return await load_state(self.db, user_id, session.id)

    async def pause(self, user_id: UUID, session_id: UUID) -> SessionRecord:
        session = await load_state(self.db, user_id, session_id)
        async with self.db.transaction():
            run = await runs.set_status(self.db, session.id, ACTIVE, "PAUSED")
            if run is None:
                raise InvalidTransition(await self._not_in(session.id, "running or waiting"))
            await session_store.append_event(
                self.db, session.id, "autopilot_paused", data={"phase": session.state},
                reasoning="The student paused the autopilot; a step under way finishes first.")
        return await load_state(self.db, user_id, session.id)

    async def resume(self, user_id: UUID, session_id: UUID) -> SessionRecord:
        session = await load_state(self.db, user_id, session_id)
        async with self.db.transaction():
            run = await runs.set_status(self.db, session.id, ["PAUSED", "FAILED"], "RUNNING",
                                        owner=self.owner,
                                        lease_s=self.settings.autopilot_lease_s)
            if run is None:
                raise InvalidTransition(await self._not_in(session.id, "paused or failed"))
            await session_store.append_event(
                self.db, session.id, "autopilot_resumed", data={"phase": session.state},
                reasoning="The student resumed the autopilot.")
        self._spawn(session.id, user_id)
        return await load_state(self.db, user_id, session.id)

    async def answer(self, user_id: UUID, session_id: UUID, question_id: str,
                     choice: int) -> SessionRecord:
        """Record one answer; the last one hands the session back to the autopilot."""
        session = await load_state(self.db, user_id, session_id)
        run = (await runs.runs(self.db, [session.id])).get(session.id)
        if run is None or run.status != "AWAITING_INPUT":
            raise InvalidTransition(await self._not_in(session.id, "waiting for an answer"))
        quiz = await self._current_quiz(user_id, session)
        question = next((q for q in quiz.questions if q["id"] == question_id), None)
        if question is None:
            raise InvalidInput("no such question in the current quiz", field=["questionId"])
        if not 0 <= choice < len(question["options"]):
            raise InvalidInput(f"choice must be 0..{len(question['options']) - 1}",
                               field=["choice"])
        correct = choice == question["correct_index"]
        try:
            remaining = await self._record_answer(user_id, session, quiz, question_id, choice,
                                                  correct)
        except asyncpg.UniqueViolationError:
            raise InvalidInput("this question is already answered", field=["questionId"]
                               ) from None
        if remaining == 0:
            self._spawn(session.id, user_id)
        return await load_state(self.db, user_id, session.id)

    async def _record_answer(self, user_id: UUID, session: SessionRecord,
                             quiz: topic_store.QuizRecord, question_id: str, choice: int,
                             correct: bool) -> int:
        async with self.db.transaction():
            await session_store.lock_session(self.db, session.id)
            await learning_store.insert_answers(self.db, quiz.id, user_id,
                                                [(question_id, choice, correct)])
            answered = (await topic_store.answers_by_quizzes(self.db, user_id, [quiz.id])
                        ).get(quiz.id, {})
            following = policy.next_question(quiz, set(answered))
            remaining = sum(q["id"] not in answered for q in quiz.questions)
            await session_store.append_event(
                self.db, session.id, "answer_recorded",
                data={"question_id": question_id, "choice": choice, "correct": correct,
                      "remaining": remaining, "next_question": _public(following)},
                reasoning="Right." if correct else "Not the key; diagnosed after the quiz.")
            if remaining == 0 and await runs.set_status(
                    self.db, session.id, ["AWAITING_INPUT"], "RUNNING", owner=self.owner,
                    lease_s=self.settings.autopilot_lease_s) is None:
                raise Conflict("the autopilot was paused meanwhile; resume it")
        return remaining

    async def _current_quiz(self, user_id: UUID, session: SessionRecord
                            ) -> topic_store.QuizRecord:
        if session.state != StudyPhase.QUIZZING.value or session.current_quiz_id is None:
            raise InvalidTransition(f"no quiz is being taken (the session is in {session.state})")
        found = await topic_store.quizzes_by_ids(self.db, user_id, [session.current_quiz_id])
        return found[session.current_quiz_id]

    async def _not_in(self, session_id: UUID, wanted: str) -> str:
        run = (await runs.runs(self.db, [session_id])).get(session_id)
        return f"the autopilot is not {wanted} (it is {run.status if run else 'IDLE'})"

    # -- driving --------------------------------------------------------------------------

    def _spawn(self, session_id: UUID, user_id: UUID) -> None:
        existing = self._drivers.get(session_id)
        if (existing is not None and not existing.done()) or self._stopping:
            return
        task = asyncio.create_task(self._drive(session_id, user_id),
                                   name=f"autopilot-{session_id}")
        self._drivers[session_id] = task
        task.add_done_callback(lambda t: self._forget(session_id, t))

    def _forget(self, session_id: UUID, task: asyncio.Task[None]) -> None:
        if self._drivers.get(session_id) is task:
            del self._drivers[session_id]

    async def _drive(self, session_id: UUID, user_id: UUID) -> None:
        conflicts = 0
        try:
            while not self._stopping:
                run = (await runs.runs(self.db, [session_id])).get(session_id)
                if run is None or run.status != "RUNNING" or run.owner != self.owner:
                    await runs.drop_ownership(self.db, session_id, self.owner)
                    return
                try:
                    if await self._step(user_id, session_id):
                        return
                except Conflict:
                    conflicts += 1  # someone else moved the session: decide again
                    if conflicts > MAX_CONFLICTS:
                        raise
        except _LostRun:
            return
        except StudyPilotError as exc:
            await self._fail(session_id, exc.code, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop's outer edge: record a failed step
            log.exception("autopilot step failed for session %s", session_id)
            await self._fail(session_id, "INTERNAL", type(exc).__name__)

    async def _step(self, user_id: UUID, session_id: UUID) -> bool:
        """Take one step; True when the run stops (waiting, completed)."""
        session = await load_state(self.db, user_id, session_id)
        decision = await self._decide(user_id, session)
        deps = self.deps
        if decision.action == policy.PLAN:
            await study.generate_plan(deps, user_id, session.id)
        elif decision.action == policy.TEACH:
            assert decision.topic is not None
            await study.start_topic(deps, user_id, session.id, decision.topic.id,
                                    reason=decision.reasoning)
        elif decision.action == policy.QUIZ:
            await study.take_quiz(deps, user_id, session.id)
        elif decision.action == policy.GRADE:
            await study.submit_stored_answers(deps, user_id, session)
        elif decision.action == policy.NEXT:
            await advance(self.db, session, Command.NEXT_TOPIC, reasoning=decision.reasoning)
        elif decision.action == policy.AWAIT:
            await self._stop_run(session, "AWAITING_INPUT", "awaiting_input",
                                 {"question": _public(decision.question)}, decision.reasoning)
            return True
        else:
            await self._finish(session, decision)
            return True
        return False

    async def _decide(self, user_id: UUID, session: SessionRecord) -> policy.Decision:
        topics = (await topic_store.topics_by_sessions(self.db, user_id, [session.id])).get(
            session.id, [])
        counts = await topic_store.quiz_counts(self.db, session.id)
        quiz, answered = None, set[str]()
        if session.current_quiz_id is not None and session.state == StudyPhase.QUIZZING.value:
            quiz = (await topic_store.quizzes_by_ids(self.db, user_id, [session.current_quiz_id])
                    ).get(session.current_quiz_id)
            answered = set((await topic_store.answers_by_quizzes(
                self.db, user_id, [session.current_quiz_id])).get(session.current_quiz_id, {}))
        limits = policy.Limits(self.settings.mastery_threshold,
                               self.settings.autopilot_max_quizzes_per_topic)
        return policy.decide(StudyPhase(session.state), topics, counts, quiz, answered, limits)

    async def _finish(self, session: SessionRecord, decision: policy.Decision) -> None:
        started = time.perf_counter()
        async with self.db.transaction():
            if decision.action == policy.COMPLETE:
                await advance(self.db, session, Command.COMPLETE, reasoning=decision.reasoning,
                              duration_ms=round((time.perf_counter() - started) * 1000))
            await self._stop_run(session, "COMPLETED", "autopilot_completed",
                                 {}, "The autopilot finished the plan.")

    async def _stop_run(self, session: SessionRecord, status: str, action: str,
                        data: dict[str, Any], reasoning: str) -> None:
        async with self.db.transaction():
            if await runs.release(self.db, session.id, self.owner, status) is None:
                raise _LostRun
            await session_store.append_event(self.db, session.id, action, data=data,
                                             reasoning=reasoning)

    async def _fail(self, session_id: UUID, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            async with self.db.transaction():
                if await runs.release(self.db, session_id, self.owner, "FAILED", error):
                    await session_store.append_event(
                        self.db, session_id, "autopilot_failed", data=error,
                        reasoning="The step failed; the session is as it was before it. "
                                  "resumeAutopilot retries it.")

    # -- background loops ----------------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = self.settings.autopilot_lease_s / 3
        while True:
            await asyncio.sleep(interval)
            if self._drivers:
                try:
                    await runs.heartbeat(self.db, self.owner, self.settings.autopilot_lease_s,
                                         list(self._drivers))
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.warning("autopilot heartbeat failed; retrying", exc_info=True)

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self.settings.autopilot_recovery_s)
            try:
                await self.recover_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("autopilot recovery scan failed; retrying", exc_info=True)

    async def recover_once(self) -> list[UUID]:
        """Claim runs whose owner stopped renewing its lease, and drive them."""
        if self._stopping:
            return []
        claimed = await runs.claim_expired(self.db, self.owner, self.settings.autopilot_lease_s)
        for session_id, previous in claimed:
            user_id = await session_store.owner_of(self.db, session_id)
            if user_id is None:
                continue
            log.warning("taking over autopilot session %s from %s", session_id, previous)
            await session_store.append_event(
                self.db, session_id, "autopilot_recovered", data={"previous_owner": previous},
                reasoning="The process running this session stopped; this one took over and "
                          "redoes the interrupted step from the saved state.")
            self._spawn(session_id, user_id)
        return [session_id for session_id, _ in claimed]


def _public(question: dict[str, Any] | None) -> dict[str, Any] | None:
    """A question as the student may see it before answering: no key, no explanation."""
    if question is None:
        return None
    return {"id": question["id"], "prompt": question["prompt"],
            "options": question["options"], "difficulty": question.get("difficulty")}

