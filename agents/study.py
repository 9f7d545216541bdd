"""The study loop's steps, one per state-changing mutation.

Each step reads the session, refuses early if the state machine does not allow it (no
model call is wasted), asks its agent (outside any transaction: model calls are slow),
then writes everything in one transaction whose last statement is the version-guarded
state change with its event. A refused step, a failed model call (``AgentFailed``) or a
lost race (``Conflict``) leaves the session exactly as it was.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import UUID

from pydantic import ValidationError

from agents import (
    learning_store,
    mastery,
    misconception,
    plan_cache,
    planner,
    quiz,
    session_store,
    topic_store,
    tutor,
)
from agents.asking import LlmRunner
from agents.errors import InvalidInput, InvalidTransition, NotFound
from agents.intake import clean_text
from agents.models import MisconceptionAnalysis, StudyPlan, TutorExplanation
from agents.session_store import SessionRecord
from agents.state_machine import Command, StudyPhase, advance, load_context, load_state, next_phase
from agents.topic_store import ChatRecord, QuizRecord, TopicRecord
from app.database import Db
from app.settings import Settings

MAX_TOPICS = 12
MAX_CHAT_MESSAGE_CHARS = 4_000


@dataclass(frozen=True)
class Deps:
    db: Db
    llm: LlmRunner
    settings: Settings


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


async def _topics(deps: Deps, user_id: UUID, session_id: UUID) -> list[TopicRecord]:
    return (await topic_store.topics_by_sessions(deps.db, user_id, [session_id])).get(
        session_id, [])


async def generate_plan(deps: Deps, user_id: UUID, session_id: UUID) -> SessionRecord:
    """INTAKE → PLANNING: topics from the planner, or from the plan cache."""
    started = time.perf_counter()
    session = await load_state(deps.db, user_id, session_id)
    next_phase(StudyPhase(session.state), Command.GENERATE_PLAN)
    key = plan_cache.cache_key(session.exam_type, session.syllabus, MAX_TOPICS)
    plan = await _cached_plan(deps, key)
    hit = plan is not None
    if plan is None:
        plan = await planner.run(planner.PlannerInput(
            session.exam_type, session.syllabus, session.exam_date, MAX_TOPICS, session.id,
        ), deps.llm)
        await plan_cache.put(deps.db, key, plan.model_dump(mode="json"),
                             deps.settings.plan_cache_ttl_s)
    context = load_context(session).model_copy(update={"plan_cache_key": key})
    async with deps.db.transaction():
        # The guarded state change first: it locks the session row, so of concurrent
        # plans only the winner goes on to insert topics.
        updated = await advance(
            deps.db, session, Command.GENERATE_PLAN, context=context,
            data={"plan_cache": "hit" if hit else "miss", "topics": [t.name for t in plan.topics]},
            reasoning=(f"Reused the cached plan for this exam and syllabus ({len(plan.topics)} "
                       "topics); no model call." if hit else
                       f"The planner made {len(plan.topics)} topics. {plan.rationale}".strip()),
            duration_ms=_ms(started),
        )
        await learning_store.insert_topics(deps.db, session.id, plan.topics)
    return updated


async def _cached_plan(deps: Deps, key: str) -> StudyPlan | None:
    cached = await plan_cache.get(deps.db, key)
    if cached is None:
        return None
    try:
        return StudyPlan.model_validate(cached)
    except ValidationError:
        return None  # written by an older planner: plan again


def pick_topic(topics: list[TopicRecord], threshold: int) -> TopicRecord:
    """Lowest mastery first among the topics not yet mastered (then syllabus order)."""
    open_topics = [t for t in topics if t.mastery_score < threshold] or topics
    return min(open_topics, key=lambda t: (t.mastery_score, t.position))


async def start_topic(
    deps: Deps, user_id: UUID, session_id: UUID, topic_id: UUID | None,
    reason: str | None = None,
) -> tuple[SessionRecord, TopicRecord, TutorExplanation]:
    """PLANNING → LEARNING: the tutor's micro-lesson for the chosen (or next) topic."""
    started = time.perf_counter()
    session = await load_state(deps.db, user_id, session_id)
    next_phase(StudyPhase(session.state), Command.START_TOPIC)
    topics = await _topics(deps, user_id, session.id)
    if topic_id is not None:
        topic = next((t for t in topics if t.id == topic_id), None)
        if topic is None:
            raise NotFound("no such topic in this session", field=["topicId"])
        why = reason or f"The student chose {topic.name!r}."
    elif topics:
        topic = pick_topic(topics, deps.settings.mastery_threshold)
        why = f"{topic.name!r} has the lowest mastery ({topic.mastery_score}) of the open topics."
    else:
        raise InvalidTransition("the session has no topics: generatePlan first")
    lesson = await tutor.run(tutor.LessonInput(
        session.exam_type, topic.name, topic.summary, session.syllabus,
        [t.name for t in topics if t.id != topic.id], session.id,
    ), deps.llm)
    context = load_context(session).model_copy(update={"current_topic": topic.name})
    async with deps.db.transaction():
        updated = await advance(
            deps.db, session, Command.START_TOPIC, context=context, topic_id=topic.id,
            data={"topic_id": str(topic.id), "topic": topic.name, "steps": len(lesson.steps)},
            reasoning=why + " The tutor wrote its micro-lesson.", duration_ms=_ms(started),
        )
        await learning_store.save_explanation(deps.db, user_id, topic.id,
                                              lesson.model_dump(mode="json"))
        if topic.status == "pending":
            await learning_store.set_topic_status(deps.db, topic.id, "in_progress")
    return updated, topic, lesson


async def ask_tutor(
    deps: Deps, user_id: UUID, topic_id: UUID, message: str
) -> tuple[ChatRecord, str]:
    """A question to the tutor about a topic: the chat is kept per user and topic."""
    started = time.perf_counter()
    text = clean_text(message, ["message"], MAX_CHAT_MESSAGE_CHARS)
    topic = (await topic_store.topics_by_ids(deps.db, user_id, [topic_id])).get(topic_id)
    if topic is None:
        raise NotFound("no such topic", field=["topicId"])
    session = await load_state(deps.db, user_id, topic.session_id)
    chat = (await topic_store.chats_by_topics(deps.db, user_id, [topic.id])).get(topic.id)
    window = deps.settings.chat_window
    history = [{"role": m["role"], "content": m["content"]}
               for m in (chat.messages if chat else [])[-window:]]
    answer = await tutor.reply(tutor.ChatInput(topic.name, session.syllabus, history, text,
                                               session.id), deps.llm)
    async with deps.db.transaction():
        updated = await learning_store.append_messages(deps.db, user_id, topic.id, [
            learning_store.chat_message("user", text),
            learning_store.chat_message("assistant", answer.reply),
        ])
        await session_store.append_event(
            deps.db, session.id, "tutor_chat",
            data={"topic_id": str(topic.id), "topic": topic.name, "cited": len(answer.cited)},
            reasoning="The student asked the tutor; the reply draws on their material.",
            duration_ms=_ms(started),
        )
    return updated, answer.reply


async def _current_topic(deps: Deps, user_id: UUID, session: SessionRecord) -> TopicRecord:
    if session.current_topic_id is None:
        raise InvalidTransition("no topic is being learned: startTopic first")
    topic = (await topic_store.topics_by_ids(deps.db, user_id, [session.current_topic_id])
             ).get(session.current_topic_id)
    if topic is None:
        raise InvalidTransition("the current topic no longer exists: startTopic again")
    return topic


async def take_quiz(
    deps: Deps, user_id: UUID, session_id: UUID
) -> tuple[SessionRecord, QuizRecord]:
    """LEARNING → QUIZZING: a validated quiz on the current topic (keys stay hidden)."""
    started = time.perf_counter()
    session = await load_state(deps.db, user_id, session_id)
    next_phase(StudyPhase(session.state), Command.TAKE_QUIZ)
    topic = await _current_topic(deps, user_id, session)
    topics = await _topics(deps, user_id, session.id)
    made = await quiz.run(quiz.QuizInput(
        topic.name, topic.summary, session.syllabus,
        [t.name for t in topics if t.id != topic.id], deps.settings.quiz_questions, session.id,
    ), deps.llm)
    questions = quiz.stored_questions(made)
    async with deps.db.transaction():
        quiz_id = await learning_store.insert_quiz(deps.db, user_id, session.id, topic.id,
                                                   questions, made.time_estimate_minutes)
        updated = await advance(
            deps.db, session, Command.TAKE_QUIZ, quiz_id=quiz_id,
            data={"quiz_id": str(quiz_id), "topic": topic.name, "questions": len(questions)},
            reasoning=f"The quiz agent wrote {len(questions)} questions on {topic.name!r}.",
            duration_ms=_ms(started),
        )
    record = (await topic_store.quizzes_by_ids(deps.db, user_id, [quiz_id]))[quiz_id]
    return updated, record


def grade(quiz_record: QuizRecord, answers: list[tuple[str, int]]) -> list[tuple[str, int, bool]]:
    """Check answers against the quiz; every question answered once, choices in range."""
    by_id = {q["id"]: q for q in quiz_record.questions}
    seen: set[str] = set()
    graded = []
    for i, (question_id, choice) in enumerate(answers):
        question = by_id.get(question_id)
        if question is None:
            raise InvalidInput("no such question in this quiz",
                               field=["answers", str(i), "questionId"])
        if question_id in seen:
            raise InvalidInput("question answered twice", field=["answers", str(i), "questionId"])
        if not 0 <= choice < len(question["options"]):
            raise InvalidInput(f"choice must be 0..{len(question['options']) - 1}",
                               field=["answers", str(i), "choice"])
        seen.add(question_id)
        graded.append((question_id, choice, choice == question["correct_index"]))
    missing = len(by_id) - len(seen)
    if missing:
        raise InvalidInput(f"{missing} question(s) not answered: answer every question",
                           field=["answers"])
    order = {q["id"]: n for n, q in enumerate(quiz_record.questions)}
    return sorted(graded, key=lambda g: order[g[0]])


async def submit_answers(
    deps: Deps, user_id: UUID, session_id: UUID, quiz_id: UUID, answers: list[tuple[str, int]]
) -> tuple[SessionRecord, float, list[tuple[str, MisconceptionAnalysis]]]:
    """QUIZZING → ANALYZING: grade, diagnose each wrong answer, update mastery (BKT)."""
    started = time.perf_counter()
    session = await load_state(deps.db, user_id, session_id)
    next_phase(StudyPhase(session.state), Command.SUBMIT_ANSWERS)
    record = (await topic_store.quizzes_by_ids(deps.db, user_id, [quiz_id])).get(quiz_id)
    if record is None or record.session_id != session.id:
        raise NotFound("no such quiz in this session", field=["quizId"])
    if record.submitted_at is not None:
        raise InvalidInput("this quiz was already submitted", field=["quizId"])
    if record.id != session.current_quiz_id:
        raise InvalidInput("this is not the quiz being taken", field=["quizId"])
    graded = grade(record, answers)
    topic = await _current_topic(deps, user_id, session)
    analyses = await _diagnose(deps, session, topic, record, graded)
    return await _record_results(deps, user_id, session, topic, record, graded, analyses,
                                 started, store_answers=True)


async def submit_stored_answers(
    deps: Deps, user_id: UUID, session: SessionRecord
) -> tuple[SessionRecord, float, list[tuple[str, MisconceptionAnalysis]]]:
    """QUIZZING → ANALYZING for answers already recorded one at a time (the autopilot)."""
    started = time.perf_counter()
    next_phase(StudyPhase(session.state), Command.SUBMIT_ANSWERS)
    quiz_id = session.current_quiz_id
    record = (await topic_store.quizzes_by_ids(deps.db, user_id, [quiz_id])).get(quiz_id) \
        if quiz_id else None
    if record is None:
        raise InvalidTransition("there is no quiz being taken")
    stored = (await topic_store.answers_by_quizzes(deps.db, user_id, [record.id])).get(
        record.id, {})
    graded = grade(record, [(a.question_id, a.choice) for a in stored.values()])
    topic = await _current_topic(deps, user_id, session)
    analyses = await _diagnose(deps, session, topic, record, graded)
    return await _record_results(deps, user_id, session, topic, record, graded, analyses,
                                 started, store_answers=False)


async def _diagnose(
    deps: Deps, session: SessionRecord, topic: TopicRecord, record: QuizRecord,
    graded: list[tuple[str, int, bool]],
) -> list[tuple[str, MisconceptionAnalysis]]:
    by_id = {q["id"]: q for q in record.questions}
    wrong = [(qid, choice) for qid, choice, ok in graded if not ok]
    results = await asyncio.gather(*[
        misconception.run(misconception.MisconceptionInput(
            topic.name, session.syllabus, by_id[qid], choice, session.id), deps.llm)
        for qid, choice in wrong
    ])
    return [(qid, analysis) for (qid, _), analysis in zip(wrong, results, strict=True)]


async def _record_results(
    deps: Deps, user_id: UUID, session: SessionRecord, topic: TopicRecord, record: QuizRecord,
    graded: list[tuple[str, int, bool]], analyses: list[tuple[str, MisconceptionAnalysis]],
    started: float, *, store_answers: bool,
) -> tuple[SessionRecord, float, list[tuple[str, MisconceptionAnalysis]]]:
    s = deps.settings
    params = mastery.BktParams(s.bkt_prior, s.bkt_learn, s.bkt_guess, s.bkt_slip)
    results = [ok for _, _, ok in graded]
    right = sum(results)
    score = right / len(results)
    p_known = mastery.trace(topic.p_known, results, params)
    new_score = mastery.score(p_known)
    status = mastery.status(new_score, topic.attempts + len(results), s.mastery_threshold)
    context = load_context(session)
    confusions = [a.inferred_confusion for _, a in analyses]
    context = context.model_copy(update={
        "last_quiz_score": round(100 * score),
        "misconceptions": (context.misconceptions + confusions)[-50:],
    })
    async with deps.db.transaction():
        if not await learning_store.mark_submitted(deps.db, record.id, score):
            raise InvalidInput("this quiz was already submitted", field=["quizId"])
        if store_answers:
            await learning_store.insert_answers(deps.db, record.id, user_id, graded)
        for qid, analysis in analyses:
            await learning_store.insert_misconception(
                deps.db, user_id, session.id, topic.id, record.id, qid,
                analysis.model_dump(mode="json"))
        await learning_store.update_mastery(deps.db, topic.id, p_known, new_score, status,
                                            len(results), right)
        updated = await advance(
            deps.db, session, Command.SUBMIT_ANSWERS, context=context,
            data={"quiz_id": str(record.id), "score": score, "right": right,
                  "questions": len(results), "topic": topic.name,
                  "mastery": {"before": topic.mastery_score, "after": new_score},
                  "status": status, "misconceptions": confusions},
            reasoning=(f"{right}/{len(results)} right; mastery of {topic.name!r} "
                       f"{topic.mastery_score} → {new_score} (BKT); {len(analyses)} wrong "
                       "answer(s) diagnosed."),
            duration_ms=_ms(started),
        )
    return updated, score, analyses
